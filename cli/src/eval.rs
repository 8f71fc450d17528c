//! `inkling eval`: accuracy, per-class figures and the worst classes' confusion matrix of a
//! checkpoint on a data source, as text, JSON and Markdown, with plots.

use std::path::PathBuf;
use std::sync::Arc;

use inkling::autograd::Tensor;
use inkling::data::pipeline::{Loader, LoaderConfig};
use inkling::nn::metrics::Evaluation;
use inkling::nn::Ctx;

use crate::data::{Result, Source};
use crate::train::{open_dataset, preprocess_for};

/// Options of `inkling eval`.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// A checkpoint written by `inkling train` (best.safetensors or last.safetensors).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// `synthetic` or a directory of class files (any supported format); its classes are matched
    /// to the checkpoint's by name, in any order, and may be a subset.
    #[arg(long, default_value = "synthetic")]
    pub data: String,
    /// Evaluate only these classes (names, comma-separated).
    #[arg(long)]
    pub classes: Option<String>,
    /// At most this many drawings per class (synthetic: how many to generate).
    #[arg(long)]
    pub samples_per_class: Option<usize>,
    /// `all` samples of the data, or `val`: the validation split of the training run (its data,
    /// classes, fraction and seed from the checkpoint).
    #[arg(long, default_value = "all")]
    pub split: String,
    /// Seed of the synthetic set (default: the training run's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print one JSON object (top1, top3, n, per_class, …) on stdout instead of the text summary.
    #[arg(long)]
    pub json: bool,
    /// Also write eval.json, eval.md and the plots (PNG and SVG) into this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Runs `inkling eval`.
pub fn run(args: &EvalArgs) -> Result<()> {
    crate::trained::set_threads(args.threads)?;
    if args.batch_size == 0 {
        return Err("--batch-size must be at least 1".into());
    }
    let path = &args.checkpoint;
    let crate::trained::Trained {
        mut model,
        classes: model_classes,
        recipe,
    } = crate::trained::load(path)?;

    let (data_spec, per_class, seed) = match (args.split.as_str(), &recipe) {
        ("all", _) => (
            args.data.clone(),
            args.samples_per_class,
            args.seed.or(recipe.as_ref().map(|r| r.seed)).unwrap_or(0),
        ),
        ("val", Some(r)) => (r.data.clone(), r.samples_per_class, r.seed),
        ("val", None) => {
            return Err(format!(
                "{}: --split val needs a training checkpoint",
                path.display()
            )
            .into())
        }
        (other, _) => return Err(format!("--split {other:?}: expected all or val").into()),
    };
    let source = Source::parse(&data_spec)?;
    let available = source.class_names()?;
    let wanted: Vec<String> = match &args.classes {
        Some(spec) => {
            let names: Vec<String> = spec.split(',').map(|s| s.trim().to_string()).collect();
            for n in &names {
                if !model_classes.contains(n) {
                    return Err(
                        format!("class {n:?} is not one the checkpoint was trained on").into(),
                    );
                }
            }
            names
        }
        None => model_classes.clone(),
    };
    let classes: Vec<String> = wanted
        .into_iter()
        .filter(|c| available.contains(c))
        .collect();
    if classes.is_empty() {
        return Err(format!(
            "{}: none of the checkpoint's {} classes is in it",
            source.describe(),
            model_classes.len()
        )
        .into());
    }
    let data = open_dataset(&source, &classes, per_class, seed)?;
    // Map the data's labels to the model's by name.
    let to_model: Vec<usize> = data
        .source
        .class_names()
        .iter()
        .map(|n| {
            model_classes
                .iter()
                .position(|m| m == n)
                .unwrap_or(usize::MAX)
        })
        .collect();
    let indices = match (&recipe, args.split.as_str()) {
        (Some(r), "val") => crate::trained::training_split(r, &*data.source)?.val,
        _ => (0..data.source.len()).collect(),
    };
    let loader = Loader::new(
        Arc::clone(&data.source),
        indices,
        LoaderConfig {
            batch_size: args.batch_size,
            prefetch: 2,
            shuffle: false,
            drop_last: false,
            seed: 0,
            preprocess: preprocess_for(&*model),
            augmentation: None,
        },
    )?;
    let mut eval = Evaluation::new(model_classes.clone());
    for batch in loader.epoch(0)? {
        let batch = batch?;
        let x = Tensor::from_slice(&batch.shape, &batch.images)?;
        let logits = inkling::autograd::no_grad(|| model.forward(&x, &Ctx::eval()))?;
        let labels: Vec<usize> = batch.labels.iter().map(|&l| to_model[l as usize]).collect();
        eval.add_batch(logits.data(), model_classes.len(), &labels)?;
    }
    if args.json {
        println!("{}", eval.to_json());
    } else {
        println!(
            "{}: {} drawings of {} classes ({}) | top-1 {:.2}% | top-3 {:.2}% | macro F1 {:.4}",
            path.display(),
            eval.n(),
            classes.len(),
            data.describe,
            100.0 * eval.top1(),
            100.0 * eval.top3(),
            eval.macro_averages().2
        );
    }
    if let Some(dir) = &args.out {
        let written = crate::plot::write_eval_report(&eval, dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        for p in written {
            eprintln!("wrote {}", p.display());
        }
    }
    Ok(())
}
