//! `inkling train`: a model on the built-in synthetic doodles or a class directory, with a progress
//! bar, a JSON-lines log, best/last checkpoints and exact resumption.

mod dataset;
pub mod distill;
pub mod init;
pub mod progress;
pub mod prune;
pub mod recipe;
pub mod state;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use inkling::autograd::{self, Tensor};
use inkling::data::pipeline::{
    stratified_split, Batch, Loader, LoaderConfig, Preprocess, Resize, SplitFractions,
};
use inkling::data::IMAGE_SIDE;
use inkling::nn::checkpoint::Checkpoint;
use inkling::nn::metrics::{rank_of, EpochRecord};
use inkling::nn::models::{self, VitConfig};
use inkling::nn::optim::{self, Optimizer};
use inkling::nn::train::{TrainConfig, Trainer};
use inkling::nn::Model;

pub use dataset::{open as open_dataset, Dataset};
use recipe::Recipe;
use state::{Best, Position};

use crate::data::{Result, Source};

/// Options of `inkling train`.
#[derive(clap::Args, Debug, Clone)]
pub struct TrainArgs {
    /// Model preset: vit-small-doodle (small, the README's), vit-6 (depth 6), vit-tiny (depth 12), or
    /// linear (logistic regression on the pixels, a baseline).
    #[arg(long, default_value = "vit-small-doodle")]
    pub model: String,
    /// Override the preset's number of transformer blocks.
    #[arg(long)]
    pub depth: Option<usize>,
    /// Override the preset's embedding width.
    #[arg(long)]
    pub width: Option<usize>,
    /// Override the preset's attention heads.
    #[arg(long)]
    pub heads: Option<usize>,
    /// Override the preset's patch size.
    #[arg(long)]
    pub patch: Option<usize>,
    /// Override the preset's MLP hidden size.
    #[arg(long)]
    pub mlp_dim: Option<usize>,
    /// Input side in pixels (the 28×28 bitmaps are resized).
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Dropout in attention projections and MLPs.
    #[arg(long)]
    pub dropout: Option<f32>,
    /// Class names (comma-separated) or a count N (the first N in label order); default: all
    /// (synthetic: the first 10).
    #[arg(long)]
    pub classes: Option<String>,
    /// `synthetic` or a directory of `<class>.npy|.parquet|.ndjson|.bin` files.
    #[arg(long, default_value = "synthetic")]
    pub data: String,
    /// Drawings per class (synthetic: how many to generate, default 600; files: the first N).
    #[arg(long)]
    pub samples_per_class: Option<usize>,
    /// Fraction of each class held out, stratified, for validation.
    #[arg(long, default_value_t = 0.2)]
    pub val_fraction: f64,
    /// Epochs (default 20; when resuming: the new total).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Samples per batch.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Peak learning rate (default: 2e-3 for vit-small-doodle, 1e-3 otherwise).
    #[arg(long)]
    pub lr: Option<f32>,
    /// adamw, lamb or sgd.
    #[arg(long, default_value = "adamw")]
    pub optimizer: String,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,
    /// SGD with Nesterov momentum.
    #[arg(long)]
    pub nesterov: bool,
    /// Decoupled weight decay (not on biases, norms, class token, position embedding).
    #[arg(long, default_value_t = 0.04)]
    pub weight_decay: f32,
    /// Cross-entropy label smoothing.
    #[arg(long, default_value_t = 0.1584)]
    pub label_smoothing: f32,
    /// Linear learning-rate warmup, in epochs (fractions allowed).
    #[arg(long, default_value_t = 1.0)]
    pub warmup_epochs: f32,
    /// After warmup: cosine, step or constant.
    #[arg(long, default_value = "cosine")]
    pub schedule: String,
    /// Step schedule: epochs between decays.
    #[arg(long, default_value_t = 10)]
    pub step_epochs: usize,
    /// Step schedule: decay factor.
    #[arg(long, default_value_t = 0.1)]
    pub step_gamma: f32,
    /// Clip the global gradient norm to this value.
    #[arg(long)]
    pub clip_grad: Option<f32>,
    /// Batches whose gradients are summed per optimizer step.
    #[arg(long, default_value_t = 1)]
    pub accumulate: usize,
    /// Stop after this many epochs without a better validation accuracy.
    #[arg(long)]
    pub early_stopping: Option<usize>,
    /// Continue the run saved in this checkpoint (its recipe wins; --epochs may extend it).
    #[arg(long)]
    pub resume_from: Option<PathBuf>,
    /// Start a new run from this checkpoint's architecture and weights (fine-tuning, pruning);
    /// the architecture flags do not apply.
    #[arg(long, conflicts_with_all = ["resume_from", "depth", "width", "heads", "patch", "mlp_dim", "image_size", "dropout"])]
    pub init_from: Option<PathBuf>,
    #[command(flatten)]
    pub prune: prune::PruneArgs,
    #[command(flatten)]
    pub distill: distill::DistillArgs,
    /// Augmentation: none, light, strong, or progressive (light to strong over the run).
    #[arg(long, default_value = "light")]
    pub augment: String,
    /// Seed of the split, init, shuffling, augmentation and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Threads for the kernels and the loader (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Directory for best.safetensors, last.safetensors and log.jsonl (default: runs/train;
    /// `pipeline`: runs/<UTC timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print where the time goes per op (forward and backward) at the end, and write profile.json.
    #[arg(long)]
    pub profile: bool,
    /// Internal (tests): save last.safetensors and stop after this many optimizer steps.
    #[arg(long, hide = true)]
    pub stop_after_steps: Option<u64>,
    /// Quantization-aware fine-tuning of this float checkpoint instead of training (as
    /// `inkling quantize --method qat`; --epochs default 1, --lr default 2e-5).
    #[arg(long)]
    pub qat: Option<PathBuf>,
}

impl TrainArgs {
    /// The run directory: `--out`, else `runs/train`.
    pub fn out_dir(&self) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| PathBuf::from("runs/train"))
    }
}

/// Default number of synthetic classes.
const SYNTHETIC_DEFAULT_CLASSES: usize = 10;

fn recipe_from_args(args: &TrainArgs, classes: Vec<String>) -> Recipe {
    Recipe {
        data: args.data.clone(),
        classes,
        samples_per_class: args.samples_per_class,
        val_fraction: args.val_fraction,
        epochs: args.epochs.unwrap_or(20),
        batch_size: args.batch_size,
        lr: args.lr.unwrap_or(if args.model == "vit-small-doodle" {
            2e-3
        } else {
            1e-3
        }),
        optimizer: args.optimizer.clone(),
        momentum: args.momentum,
        nesterov: args.nesterov,
        weight_decay: args.weight_decay,
        label_smoothing: args.label_smoothing,
        warmup_epochs: args.warmup_epochs,
        schedule: args.schedule.clone(),
        step_epochs: args.step_epochs,
        step_gamma: args.step_gamma,
        clip_grad: args.clip_grad,
        accumulate: args.accumulate,
        early_stopping: args.early_stopping,
        augment: args.augment.clone(),
        seed: args.seed,
        init_from: args
            .init_from
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned()),
        prune: prune::recipe(&args.prune, args.epochs.unwrap_or(20)),
        distill: distill::recipe(&args.distill),
    }
}

/// Checks the settings a user can get wrong before any work starts.
fn validate(r: &Recipe) -> Result<()> {
    if r.batch_size == 0 {
        return Err("--batch-size must be at least 1".into());
    }
    if r.epochs == 0 {
        return Err("--epochs must be at least 1".into());
    }
    if r.accumulate == 0 {
        return Err("--accumulate must be at least 1".into());
    }
    if !(r.val_fraction > 0.0 && r.val_fraction < 1.0) {
        return Err(format!("--val-fraction {} must be in (0, 1)", r.val_fraction).into());
    }
    if !(r.lr.is_finite() && r.lr > 0.0) {
        return Err(format!("--lr {} must be positive", r.lr).into());
    }
    if !(0.0..1.0).contains(&r.label_smoothing) {
        return Err(format!("--label-smoothing {} must be in [0, 1)", r.label_smoothing).into());
    }
    if !(r.weight_decay.is_finite() && r.weight_decay >= 0.0) {
        return Err(format!("--weight-decay {} must be ≥ 0", r.weight_decay).into());
    }
    if r.clip_grad.is_some_and(|c| !(c.is_finite() && c > 0.0)) {
        return Err("--clip-grad must be positive".into());
    }
    r.augmentation()?;
    r.lr_schedule(1)?;
    prune::validate(r)?;
    distill::validate(r)?;
    Ok(())
}

/// The optimizer a recipe names.
pub fn make_optimizer(r: &Recipe) -> Result<Box<dyn Optimizer>> {
    Ok(match r.optimizer.as_str() {
        "adamw" => Box::new(optim::AdamW::new(optim::AdamWConfig {
            weight_decay: r.weight_decay as f64,
            ..Default::default()
        })?),
        "lamb" => Box::new(optim::Lamb::new(optim::LambConfig {
            weight_decay: r.weight_decay as f64,
            ..Default::default()
        })?),
        "sgd" => Box::new(optim::Sgd::new(optim::SgdConfig {
            momentum: r.momentum as f64,
            nesterov: r.nesterov,
            weight_decay: r.weight_decay as f64,
            dampening: 0.0,
        })?),
        other => return Err(format!("--optimizer {other:?}: expected adamw, lamb or sgd").into()),
    })
}

/// The model config for a fresh run: the preset with the flags' overrides.
fn model_config(args: &TrainArgs, classes: usize) -> Result<VitConfig> {
    let mut c = VitConfig::preset(&args.model, classes)?;
    if let Some(v) = args.depth {
        c.depth = v;
    }
    if let Some(v) = args.width {
        c.width = v;
    }
    if let Some(v) = args.heads {
        c.heads = v;
    }
    if let Some(v) = args.patch {
        c.patch = v;
    }
    if let Some(v) = args.mlp_dim {
        c.mlp_dim = v;
    }
    if let Some(v) = args.image_size {
        c.image_size = v;
    }
    if let Some(v) = args.dropout {
        c.dropout = v;
    }
    c.validate()?;
    Ok(c)
}

/// The loader preprocessing for a model: the reference normalisation at the model's input size.
pub fn preprocess_for(model: &dyn Model) -> Preprocess {
    let [_, h, _] = model.input_shape();
    sized(Preprocess::default(), h)
}

/// `pre` producing `side`×`side` images: nearest for the native 28×28, bilinear otherwise.
pub fn sized(pre: Preprocess, side: usize) -> Preprocess {
    Preprocess {
        size: side,
        resize: if side == IMAGE_SIDE {
            Resize::Nearest
        } else {
            Resize::Bilinear
        },
        ..pre
    }
}

/// A batch as an input tensor and usize labels.
pub fn batch_tensors(b: &Batch) -> Result<(Tensor, Vec<usize>)> {
    let x = Tensor::from_slice(&b.shape, &b.images)?;
    Ok((x, b.labels.iter().map(|&l| l as usize).collect()))
}

/// Validation figures of one pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct ValStats {
    /// Mean loss.
    pub loss: f64,
    /// Top-1 accuracy.
    pub top1: f64,
    /// Top-3 accuracy.
    pub top3: f64,
}

fn validate_pass(trainer: &mut Trainer, loader: &Loader) -> Result<ValStats> {
    let (mut loss, mut top1, mut top3, mut n) = (0.0f64, 0usize, 0usize, 0usize);
    let epoch = loader.epoch(0)?;
    for batch in epoch {
        let batch = batch?;
        let (x, labels) = batch_tensors(&batch)?;
        let (logits, l) = trainer.eval_batch(&x, &labels)?;
        let classes = logits.dim(-1);
        for (row, &label) in logits.data().chunks_exact(classes).zip(&labels) {
            let rank = rank_of(row, label);
            top1 += usize::from(rank < 1);
            top3 += usize::from(rank < 3);
        }
        loss += l;
        n += labels.len();
    }
    let n = n.max(1) as f64;
    Ok(ValStats {
        loss: loss / n,
        top1: top1 as f64 / n,
        top3: top3 as f64 / n,
    })
}

fn save(ck: &Checkpoint, path: &Path) -> Result<()> {
    ck.save(path)
        .map_err(|e| format!("writing {}: {e}", path.display()).into())
}

/// Runs `inkling train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    if let Some(ck) = &args.qat {
        return crate::qat::run_from_train(args, ck);
    }
    crate::trained::set_threads(args.threads)?;
    let threads = inkling::kernels::threads::num_threads();
    let ks = inkling::kernels::init()?;
    autograd::profile::set_enabled(args.profile);

    // Recipe, classes and model: from the checkpoint when resuming, else from the flags.
    let resumed = match &args.resume_from {
        Some(path) => {
            let ck = Checkpoint::load(path)?;
            let meta = state::restore_meta(&ck, path)?;
            Some((path.clone(), ck, meta))
        }
        None => None,
    };
    let (mut recipe, source) = match &resumed {
        Some((_, _, meta)) => (meta.recipe.clone(), Source::parse(&meta.recipe.data)?),
        None => {
            let source = Source::parse(&args.data)?;
            let default_count =
                matches!(source, Source::Synthetic).then_some(SYNTHETIC_DEFAULT_CLASSES);
            let classes = source.select(args.classes.as_deref(), default_count)?;
            (recipe_from_args(args, classes), source)
        }
    };
    if let (Some(e), Some(_)) = (args.epochs, &resumed) {
        recipe.epochs = e;
    }
    validate(&recipe)?;
    // Built before the data is opened so a bad optimizer setting fails at once.
    let optimizer = make_optimizer(&recipe)?;

    let data = dataset::open(
        &source,
        &recipe.classes,
        recipe.samples_per_class,
        recipe.seed,
    )?;
    let classes: Vec<String> = data.source.class_names().to_vec();
    if let Some((path, _, meta)) = &resumed {
        if meta.classes != classes {
            return Err(format!(
                "{}: the checkpoint's classes ({}) are not those of {} ({})",
                path.display(),
                meta.classes.join(","),
                data.describe,
                classes.join(",")
            )
            .into());
        }
    }
    let all: Vec<usize> = (0..data.source.len()).collect();
    let split = stratified_split(
        &*data.source,
        &all,
        SplitFractions {
            train: 1.0 - recipe.val_fraction,
            val: recipe.val_fraction,
            test: 0.0,
        },
        recipe.seed,
    )?;
    if split.train.is_empty() || split.val.is_empty() {
        return Err(format!(
            "{}: too few drawings for a train/validation split",
            data.describe
        )
        .into());
    }

    let model: Box<dyn Model> = match &resumed {
        Some((_, _, meta)) => models::from_config_json(&meta.model_json)?,
        None if args.init_from.is_some() => init::model(
            args.init_from.as_deref().unwrap_or(Path::new("")),
            &classes,
            &recipe,
        )?,
        None if args.model == "linear" => Box::new(models::LinearClassifier::new(
            models::LinearConfig {
                image_size: args.image_size.unwrap_or(IMAGE_SIDE),
                in_chans: 1,
                classes: classes.len(),
            },
            recipe.seed,
        )?),
        None => Box::new(models::Vit::new(
            model_config(args, classes.len())?,
            recipe.seed,
        )?),
    };
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("inkling-loader-{i}"))
            .build()?,
    );
    let preprocess = preprocess_for(&*model);
    let train_loader = Loader::new(
        Arc::clone(&data.source),
        split.train.clone(),
        LoaderConfig {
            batch_size: recipe.batch_size,
            prefetch: 4,
            shuffle: true,
            drop_last: split.train.len() >= recipe.batch_size,
            seed: recipe.seed,
            preprocess,
            augmentation: recipe.augmentation()?,
        },
    )?
    .with_pool(Arc::clone(&pool));
    let val_loader = Loader::new(
        Arc::clone(&data.source),
        split.val.clone(),
        LoaderConfig {
            batch_size: 256,
            prefetch: 2,
            shuffle: false,
            drop_last: false,
            seed: recipe.seed,
            preprocess,
            augmentation: None,
        },
    )?
    .with_pool(pool);
    let batches_per_epoch = train_loader.batches_per_epoch();
    let steps_per_epoch = recipe.steps_per_epoch(batches_per_epoch);
    let config = TrainConfig {
        lr: recipe.lr,
        schedule: recipe.lr_schedule(steps_per_epoch)?,
        label_smoothing: recipe.label_smoothing,
        clip_norm: recipe.clip_grad,
        accumulate: recipe.accumulate,
    };
    let mut trainer = Trainer::new(model, optimizer, config)?;
    trainer.pruner = prune::pruner(&recipe, steps_per_epoch)?;
    trainer.distill = distill::teacher(&recipe, &classes, &*trainer.model)?;
    let (mut position, mut best) = (Position::default(), Best::default());
    if let Some((path, ck, meta)) = resumed {
        state::restore_weights(&mut trainer, ck, &path)?;
        position = meta.position;
        best = meta.best;
        trainer.step = position.step;
        trainer.batches = position.batches;
    }
    prune::start(&mut trainer)?;

    let out = args.out_dir();
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let log_path = out.join("log.jsonl");
    let mut log = OpenOptions::new()
        .create(true)
        .append(args.resume_from.is_some())
        .write(true)
        .truncate(args.resume_from.is_none())
        .open(&log_path)
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    let n_params = inkling::nn::module::num_trainable(&*trainer.model);
    eprintln!(
        "inkling train: {} | {} params | {} train / {} val | batch {} | {} threads | {} ({})",
        data.describe,
        n_params,
        split.train.len(),
        split.val.len(),
        recipe.batch_size,
        threads,
        inkling::kernels::cpu_model(),
        ks.isa.name(),
    );
    if position.epoch > 0 || position.batch > 0 {
        eprintln!(
            "resuming at epoch {}, batch {} (step {})",
            position.epoch + 1,
            position.batch,
            position.step
        );
    }

    let last_path = out.join("last.safetensors");
    let best_path = out.join("best.safetensors");
    let run_start = Instant::now();
    while position.epoch < recipe.epochs {
        let epoch = position.epoch;
        let bar = progress::EpochBar::new(
            format!("epoch {}/{}", epoch + 1, recipe.epochs),
            batches_per_epoch,
        );
        let start = Instant::now();
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        let mut peak_bytes = 0usize;
        let mut lr = trainer.lr();
        let mut images_done = 0usize;
        for (i, batch) in train_loader.epoch(epoch)?.enumerate() {
            let batch = batch?;
            if i < position.batch {
                continue;
            }
            let (x, labels) = batch_tensors(&batch)?;
            autograd::reset_peak();
            // Seed of this batch's randomness (dropout masks).
            let seed = crate::rng::pair_seed(recipe.seed, trainer.batches);
            let stats = trainer.train_batch(&x, &labels, seed)?;
            peak_bytes = peak_bytes.max(autograd::memory_stats().peak_bytes);
            lr = stats.lr;
            loss_sum += stats.loss as f64 * stats.n as f64;
            correct += stats.correct;
            seen += stats.n;
            images_done += stats.n;
            position.batch = i + 1;
            position.step = trainer.step;
            position.batches = trainer.batches;
            let secs = start.elapsed().as_secs_f64();
            bar.update(
                i + 1,
                loss_sum / seen as f64,
                correct as f64 / seen as f64,
                images_done as f64 / secs.max(1e-9),
            );
            if args
                .stop_after_steps
                .is_some_and(|s| stats.stepped && trainer.step >= s)
            {
                bar.finish();
                save(
                    &state::snapshot(&trainer, &recipe, &classes, position, best)?,
                    &last_path,
                )?;
                eprintln!(
                    "stopped after {} steps (epoch {}, batch {}); resume with --resume-from {}",
                    trainer.step,
                    epoch + 1,
                    position.batch,
                    last_path.display()
                );
                return Ok(());
            }
        }
        bar.finish();
        let train_secs = start.elapsed().as_secs_f64();
        let val = validate_pass(&mut trainer, &val_loader)?;
        position = Position {
            epoch: epoch + 1,
            batch: 0,
            step: trainer.step,
            batches: trainer.batches,
        };
        let improved = (val.top1 > best.val_acc || best.epoch == 0) && prune::at_target(&trainer);
        if improved {
            best = Best {
                val_acc: val.top1,
                epoch: epoch + 1,
                bad_epochs: 0,
            };
        } else {
            best.bad_epochs += 1;
        }
        let ck = state::snapshot(&trainer, &recipe, &classes, position, best)?;
        save(&ck, &last_path)?;
        if improved {
            save(&ck, &best_path)?;
        }
        let images_per_s = images_done as f64 / train_secs.max(1e-9);
        let sparsity = prune::body_sparsity(&trainer);
        let record = EpochRecord {
            epoch: epoch + 1,
            step: trainer.step,
            train_loss: loss_sum / seen.max(1) as f64,
            train_acc: correct as f64 / seen.max(1) as f64,
            val_loss: val.loss,
            val_acc: val.top1,
            val_top3: Some(val.top3),
            lr: lr as f64,
            images_per_s,
            seconds: start.elapsed().as_secs_f64(),
            peak_step_mb: Some(peak_bytes as f64 / (1 << 20) as f64),
            sparsity,
        };
        let record = serde_json::to_string(&record)?;
        writeln!(log, "{record}").map_err(|e| format!("{}: {e}", log_path.display()))?;
        write_curves(&log_path, &out)?;
        eprintln!(
            "epoch {:>3}/{} | train loss {:.4} acc {:5.1}% | val loss {:.4} top-1 {:5.1}% top-3 {:5.1}% | lr {:.2e} | {:.0} img/s | {:.1} s{}{}",
            epoch + 1,
            recipe.epochs,
            loss_sum / seen.max(1) as f64,
            100.0 * correct as f64 / seen.max(1) as f64,
            val.loss,
            100.0 * val.top1,
            100.0 * val.top3,
            lr,
            images_per_s,
            start.elapsed().as_secs_f64(),
            sparsity.map(|s| format!(" | sparsity {:.1}%", 100.0 * s))
                .unwrap_or_default(),
            if improved { " *" } else { "" }
        );
        if recipe.early_stopping.is_some_and(|p| best.bad_epochs >= p) {
            eprintln!(
                "early stopping: no better validation accuracy for {} epochs",
                best.bad_epochs
            );
            break;
        }
    }
    eprintln!(
        "done in {:.1} s: best val top-1 {:.2}% (epoch {}) → {}, last → {}, log → {}",
        run_start.elapsed().as_secs_f64(),
        100.0 * best.val_acc,
        best.epoch,
        best_path.display(),
        last_path.display(),
        log_path.display()
    );
    prune::finish(&trainer, &out)?;
    if args.profile {
        let path = out.join("profile.json");
        crate::profile::report(trainer.step.max(1), Some(&path))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Redraws `curves.svg` / `curves.png` in `out` from the log so far.
fn write_curves(log_path: &Path, out: &Path) -> Result<()> {
    let log = EpochRecord::read_log(log_path)?;
    let svg = out.join("curves.svg");
    crate::plot::write_atomic(&svg, crate::plot::training_curves_svg(&log).as_bytes())
        .map_err(|e| format!("{}: {e}", svg.display()))?;
    let png = out.join("curves.png");
    crate::plot::write_training_curves_png(&log, &png)
        .map_err(|e| format!("{}: {e}", png.display()))?;
    Ok(())
}
