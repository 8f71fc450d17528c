//! One training step (forward, label-smoothed cross-entropy, backward, clipping, accumulation,
//! optimizer step) and batch evaluation. The epoch loop, data and I/O live in the caller (the CLI
//! joins `data` and `nn`, which do not know each other).

use inkling_autograd::{clear_tape, no_grad, ops, Gradients, Tensor};

use crate::clip::clip_grad_norm;
use crate::distill::Distill;
use crate::metrics::arg_max;
use crate::optim::Optimizer;
use crate::prune::Pruner;
use crate::schedule::Schedule;
use crate::{Ctx, Error, Model, Result};

/// Hyper-parameters of the update rule.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Peak learning rate.
    pub lr: f32,
    /// Learning rate over optimizer steps.
    pub schedule: Schedule,
    /// Label smoothing ε of the cross-entropy.
    pub label_smoothing: f32,
    /// Clip the global gradient norm to this (None: no clipping).
    pub clip_norm: Option<f32>,
    /// Batches whose gradients are summed before one optimizer step (≥ 1).
    pub accumulate: usize,
}

/// What one batch did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    /// Mean loss over the batch.
    pub loss: f32,
    /// Correctly classified samples (argmax of the logits).
    pub correct: usize,
    /// Samples.
    pub n: usize,
    /// Whether an optimizer step was taken after this batch (false while accumulating).
    pub stepped: bool,
    /// Learning rate of that step.
    pub lr: f32,
    /// Global gradient norm before clipping, when a step was taken.
    pub grad_norm: Option<f32>,
}

/// A model, its optimizer and the position in training.
pub struct Trainer {
    /// The model being trained.
    pub model: Box<dyn Model>,
    /// Its optimizer.
    pub optimizer: Box<dyn Optimizer>,
    /// Update rule settings.
    pub config: TrainConfig,
    /// Optimizer steps taken.
    pub step: u64,
    /// Batches seen (counts accumulation micro-batches).
    pub batches: u64,
    /// Gradual pruning: masks the gradients before each step and the weights after (None: off).
    pub pruner: Option<Pruner>,
    /// Knowledge distillation from a teacher (None: plain cross-entropy).
    pub distill: Option<Distill>,
    pending: Option<Gradients>,
    pending_count: usize,
}

/// Number of rows whose largest logit is at the label.
pub fn count_correct(logits: &[f32], classes: usize, labels: &[usize]) -> usize {
    logits
        .chunks_exact(classes.max(1))
        .zip(labels)
        .filter(|(row, &l)| arg_max(row) == l)
        .count()
}

impl Trainer {
    /// A trainer at step 0.
    pub fn new(
        model: Box<dyn Model>,
        optimizer: Box<dyn Optimizer>,
        config: TrainConfig,
    ) -> Result<Trainer> {
        if config.accumulate == 0 {
            return Err(Error::Config {
                what: "gradient accumulation must be at least 1 batch".into(),
            });
        }
        Ok(Trainer {
            model,
            optimizer,
            config,
            step: 0,
            batches: 0,
            pruner: None,
            distill: None,
            pending: None,
            pending_count: 0,
        })
    }

    /// Learning rate of the next optimizer step.
    pub fn lr(&self) -> f32 {
        self.config.schedule.lr(self.config.lr, self.step)
    }

    /// Forward and backward on one batch; every `accumulate` batches, one optimizer step.
    /// `seed` keys this batch's randomness (dropout). A non-finite loss is an error naming the
    /// step, and the model is left as it was.
    pub fn train_batch(
        &mut self,
        images: &Tensor,
        labels: &[usize],
        seed: u64,
    ) -> Result<StepStats> {
        clear_tape();
        // The teacher runs first, off the tape, so none of its activations outlive its forward.
        let teacher = match &mut self.distill {
            Some(d) => Some(d.teacher_logits(images)?),
            None => None,
        };
        let logits = self.model.forward(images, &Ctx::train(seed))?;
        let classes = logits.dim(-1);
        let correct = count_correct(logits.data(), classes, labels);
        let ls = self.config.label_smoothing;
        let loss = match (&self.distill, &teacher) {
            (Some(d), Some(t)) => d.loss(&logits, t, labels, ls)?,
            _ => ops::cross_entropy(&logits, labels, ls)?,
        };
        let loss_value = loss.item()?;
        if !loss_value.is_finite() {
            clear_tape();
            return Err(Error::NonFinite {
                step: self.step,
                what: format!("loss is {loss_value}"),
            });
        }
        let scale = 1.0 / self.config.accumulate as f32;
        let grads = loss.backward_with(Tensor::full(&[], scale))?;
        drop(logits);
        match &mut self.pending {
            None => self.pending = Some(grads),
            Some(acc) => acc.accumulate(grads)?,
        }
        self.pending_count += 1;
        self.batches += 1;
        let mut stats = StepStats {
            loss: loss_value,
            correct,
            n: labels.len(),
            stepped: false,
            lr: self.lr(),
            grad_norm: None,
        };
        if self.pending_count == self.config.accumulate {
            let mut grads = self.pending.take().unwrap_or_default();
            self.pending_count = 0;
            if let Some(p) = &self.pruner {
                p.mask_grads(&*self.model, &mut grads);
            }
            let norm = clip_grad_norm(
                &*self.model,
                &mut grads,
                self.config.clip_norm.unwrap_or(f32::INFINITY),
            );
            if !norm.is_finite() {
                return Err(Error::NonFinite {
                    step: self.step,
                    what: format!("gradient norm is {norm}"),
                });
            }
            self.optimizer.step(&mut *self.model, &grads, stats.lr)?;
            self.step += 1;
            if let Some(p) = &mut self.pruner {
                p.after_step(&mut *self.model, &mut *self.optimizer, self.step)?;
            }
            stats.stepped = true;
            stats.grad_norm = Some(norm);
        }
        Ok(stats)
    }

    /// Logits and the summed (not mean) loss of one batch, in evaluation mode without recording.
    pub fn eval_batch(&mut self, images: &Tensor, labels: &[usize]) -> Result<(Tensor, f64)> {
        let model = &mut self.model;
        let ls = self.config.label_smoothing;
        no_grad(|| -> Result<(Tensor, f64)> {
            let logits = model.forward(images, &Ctx::eval())?;
            let loss = ops::cross_entropy(&logits, labels, ls)?.item()? as f64;
            Ok((logits, loss * labels.len() as f64))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::model_tensors;
    use crate::models::{Vit, VitConfig};
    use crate::optim::{Sgd, SgdConfig};
    use inkling_autograd::gradcheck::rand_tensor;

    fn trainer(accumulate: usize, lr: f32) -> Trainer {
        let cfg = VitConfig {
            image_size: 8,
            in_chans: 1,
            patch: 4,
            width: 8,
            depth: 1,
            heads: 2,
            mlp_dim: 16,
            classes: 3,
            dropout: 0.0,
            qkv_bias: true,
        };
        let sgd = Sgd::new(SgdConfig::default()).unwrap();
        let config = TrainConfig {
            lr,
            schedule: Schedule::Constant,
            label_smoothing: 0.1,
            clip_norm: None,
            accumulate,
        };
        Trainer::new(Box::new(Vit::new(cfg, 7).unwrap()), Box::new(sgd), config).unwrap()
    }

    #[test]
    fn accumulating_two_half_batches_equals_one_full_batch() {
        let x = rand_tensor(&[8, 1, 8, 8], 1);
        let labels = [0, 1, 2, 0, 1, 2, 0, 1];
        let mut full = trainer(1, 0.5);
        let s = full.train_batch(&x, &labels, 0).unwrap();
        assert!(s.stepped && s.grad_norm.is_some_and(|g| g > 0.0));
        let mut acc = trainer(2, 0.5);
        let halves = [
            Tensor::from_slice(&[4, 1, 8, 8], &x.data()[..256]).unwrap(),
            Tensor::from_slice(&[4, 1, 8, 8], &x.data()[256..]).unwrap(),
        ];
        assert!(
            !acc.train_batch(&halves[0], &labels[..4], 0)
                .unwrap()
                .stepped
        );
        assert!(
            acc.train_batch(&halves[1], &labels[4..], 0)
                .unwrap()
                .stepped
        );
        assert_eq!((full.step, acc.step), (1, 1));
        let (a, b) = (model_tensors(&*full.model), model_tensors(&*acc.model));
        let before = model_tensors(&*trainer(1, 0.5).model);
        let mut moved = 0.0f32;
        for (((name, ta), (_, tb)), (_, t0)) in a.iter().zip(&b).zip(&before) {
            for ((&u, &v), &w) in ta.data().iter().zip(tb.data()).zip(t0.data()) {
                assert!(
                    (u - v).abs() <= 1e-5 * (1.0 + u.abs()),
                    "{name}: {u} vs {v}"
                );
                moved = moved.max((u - w).abs());
            }
        }
        assert!(moved > 1e-3, "the step did not change the weights");
    }

    #[test]
    fn a_non_finite_loss_stops_and_leaves_the_model_alone() {
        let mut t = trainer(1, 0.1);
        let before = model_tensors(&*t.model);
        let mut x = rand_tensor(&[2, 1, 8, 8], 2);
        x.data_mut()[5] = f32::NAN;
        let err = t.train_batch(&x, &[0, 1], 0).unwrap_err();
        assert!(matches!(err, Error::NonFinite { step: 0, .. }), "{err}");
        assert!(err.to_string().contains("step 0"));
        for ((_, a), (_, b)) in before.iter().zip(&model_tensors(&*t.model)) {
            assert_eq!(a.data(), b.data());
        }
        assert_eq!(t.step, 0);
    }

    #[test]
    fn training_lowers_the_loss_and_eval_counts_correct() {
        let mut t = trainer(1, 0.01);
        t.optimizer = Box::new(crate::optim::AdamW::new(Default::default()).unwrap());
        let x = rand_tensor(&[6, 1, 8, 8], 3);
        let labels = [0, 1, 2, 2, 1, 0];
        let first = t.train_batch(&x, &labels, 0).unwrap().loss;
        let mut last = first;
        for i in 1..60 {
            last = t.train_batch(&x, &labels, i).unwrap().loss;
        }
        assert!(last < 0.7 * first, "loss {first} → {last}");
        let (logits, loss_sum) = t.eval_batch(&x, &labels).unwrap();
        assert_eq!(logits.shape(), [6, 3]);
        assert!(loss_sum > 0.0);
        assert_eq!(count_correct(logits.data(), 3, &labels), 6);
        assert_eq!(arg_max(&[1.0, 3.0, 3.0, f32::NAN]), 1);
        assert_eq!(arg_max(&[f32::NAN, 1.0]), 1);
    }
}
