//! `inkling report`: every compression method on the same calibration set and split, compared on
//! accuracy, size, batch-1 latency (our runtime and LiteRT) and peak memory, written as
//! `report.md`, `report.json` and plots.

mod finetune;
mod markdown;
mod measure;
mod methods;

use std::path::{Path, PathBuf};
use std::time::Instant;

use inkling::data::pipeline::DEFAULT_CALIBRATION_SAMPLES;
use inkling::quant::export::{to_tflite, write_file};
use serde::Serialize;

use measure::Latency;
use methods::{Built, MethodOptions};

use crate::data::Result;
use crate::plot::{LatencyBar, SizePoint};
use crate::quantize::{load_inputs, Inputs as Context};

/// Options of `inkling report`.
#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    /// A checkpoint written by `inkling train` (its recipe names the data and the split).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Directory for report.md, report.json, the plots and the exported files (default: the
    /// checkpoint's directory).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Methods to compare, comma-separated, or `all`.
    #[arg(long, default_value = "all")]
    pub methods: String,
    /// Activation range observer for the int8 methods: minmax, moving-average, percentile or mse.
    #[arg(long, default_value = "minmax")]
    pub observer: String,
    /// Calibration images (class-balanced, training split), the same for every method.
    #[arg(long, default_value_t = DEFAULT_CALIBRATION_SAMPLES)]
    pub calibration_samples: usize,
    /// Validation images for accuracy (default: the whole validation split).
    #[arg(long)]
    pub eval_samples: Option<usize>,
    /// Timed batch-1 runs per model and runtime (0 skips latency and memory).
    #[arg(long, default_value_t = 100)]
    pub latency_runs: usize,
    /// Threads for the latency runs.
    #[arg(long, default_value_t = 1)]
    pub latency_threads: usize,
    /// A Python with `ai-edge-litert` to time LiteRT too (default: $INKLING_LITERT_PYTHON).
    #[arg(long)]
    pub litert_python: Option<PathBuf>,
    /// QAT fine-tuning epochs.
    #[arg(long, default_value_t = 1)]
    pub qat_epochs: usize,
    /// QAT peak learning rate (cosine, 5 % warm-up).
    #[arg(long, default_value_t = 2e-5)]
    pub qat_lr: f32,
    /// Threads for quantization and evaluation (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// One method's row of the report.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Method key (`int8`, `gptq`, …).
    pub method: String,
    /// Human label.
    pub label: String,
    /// Exported file name.
    pub file: String,
    /// Its size on disk.
    pub bytes: usize,
    /// Top-1 on the validation images, our runtime.
    pub top1: f64,
    /// Top-1 per class, in class order.
    pub per_class: Vec<f64>,
    /// Our runtime's batch-1 latency and peak RSS.
    pub ours: Option<Latency>,
    /// LiteRT's.
    pub litert: Option<Latency>,
    /// Seconds the method took (calibration, search, fine-tuning).
    pub seconds: f64,
    /// Method-specific figures.
    pub details: serde_json::Value,
    /// The course project's check against float: size −30 %, latency −40 %, top-1 within 5 %.
    pub check: Option<Check>,
}

/// The requirement check of one row against the float row.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// Size relative to float.
    pub size_ratio: f64,
    /// Our runtime's latency relative to float (when timed).
    pub latency_ratio: Option<f64>,
    /// LiteRT's latency relative to float (when timed).
    pub litert_latency_ratio: Option<f64>,
    /// Top-1 relative to float.
    pub accuracy_ratio: f64,
    /// size ≤ 0.70×, latency (ours) ≤ 0.60×, top-1 ≥ 0.95× float.
    pub passes: bool,
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The checkpoint compared.
    pub checkpoint: String,
    /// Class names, in logit and `per_class` order.
    pub classes: Vec<String>,
    /// Calibration images (same for every method).
    pub calibration_samples: usize,
    /// Validation images.
    pub eval_samples: usize,
    /// Threads of the latency runs.
    pub latency_threads: usize,
    /// CPU the figures come from.
    pub cpu: String,
    /// Why LiteRT was not timed, when it was not.
    pub litert_note: Option<String>,
    /// One row per method.
    pub rows: Vec<Row>,
}

/// Parses `--methods` (`all` or a comma list; `float` always comes first, as the reference).
pub fn parse_methods(spec: &str) -> Result<Vec<String>> {
    let mut names: Vec<String> = if spec.trim() == "all" {
        methods::ALL.iter().map(|s| s.to_string()).collect()
    } else {
        spec.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    for n in &names {
        if !methods::ALL.contains(&n.as_str()) {
            return Err(format!(
                "--methods: unknown method {n:?} (known: {})",
                methods::ALL.join(", ")
            )
            .into());
        }
    }
    names.retain(|n| n != "float");
    names.dedup();
    names.insert(0, "float".into());
    Ok(names)
}

/// Runs `inkling report`.
pub fn run(args: &ReportArgs) -> Result<Report> {
    crate::trained::set_threads(args.threads)?;
    let names = parse_methods(&args.methods)?;
    let out = out_dir(args);
    let opts = MethodOptions {
        checkpoint: args.checkpoint.clone(),
        out: out.clone(),
        calibration_samples: args.calibration_samples,
        threads: args.threads,
        qat_epochs: args.qat_epochs,
        qat_lr: args.qat_lr,
        observer: args.observer.parse()?,
        observer_name: args.observer.clone(),
    };
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let ctx = load_inputs(
        &args.checkpoint,
        Some(args.calibration_samples),
        args.eval_samples,
    )?;
    if ctx.val.is_empty() {
        return Err(format!(
            "{}: the validation split is empty: nothing to measure accuracy on",
            args.checkpoint.display()
        )
        .into());
    }
    let (python, litert_note) = litert_python(args);
    let script = out.join("litert_bench.py");
    if python.is_some() && args.latency_runs > 0 {
        write_file(&script, measure::LITERT_SCRIPT.as_bytes())?;
    }
    let mut rows: Vec<Row> = Vec::new();
    for (k, name) in names.iter().enumerate() {
        eprintln!("== {}/{} {name}", k + 1, names.len());
        let t0 = Instant::now();
        let built = methods::build(name, &ctx, &opts)?;
        let seconds = t0.elapsed().as_secs_f64();
        let row = measure_row(
            args,
            &ctx,
            &out,
            name,
            built,
            seconds,
            python.as_deref(),
            &script,
        )?;
        eprintln!(
            "   {}: top-1 {:.2} % | {:.2} MB{}",
            row.label,
            100.0 * row.top1,
            row.bytes as f64 / 1e6,
            row.ours
                .as_ref()
                .map_or(String::new(), |l| format!(" | {:.2} ms", l.median_ms))
        );
        rows.push(row);
    }
    let float = rows[0].clone();
    for r in &mut rows[1..] {
        r.check = Some(check(r, &float));
    }
    let report = Report {
        checkpoint: args.checkpoint.display().to_string(),
        classes: ctx.trained.classes.clone(),
        calibration_samples: ctx.cal.len(),
        eval_samples: ctx.val.len(),
        latency_threads: args.latency_threads,
        cpu: inkling::kernels::cpu_model(),
        litert_note,
        rows,
    };
    write_outputs(&report, &out)?;
    Ok(report)
}

/// Where the report goes: `--out`, else the checkpoint's directory.
pub fn out_dir(args: &ReportArgs) -> PathBuf {
    args.out.clone().unwrap_or_else(|| {
        args.checkpoint
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    })
}

/// Prints the comparison as a terminal table and where the files are.
pub fn print_summary(r: &Report, args: &ReportArgs) {
    let float = &r.rows[0];
    println!(
        "{:<34} {:>9} {:>7} {:>8} {:>9} {:>10} {:>6}",
        "method", "size MB", "ratio", "top-1", "ours ms", "LiteRT ms", "check"
    );
    for row in &r.rows {
        let ms = |l: &Option<Latency>| {
            l.as_ref()
                .map_or("-".into(), |l| format!("{:.2}", l.median_ms))
        };
        println!(
            "{:<34} {:>9.2} {:>6.2}× {:>7.2}% {:>9} {:>10} {:>6}",
            row.label,
            row.bytes as f64 / 1e6,
            float.bytes as f64 / row.bytes.max(1) as f64,
            100.0 * row.top1,
            ms(&row.ours),
            ms(&row.litert),
            row.check
                .as_ref()
                .map_or("-", |c| if c.passes { "pass" } else { "no" })
        );
    }
    if let Some(n) = &r.litert_note {
        println!("{n}");
    }
    println!("wrote {}", out_dir(args).join("report.md").display());
}

/// The Python to time LiteRT with, or why there is none.
fn litert_python(args: &ReportArgs) -> (Option<PathBuf>, Option<String>) {
    if args.latency_runs == 0 {
        return (None, Some("latency not measured (--latency-runs 0)".into()));
    }
    let p = args
        .litert_python
        .clone()
        .or_else(|| std::env::var_os("INKLING_LITERT_PYTHON").map(PathBuf::from));
    match p {
        Some(p) => (Some(p), None),
        None => (
            None,
            Some(
                "LiteRT not timed: give --litert-python (a Python with `pip install ai-edge-litert numpy`) \
                 or set INKLING_LITERT_PYTHON"
                    .into(),
            ),
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn measure_row(
    args: &ReportArgs,
    ctx: &Context,
    out: &Path,
    name: &str,
    built: Built,
    seconds: f64,
    python: Option<&Path>,
    script: &Path,
) -> Result<Row> {
    let mut info = ctx.info.clone();
    info.precision = built.precision.clone();
    let bytes = to_tflite(&built.graph, &info)?;
    let file = format!("model_{}.tflite", built.stem);
    let path = out.join(&file);
    write_file(&path, &bytes)?;
    let eval = measure::evaluate(&built.graph, &ctx.val, &ctx.trained.classes, &built.label)?;
    let per_class = eval.per_class().iter().map(|m| m.accuracy).collect();
    let ours = (args.latency_runs > 0)
        .then(|| measure::ours(&path, args.latency_runs, args.latency_threads))
        .transpose()?;
    let litert = match python {
        Some(py) if args.latency_runs > 0 => {
            match measure::litert(py, script, &path, args.latency_runs, args.latency_threads) {
                Ok(l) => Some(l),
                Err(e) => {
                    eprintln!("   warning: {e}");
                    None
                }
            }
        }
        _ => None,
    };
    Ok(Row {
        method: name.to_string(),
        label: built.label,
        file,
        bytes: bytes.len(),
        top1: eval.top1(),
        per_class,
        ours,
        litert,
        seconds,
        details: built.details,
        check: None,
    })
}

fn check(r: &Row, float: &Row) -> Check {
    let ratio = |a: Option<&Latency>, b: Option<&Latency>| match (a, b) {
        (Some(a), Some(b)) if b.median_ms > 0.0 => Some(a.median_ms / b.median_ms),
        _ => None,
    };
    let size_ratio = r.bytes as f64 / float.bytes.max(1) as f64;
    let latency_ratio = ratio(r.ours.as_ref(), float.ours.as_ref());
    let litert_latency_ratio = ratio(r.litert.as_ref(), float.litert.as_ref());
    let accuracy_ratio = if float.top1 > 0.0 {
        r.top1 / float.top1
    } else {
        1.0
    };
    Check {
        size_ratio,
        latency_ratio,
        litert_latency_ratio,
        accuracy_ratio,
        passes: size_ratio <= 0.70
            && latency_ratio.is_some_and(|l| l <= 0.60)
            && accuracy_ratio >= 0.95,
    }
}

fn write_outputs(report: &Report, out: &Path) -> Result<()> {
    let json = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    write_file(&out.join("report.json"), json.as_bytes())?;
    let float = &report.rows[0];
    let sizes: Vec<SizePoint> = report
        .rows
        .iter()
        .map(|r| SizePoint {
            label: r.label.clone(),
            mb: r.bytes as f64 / 1e6,
            top1: r.top1,
        })
        .collect();
    let latency: Vec<LatencyBar> = report
        .rows
        .iter()
        .map(|r| LatencyBar {
            label: r.label.clone(),
            ours: r.ours.as_ref().map(|l| l.median_ms),
            litert: r.litert.as_ref().map(|l| l.median_ms),
        })
        .collect();
    let deltas: Vec<(String, Vec<f64>)> = report.rows[1..]
        .iter()
        .map(|r| {
            let d = r
                .per_class
                .iter()
                .zip(&float.per_class)
                .map(|(a, b)| a - b)
                .collect();
            (r.label.clone(), d)
        })
        .collect();
    let charts = crate::plot::write_compression_charts(
        out,
        &sizes,
        &latency,
        report.latency_threads,
        &report.classes,
        &deltas,
    )
    .map_err(|e| format!("{}: {e}", out.display()))?;
    let md = markdown::render(report, &charts);
    write_file(&out.join("report.md"), md.as_bytes())?;
    Ok(())
}
