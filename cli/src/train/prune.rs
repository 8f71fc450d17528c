//! `inkling train --prune-*`: gradual magnitude or structured pruning while training (usually
//! fine-tuning with `--init-from`), masks kept in the checkpoints, and the per-layer sparsity
//! table (printed and written to `sparsity.json`) at the end.

use std::path::Path;

use serde::{Deserialize, Serialize};

use inkling::autograd::Tensor;
use inkling::nn::prune::{
    is_body, sparsity_report, sparsity_table, total, CubicSchedule, LayerSparsity, Masks,
    PruneKind, Pruner, PRUNE_KINDS,
};
use inkling::nn::train::Trainer;

use super::recipe::Recipe;
use crate::data::Result;

/// Pruning options of `inkling train`.
#[derive(clap::Args, Debug, Clone)]
pub struct PruneArgs {
    /// Prune to this fraction of zeros (0–1) during training, on a gradual cubic schedule.
    #[arg(long)]
    pub prune_sparsity: Option<f32>,
    /// l1 (each weight loses the same fraction), l1-global (one magnitude threshold over all
    /// weights), heads (whole attention heads) or mlp (MLP hidden channels).
    #[arg(long, default_value = "l1-global")]
    pub prune_kind: String,
    /// Epoch (fractions allowed) of the first pruning step.
    #[arg(long, default_value_t = 0.0)]
    pub prune_start_epoch: f32,
    /// Epoch at which the target sparsity is reached (default: half the run); the rest of the
    /// run fine-tunes at that sparsity.
    #[arg(long)]
    pub prune_end_epoch: Option<f32>,
    /// Mask updates between the start and the end.
    #[arg(long, default_value_t = 10)]
    pub prune_updates: u64,
    /// Let l1 / l1-global pruning touch the classifier head too (default: the head is kept).
    #[arg(long)]
    pub prune_head: bool,
}

/// The pruning settings a run records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PruneRecipe {
    /// `l1`, `l1-global`, `heads` or `mlp`.
    pub kind: String,
    /// Target fraction of zeros (of weights for l1, of heads or channels for the structured kinds).
    pub sparsity: f32,
    /// First pruning epoch.
    pub start_epoch: f32,
    /// Epoch the target is reached at.
    pub end_epoch: f32,
    /// Mask updates from start to end.
    pub updates: u64,
    /// Whether the head is prunable.
    pub include_head: bool,
}

/// The recipe part for these flags (None without `--prune-sparsity`).
pub fn recipe(args: &PruneArgs, epochs: usize) -> Option<PruneRecipe> {
    let sparsity = args.prune_sparsity?;
    Some(PruneRecipe {
        kind: args.prune_kind.clone(),
        sparsity,
        start_epoch: args.prune_start_epoch,
        end_epoch: args.prune_end_epoch.unwrap_or(epochs as f32 / 2.0),
        updates: args.prune_updates,
        include_head: args.prune_head,
    })
}

/// Checks the pruning settings of `r` before any work starts.
pub fn validate(r: &Recipe) -> Result<()> {
    let Some(p) = &r.prune else {
        return Ok(());
    };
    PruneKind::parse(&p.kind).map_err(|_| {
        format!(
            "--prune-kind {:?}: expected {}",
            p.kind,
            PRUNE_KINDS.join(", ")
        )
    })?;
    if !(0.0..=1.0).contains(&p.sparsity) {
        return Err(format!("--prune-sparsity {} must be in [0, 1]", p.sparsity).into());
    }
    let (s, e) = (p.start_epoch, p.end_epoch);
    if !(s.is_finite() && s >= 0.0 && e.is_finite() && e >= s && e <= r.epochs as f32) {
        return Err(format!(
            "pruning from epoch {s} to {e} must satisfy 0 ≤ start ≤ end ≤ epochs ({})",
            r.epochs
        )
        .into());
    }
    Ok(())
}

/// The pruner of the recipe (None when it does not prune), its epochs turned into steps.
pub fn pruner(r: &Recipe, steps_per_epoch: u64) -> Result<Option<Pruner>> {
    let Some(p) = &r.prune else {
        return Ok(None);
    };
    let step = |epoch: f32| (epoch as f64 * steps_per_epoch as f64).round() as u64;
    let schedule = CubicSchedule::spanning(
        0.0,
        p.sparsity,
        step(p.start_epoch),
        step(p.end_epoch),
        p.updates,
    )?;
    Ok(Some(Pruner::new(
        PruneKind::parse(&p.kind)?,
        schedule,
        p.include_head,
    )))
}

/// Before the first batch of a fresh run: the pruning update of step 0 (when the schedule starts
/// there). A resumed run already has its masks, so nothing happens.
pub fn start(trainer: &mut Trainer) -> Result<()> {
    let Trainer {
        model,
        optimizer,
        pruner,
        step,
        batches,
        ..
    } = trainer;
    if let (Some(p), 0) = (pruner, *batches) {
        p.after_step(&mut **model, &mut **optimizer, *step)?;
    }
    Ok(())
}

/// Gives the pruner the masks saved in a checkpoint (names without the prefix). Masks without a
/// pruner mean the recipe and the checkpoint disagree.
pub fn restore_masks(trainer: &mut Trainer, masks: Vec<(String, Tensor)>) -> Result<()> {
    match &mut trainer.pruner {
        Some(p) => {
            let masks = Masks::from_tensors(&*trainer.model, masks)?;
            p.set_masks(&mut *trainer.model, masks)?;
        }
        None if !masks.is_empty() => {
            return Err("the checkpoint has pruning masks but its recipe does not prune".into())
        }
        None => {}
    }
    Ok(())
}

/// The fraction of zero weights in the model body (all prunable weights, head excluded), for the
/// epoch log of a pruning run.
pub fn body_sparsity(trainer: &Trainer) -> Option<f64> {
    trainer.pruner.as_ref()?;
    Some(total(&sparsity_report(&*trainer.model), "total", is_body).sparsity)
}

/// Whether the pruning schedule has reached its target by `step` (always true without pruning):
/// earlier epochs are denser and must not become the "best" checkpoint.
pub fn at_target(trainer: &Trainer) -> bool {
    trainer.pruner.as_ref().is_none_or(|p| {
        let s = &p.schedule;
        trainer.step >= s.start + s.every * s.intervals
    })
}

/// What `sparsity.json` holds.
#[derive(Serialize)]
struct SparsityFile<'a> {
    kind: &'a str,
    target: f32,
    total: LayerSparsity,
    layers: &'a [LayerSparsity],
}

/// At the end of a pruning run: prints the per-layer sparsity table and writes `sparsity.json`
/// to `out`.
pub fn finish(trainer: &Trainer, out: &Path) -> Result<()> {
    let Some(p) = &trainer.pruner else {
        return Ok(());
    };
    let layers = sparsity_report(&*trainer.model);
    eprint!("{}", sparsity_table(&layers));
    let file = SparsityFile {
        kind: p.kind.name(),
        target: p.schedule.target,
        total: total(&layers, "total (without head)", is_body),
        layers: &layers,
    };
    let path = out.join("sparsity.json");
    crate::plot::write_atomic(&path, serde_json::to_string_pretty(&file)?.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("sparsity → {}", path.display());
    Ok(())
}
