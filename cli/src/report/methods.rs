//! The compression methods a report compares, each turning the shared [`Context`] into a graph
//! that our runtime runs and that exports to `.tflite`.

use inkling::quant::graph::Graph;
use inkling::quant::ptq::{convert, layer_errors, ObserverKind};

use inkling::quant::kmeans::{compressed_bytes, kmeans_share};

use super::finetune;
use crate::data::Result;
use crate::qat::{self, QatFlags, QatRun, QatSettings};
use crate::quantize::calibrate;
use crate::quantize::Inputs as Context;
use crate::quantize_smooth;
use crate::quantize_wq::{self, WqArgs};

/// Every method, in report order; `--methods all` runs these.
pub const ALL: &[&str] = &[
    "float",
    "int8",
    "smoothquant",
    "qat",
    "rtn",
    "awq",
    "gptq",
    "pruned",
    "student",
    "kmeans",
];

/// What a method produced.
pub struct Built {
    /// The graph to run and export.
    pub graph: Graph,
    /// Row label in the report.
    pub label: String,
    /// File name stem (`model_<stem>.tflite`).
    pub stem: String,
    /// `precision` written into the file's metadata.
    pub precision: String,
    /// Method-specific figures for report.json (sweeps, per-layer tables).
    pub details: serde_json::Value,
}

/// Options the methods share.
pub struct MethodOptions {
    /// The float checkpoint (methods that fine-tune start from it).
    pub checkpoint: std::path::PathBuf,
    /// Where the methods write (checkpoints of fine-tuning runs, logs).
    pub out: std::path::PathBuf,
    /// Calibration images (what the context holds).
    pub calibration_samples: usize,
    /// Threads for child training runs.
    pub threads: Option<usize>,
    /// QAT (and pruning) fine-tuning epochs.
    pub qat_epochs: usize,
    /// QAT peak learning rate.
    pub qat_lr: f32,
    /// Activation observer for int8 PTQ (and the methods built on it).
    pub observer: ObserverKind,
    /// Its name, for labels.
    pub observer_name: String,
}

/// Runs method `name` on `ctx`.
pub fn build(name: &str, ctx: &Context, opts: &MethodOptions) -> Result<Built> {
    match name {
        "float" => Ok(Built {
            graph: ctx.graph.clone(),
            label: "float32".into(),
            stem: "float32".into(),
            precision: "float32".into(),
            details: serde_json::Value::Null,
        }),
        "int8" => {
            let graph = ptq_int8(&ctx.graph, ctx, opts.observer)?;
            let details = serde_json::json!({ "worst_layers": worst_layers(ctx, &graph)? });
            Ok(Built {
                graph,
                label: format!("int8 PTQ ({})", opts.observer_name),
                stem: "int8".into(),
                precision: "int8".into(),
                details,
            })
        }
        "smoothquant" => smoothquant(ctx, opts),
        "kmeans" => kmeans(ctx),
        "rtn" | "awq" | "gptq" => weight_only(name, ctx, opts),
        "qat" => qat(opts),
        "pruned" => pruned(ctx, opts),
        "student" => student(ctx, opts),
        other => Err(format!(
            "--methods: unknown method {other:?} (known: {})",
            ALL.join(", ")
        )
        .into()),
    }
}

/// SmoothQuant with α chosen on held-out calibration images among plain PTQ and 0.3 … 0.8; the
/// details hold the whole sweep with each α's validation top-1.
fn smoothquant(ctx: &Context, opts: &MethodOptions) -> Result<Built> {
    let mut sweep = quantize_smooth::sweep(
        &ctx.graph,
        &ctx.cal,
        &ctx.val,
        &quantize_smooth::AUTO_ALPHAS,
        opts.observer,
    )?;
    let chosen = sweep.chosen().alpha;
    let points: Vec<serde_json::Value> = sweep
        .points
        .iter()
        .map(|p| {
            serde_json::json!({
                "alpha": if p.alpha == 0.0 { "none (plain PTQ)".to_string() } else { format!("{:.1}", p.alpha) },
                "held_out_kl": p.held_out_kl,
                "kl_gain_se": p.kl_gain_z,
                "val_top1": p.val_top1,
            })
        })
        .collect();
    let best = sweep.best;
    let graph = std::mem::take(&mut sweep.points[best].int8);
    let label = if chosen == 0.0 {
        "SmoothQuant int8 (alpha: none)".to_string()
    } else {
        format!("SmoothQuant int8 (alpha {chosen:.1})")
    };
    Ok(Built {
        graph,
        label,
        stem: "smoothquant".into(),
        precision: "int8".into(),
        details: serde_json::json!({
            "chosen_alpha": chosen,
            "rule": "lowest held-out KL(float ‖ int8) on every 4th calibration image; smoothing only when it beats plain PTQ by 2 standard errors",
            "sweep": points,
        }),
    })
}

/// Quantization-aware fine-tuning from the float checkpoint (observers initialised by the same
/// calibration images), converted through the PTQ path.
fn qat(opts: &MethodOptions) -> Result<Built> {
    let flags = QatFlags::default();
    let run = QatRun {
        settings: QatSettings {
            checkpoint: opts.checkpoint.clone(),
            epochs: opts.qat_epochs,
            lr: opts.qat_lr,
            batch_size: flags.batch_size,
            calibration_samples: opts.calibration_samples,
            momentum: flags.momentum,
            freeze_observers_after: flags.freeze_observers_after,
            lsq: false,
        },
        out: opts.out.join("qat").join("model_qat.tflite"),
        eval_samples: Some(0),
        resume_from: None,
        stop_after_steps: None,
    };
    let (graph, summary) = qat::finetune(&run)?.ok_or("QAT stopped before the end")?;
    Ok(Built {
        graph,
        label: format!("int8 QAT ({} epoch(s))", opts.qat_epochs),
        stem: "qat".into(),
        precision: "int8".into(),
        details: serde_json::json!({
            "epochs": opts.qat_epochs,
            "lr": opts.qat_lr,
            "epoch_seconds": summary.epoch_seconds,
            "log": "qat/qat_log.jsonl",
        }),
    })
}

/// Global L1 magnitude pruning to 50 % with a gradual cubic schedule over a fine-tuning run from the
/// float checkpoint (a fifth of its learning rate), then int8 PTQ. Pruned weights are stored dense:
/// the file and the latency do not shrink.
fn pruned(ctx: &Context, opts: &MethodOptions) -> Result<Built> {
    const SPARSITY: f64 = 0.5;
    let dir = opts.out.join("pruned");
    let extra: Vec<String> = [
        "--init-from".to_string(),
        opts.checkpoint.display().to_string(),
        "--epochs".into(),
        opts.qat_epochs.to_string(),
        "--lr".into(),
        (ctx.recipe.lr * 0.2).to_string(),
        "--prune-sparsity".into(),
        SPARSITY.to_string(),
        "--prune-kind".into(),
        "l1-global".into(),
    ]
    .to_vec();
    let ck = finetune::train_child(&ctx.recipe, opts.threads, &extra, &dir)?;
    let float = finetune::graph_of(&ck)?;
    let sparsity: serde_json::Value = std::fs::read_to_string(dir.join("sparsity.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    Ok(Built {
        graph: ptq_int8(&float, ctx, opts.observer)?,
        label: format!("{:.0} % pruned (L1 global) + int8", 100.0 * SPARSITY),
        stem: "pruned_int8".into(),
        precision: "int8".into(),
        details: serde_json::json!({
            "target_sparsity": SPARSITY,
            "fine_tune_epochs": opts.qat_epochs,
            "checkpoint": "pruned/best.safetensors",
            "sparsity": sparsity,
            "note": "pruned weights are stored dense: size and latency equal int8 PTQ's",
        }),
    })
}

/// A student with half the teacher's depth and width, trained from scratch for the teacher's
/// epochs with knowledge distillation (T = 4, α = 0.7), then int8 PTQ.
fn student(ctx: &Context, opts: &MethodOptions) -> Result<Built> {
    let dir = opts.out.join("student");
    let mut extra = finetune::student_flags(ctx)?;
    let architecture = extra.join(" ");
    extra.extend([
        "--teacher".to_string(),
        opts.checkpoint.display().to_string(),
        "--kd-temperature".into(),
        "4".into(),
        "--kd-alpha".into(),
        "0.7".into(),
        "--epochs".into(),
        ctx.recipe.epochs.to_string(),
        "--lr".into(),
        ctx.recipe.lr.to_string(),
    ]);
    let ck = finetune::train_child(&ctx.recipe, opts.threads, &extra, &dir)?;
    let float = finetune::graph_of(&ck)?;
    let float_top1 =
        super::measure::evaluate(&float, &ctx.val, &ctx.trained.classes, "student float")?.top1();
    Ok(Built {
        graph: ptq_int8(&float, ctx, opts.observer)?,
        label: "KD student (1/2 depth, 1/2 width) + int8".into(),
        stem: "student_int8".into(),
        precision: "int8".into(),
        details: serde_json::json!({
            "architecture": architecture,
            "temperature": 4, "alpha": 0.7,
            "epochs": ctx.recipe.epochs,
            "student_float_top1": float_top1,
            "checkpoint": "student/best.safetensors",
        }),
    })
}

/// 4-bit weight-only quantization of the transformer's linear layers (per output channel, float32
/// activations quantized per row on the fly, as XNNPACK runs f32 × int4 FULLY_CONNECTED).
fn weight_only(method: &str, ctx: &Context, opts: &MethodOptions) -> Result<Built> {
    let cfg = quantize_wq::config(method, &WqArgs::default(), &opts.observer_name)?;
    let out = quantize_wq::quantize_with_report(&ctx.graph, &ctx.cal, &cfg)?;
    let mut layers: Vec<_> = out.layers.iter().collect();
    layers.sort_by(|a, b| a.sqnr_db.total_cmp(&b.sqnr_db));
    let worst: Vec<serde_json::Value> = layers
        .iter()
        .take(8)
        .map(|l| serde_json::json!({"layer": l.name, "sqnr_db": l.sqnr_db}))
        .collect();
    Ok(Built {
        graph: out.graph,
        label: format!("{} 4-bit weights (per-channel)", method.to_uppercase()),
        stem: format!("{method}_int4"),
        precision: "int4 weights, float32 activations".into(),
        details: serde_json::json!({
            "layers_4bit": out.layers.len(),
            "activations": "float32 (quantized per row on the fly by XNNPACK)",
            "worst_layers": worst,
        }),
    })
}

/// k-means weight sharing at 4 bits per layer; the file stores the shared weights as float32, so
/// the details give the codebook-format size too.
fn kmeans(ctx: &Context) -> Result<Built> {
    const BITS: u32 = 4;
    let (graph, layers) = {
        let (g, seed) = (&ctx.graph, ctx.recipe.seed);
        crate::trained::in_pool(|| kmeans_share(g, BITS, seed))??
    };
    let compressed = compressed_bytes(&ctx.graph, &layers);
    let worst: Vec<serde_json::Value> = {
        let mut l: Vec<_> = layers.iter().collect();
        l.sort_by(|a, b| a.sqnr_db.total_cmp(&b.sqnr_db));
        l.iter()
            .take(8)
            .map(|l| serde_json::json!({"layer": l.name, "clusters": l.clusters, "weight_sqnr_db": l.sqnr_db}))
            .collect()
    };
    Ok(Built {
        graph,
        label: format!("k-means {BITS}-bit sharing (float file)"),
        stem: format!("kmeans{BITS}"),
        precision: "float32".into(),
        details: serde_json::json!({
            "bits": BITS,
            "layers_shared": layers.len(),
            "codebook_format_mb": compressed as f64 / 1e6,
            "note": "the .tflite stores the shared weights as float32; codebook_format_mb is b-bit indices plus a float32 codebook per layer",
            "worst_layers": worst,
        }),
    })
}

/// The 8 layers with the lowest SQNR of `q` against the float graph, on up to 32 validation images.
fn worst_layers(ctx: &Context, q: &Graph) -> Result<Vec<serde_json::Value>> {
    let inputs: Vec<_> = ctx.val.iter().take(32).map(|im| im.input.clone()).collect();
    let mut layers = layer_errors(&ctx.graph, q, &inputs)?;
    layers.sort_by(|a, b| a.sqnr_db.total_cmp(&b.sqnr_db));
    Ok(layers
        .iter()
        .take(8)
        .map(|l| serde_json::json!({"layer": l.name, "op": l.op, "sqnr_db": l.sqnr_db, "cosine": l.cosine}))
        .collect())
}

/// Calibrates `g` on the context's calibration images and converts it to int8.
pub fn ptq_int8(g: &Graph, ctx: &Context, observer: ObserverKind) -> Result<Graph> {
    Ok(convert(g, &calibrate(g, &ctx.cal, observer)?)?)
}
