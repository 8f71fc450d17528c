//! `inkling train --init-from CKPT`: a new run (its own recipe, a fresh optimizer, epoch 1)
//! starting from a checkpoint's architecture and weights — fine-tuning, pruning. `--resume-from`
//! instead continues the checkpoint's own run.

use std::path::Path;

use inkling::nn::Model;

use super::recipe::Recipe;
use crate::data::Result;
use crate::trained::Trained;

/// Loads the checkpoint `path` given to `flag` (`--init-from`, `--teacher`); errors, naming the
/// flag, unless its classes are `classes` in the same order.
pub fn load_matching(path: &Path, flag: &str, classes: &[String]) -> Result<Trained> {
    let t = crate::trained::load(path).map_err(|e| format!("{flag}: {e}"))?;
    if t.classes != classes {
        return Err(format!(
            "{flag} {}: its classes ({}) are not those of this run ({})",
            path.display(),
            t.classes.join(","),
            classes.join(",")
        )
        .into());
    }
    Ok(t)
}

/// The model of `path` with its weights; errors unless its classes are `classes` in order.
/// Warns when the checkpoint was trained on other data or another split, whose validation images
/// may then be among its training images.
pub fn model(path: &Path, classes: &[String], recipe: &Recipe) -> Result<Box<dyn Model>> {
    let t = load_matching(path, "--init-from", classes)?;
    if let Some(r) = &t.recipe {
        if (&r.data, r.seed, r.val_fraction, r.samples_per_class)
            != (
                &recipe.data,
                recipe.seed,
                recipe.val_fraction,
                recipe.samples_per_class,
            )
        {
            eprintln!(
                "warning: --init-from {} was trained on {} with seed {}, val fraction {}: this \
                 run's validation split may hold its training images",
                path.display(),
                r.data,
                r.seed,
                r.val_fraction
            );
        }
    }
    eprintln!("initialised from {}", path.display());
    Ok(t.model)
}
