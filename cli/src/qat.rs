//! Quantization-aware fine-tuning (`inkling quantize --method qat`, `inkling train --qat`): a
//! trained float checkpoint is calibrated as for PTQ (those ranges start the QAT observers),
//! fine-tuned with fake quantization where the int8 graph quantizes, converted through PTQ's
//! `convert`, and written as `model_qat.tflite` with a report comparing float, PTQ and QAT top-1.
//!
//! `qat_last.safetensors` (beside the output, atomic, every epoch) holds the trained constants,
//! the observers, the optimizer state and the position, so `--resume-from` continues exactly.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use inkling::autograd::{self, ops};
use inkling::data::pipeline::{
    calibration_indices, Loader, LoaderConfig, DEFAULT_CALIBRATION_SAMPLES,
};
use inkling::nn::checkpoint::{load_model_tensors, model_tensors, Checkpoint};
use inkling::nn::clip::clip_grad_norm;
use inkling::nn::schedule::Schedule;
use inkling::nn::train::count_correct;
use inkling::nn::Ctx;
use inkling::quant::export::{to_tflite, write_file};
use inkling::quant::graph::Graph;
use inkling::quant::ptq::{convert, ObserverKind};
use inkling::quant::qat::{QatConfig, QatModel};
use serde::{Deserialize, Serialize};

use crate::data::Result;
use crate::quantize::{float_graph, top1};
use crate::train::progress::EpochBar;
use crate::train::state::Position;
use crate::train::{batch_tensors, make_optimizer, preprocess_for};
use crate::trained;

/// The QAT options of `inkling quantize` (used with `--method qat`).
#[derive(clap::Args, Clone, Debug)]
pub struct QatFlags {
    /// QAT: fine-tuning epochs over the training split.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// QAT: peak learning rate (cosine to 0, the recipe's optimizer).
    #[arg(long, default_value_t = 2e-5)]
    pub lr: f32,
    /// QAT: samples per batch (default: the recipe's).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// QAT: weight of each batch in the moving-average activation observers.
    #[arg(long, default_value_t = 0.01)]
    pub momentum: f32,
    /// QAT: freeze the observers after this many epochs (fractions allowed; default: the last
    /// quarter of the run trains on a fixed grid).
    #[arg(long)]
    pub freeze_observers_after: Option<f32>,
    /// QAT: learn activation scales (LSQ) instead of following the observers.
    #[arg(long)]
    pub lsq: bool,
    /// QAT: continue the run saved in this qat_last.safetensors (its settings win; --epochs may
    /// extend it).
    #[arg(long)]
    pub resume_from: Option<PathBuf>,
    /// Internal (tests): save qat_last.safetensors and stop after this many optimizer steps.
    #[arg(long, hide = true)]
    pub stop_after_steps: Option<u64>,
}

impl Default for QatFlags {
    /// The command-line defaults (for callers that build `QuantizeArgs` themselves).
    fn default() -> Self {
        QatFlags {
            epochs: 1,
            lr: 2e-5,
            batch_size: None,
            momentum: 0.01,
            freeze_observers_after: None,
            lsq: false,
            resume_from: None,
            stop_after_steps: None,
        }
    }
}

/// Everything that decides a QAT run (stored in its checkpoints).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QatSettings {
    /// The float training checkpoint.
    pub checkpoint: PathBuf,
    /// Fine-tuning epochs.
    pub epochs: usize,
    /// Peak learning rate.
    pub lr: f32,
    /// Samples per batch (None: the recipe's).
    pub batch_size: Option<usize>,
    /// Calibration images that initialise the observers (and make the PTQ baseline).
    pub calibration_samples: usize,
    /// Observer momentum.
    pub momentum: f32,
    /// Observers freeze after this many epochs.
    pub freeze_observers_after: Option<f32>,
    /// Learned activation scales.
    pub lsq: bool,
}

/// One QAT run: its settings and where it writes.
#[derive(Clone, Debug)]
pub struct QatRun {
    /// The settings (replaced by the checkpoint's when resuming).
    pub settings: QatSettings,
    /// The `.tflite` written; the report, log and checkpoint go beside it.
    pub out: PathBuf,
    /// Validation images for the top-1 figures (None: the whole split; 0: none).
    pub eval_samples: Option<usize>,
    /// Continue from this checkpoint.
    pub resume_from: Option<PathBuf>,
    /// Stop (after saving) at this optimizer step (tests).
    pub stop_after_steps: Option<u64>,
}

/// What a QAT run measured.
#[derive(Clone, Debug, Serialize)]
pub struct QatSummary {
    /// The float checkpoint.
    pub checkpoint: String,
    /// The `.tflite` written.
    pub out: String,
    /// The settings.
    pub settings: QatSettings,
    /// Validation images measured.
    pub eval_samples: usize,
    /// Float top-1.
    pub float_top1: Option<f64>,
    /// PTQ int8 (min/max over the calibration images) top-1.
    pub ptq_top1: Option<f64>,
    /// QAT int8 top-1.
    pub qat_top1: Option<f64>,
    /// Float `.tflite` size.
    pub float_bytes: usize,
    /// QAT int8 `.tflite` size.
    pub int8_bytes: usize,
    /// Wall seconds of each fine-tuning epoch run in this process.
    pub epoch_seconds: Vec<f64>,
}

/// One line of `qat_log.jsonl`.
#[derive(Serialize)]
struct EpochLog {
    epoch: usize,
    step: u64,
    train_loss: f64,
    train_acc: f64,
    qat_top1: Option<f64>,
    lr: f32,
    images_per_s: f64,
    seconds: f64,
}

/// Runs `inkling quantize --method qat` with the quantize command's own options.
pub fn run_from_quantize(q: &crate::quantize::QuantizeArgs) -> Result<()> {
    trained::set_threads(q.threads)?;
    let f = &q.qat;
    let out = q
        .out
        .clone()
        .unwrap_or_else(|| q.checkpoint.with_file_name("model_qat.tflite"));
    let run = QatRun {
        settings: QatSettings {
            checkpoint: q.checkpoint.clone(),
            epochs: f.epochs,
            lr: f.lr,
            batch_size: f.batch_size,
            calibration_samples: q.calibration_samples,
            momentum: f.momentum,
            freeze_observers_after: f.freeze_observers_after,
            lsq: f.lsq,
        },
        out,
        eval_samples: q.eval_samples,
        resume_from: f.resume_from.clone(),
        stop_after_steps: f.stop_after_steps,
    };
    report(finetune(&run)?, q.json)
}

/// Runs `inkling train --qat CHECKPOINT` (train's --epochs, --lr, --batch-size, --out,
/// --resume-from and --threads apply; one epoch at 2e-5 unless given).
pub fn run_from_train(a: &crate::train::TrainArgs, checkpoint: &Path) -> Result<()> {
    trained::set_threads(a.threads)?;
    let run = QatRun {
        settings: QatSettings {
            checkpoint: checkpoint.to_path_buf(),
            epochs: a.epochs.unwrap_or(1),
            lr: a.lr.unwrap_or(2e-5),
            batch_size: Some(a.batch_size),
            calibration_samples: DEFAULT_CALIBRATION_SAMPLES,
            momentum: 0.01,
            freeze_observers_after: None,
            lsq: false,
        },
        out: a.out_dir().join("model_qat.tflite"),
        eval_samples: None,
        resume_from: a.resume_from.clone(),
        stop_after_steps: a.stop_after_steps,
    };
    report(finetune(&run)?, false)
}

fn report(r: Option<(Graph, QatSummary)>, json: bool) -> Result<()> {
    let Some((_, s)) = r else { return Ok(()) };
    if json {
        println!("{}", serde_json::to_string(&s)?);
        return Ok(());
    }
    println!(
        "wrote {} ({:.2} MB int8, {:.3}× the {:.2} MB float file)",
        s.out,
        s.int8_bytes as f64 / 1e6,
        s.int8_bytes as f64 / s.float_bytes.max(1) as f64,
        s.float_bytes as f64 / 1e6
    );
    if let (Some(f), Some(p), Some(q)) = (s.float_top1, s.ptq_top1, s.qat_top1) {
        println!(
            "top-1 on {} validation images: float {:.2}% | PTQ int8 {:.2}% ({:+.2}) | QAT int8 {:.2}% ({:+.2})",
            s.eval_samples,
            100.0 * f,
            100.0 * p,
            100.0 * (p - f),
            100.0 * q,
            100.0 * (q - f)
        );
    }
    Ok(())
}

fn checkpoint_path(out: &Path) -> PathBuf {
    out.with_file_name("qat_last.safetensors")
}

/// Saves model tensors, optimizer state, settings and position atomically.
fn save(
    path: &Path,
    model: &QatModel,
    optimizer: &dyn inkling::nn::optim::Optimizer,
    settings: &QatSettings,
    position: Position,
) -> Result<()> {
    let mut tensors = model_tensors(model);
    tensors.extend(
        optimizer
            .state()
            .into_iter()
            .map(|(n, t)| (format!("optimizer.{n}"), t)),
    );
    let mut metadata = BTreeMap::new();
    metadata.insert("inkling.qat".to_string(), serde_json::to_string(settings)?);
    metadata.insert(
        "inkling.position".to_string(),
        serde_json::to_string(&position)?,
    );
    Checkpoint { tensors, metadata }
        .save(path)
        .map_err(|e| format!("writing {}: {e}", path.display()).into())
}

/// Reads a QAT checkpoint's settings and position.
fn read_meta(ck: &Checkpoint, path: &Path) -> Result<(QatSettings, Position)> {
    let get = |k: &str| {
        ck.metadata.get(k).ok_or_else(|| {
            format!(
                "{}: not a QAT checkpoint (no {k:?} metadata)",
                path.display()
            )
        })
    };
    let bad = |k: &str, e: serde_json::Error| {
        format!("{}: metadata {k:?} is damaged: {e}", path.display())
    };
    let s = serde_json::from_str(get("inkling.qat")?).map_err(|e| bad("inkling.qat", e))?;
    let p =
        serde_json::from_str(get("inkling.position")?).map_err(|e| bad("inkling.position", e))?;
    Ok((s, p))
}

/// Validation indices: `n` evenly spaced over the split (ordered by class), or all of it.
fn eval_indices(val: &[usize], n: Option<usize>) -> Vec<usize> {
    let n = n.unwrap_or(val.len()).min(val.len());
    (0..n).map(|i| val[i * val.len() / n.max(1)]).collect()
}

/// Fine-tunes `run.settings.checkpoint` with fake quantization and writes the int8 `.tflite`,
/// its report and the QAT checkpoint. Returns the int8 graph and the figures, or None when
/// `stop_after_steps` stopped it (after saving).
pub fn finetune(run: &QatRun) -> Result<Option<(Graph, QatSummary)>> {
    let ks = inkling::kernels::init()?;
    let (mut settings, mut resumed) = (run.settings.clone(), None);
    if let Some(path) = &run.resume_from {
        let ck = Checkpoint::load(path)?;
        let (s, pos) = read_meta(&ck, path)?;
        settings = QatSettings {
            epochs: run.settings.epochs.max(s.epochs),
            ..s
        };
        resumed = Some((path.clone(), ck, pos));
    }
    // Absolute, so a resumed run finds the float model from any directory.
    if let Ok(abs) = std::fs::canonicalize(&settings.checkpoint) {
        settings.checkpoint = abs;
    }
    if settings.epochs == 0 {
        return Err("--epochs must be at least 1".into());
    }
    if !(settings.lr.is_finite() && settings.lr >= 0.0) {
        return Err(format!("--lr {} must be ≥ 0", settings.lr).into());
    }
    let path = &settings.checkpoint;
    let mut t = trained::load(path)?;
    let mut recipe = t.recipe.clone().ok_or_else(|| {
        format!(
            "{}: not a training checkpoint (no recipe): QAT needs the training data",
            path.display()
        )
    })?;
    if let Some(b) = settings.batch_size {
        if b == 0 {
            return Err("--batch-size must be at least 1".into());
        }
        recipe.batch_size = b;
    }
    let data = trained::training_data(&recipe, path)?;
    let split = trained::training_split(&recipe, &*data.source)?;
    let n_cal = settings.calibration_samples.min(split.train.len());
    if n_cal == 0 || split.train.is_empty() {
        return Err("QAT needs at least one training and one calibration image".into());
    }
    let pre = preprocess_for(&*t.model);
    let (g, mut info) = float_graph(&mut t)?;

    // PTQ first: its min/max ranges start the observers and give the baseline.
    let cal_idx = calibration_indices(&*data.source, &split.train, n_cal, recipe.seed)?;
    let cal = crate::images::load(&data.source, cal_idx, pre)?;
    let ranges = crate::quantize::calibrate(&g, &cal, ObserverKind::MinMax)?;
    let ptq = convert(&g, &ranges)?;

    let loader = Loader::new(
        Arc::clone(&data.source),
        split.train.clone(),
        LoaderConfig {
            batch_size: recipe.batch_size,
            prefetch: 4,
            shuffle: true,
            drop_last: split.train.len() >= recipe.batch_size,
            seed: recipe.seed,
            preprocess: pre,
            augmentation: recipe.augmentation()?,
        },
    )?;
    let per_epoch = loader.batches_per_epoch().max(1) as u64;
    let total = per_epoch * settings.epochs as u64;
    let freeze = settings
        .freeze_observers_after
        .unwrap_or(0.75 * settings.epochs as f32);
    let cfg = QatConfig {
        momentum: settings.momentum,
        freeze_observers_after: Some((freeze.max(0.0) as f64 * per_epoch as f64).round() as u64),
        lsq: settings.lsq,
    };
    let mut model = QatModel::new(g.clone(), &ranges, cfg)?;
    let mut optimizer = make_optimizer(&recipe)?;
    // A short warmup: the optimizer's moments start from zero on weights that are already good.
    let schedule = Schedule::WarmupCosine {
        warmup_steps: total / 20,
        total_steps: total,
        min_lr_ratio: 0.0,
    };
    let mut position = Position::default();
    if let Some((p, ck, pos)) = resumed {
        let (mut weights, mut optim) = (Vec::new(), Vec::new());
        for (name, t) in ck.tensors {
            match name.strip_prefix("optimizer.") {
                Some(rest) => optim.push((rest.to_string(), t)),
                None => weights.push((name, t)),
            }
        }
        load_model_tensors(&mut model, &weights).map_err(|e| format!("{}: {e}", p.display()))?;
        optimizer
            .load_state(optim)
            .map_err(|e| format!("{}: optimizer state: {e}", p.display()))?;
        position = pos;
        eprintln!(
            "resuming QAT at epoch {}, batch {} (step {})",
            position.epoch + 1,
            position.batch,
            position.step
        );
    }

    let val = crate::images::load(
        &data.source,
        eval_indices(&split.val, run.eval_samples),
        pre,
    )?;
    if let Some(dir) = run.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let ck_path = checkpoint_path(&run.out);
    let log_path = run.out.with_file_name("qat_log.jsonl");
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(run.resume_from.is_some())
        .write(true)
        .truncate(run.resume_from.is_none())
        .open(&log_path)
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    eprintln!(
        "inkling QAT: {} | {} train / {} val | batch {} | lr {:.1e} | {} epochs | observers freeze after {} steps{} | {} ({})",
        path.display(),
        split.train.len(),
        val.len(),
        recipe.batch_size,
        settings.lr,
        settings.epochs,
        model.config().freeze_observers_after.unwrap_or(0),
        if settings.lsq { " | LSQ" } else { "" },
        inkling::kernels::cpu_model(),
        ks.isa.name(),
    );
    let mut epoch_seconds = Vec::new();
    while position.epoch < settings.epochs {
        let epoch = position.epoch;
        let pb = EpochBar::new(
            format!("QAT {}/{}", epoch + 1, settings.epochs),
            per_epoch as usize,
        );
        let start = Instant::now();
        let (mut loss_sum, mut correct, mut seen, mut lr) = (0.0f64, 0usize, 0usize, 0.0f32);
        // Epochs after the float run's, so shuffles and augmentation are new ones.
        for (i, batch) in loader.epoch(recipe.epochs + epoch)?.enumerate() {
            let batch = batch?;
            if i < position.batch {
                continue;
            }
            let (x, labels) = batch_tensors(&batch)?;
            autograd::clear_tape();
            let logits = inkling::nn::Model::forward(&mut model, &x, &Ctx::train(0))?;
            correct += count_correct(logits.data(), logits.dim(-1), &labels);
            let loss = ops::cross_entropy(&logits, &labels, recipe.label_smoothing)?;
            let l = loss.item()?;
            if !l.is_finite() {
                return Err(format!("QAT step {}: loss is {l}", position.step).into());
            }
            let mut grads = loss.backward()?;
            drop(logits);
            clip_grad_norm(
                &model,
                &mut grads,
                recipe.clip_grad.unwrap_or(f32::INFINITY),
            );
            lr = schedule.lr(settings.lr, position.step);
            optimizer.step(&mut model, &grads, lr)?;
            loss_sum += l as f64 * labels.len() as f64;
            seen += labels.len();
            position.batch = i + 1;
            position.step += 1;
            position.batches += 1;
            pb.update(
                i + 1,
                loss_sum / seen as f64,
                correct as f64 / seen as f64,
                seen as f64 / start.elapsed().as_secs_f64().max(1e-9),
            );
            if run.stop_after_steps.is_some_and(|s| position.step >= s) {
                pb.finish();
                save(&ck_path, &model, &*optimizer, &settings, position)?;
                eprintln!(
                    "stopped after {} steps; resume with --resume-from {}",
                    position.step,
                    ck_path.display()
                );
                return Ok(None);
            }
        }
        pb.finish();
        let secs = start.elapsed().as_secs_f64();
        epoch_seconds.push(secs);
        position = Position {
            epoch: epoch + 1,
            batch: 0,
            ..position
        };
        save(&ck_path, &model, &*optimizer, &settings, position)?;
        let qat_top1 = if val.is_empty() {
            None
        } else {
            Some(top1(&model.convert()?, &val, "QAT top-1")?)
        };
        let rec = EpochLog {
            epoch: epoch + 1,
            step: position.step,
            train_loss: loss_sum / seen.max(1) as f64,
            train_acc: correct as f64 / seen.max(1) as f64,
            qat_top1,
            lr,
            images_per_s: seen as f64 / secs.max(1e-9),
            seconds: secs,
        };
        writeln!(log, "{}", serde_json::to_string(&rec)?)
            .map_err(|e| format!("{}: {e}", log_path.display()))?;
        eprintln!(
            "QAT epoch {}/{} | train loss {:.4} acc {:.1}% | QAT int8 top-1 {} | {:.0} img/s | {:.1} s",
            epoch + 1,
            settings.epochs,
            rec.train_loss,
            100.0 * rec.train_acc,
            qat_top1.map_or("-".into(), |v| format!("{:.2}%", 100.0 * v)),
            rec.images_per_s,
            secs
        );
    }

    let q = model.convert()?;
    let (float_top1, ptq_top1, qat_top1) = if val.is_empty() {
        (None, None, None)
    } else {
        (
            Some(top1(&g, &val, "float top-1")?),
            Some(top1(&ptq, &val, "PTQ top-1")?),
            Some(top1(&q, &val, "QAT top-1")?),
        )
    };
    let float_bytes = to_tflite(&g, &info)?.len();
    info.precision = "int8".into();
    let bytes = to_tflite(&q, &info)?;
    write_file(&run.out, &bytes)?;
    let summary = QatSummary {
        checkpoint: path.display().to_string(),
        out: run.out.display().to_string(),
        settings,
        eval_samples: val.len(),
        float_top1,
        ptq_top1,
        qat_top1,
        float_bytes,
        int8_bytes: bytes.len(),
        epoch_seconds,
    };
    let json = serde_json::to_string_pretty(&summary)?;
    write_file(&run.out.with_extension("report.json"), json.as_bytes())?;
    Ok(Some((q, summary)))
}
