//! `inkling quantize`: post-training int8 quantization of a checkpoint into a `.tflite` file that
//! LiteRT runs on XNNPACK, with a per-layer error report and float vs int8 accuracy.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use inkling::autograd::Tensor;
use inkling::data::pipeline::{calibration_indices, DEFAULT_CALIBRATION_SAMPLES};
use inkling::nn::metrics::arg_max;
use inkling::quant::export::{to_tflite, write_file, ModelInfo};
use std::collections::HashMap;

use inkling::quant::graph::{Graph, ValueId};
use inkling::quant::ptq::{convert, layer_errors, Calibrator, LayerError, ObserverKind};
use inkling::quant::runtime::{Data, Session};
use inkling::quant::{passes, trace};
use rayon::prelude::*;

use crate::data::Result;
use crate::images::Image;
use crate::train::preprocess_for;
use crate::train::recipe::Recipe;
use crate::trained::{self, Trained};

/// Options of `inkling quantize`.
#[derive(clap::Args, Debug)]
pub struct QuantizeArgs {
    /// A checkpoint written by `inkling train` (its recipe names the data to calibrate on).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// `int8`: int8 per-channel weights and int8 activations; LayerNorm, softmax and GELU stay
    /// float32 islands (as XNNPACK runs them). `smoothquant`: the same after SmoothQuant smoothing.
    /// `kmeans`: float32 weights shared through 2^bits k-means centroids per layer.
    #[arg(long, default_value = "int8")]
    pub method: String,
    /// `--method smoothquant`: migration strength α in (0, 1], or `auto` (sweep 0.3…0.8 and the
    /// unsmoothed graph, choose on held-out calibration images).
    #[arg(long, default_value = "auto")]
    pub alpha: String,
    /// `--method kmeans`: bits per weight index (2^bits shared values per layer; default 4).
    #[arg(long)]
    pub bits: Option<u32>,
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
    /// Options of `--method qat`.
    #[command(flatten)]
    pub qat: crate::qat::QatFlags,
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

/// The logits of `g` for each image (int8 outputs dequantized), in parallel over images, with a
/// progress bar titled `title`.
pub fn logits(g: &Graph, images: &[&Image], title: &str) -> Result<Vec<Vec<f32>>> {
    let s = Session::new(g)?;
    let q = g.value(g.outputs[0]).qparams();
    let pb = bar(title, images.len());
    let out: std::result::Result<Vec<Vec<f32>>, inkling::quant::Error> = trained::in_pool(|| {
        images
            .par_iter()
            .map(|im| {
                let y = s.run(vec![im.input.clone()])?.remove(0);
                pb.inc(1);
                Ok(match (y.data, q) {
                    (Data::I8(v), Some(q)) => v
                        .iter()
                        .map(|&i| (i as i32 - q.zero_point) as f32 * q.scale)
                        .collect(),
                    (Data::F32(v), _) => v,
                    _ => Vec::new(),
                })
            })
            .collect()
    })?;
    pb.finish_and_clear();
    Ok(out?)
}

/// Activation ranges of `g` observed by `observer` over the calibration images, with a progress bar.
pub fn calibrate(
    g: &Graph,
    cal: &[Image],
    observer: ObserverKind,
) -> Result<HashMap<ValueId, (f32, f32)>> {
    let mut calibrator = Calibrator::new(g, observer)?;
    let pb = bar("calibrate", cal.len());
    for im in cal {
        calibrator.observe(im.input.clone())?;
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(calibrator.ranges())
}

/// Top-1 of a graph over images (labels in logit order), in parallel over images.
pub fn top1(g: &Graph, images: &[Image], title: &str) -> Result<f64> {
    let all: Vec<&Image> = images.iter().collect();
    let ys = logits(g, &all, title)?;
    let hits = ys
        .iter()
        .zip(images)
        .filter(|(y, im)| arg_max(y) == im.label)
        .count();
    Ok(hits as f64 / images.len().max(1) as f64)
}

/// What every method starts from: a checkpoint's model and float graph, its calibration images
/// (class-balanced from the training split, not augmented) and its validation images.
pub struct Inputs {
    /// The model, weights loaded, with its class names.
    pub trained: Trained,
    /// How it was trained (data, split, optimisation).
    pub recipe: Recipe,
    /// The prepared float graph (TFLite layouts, BatchNorm folded).
    pub graph: Graph,
    /// What an app needs to feed it.
    pub info: ModelInfo,
    /// Calibration images (empty unless asked for).
    pub cal: Vec<Image>,
    /// Validation images (evenly spaced over the split, so every class is covered).
    pub val: Vec<Image>,
    /// The training recipe's seed.
    pub seed: u64,
}

/// Loads the checkpoint of `args` and its images (calibration images only when `calibration`).
pub fn inputs(args: &QuantizeArgs, calibration: bool) -> Result<Inputs> {
    let cal = calibration.then_some(args.calibration_samples);
    load_inputs(&args.checkpoint, cal, args.eval_samples)
}

/// Loads `path` (an `inkling train` checkpoint with its recipe), `calibration` calibration images
/// (none when `None`) and `eval` validation images (`None`: the whole validation split).
pub fn load_inputs(path: &Path, calibration: Option<usize>, eval: Option<usize>) -> Result<Inputs> {
    let mut t = trained::load(path)?;
    let recipe = t.recipe.clone().ok_or_else(|| {
        format!(
            "{}: not a training checkpoint (no recipe): calibration needs the training data",
            path.display()
        )
    })?;
    let data = trained::training_data(&recipe, path)?;
    let split = trained::training_split(&recipe, &*data.source)?;
    let pre = preprocess_for(&*t.model);
    let (graph, info) = float_graph(&mut t)?;
    let cal = match calibration {
        Some(n) => {
            let n_cal = n.min(split.train.len());
            if n_cal == 0 {
                return Err("--calibration-samples must be at least 1".into());
            }
            let cal_idx = calibration_indices(&*data.source, &split.train, n_cal, recipe.seed)?;
            crate::images::load(&data.source, cal_idx, pre)?
        }
        None => Vec::new(),
    };
    let n_eval = eval.unwrap_or(split.val.len()).min(split.val.len());
    // Evenly spaced over the split (which is ordered by class), so a subset covers every class.
    let picked: Vec<usize> = (0..n_eval)
        .map(|i| split.val[i * split.val.len() / n_eval.max(1)])
        .collect();
    // Labels of the data are in the recipe's class order, which is the model's.
    let val = crate::images::load(&data.source, picked, pre)?;
    Ok(Inputs {
        trained: t,
        seed: recipe.seed,
        recipe,
        graph,
        info,
        cal,
        val,
    })
}

/// Runs `inkling quantize`.
pub fn run(args: &QuantizeArgs) -> Result<()> {
    if args.method == "qat" {
        return crate::qat::run_from_quantize(args);
    }
    if crate::quantize_wq::is_wq(&args.method) {
        return crate::quantize_wq::run(args);
    }
    trained::set_threads(args.threads)?;
    match args.method.as_str() {
        "int8" => {}
        "smoothquant" => return crate::quantize_smooth::run(args),
        "kmeans" => return crate::quantize_kmeans::run(args),
        m => {
            return Err(format!(
                "--method {m:?}: available are int8, smoothquant, qat, rtn, awq, gptq and kmeans"
            )
            .into())
        }
    }
    let observer: ObserverKind = args.observer.parse()?;
    let path = &args.checkpoint;
    let Inputs {
        graph: g,
        mut info,
        cal,
        val,
        ..
    } = inputs(args, true)?;
    let q = convert(&g, &calibrate(&g, &cal, observer)?)?;

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
    write_report(&report, &out, args.json, print_report)
}

/// Writes `report` beside `out` as `.report.json`, then prints it as one JSON line when `json`,
/// else as `print` writes it (given the report's path).
pub fn write_report<R: serde::Serialize>(
    report: &R,
    out: &Path,
    json: bool,
    print: impl FnOnce(&R, &Path),
) -> Result<()> {
    let text = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    let path = out.with_extension("report.json");
    write_file(&path, text.as_bytes())?;
    if json {
        println!(
            "{}",
            serde_json::to_string(report).map_err(|e| e.to_string())?
        );
    } else {
        print(report, &path);
    }
    Ok(())
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
