//! `inkling quantize --method rtn|awq|gptq`: 4-bit weights for the transformer's linear layers
//! (weight-only with float32 activations, or int8 × int4), optionally keeping the most sensitive
//! layers out, into a `.tflite` that LiteRT runs on XNNPACK, with float vs 4-bit top-1, sizes and
//! per-layer errors in a JSON report.

use std::path::Path;
use std::sync::Mutex;

use indicatif::ProgressBar;
use inkling::nn::metrics::arg_max;
use inkling::quant::export::{to_tflite, write_file};
use inkling::quant::graph::Graph;
use inkling::quant::ptq::{layer_errors, LayerError, ObserverKind};
use inkling::quant::runtime::Buf;
use inkling::quant::wq::{
    quantize_4bit_with, AwqChoice, LayerSensitivity, WqAct, WqConfig, WqMethod, WqOutput,
};

use crate::data::Result;
use crate::images::Image;
use crate::quantize::{bar, inputs, logits, write_report, Inputs, QuantizeArgs};
use crate::trained;

/// Options of the 4-bit methods (`--method rtn|awq|gptq`).
#[derive(clap::Args, Debug)]
pub struct WqArgs {
    /// 4-bit methods: input channels per weight scale (32, 64 or 128); 0 = one scale per output
    /// channel.
    #[arg(long, default_value_t = 0)]
    pub block: usize,
    /// 4-bit methods: `f32` = weight-only (float32 activations, quantized per row on the fly by
    /// XNNPACK); `int8` = static int8 activations × int4 weights (per-channel only).
    #[arg(long, default_value = "f32")]
    pub act: String,
    /// GPTQ: quantize input columns by descending activity.
    #[arg(long)]
    pub act_order: bool,
    /// GPTQ: damping added to the Hessian's diagonal, as a fraction of its mean.
    #[arg(long, default_value_t = 0.01)]
    pub damp: f32,
    /// 4-bit methods: keep the K layers with the lowest 4-bit output SQNR in float32 (`--act f32`)
    /// or int8 (`--act int8`).
    #[arg(long, default_value_t = 0)]
    pub keep_sensitive: usize,
}

impl Default for WqArgs {
    /// The command line's defaults (per-channel, weight-only, damping 0.01, nothing kept).
    fn default() -> Self {
        WqArgs {
            block: 0,
            act: "f32".into(),
            act_order: false,
            damp: 0.01,
            keep_sensitive: 0,
        }
    }
}

/// Whether `--method` names a 4-bit method.
pub fn is_wq(method: &str) -> bool {
    method.parse::<WqMethod>().is_ok()
}

/// The library settings of `--method`, the 4-bit options and `--observer`.
pub fn config(method: &str, a: &WqArgs, observer: &str) -> Result<WqConfig> {
    Ok(WqConfig {
        method: method.parse()?,
        block: (a.block != 0).then_some(a.block),
        act: a.act.parse()?,
        damp: a.damp,
        act_order: a.act_order,
        keep_sensitive: a.keep_sensitive,
        observer: observer.parse::<ObserverKind>()?,
        ..WqConfig::default()
    })
}

/// One progress bar per stage of the 4-bit pass.
struct Bars(Mutex<Option<(&'static str, ProgressBar)>>);

impl Bars {
    fn update(&self, stage: &'static str, done: usize, total: usize) {
        let mut cur = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if cur.as_ref().map(|(s, _)| *s) != Some(stage) {
            if let Some((_, b)) = cur.take() {
                b.finish_and_clear();
            }
            *cur = Some((stage, bar(stage, total)));
        }
        if let Some((_, b)) = cur.as_ref() {
            b.set_position(done as u64);
        }
    }

    fn finish(&self) {
        if let Some((_, b)) = self.0.lock().unwrap_or_else(|p| p.into_inner()).take() {
            b.finish_and_clear();
        }
    }
}

/// The 4-bit pass with progress bars, on the process's `--threads`.
pub fn quantize_with_report(g: &Graph, cal: &[Image], cfg: &WqConfig) -> Result<WqOutput> {
    let inputs: Vec<Buf> = cal.iter().map(|im| im.input.clone()).collect();
    let bars = Bars(Mutex::new(None));
    let threads = inkling::kernels::threads::num_threads();
    let out = inkling::kernels::threads::install(threads, || {
        quantize_4bit_with(g, &inputs, cfg, &|s, d, t| bars.update(s, d, t))
    });
    bars.finish();
    Ok(out?)
}

/// Float against 4-bit on labelled images.
struct Fidelity {
    float_top1: f64,
    int4_top1: f64,
    agreement: f64,
    logit_sqnr_db: f64,
}

/// Top-1, agreement and logit SQNR of `q` against the float graph `g` on labelled images.
fn fidelity(g: &Graph, q: &Graph, images: &[Image]) -> Result<Fidelity> {
    let all: Vec<&Image> = images.iter().collect();
    let (fs, ys) = (logits(g, &all, "float")?, logits(q, &all, "4-bit")?);
    let rows: Vec<(usize, usize, f64, f64)> = fs
        .iter()
        .zip(&ys)
        .map(|(f, y)| {
            let signal = f.iter().map(|&v| (v as f64).powi(2)).sum();
            let noise = f
                .iter()
                .zip(y)
                .map(|(&a, &b)| ((a - b) as f64).powi(2))
                .sum();
            (arg_max(f), arg_max(y), signal, noise)
        })
        .collect();
    let n = rows.len().max(1) as f64;
    let share = |hit: &dyn Fn(&(usize, usize), usize) -> bool| {
        rows.iter()
            .zip(images)
            .filter(|((a, b, _, _), im)| hit(&(*a, *b), im.label))
            .count() as f64
            / n
    };
    let (signal, noise) = rows.iter().fold((0.0, 0.0), |(s, e), r| (s + r.2, e + r.3));
    Ok(Fidelity {
        float_top1: share(&|(a, _), l| *a == l),
        int4_top1: share(&|(_, b), l| *b == l),
        agreement: share(&|(a, b), _| a == b),
        logit_sqnr_db: 10.0 * (signal / noise.max(1e-30)).log10(),
    })
}

/// What the 4-bit pass produced, for the report.
#[derive(serde::Serialize)]
struct Report {
    checkpoint: String,
    out: String,
    method: WqMethod,
    block: Option<usize>,
    act: WqAct,
    act_order: bool,
    damp: f32,
    keep_sensitive: usize,
    calibration_samples: usize,
    eval_samples: usize,
    float_top1: Option<f64>,
    int4_top1: Option<f64>,
    /// Share of validation images where float and 4-bit predict the same class.
    agreement: Option<f64>,
    /// `10·log10(Σ z² / Σ (z − ẑ)²)` of the 4-bit logits against float over the validation images.
    logit_sqnr_db: Option<f64>,
    float_bytes: usize,
    int4_bytes: usize,
    /// Each linear layer's output SQNR on the calibration set when it alone goes 4-bit.
    layers: Vec<LayerSensitivity>,
    /// `--act int8`: every int8 node's output against float on held-out images (as `--method int8`).
    int8_layers: Vec<LayerError>,
    awq: Vec<AwqChoice>,
}

/// Runs `inkling quantize --method rtn|awq|gptq`.
pub fn run(args: &QuantizeArgs) -> Result<()> {
    trained::set_threads(args.threads)?;
    let cfg = config(&args.method, &args.wq, &args.observer)?;
    let path = &args.checkpoint;
    let Inputs {
        graph: g,
        mut info,
        cal,
        val,
        ..
    } = inputs(args, true)?;
    let out = quantize_with_report(&g, &cal, &cfg)?;
    let q = &out.graph;

    let fid = if val.is_empty() {
        None
    } else {
        Some(fidelity(&g, q, &val)?)
    };
    let int8_layers = if cfg.act == WqAct::Int8 {
        let from = if val.is_empty() { &cal } else { &val };
        let xs: Vec<Buf> = from.iter().take(32).map(|im| im.input.clone()).collect();
        layer_errors(&g, q, &xs)?
    } else {
        Vec::new()
    };

    let float_bytes = to_tflite(&g, &info)?.len();
    info.precision = match cfg.act {
        WqAct::F32 => "int4 weights, float32 activations",
        WqAct::Int8 => "int4 weights, int8 activations",
    }
    .into();
    let bytes = to_tflite(q, &info)?;
    let dest = args
        .out
        .clone()
        .unwrap_or_else(|| path.with_file_name(format!("model_{}.tflite", cfg.method.name())));
    write_file(&dest, &bytes)?;
    let report = Report {
        checkpoint: path.display().to_string(),
        out: dest.display().to_string(),
        method: cfg.method,
        block: cfg.block,
        act: cfg.act,
        act_order: cfg.act_order,
        damp: cfg.damp,
        keep_sensitive: cfg.keep_sensitive,
        calibration_samples: cal.len(),
        eval_samples: val.len(),
        float_top1: fid.as_ref().map(|f| f.float_top1),
        int4_top1: fid.as_ref().map(|f| f.int4_top1),
        agreement: fid.as_ref().map(|f| f.agreement),
        logit_sqnr_db: fid.as_ref().map(|f| f.logit_sqnr_db),
        float_bytes,
        int4_bytes: bytes.len(),
        layers: out.layers,
        int8_layers,
        awq: out.awq,
    };
    write_report(&report, &dest, args.json, print_report)
}

fn print_report(r: &Report, report_path: &Path) {
    let layout = r
        .block
        .map_or("per-channel".to_string(), |b| format!("blocks of {b}"));
    println!(
        "wrote {} ({:.2} MB, {:.3}× the {:.2} MB float file) | {} 4-bit, {layout}, {} activations, {} calibration images",
        r.out,
        r.int4_bytes as f64 / 1e6,
        r.int4_bytes as f64 / r.float_bytes as f64,
        r.float_bytes as f64 / 1e6,
        r.method.name(),
        match r.act {
            WqAct::F32 => "float32",
            WqAct::Int8 => "int8",
        },
        r.calibration_samples,
    );
    if let (Some(f), Some(q), Some(a), Some(s)) =
        (r.float_top1, r.int4_top1, r.agreement, r.logit_sqnr_db)
    {
        println!(
            "top-1 on {} validation images: float {:.2}% | 4-bit {:.2}% ({:+.2} points) | same class as float {:.2}%, logit SQNR {s:.1} dB",
            r.eval_samples,
            100.0 * f,
            100.0 * q,
            100.0 * (q - f),
            100.0 * a,
        );
    }
    let mut worst: Vec<&LayerSensitivity> = r.layers.iter().collect();
    worst.sort_by(|a, b| a.sqnr_db.total_cmp(&b.sqnr_db));
    println!(
        "most sensitive layers (output SQNR alone in 4-bit, calibration set; all in {}):",
        report_path.display()
    );
    for l in worst.iter().take(8) {
        let kept = if l.kept { "  (kept)" } else { "" };
        println!(
            "  {:<36} {:>4}×{:<4} {:6.1} dB{kept}",
            l.name, l.shape[0], l.shape[1], l.sqnr_db
        );
    }
}
