//! `inkling quantize --method smoothquant`: SmoothQuant smoothing, then int8 PTQ, with α chosen
//! on held-out calibration images (never on the validation split) and the whole sweep reported.

use std::path::Path;

use inkling::quant::export::{to_tflite, write_file};
use inkling::quant::graph::Graph;
use inkling::quant::ptq::{convert, Calibrator, ObserverKind};
use inkling::quant::runtime::Buf;
use inkling::quant::smooth::{channel_max, smooth, SmoothSummary};

use crate::data::Result;
use crate::images::{argmax, Image};
use crate::quantize::{bar, inputs, logits, top1, write_report, QuantizeArgs};
use crate::trained;

/// The strengths `--alpha auto` tries: the unsmoothed graph (α = 0, plain PTQ) and 0.3 … 0.8.
pub const AUTO_ALPHAS: [f32; 7] = [0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];

/// Every `HOLD_OUT`-th calibration image is held out to choose α.
const HOLD_OUT: usize = 4;

/// How many standard errors smoothing must lower the held-out KL below the unsmoothed graph's to
/// be chosen: a smaller difference is noise, and plain PTQ is kept.
pub const MIN_GAIN_Z: f64 = 2.0;

/// One strength of the sweep. Held-out figures come from an int8 graph whose ranges saw only the
/// other calibration images.
#[derive(serde::Serialize)]
pub struct SweepPoint {
    /// Migration strength; 0 is the unsmoothed graph (plain PTQ).
    pub alpha: f32,
    /// The criterion: mean KL(float ‖ int8) of the class distributions on the held-out
    /// calibration images (lower is better).
    pub held_out_kl: f64,
    /// How far this point's KL is below the unsmoothed one's, in standard errors of the paired
    /// per-image difference (positive: better; none without an unsmoothed point).
    pub kl_gain_z: Option<f64>,
    /// Mean squared error of int8 against float logits on the held-out images.
    pub held_out_mse: f64,
    /// Fraction of held-out images where int8 and float agree on the class.
    pub held_out_agreement: f64,
    /// Validation top-1 of the int8 graph calibrated on every calibration image (when given).
    pub val_top1: Option<f64>,
    /// Per held-out image KL, for the paired comparison.
    #[serde(skip)]
    per_image_kl: Vec<f64>,
    /// What smoothing did (none at α = 0).
    #[serde(skip)]
    pub summary: Option<SmoothSummary>,
    /// The int8 graph calibrated on every calibration image.
    #[serde(skip)]
    pub int8: Graph,
}

/// A SmoothQuant sweep over α.
#[derive(serde::Serialize)]
pub struct Sweep {
    /// One point per α, in the order asked.
    pub points: Vec<SweepPoint>,
    /// Index of the chosen point: the lowest held-out KL among the unsmoothed graph and the
    /// strengths that beat it by [`MIN_GAIN_Z`] standard errors.
    pub best: usize,
    /// Calibration images held out to measure the criterion.
    pub held_out: usize,
}

impl Sweep {
    /// The chosen point.
    pub fn chosen(&self) -> &SweepPoint {
        &self.points[self.best]
    }
}

/// For each α of `alphas` (0 = unsmoothed): smooth the float graph `g` with channel maxima of all
/// of `cal`, calibrate and convert to int8, measure the criterion on every 4th calibration image
/// (ranges from the rest) and top-1 on `val`. Calibration observes the other images first and then
/// the held-out ones, so the final ranges cover all of `cal` (for minmax exactly plain PTQ's).
pub fn sweep(
    g: &Graph,
    cal: &[Image],
    val: &[Image],
    alphas: &[f32],
    observer: ObserverKind,
) -> Result<Sweep> {
    if alphas.is_empty() {
        return Err("a SmoothQuant sweep needs at least one α".into());
    }
    if cal.len() < HOLD_OUT {
        return Err(format!(
            "SmoothQuant holds out every {HOLD_OUT}th calibration image to choose α: give at least {HOLD_OUT}"
        )
        .into());
    }
    let part = |held_out: bool| -> Vec<&Image> {
        cal.iter()
            .enumerate()
            .filter(|(i, _)| (i % HOLD_OUT == HOLD_OUT - 1) == held_out)
            .map(|(_, im)| im)
            .collect()
    };
    let (fit, held) = (part(false), part(true));
    let inputs: Vec<Buf> = cal.iter().map(|im| im.input.clone()).collect();
    let stats = trained::in_pool(|| channel_max(g, &inputs))??;
    let reference = logits(g, &held, "held-out float")?;
    let mut points = Vec::with_capacity(alphas.len());
    for &alpha in alphas {
        let (sg, summary) = if alpha == 0.0 {
            (g.clone(), None)
        } else {
            let (sg, s) = smooth(g, &stats, alpha)?;
            (sg, Some(s))
        };
        let mut c = Calibrator::new(&sg, observer)?;
        let pb = bar(&format!("α {alpha} cal"), cal.len());
        for im in fit.iter().chain(&held) {
            c.observe(im.input.clone())?;
            pb.inc(1);
            if c.images() == fit.len() {
                // Ranges from the fitting images only, for the held-out criterion.
                let q = convert(&sg, &c.ranges())?;
                let ours = logits(&q, &held, "held-out int8")?;
                points.push(criterion(alpha, &reference, &ours, summary.clone()));
            }
        }
        pb.finish_and_clear();
        let q = convert(&sg, &c.ranges())?;
        let point = points.last_mut().ok_or("no held-out point")?;
        point.val_top1 = if val.is_empty() {
            None
        } else {
            Some(top1(&q, val, &format!("α {alpha} top-1"))?)
        };
        point.int8 = q;
    }
    let best = choose(&mut points);
    Ok(Sweep {
        points,
        best,
        held_out: held.len(),
    })
}

/// Fills in each point's paired gain over the unsmoothed point and returns the chosen index.
fn choose(points: &mut [SweepPoint]) -> usize {
    let Some(base) = points.iter().position(|p| p.alpha == 0.0) else {
        return (0..points.len())
            .min_by(|&a, &b| points[a].held_out_kl.total_cmp(&points[b].held_out_kl))
            .unwrap_or(0);
    };
    let base_kl = points[base].per_image_kl.clone();
    let mut best = base;
    for i in 0..points.len() {
        let d: Vec<f64> = base_kl
            .iter()
            .zip(&points[i].per_image_kl)
            .map(|(b, a)| b - a)
            .collect();
        let n = d.len().max(1) as f64;
        let mean = d.iter().sum::<f64>() / n;
        let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        let se = (var / n).sqrt();
        let z = if se > 0.0 { mean / se } else { 0.0 };
        points[i].kl_gain_z = Some(z);
        if z >= MIN_GAIN_Z && points[i].held_out_kl < points[best].held_out_kl {
            best = i;
        }
    }
    best
}

/// The criterion of one α from float and int8 logits of the held-out images.
fn criterion(
    alpha: f32,
    float: &[Vec<f32>],
    int8: &[Vec<f32>],
    summary: Option<SmoothSummary>,
) -> SweepPoint {
    let (mut se, mut n, mut agree) = (0f64, 0usize, 0usize);
    let mut per_image_kl = Vec::with_capacity(float.len());
    for (f, q) in float.iter().zip(int8) {
        se += f
            .iter()
            .zip(q)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum::<f64>();
        n += f.len();
        agree += usize::from(arg_max(f) == arg_max(q));
        let (lf, lq) = (log_softmax(f), log_softmax(q));
        per_image_kl.push(lf.iter().zip(&lq).map(|(a, b)| a.exp() * (a - b)).sum());
    }
    let images = float.len().max(1) as f64;
    SweepPoint {
        alpha,
        held_out_kl: per_image_kl.iter().sum::<f64>() / images,
        kl_gain_z: None,
        held_out_mse: se / n.max(1) as f64,
        held_out_agreement: agree as f64 / images,
        val_top1: None,
        per_image_kl,
        summary,
        int8: Graph::default(),
    }
}

fn log_softmax(v: &[f32]) -> Vec<f64> {
    let m = v.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x as f64));
    let lse = m + v.iter().map(|&x| (x as f64 - m).exp()).sum::<f64>().ln();
    v.iter().map(|&x| x as f64 - lse).collect()
}

fn arg_max(v: &[f32]) -> usize {
    argmax(&Buf::f32(&[v.len()], v.to_vec()))
}

/// What `--method smoothquant` produced, for the report.
#[derive(serde::Serialize)]
struct Report<'a> {
    checkpoint: String,
    out: String,
    method: &'static str,
    observer: String,
    /// `auto` or the α asked for.
    alpha: String,
    chosen_alpha: f32,
    criterion: &'static str,
    calibration_samples: usize,
    held_out_samples: usize,
    eval_samples: usize,
    float_top1: Option<f64>,
    /// Plain PTQ (α = 0) on the same calibration images.
    ptq_top1: Option<f64>,
    int8_top1: Option<f64>,
    float_bytes: usize,
    int8_bytes: usize,
    sweep: &'a [SweepPoint],
    smoothing: Option<&'a SmoothSummary>,
}

/// Runs `inkling quantize --method smoothquant`.
pub fn run(args: &QuantizeArgs) -> Result<()> {
    let observer: ObserverKind = args.observer.parse()?;
    let (alphas, fixed) = match args.alpha.as_str() {
        "auto" => (AUTO_ALPHAS.to_vec(), None),
        a => {
            let v: f32 = a
                .parse()
                .map_err(|_| format!("--alpha {a:?}: a number in (0, 1] or auto"))?;
            if !(v > 0.0 && v <= 1.0) {
                return Err(format!("--alpha {v}: must be in (0, 1] (or auto)").into());
            }
            (vec![0.0, v], Some(1))
        }
    };
    let path = &args.checkpoint;
    let inp = inputs(args, true)?;
    let (g, cal, val) = (&inp.graph, &inp.cal, &inp.val);
    let sw = sweep(g, cal, val, &alphas, observer)?;
    let chosen = match fixed {
        Some(i) => &sw.points[i],
        None => sw.chosen(),
    };
    let float_top1 = if val.is_empty() {
        None
    } else {
        Some(top1(g, val, "float top-1")?)
    };
    let float_bytes = to_tflite(g, &inp.info)?.len();
    let mut info = inp.info.clone();
    info.precision = "int8".into();
    let bytes = to_tflite(&chosen.int8, &info)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| path.with_file_name("model_smoothquant_int8.tflite"));
    write_file(&out, &bytes)?;
    let report = Report {
        checkpoint: path.display().to_string(),
        out: out.display().to_string(),
        method: "smoothquant",
        observer: args.observer.clone(),
        alpha: args.alpha.clone(),
        chosen_alpha: chosen.alpha,
        criterion: "held-out calibration KL(float ‖ int8); smoothing only when ≥ 2 standard errors below plain PTQ's",
        calibration_samples: cal.len(),
        held_out_samples: sw.held_out,
        eval_samples: val.len(),
        float_top1,
        ptq_top1: sw.points[0].val_top1,
        int8_top1: chosen.val_top1,
        float_bytes,
        int8_bytes: bytes.len(),
        sweep: &sw.points,
        smoothing: chosen.summary.as_ref(),
    };
    write_report(&report, &out, args.json, print_report)
}

fn print_report(r: &Report, report_path: &Path) {
    println!(
        "wrote {} ({:.2} MB int8) | SmoothQuant α {} ({}) | {} calibration images, {} held out to choose α",
        r.out,
        r.int8_bytes as f64 / 1e6,
        r.chosen_alpha,
        if r.alpha == "auto" { "auto" } else { "given" },
        r.calibration_samples,
        r.held_out_samples
    );
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.2}%", 100.0 * v));
    println!("     α  held-out KL  gain (SE)  logits MSE  agreement  val top-1");
    for p in r.sweep {
        println!(
            "{:>6}  {:>11.6}  {:>9}  {:>10.5}  {:>8.2}%  {:>9}{}",
            if p.alpha == 0.0 {
                "none".to_string()
            } else {
                format!("{}", p.alpha)
            },
            p.held_out_kl,
            p.kl_gain_z.map_or("-".to_string(), |z| format!("{z:+.2}")),
            p.held_out_mse,
            100.0 * p.held_out_agreement,
            pct(p.val_top1),
            if p.alpha == r.chosen_alpha {
                "  ← chosen"
            } else {
                ""
            }
        );
    }
    if let Some(f) = r.float_top1 {
        println!(
            "top-1 on {} validation images: float {} | plain PTQ {} | SmoothQuant {}",
            r.eval_samples,
            pct(Some(f)),
            pct(r.ptq_top1),
            pct(r.int8_top1)
        );
    }
    if let Some(s) = r.smoothing {
        println!(
            "smoothed {} LayerNorm outputs; left {} layer inputs as they were (reasons and factors in {})",
            s.smoothed.len(),
            s.skipped.len(),
            report_path.display()
        );
    }
}
