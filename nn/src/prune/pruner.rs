//! `Pruner`: a pruning method, its schedule and the current masks, driven by the training loop
//! (mask the gradients before each optimizer step, restore the zeros and update the masks after).

use inkling_autograd::Gradients;

use super::{head_masks, magnitude_masks, mlp_masks, prunable, CubicSchedule, Masks, Scope};
use crate::optim::Optimizer;
use crate::{Error, Model, Module, Result};

/// What is pruned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PruneKind {
    /// Unstructured magnitude pruning, the same fraction of every prunable weight.
    L1,
    /// Unstructured magnitude pruning under one threshold over all prunable weights.
    L1Global,
    /// Whole attention heads.
    Heads,
    /// MLP hidden channels.
    Mlp,
}

/// Names [`PruneKind::parse`] accepts, in the order of the enum.
pub const PRUNE_KINDS: [&str; 4] = ["l1", "l1-global", "heads", "mlp"];

impl PruneKind {
    /// `l1`, `l1-global`, `heads` or `mlp`.
    pub fn parse(s: &str) -> Result<PruneKind> {
        Ok(match s {
            "l1" => PruneKind::L1,
            "l1-global" => PruneKind::L1Global,
            "heads" => PruneKind::Heads,
            "mlp" => PruneKind::Mlp,
            other => {
                return Err(Error::Config {
                    what: format!(
                        "unknown pruning kind {other:?} (known: {})",
                        PRUNE_KINDS.join(", ")
                    ),
                })
            }
        })
    }

    /// The name [`PruneKind::parse`] reads.
    pub fn name(self) -> &'static str {
        PRUNE_KINDS[self as usize]
    }
}

/// Masks of `kind` at `sparsity` from the model's current weights. `include_head` lets
/// unstructured pruning touch the classifier (see [`prunable`]).
pub fn compute_masks(
    model: &dyn Model,
    kind: PruneKind,
    sparsity: f32,
    include_head: bool,
) -> Result<Masks> {
    match kind {
        PruneKind::L1 | PruneKind::L1Global => {
            let scope = if kind == PruneKind::L1 {
                Scope::PerLayer
            } else {
                Scope::Global
            };
            magnitude_masks(model, &prunable(model, include_head), sparsity, scope)
        }
        PruneKind::Heads => head_masks(model, sparsity),
        PruneKind::Mlp => mlp_masks(model, sparsity),
    }
}

/// Gradual pruning during training.
#[derive(Clone, Debug)]
pub struct Pruner {
    /// The method.
    pub kind: PruneKind,
    /// When and how much.
    pub schedule: CubicSchedule,
    /// Whether unstructured pruning includes the classifier head.
    pub include_head: bool,
    masks: Masks,
}

impl Pruner {
    /// A pruner with no masks yet.
    pub fn new(kind: PruneKind, schedule: CubicSchedule, include_head: bool) -> Pruner {
        Pruner {
            kind,
            schedule,
            include_head,
            masks: Masks::new(),
        }
    }

    /// The current masks (saved in checkpoints).
    pub fn masks(&self) -> &Masks {
        &self.masks
    }

    /// Replaces the masks (resuming), after checking them against `model`, and applies them.
    pub fn set_masks(&mut self, model: &mut dyn Module, masks: Masks) -> Result<()> {
        masks.check(model)?;
        masks.apply(model);
        self.masks = masks;
        Ok(())
    }

    /// Zeroes the gradients of pruned elements (before clipping and the optimizer step).
    pub fn mask_grads(&self, model: &dyn Module, grads: &mut Gradients) {
        self.masks.mask_grads(model, grads);
    }

    /// Called after `step` optimizer steps (and once with the starting step before a fresh run):
    /// sets pruned weights back to zero; at a schedule update, recomputes the masks at the
    /// schedule's sparsity from the current weights, never bringing back a pruned element, applies
    /// them and zeroes the optimizer state of newly pruned elements. Returns whether it updated.
    pub fn after_step(
        &mut self,
        model: &mut dyn Model,
        optimizer: &mut dyn Optimizer,
        step: u64,
    ) -> Result<bool> {
        self.masks.apply(model);
        if !self.schedule.is_update(step) {
            return Ok(false);
        }
        let sparsity = self.schedule.sparsity(step);
        let mut masks = compute_masks(model, self.kind, sparsity, self.include_head)?;
        masks.intersect(&self.masks)?;
        masks.apply(model);
        masks.zero_optimizer_state(optimizer)?;
        self.masks = masks;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::model_tensors;
    use crate::models::{Vit, VitConfig};
    use crate::optim::{AdamW, AdamWConfig};
    use crate::schedule::Schedule;
    use crate::testutil::tiny_vit;
    use crate::train::{TrainConfig, Trainer};
    use inkling_autograd::gradcheck::rand_tensor;
    use inkling_autograd::Tensor;

    fn trainer(seed: u64) -> Trainer {
        let cfg = VitConfig {
            dropout: 0.1,
            ..tiny_vit(8, 2, 2, 16)
        };
        let opt = AdamW::new(AdamWConfig {
            weight_decay: 0.05,
            ..Default::default()
        })
        .unwrap();
        let config = TrainConfig {
            lr: 0.01,
            schedule: Schedule::Constant,
            label_smoothing: 0.1,
            clip_norm: Some(1.0),
            accumulate: 1,
        };
        let mut t = Trainer::new(
            Box::new(Vit::new(cfg, seed).unwrap()),
            Box::new(opt),
            config,
        )
        .unwrap();
        // Pruning from step 2 to 8 in 3 updates: masks change at 2, 4, 6 and 8.
        let schedule = CubicSchedule::spanning(0.0, 0.6, 2, 8, 3).unwrap();
        t.pruner = Some(Pruner::new(PruneKind::L1Global, schedule, false));
        t
    }

    /// Trains on the seeded batches `range` (batch i has dropout seed i).
    fn train(t: &mut Trainer, range: std::ops::Range<u64>) {
        for i in range {
            let x = rand_tensor(&[4, 1, 8, 8], 100 + i);
            t.train_batch(&x, &[0, 1, 2, (i % 3) as usize], i).unwrap();
        }
    }

    fn bits(t: &Trainer) -> Vec<(String, Vec<u32>)> {
        let mut v: Vec<(String, Tensor)> = model_tensors(&*t.model);
        v.extend(t.optimizer.state());
        v.into_iter()
            .map(|(n, t)| (n, t.data().iter().map(|x| x.to_bits()).collect()))
            .collect()
    }

    #[test]
    fn gradual_pruning_reaches_the_target_and_masked_weights_stay_zero() {
        let mut t = trainer(1);
        for i in 0..12 {
            train(&mut t, i..i + 1);
            let p = t.pruner.as_ref().unwrap();
            let want = p.schedule.sparsity(t.step);
            let got = p.masks().zeros() as f64;
            let n: usize = prunable(&*t.model, false)
                .iter()
                .map(|n| p.masks().get(n).map_or(0, |m| m.numel()))
                .sum();
            if t.step >= 2 {
                assert!(
                    (got / n as f64 - want as f64).abs() < 1e-3,
                    "step {}",
                    t.step
                );
            }
            // Every masked element is exactly zero after the step.
            let masks = p.masks().clone();
            t.model.visit("", &mut |name, p, _| {
                if let Some(m) = masks.get(name) {
                    for (&w, &k) in p.value().data().iter().zip(m.data()) {
                        assert!(k == 1.0 || w == 0.0, "{name}");
                    }
                }
            });
        }
        let report = super::super::sparsity_report(&*t.model);
        let body = super::super::total(&report, "body", super::super::is_body);
        assert!((body.sparsity - 0.6).abs() < 1e-3, "{body:?}");
    }

    /// Stop after 9 steps (after the last mask update), carry model, optimizer state and masks
    /// over to a fresh trainer, and finish: the same bits as without the interruption.
    #[test]
    fn resuming_with_masks_equals_the_uninterrupted_run() {
        let mut a = trainer(2);
        train(&mut a, 0..12);
        let mut b = trainer(2);
        train(&mut b, 0..9);
        let saved_model = model_tensors(&*b.model);
        let saved_opt = b.optimizer.state();
        let saved_masks = b.pruner.as_ref().unwrap().masks().to_tensors("");
        let mut c = trainer(99);
        crate::checkpoint::load_model_tensors(&mut *c.model, &saved_model).unwrap();
        c.optimizer.load_state(saved_opt).unwrap();
        let masks = Masks::from_tensors(&*c.model, saved_masks).unwrap();
        let Trainer { model, pruner, .. } = &mut c;
        pruner
            .as_mut()
            .unwrap()
            .set_masks(&mut **model, masks)
            .unwrap();
        c.step = b.step;
        c.batches = b.batches;
        train(&mut c, 9..12);
        assert!(bits(&a) == bits(&c), "resumed run differs");
        // The control: dropping the masks on resume lets the pruned weights come back.
        let mut d = trainer(2);
        train(&mut d, 0..9);
        d.pruner.as_mut().unwrap().masks = Masks::new();
        train(&mut d, 9..12);
        assert!(bits(&a) != bits(&d));
    }

    #[test]
    fn kinds_parse_and_name_round_trip() {
        for name in PRUNE_KINDS {
            assert_eq!(PruneKind::parse(name).unwrap().name(), name);
        }
        assert!(PruneKind::parse("l2").is_err());
    }
}
