//! Measurements of one compressed model: accuracy per class on our runtime, and batch-1 latency
//! and peak memory in a fresh process (ours: `inkling infer --bench`; LiteRT: a Python script),
//! so one model's memory never counts against another's.

use std::path::Path;
use std::process::Command;

use inkling::nn::metrics::Evaluation;
use inkling::quant::graph::Graph;
use serde::Serialize;

use crate::data::Result;
use crate::images::Image;
use crate::quantize::logits;

/// Top-1 and per-class figures of `g` on `images` (labels in logit order), run in parallel.
pub fn evaluate(
    g: &Graph,
    images: &[Image],
    classes: &[String],
    title: &str,
) -> Result<Evaluation> {
    let all: Vec<&Image> = images.iter().collect();
    let mut eval = Evaluation::new(classes.to_vec());
    for (im, l) in images.iter().zip(logits(g, &all, title)?) {
        eval.add_batch(&l, classes.len(), &[im.label])?;
    }
    Ok(eval)
}

/// Batch-1 latency and peak memory of one runtime.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    /// Median over the timed runs, in milliseconds.
    pub median_ms: f64,
    /// Peak resident memory attributable to the model, in MB (see the runtime's notes).
    pub peak_mb: Option<f64>,
    /// XNNPACK partitions (LiteRT only).
    pub partitions: Option<u64>,
}

fn run_json(cmd: &mut Command, what: &str) -> Result<serde_json::Value> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what}: failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("");
    serde_json::from_str(line)
        .map_err(|e| format!("{what}: unreadable output {line:?}: {e}").into())
}

/// Our runtime: `inkling infer FILE --bench` in a child process (peak RSS is the whole process).
pub fn ours(model: &Path, runs: usize, threads: usize) -> Result<Latency> {
    let exe = std::env::current_exe().map_err(|e| format!("inkling executable: {e}"))?;
    let v = run_json(
        Command::new(exe)
            .arg("infer")
            .arg(model)
            .args(["--bench", "--json", "--runs"])
            .arg(runs.to_string())
            .arg("--threads")
            .arg(threads.to_string()),
        &format!("inkling infer --bench {}", model.display()),
    )?;
    Ok(Latency {
        median_ms: v["median_ms"]
            .as_f64()
            .ok_or("infer --bench: no median_ms")?,
        peak_mb: v["peak_rss_mb"].as_f64(),
        partitions: None,
    })
}

/// The LiteRT timing script, written next to the report so it can be rerun by hand.
pub const LITERT_SCRIPT: &str = include_str!("litert_bench.py");

/// LiteRT + XNNPACK through `python` (a Python with `ai-edge-litert`); memory is the growth of
/// the process's peak RSS from after the imports (Python itself is not counted).
pub fn litert(
    python: &Path,
    script: &Path,
    model: &Path,
    runs: usize,
    threads: usize,
) -> Result<Latency> {
    let v = run_json(
        Command::new(python)
            .arg(script)
            .arg(model)
            .arg(runs.to_string())
            .arg(threads.to_string()),
        &format!("LiteRT on {}", model.display()),
    )?;
    Ok(Latency {
        median_ms: v["median_ms"]
            .as_f64()
            .ok_or("LiteRT bench: no median_ms")?,
        peak_mb: v["model_rss_mb"].as_f64(),
        partitions: v["partitions"].as_u64(),
    })
}
