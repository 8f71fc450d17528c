//! `inkling quantize`: post-training int8 quantization of a checkpoint into a `.tflite` file that
//! LiteRT runs on XNNPACK, with a per-layer error report and float vs int8 accuracy.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use inkling::autograd::Tensor;
use inkling::data::pipeline::{calibration_indices, DEFAULT_CALIBRATION_SAMPLES};
use inkling::quant::export::{to_tflite, write_file, ModelInfo};
use inkling::quant::graph::Graph;
use inkling::quant::ptq::{convert, layer_errors, Calibrator, LayerError, ObserverKind};
use inkling::quant::runtime::Session;
use inkling::quant::{passes, trace};
use rayon::prelude::*;

use crate::data::Result;
use crate::images::{argmax, Image};
use crate::train::preprocess_for;
use crate::trained::{self, Trained};

/// Options of `inkling quantize`.
#[derive(clap::Args, Debug)]
pub struct QuantizeArgs {
    /// A checkpoint written by `inkling train` (its recipe names the data to calibrate on).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// `int8`: int8 per-channel weights and int8 activations; LayerNorm, softmax and GELU stay
    /// float32 islands (as XNNPACK runs them).
    #[arg(long, default_value = "int8")]
    pub method: String,
    /// Activation range observer: minmax, moving-average, percentile or mse.
    #[arg(long, default_value = "minmax")]
    pub observer: String,
    /// Calibration images, class-balanced from the training split, not augmented.
    #[arg(long, default_value_t = DEFAULT_CALIBRATION_SAMPLES)]
    pub calibration_samples: usize,
    /// Validation images on which float and int8 top-1 and the per-layer errors are measured
    /// (default: the whole validation split; 0 skips).
    #[arg(long)]
    pub eval_samples: Option<usize>,
    /// Output file (default: model_int8.tflite beside the checkpoint); a JSON report is written
    /// next to it (`.report.json`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Options of the 4-bit methods.
    #[command(flatten)]
    pub wq: crate::quantize_wq::WqArgs,
}

/// What quantization produced, for the report.
#[derive(serde::Serialize)]
struct Report {
    checkpoint: String,
    out: String,
    observer: String,
    calibration_samples: usize,
    eval_samples: usize,
    float_top1: Option<f64>,
    int8_top1: Option<f64>,
    float_bytes: usize,
    int8_bytes: usize,
    layers: Vec<LayerError>,
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn bar(title: &str, len: usize) -> ProgressBar {
    let b = ProgressBar::new(len as u64);
    let style =
        ProgressStyle::with_template("{prefix:>12} [{bar:30.cyan/blue}] {pos}/{len} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    b.set_style(style);
    b.set_prefix(title.to_string());
    b
}

/// The float graph of a trained model, in TFLite layouts, and the info an app needs to feed it.
pub fn float_graph(t: &mut Trained) -> Result<(Graph, ModelInfo)> {
    let [c, h, w] = t.model.input_shape();
    let example = Tensor::zeros(&[1, c, h, w]);
    let g = passes::prepare(trace(&mut *t.model, &example)?)?;
    let pre = preprocess_for(&*t.model);
    let info = ModelInfo {
        classes: t.classes.clone(),
        input_shape: g.value(g.inputs[0]).shape.clone(),
        invert: pre.invert,
        mean: pre.mean,
        std: pre.std,
        precision: "float32".into(),
    };
    Ok((g, info))
}

/// Top-1 of a graph over images (labels in logit order), in parallel over images.
pub fn top1(g: &Graph, images: &[Image], title: &str) -> Result<f64> {
    let s = Session::new(g)?;
    let pb = bar(title, images.len());
    let hits: std::result::Result<Vec<bool>, inkling::quant::Error> = trained::in_pool(|| {
        images
            .par_iter()
            .map(|im| {
                let y = s.run(vec![im.input.clone()])?;
                pb.inc(1);
                Ok(argmax(&y[0]) == im.label)
            })
            .collect()
    })?;
    pb.finish_and_clear();
    let hits = hits?;
    Ok(hits.iter().filter(|&&h| h).count() as f64 / hits.len().max(1) as f64)
}

/// A checkpoint's float graph and the images quantization reads: calibration images
/// (class-balanced from the training split) and validation images, as the options pick them.
pub struct Inputs {
    /// The float graph.
    pub g: Graph,
    /// What an app needs to feed it.
    pub info: ModelInfo,
    /// `--calibration-samples` images.
    pub cal: Vec<Image>,
    /// `--eval-samples` validation images (default: the whole split).
    pub val: Vec<Image>,
}

/// Loads `args.checkpoint`, its float graph and its calibration and validation images.
pub fn inputs(args: &QuantizeArgs) -> Result<Inputs> {
    let path = &args.checkpoint;
    let mut t = trained::load(path)?;
    let recipe = t.recipe.clone().ok_or_else(|| {
        format!(
            "{}: not a training checkpoint (no recipe): calibration needs the training data",
            path.display()
        )
    })?;
    let data = trained::training_data(&recipe, path)?;
    let split = trained::training_split(&recipe, &*data.source)?;
    let n_cal = args.calibration_samples.min(split.train.len());
    if n_cal == 0 {
        return Err("--calibration-samples must be at least 1".into());
    }
    let cal_idx = calibration_indices(&*data.source, &split.train, n_cal, recipe.seed)?;
    let pre = preprocess_for(&*t.model);
    let (g, info) = float_graph(&mut t)?;
    let cal = crate::images::load(&data.source, cal_idx, pre)?;
    let n_eval = args
        .eval_samples
        .unwrap_or(split.val.len())
        .min(split.val.len());
    // Evenly spaced over the split (which is ordered by class), so a subset covers every class.
    let picked: Vec<usize> = (0..n_eval)
        .map(|i| split.val[i * split.val.len() / n_eval.max(1)])
        .collect();
    let val = crate::images::load(&data.source, picked, pre)?;
    Ok(Inputs { g, info, cal, val })
}

/// Runs `inkling quantize`.
pub fn run(args: &QuantizeArgs) -> Result<()> {
    if crate::quantize_wq::is_wq(&args.method) {
        return crate::quantize_wq::run(args);
    }
    trained::set_threads(args.threads)?;
    if args.method != "int8" {
        return Err(format!("--method {:?}: int8, rtn, awq or gptq", args.method).into());
    }
    let observer: ObserverKind = args.observer.parse()?;
    let path = &args.checkpoint;
    let Inputs {
        g,
        mut info,
        cal,
        val,
    } = inputs(args)?;
    let mut calibrator = Calibrator::new(&g, observer)?;
    let pb = bar("calibrate", cal.len());
    for im in &cal {
        calibrator.observe(im.input.clone())?;
        pb.inc(1);
    }
    pb.finish_and_clear();
    let q = convert(&g, &calibrator.ranges())?;

    // Labels of the data are in the recipe's class order, which is the model's.
    let (float_top1, int8_top1) = if val.is_empty() {
        (None, None)
    } else {
        (
            Some(top1(&g, &val, "float top-1")?),
            Some(top1(&q, &val, "int8 top-1")?),
        )
    };
    // Per-layer errors on held-out images when there are some, else on calibration images.
    let report_from = if val.is_empty() { &cal } else { &val };
    let report_inputs: Vec<_> = report_from
        .iter()
        .take(32)
        .map(|im| im.input.clone())
        .collect();
    let layers = if report_inputs.is_empty() {
        Vec::new()
    } else {
        layer_errors(&g, &q, &report_inputs)?
    };

    let float_bytes = to_tflite(&g, &info)?.len();
    info.precision = "int8".into();
    let bytes = to_tflite(&q, &info)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| path.with_file_name("model_int8.tflite"));
    write_file(&out, &bytes)?;
    let report = Report {
        checkpoint: path.display().to_string(),
        out: out.display().to_string(),
        observer: args.observer.clone(),
        calibration_samples: cal.len(),
        eval_samples: val.len(),
        float_top1,
        int8_top1,
        float_bytes,
        int8_bytes: bytes.len(),
        layers,
    };
    let report_path = save_report(&report, &out, args.json)?;
    if !args.json {
        print_report(&report, &report_path);
    }
    Ok(())
}

/// Writes `report` as JSON beside `model` (`<model>.report.json`) and, with `json`, prints it on
/// stdout as one line; returns the report file's path.
pub fn save_report<T: serde::Serialize>(report: &T, model: &Path, json: bool) -> Result<PathBuf> {
    let text = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    let path = model.with_extension("report.json");
    write_file(&path, text.as_bytes())?;
    if json {
        println!(
            "{}",
            serde_json::to_string(report).map_err(|e| e.to_string())?
        );
    }
    Ok(path)
}

fn print_report(r: &Report, report_path: &Path) {
    println!(
        "wrote {} ({:.2} MB int8, {:.3}× the {:.2} MB float file) | {} calibration images, {} observer",
        r.out,
        r.int8_bytes as f64 / 1e6,
        r.int8_bytes as f64 / r.float_bytes as f64,
        r.float_bytes as f64 / 1e6,
        r.calibration_samples,
        r.observer
    );
    if let (Some(f), Some(q)) = (r.float_top1, r.int8_top1) {
        println!(
            "top-1 on {} validation images: float {:.2}% | int8 {:.2}% ({:+.2} points)",
            r.eval_samples,
            100.0 * f,
            100.0 * q,
            100.0 * (q - f)
        );
    }
    let mut worst: Vec<&LayerError> = r.layers.iter().collect();
    worst.sort_by(|a, b| a.sqnr_db.total_cmp(&b.sqnr_db));
    if !worst.is_empty() {
        println!(
            "layers with the largest quantization error (SQNR vs float; all in {}):",
            report_path.display()
        );
        for l in worst.iter().take(8) {
            println!(
                "  {:<36} {:<16} {:6.1} dB  cos {:.5}",
                l.name, l.op, l.sqnr_db, l.cosine
            );
        }
    }
}
