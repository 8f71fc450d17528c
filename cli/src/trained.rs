//! A trained model loaded from a checkpoint, and the data split it was trained on.

use std::path::Path;

use inkling::data::pipeline::{stratified_split, Split, SplitFractions};
use inkling::data::BitmapSource;
use inkling::nn::checkpoint::{load_model_tensors, Checkpoint};
use inkling::nn::{models, Model};

use crate::data::{Result, Source};
use crate::train::{open_dataset, recipe::Recipe, state, Dataset};

/// A model with its weights, class names and (for training checkpoints) its recipe.
pub struct Trained {
    /// The model, weights loaded.
    pub model: Box<dyn Model>,
    /// Class names in logit order.
    pub classes: Vec<String>,
    /// How it was trained (absent for weights-only checkpoints).
    pub recipe: Option<Recipe>,
}

/// Loads `path` (a checkpoint written by `inkling train`).
pub fn load(path: &Path) -> Result<Trained> {
    let ck = Checkpoint::load(path)?;
    let (model_json, classes) = state::read_meta(&ck, path)?;
    let recipe = state::restore_meta(&ck, path).ok().map(|m| m.recipe);
    let mut model =
        models::from_config_json(&model_json).map_err(|e| format!("{}: {e}", path.display()))?;
    let weights: Vec<_> = ck
        .tensors
        .into_iter()
        .filter(|(n, _)| state::is_model_tensor(n))
        .collect();
    load_model_tensors(&mut *model, &weights).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Trained {
        model,
        classes,
        recipe,
    })
}

/// The training run's data (its data, classes and samples per class).
pub fn training_data(recipe: &Recipe, path: &Path) -> Result<Dataset> {
    let source = Source::parse(&recipe.data).map_err(|e| {
        format!(
            "{}: the training data {:?}: {e}",
            path.display(),
            recipe.data
        )
    })?;
    open_dataset(
        &source,
        &recipe.classes,
        recipe.samples_per_class,
        recipe.seed,
    )
}

/// The train / validation split of `source` as the training run made it (fraction and seed).
pub fn training_split(recipe: &Recipe, source: &dyn BitmapSource) -> Result<Split> {
    let all: Vec<usize> = (0..source.len()).collect();
    Ok(stratified_split(
        source,
        &all,
        SplitFractions {
            train: 1.0 - recipe.val_fraction,
            val: recipe.val_fraction,
            test: 0.0,
        },
        recipe.seed,
    )?)
}

/// Applies `--threads` (default: all cores) and selects the kernels.
pub fn set_threads(threads: Option<usize>) -> Result<()> {
    if let Some(t) = threads {
        if t == 0 {
            return Err("--threads must be at least 1".into());
        }
        inkling::kernels::threads::set_num_threads(t);
    }
    inkling::kernels::init()?;
    Ok(())
}

/// Runs `f` on a rayon pool of the `--threads` size, for work that is parallel over images: the
/// kernels run single-threaded meanwhile (nesting their pool inside this one would block workers
/// on each other and pile stolen jobs onto their stacks).
pub fn in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R> {
    let threads = inkling::kernels::threads::num_threads();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .stack_size(16 << 20)
        .build()
        .map_err(|e| e.to_string())?;
    inkling::kernels::threads::set_num_threads(1);
    let r = pool.install(f);
    inkling::kernels::threads::set_num_threads(threads);
    Ok(r)
}
