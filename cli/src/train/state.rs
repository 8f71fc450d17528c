//! What a training checkpoint holds beyond the weights, and turning a trainer into one and back.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use inkling::autograd::Tensor;
use inkling::nn::checkpoint::{load_model_tensors, model_tensors, Checkpoint};
use inkling::nn::train::Trainer;

use super::recipe::Recipe;
use crate::data::Result;

/// Prefix of optimizer-state tensors (model tensors keep their plain PyTorch-style names).
const OPTIM_PREFIX: &str = "optimizer.";
/// Prefix of pruning masks (`prune_mask.blocks.0.mlp.fc1.weight`), so a resumed run keeps them.
pub const PRUNE_PREFIX: &str = "prune_mask.";

/// Whether a checkpoint tensor is a model weight (not optimizer state or a pruning mask).
pub fn is_model_tensor(name: &str) -> bool {
    !name.starts_with(OPTIM_PREFIX) && !name.starts_with(PRUNE_PREFIX)
}

/// Where training stands: the next batch to run is batch `batch` of epoch `epoch`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Epoch (0-based) the next batch belongs to.
    pub epoch: usize,
    /// Batches of that epoch already done.
    pub batch: usize,
    /// Optimizer steps taken.
    pub step: u64,
    /// Batches done in total.
    pub batches: u64,
}

/// Early-stopping and best-model bookkeeping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Best {
    /// Best validation top-1 so far.
    pub val_acc: f64,
    /// Epoch (1-based) it was reached in; 0 before the first validation.
    pub epoch: usize,
    /// Validated epochs since then without improvement.
    pub bad_epochs: usize,
}

/// The parts of a checkpoint the CLI reads back.
pub struct Restored {
    /// The recipe the run was started with.
    pub recipe: Recipe,
    /// The model config JSON.
    pub model_json: String,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// Position.
    pub position: Position,
    /// Best so far.
    pub best: Best,
}

fn meta(ck: &Checkpoint, path: &Path, key: &str) -> Result<String> {
    ck.metadata.get(key).cloned().ok_or_else(|| {
        format!(
            "{}: not a training checkpoint (no {key:?} metadata)",
            path.display()
        )
        .into()
    })
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path, key: &str, text: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| format!("{}: metadata {key:?} is damaged: {e}", path.display()).into())
}

/// The model config, class names and (for training checkpoints) recipe and position stored in `ck`.
pub fn read_meta(ck: &Checkpoint, path: &Path) -> Result<(String, Vec<String>)> {
    let model_json = meta(ck, path, "inkling.model")?;
    let classes: Vec<String> = parse(path, "inkling.classes", &meta(ck, path, "inkling.classes")?)?;
    Ok((model_json, classes))
}

/// Reads a training checkpoint's metadata.
pub fn restore_meta(ck: &Checkpoint, path: &Path) -> Result<Restored> {
    let (model_json, classes) = read_meta(ck, path)?;
    Ok(Restored {
        recipe: parse(path, "inkling.recipe", &meta(ck, path, "inkling.recipe")?)?,
        position: parse(
            path,
            "inkling.position",
            &meta(ck, path, "inkling.position")?,
        )?,
        best: parse(path, "inkling.best", &meta(ck, path, "inkling.best")?)?,
        model_json,
        classes,
    })
}

/// Loads the model weights, optimizer state and pruning masks of `ck` into `trainer` (masks into
/// its pruner, which must then be set).
pub fn restore_weights(trainer: &mut Trainer, ck: Checkpoint, path: &Path) -> Result<()> {
    let mut model = Vec::new();
    let mut optim = Vec::new();
    let mut masks = Vec::new();
    for (name, t) in ck.tensors {
        if let Some(rest) = name.strip_prefix(OPTIM_PREFIX) {
            optim.push((rest.to_string(), t));
        } else if let Some(rest) = name.strip_prefix(PRUNE_PREFIX) {
            masks.push((rest.to_string(), t));
        } else {
            model.push((name, t));
        }
    }
    load_model_tensors(&mut *trainer.model, &model)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    super::prune::restore_masks(trainer, masks).map_err(|e| format!("{}: {e}", path.display()))?;
    trainer
        .optimizer
        .load_state(optim)
        .map_err(|e| format!("{}: optimizer state: {e}", path.display()))?;
    Ok(())
}

/// A checkpoint of the trainer with its recipe, classes, position and best-so-far.
pub fn snapshot(
    trainer: &Trainer,
    recipe: &Recipe,
    classes: &[String],
    position: Position,
    best: Best,
) -> Result<Checkpoint> {
    let mut tensors: Vec<(String, Tensor)> = model_tensors(&*trainer.model);
    tensors.extend(
        trainer
            .optimizer
            .state()
            .into_iter()
            .map(|(n, t)| (format!("{OPTIM_PREFIX}{n}"), t)),
    );
    if let Some(p) = &trainer.pruner {
        tensors.extend(p.masks().to_tensors(PRUNE_PREFIX));
    }
    let mut metadata = BTreeMap::new();
    metadata.insert("inkling.model".to_string(), trainer.model.config_json());
    metadata.insert(
        "inkling.classes".to_string(),
        serde_json::to_string(classes)?,
    );
    metadata.insert("inkling.recipe".to_string(), serde_json::to_string(recipe)?);
    metadata.insert(
        "inkling.position".to_string(),
        serde_json::to_string(&position)?,
    );
    metadata.insert("inkling.best".to_string(), serde_json::to_string(&best)?);
    metadata.insert(
        "inkling.optimizer".to_string(),
        trainer.optimizer.name().to_string(),
    );
    Ok(Checkpoint { tensors, metadata })
}
