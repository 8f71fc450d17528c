//! `inkling pipeline`: the main job — train, quantize to int8, export float32, and a Markdown
//! report of what came out — on the built-in doodles unless told otherwise.

use std::fmt::Write as _;

use inkling::quant::export::write_file;

use crate::data::Result;
use crate::export::{self, ExportArgs};
use crate::quantize::{self, QuantizeArgs};
use crate::train::{self, TrainArgs};

/// Options of `inkling pipeline`: every `inkling train` option, plus quantization's.
#[derive(clap::Args, Debug)]
pub struct PipelineArgs {
    #[command(flatten)]
    pub train: TrainArgs,
    /// Activation range observer for int8: minmax, moving-average, percentile or mse.
    #[arg(long, default_value = "minmax")]
    pub observer: String,
    /// Calibration images for int8.
    #[arg(long, default_value_t = inkling::data::pipeline::DEFAULT_CALIBRATION_SAMPLES)]
    pub calibration_samples: usize,
}

/// Runs `inkling pipeline`.
pub fn run(args: &PipelineArgs) -> Result<()> {
    let out = &args.train.out;
    eprintln!("== 1/3 train → {}", out.display());
    train::run(&args.train)?;
    let ck = out.join("best.safetensors");
    let int8 = out.join("model_int8.tflite");
    let float = out.join("model_float32.tflite");
    eprintln!("== 2/3 quantize (int8) → {}", int8.display());
    quantize::run(&QuantizeArgs {
        checkpoint: ck.clone(),
        method: "int8".into(),
        observer: args.observer.clone(),
        calibration_samples: args.calibration_samples,
        eval_samples: None,
        out: Some(int8.clone()),
        json: false,
        threads: args.train.threads,
        wq: Default::default(),
    })?;
    eprintln!("== 3/3 export (float32) → {}", float.display());
    export::run(&ExportArgs {
        checkpoint: ck.clone(),
        format: "tflite".into(),
        precision: "float32".into(),
        out: Some(float.clone()),
        threads: args.train.threads,
    })?;
    let report = report(out)?;
    let path = out.join("report.md");
    write_file(&path, report.as_bytes())?;
    println!("wrote {}", path.display());
    Ok(())
}

/// The Markdown summary: best epoch, float vs int8 accuracy and size, the worst layers.
fn report(out: &std::path::Path) -> Result<String> {
    let read = |name: &str| -> Result<String> {
        let p = out.join(name);
        std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()).into())
    };
    let q: serde_json::Value =
        serde_json::from_str(&read("model_int8.report.json")?).map_err(|e| e.to_string())?;
    let epochs: Vec<serde_json::Value> = read("log.jsonl")?
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let best = epochs
        .iter()
        .max_by(|a, b| {
            let v = |x: &serde_json::Value| x["val_acc"].as_f64().unwrap_or(0.0);
            v(a).total_cmp(&v(b))
        })
        .cloned()
        .unwrap_or_default();
    let pct = |v: &serde_json::Value| {
        v.as_f64()
            .map_or("-".into(), |x| format!("{:.2} %", 100.0 * x))
    };
    let mb = |v: &serde_json::Value| {
        v.as_f64()
            .map_or("-".into(), |x| format!("{:.2} MB", x / 1e6))
    };
    let mut s = String::new();
    let _ = writeln!(s, "# Inkling pipeline report\n");
    let _ = writeln!(
        s,
        "Training: {} epochs, best validation top-1 {} at epoch {} (`best.safetensors`; curves in `curves.svg`).\n",
        epochs.len(),
        pct(&best["val_acc"]),
        best["epoch"]
    );
    let _ = writeln!(
        s,
        "| model | file | size | top-1 ({} validation images) |",
        q["eval_samples"]
    );
    let _ = writeln!(s, "|---|---|---|---|");
    let _ = writeln!(
        s,
        "| float32 | `model_float32.tflite` | {} | {} |",
        mb(&q["float_bytes"]),
        pct(&q["float_top1"])
    );
    let _ = writeln!(
        s,
        "| int8 (PTQ, {} observer, {} calibration images) | `model_int8.tflite` | {} | {} |\n",
        q["observer"].as_str().unwrap_or("?"),
        q["calibration_samples"],
        mb(&q["int8_bytes"]),
        pct(&q["int8_top1"])
    );
    let mut layers: Vec<&serde_json::Value> = q["layers"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    layers.sort_by(|a, b| {
        a["sqnr_db"]
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&b["sqnr_db"].as_f64().unwrap_or(0.0))
    });
    let _ = writeln!(
        s,
        "Layers with the largest int8 error (all in `model_int8.report.json`):\n"
    );
    let _ = writeln!(s, "| layer | op | SQNR (dB) | cosine |\n|---|---|---|---|");
    for l in layers.iter().take(8) {
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} | {:.5} |",
            l["name"].as_str().unwrap_or("?"),
            l["op"].as_str().unwrap_or("?"),
            l["sqnr_db"].as_f64().unwrap_or(0.0),
            l["cosine"].as_f64().unwrap_or(0.0)
        );
    }
    let _ = writeln!(
        s,
        "\nRun either file with `inkling infer FILE --data DIR` or in LiteRT (XNNPACK takes the whole graph)."
    );
    Ok(s)
}
