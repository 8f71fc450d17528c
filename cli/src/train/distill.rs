//! `inkling train --teacher CKPT`: knowledge distillation into the model the other flags
//! describe, from a trained checkpoint's logits on the same augmented batches.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use inkling::nn::distill::Distill;
use inkling::nn::Model;

use super::recipe::Recipe;
use crate::data::Result;

/// Distillation options of `inkling train`.
#[derive(clap::Args, Debug, Clone)]
pub struct DistillArgs {
    /// Distill from this checkpoint (same classes and input size as the student).
    #[arg(long)]
    pub teacher: Option<PathBuf>,
    /// Temperature T softening the teacher's and the student's logits.
    #[arg(long, default_value_t = 4.0)]
    pub kd_temperature: f32,
    /// Weight α of the soft-target loss; the label cross-entropy gets 1 − α.
    #[arg(long, default_value_t = 0.7)]
    pub kd_alpha: f32,
}

/// The distillation settings a run records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DistillRecipe {
    /// The teacher checkpoint (absolute when it could be resolved, so a resume finds it).
    pub teacher: String,
    /// Temperature T.
    pub temperature: f32,
    /// Weight of the soft-target loss.
    pub alpha: f32,
}

/// The recipe part for these flags (None without `--teacher`).
pub fn recipe(args: &DistillArgs) -> Option<DistillRecipe> {
    let teacher = args.teacher.as_ref()?;
    let teacher = std::fs::canonicalize(teacher).unwrap_or_else(|_| teacher.clone());
    Some(DistillRecipe {
        teacher: teacher.to_string_lossy().into_owned(),
        temperature: args.kd_temperature,
        alpha: args.kd_alpha,
    })
}

/// Checks the distillation settings of `r` before any work starts.
pub fn validate(r: &Recipe) -> Result<()> {
    let Some(d) = &r.distill else {
        return Ok(());
    };
    if !(d.temperature.is_finite() && d.temperature > 0.0) {
        return Err(format!("--kd-temperature {} must be positive", d.temperature).into());
    }
    if !(0.0..=1.0).contains(&d.alpha) {
        return Err(format!("--kd-alpha {} must be in [0, 1]", d.alpha).into());
    }
    Ok(())
}

/// Loads the recipe's teacher (None when it does not distill); errors unless its classes are
/// `classes` in the same order and it takes the student's input size.
pub fn teacher(r: &Recipe, classes: &[String], student: &dyn Model) -> Result<Option<Distill>> {
    let Some(d) = &r.distill else {
        return Ok(None);
    };
    let path = Path::new(&d.teacher);
    let t = super::init::load_matching(path, "--teacher", classes)?;
    if t.model.input_shape() != student.input_shape() {
        return Err(format!(
            "--teacher {}: takes input {:?}, the student {:?} (both see the same images)",
            path.display(),
            t.model.input_shape(),
            student.input_shape()
        )
        .into());
    }
    let n = inkling::nn::module::num_trainable(&*t.model);
    eprintln!(
        "distilling from {} ({n} params), T = {}, α = {}",
        path.display(),
        d.temperature,
        d.alpha
    );
    Ok(Some(Distill::new(t.model, d.temperature, d.alpha)?))
}
