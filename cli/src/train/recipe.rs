//! The training recipe: everything that decides the result of a run, stored in its checkpoints so a
//! resumed run continues with exactly the same settings.

use serde::{Deserialize, Serialize};

use inkling::data::pipeline::{Augment, Augmentation, Schedule as AugSchedule};
use inkling::nn::schedule::Schedule;

/// Settings of a training run (a checkpoint's `inkling.recipe`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// `synthetic` or a directory.
    pub data: String,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// Cap (or synthetic count) of drawings per class.
    pub samples_per_class: Option<usize>,
    /// Fraction of each class held out for validation.
    pub val_fraction: f64,
    /// Epochs in total.
    pub epochs: usize,
    /// Samples per batch.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f32,
    /// `adamw`, `lamb` or `sgd`.
    pub optimizer: String,
    /// SGD momentum.
    pub momentum: f32,
    /// SGD Nesterov.
    pub nesterov: bool,
    /// Decoupled weight decay (not applied to norms, biases, tokens).
    pub weight_decay: f32,
    /// Cross-entropy label smoothing.
    pub label_smoothing: f32,
    /// Linear warmup length in epochs.
    pub warmup_epochs: f32,
    /// `cosine`, `step` or `constant`.
    pub schedule: String,
    /// Step decay: epochs per decay and factor.
    pub step_epochs: usize,
    /// Step decay factor.
    pub step_gamma: f32,
    /// Global gradient-norm clip.
    pub clip_grad: Option<f32>,
    /// Batches per optimizer step.
    pub accumulate: usize,
    /// Stop after this many epochs without a better validation accuracy.
    pub early_stopping: Option<usize>,
    /// `none`, `light`, `strong` or `progressive`.
    pub augment: String,
    /// Seed of the split, the model init, shuffling, augmentation and dropout.
    pub seed: u64,
    /// Checkpoint whose weights (and architecture) the run started from, instead of an init.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<String>,
    /// Gradual pruning during the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<super::prune::PruneRecipe>,
    /// Knowledge distillation from a teacher checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distill: Option<super::distill::DistillRecipe>,
}

impl Recipe {
    /// Optimizer steps per epoch for `batches` loader batches.
    pub fn steps_per_epoch(&self, batches: usize) -> u64 {
        (batches / self.accumulate.max(1)).max(1) as u64
    }

    /// The learning-rate schedule over optimizer steps.
    pub fn lr_schedule(&self, steps_per_epoch: u64) -> Result<Schedule, String> {
        let warmup_steps =
            (self.warmup_epochs.max(0.0) as f64 * steps_per_epoch as f64).round() as u64;
        let total_steps = steps_per_epoch * self.epochs as u64;
        Ok(match self.schedule.as_str() {
            "cosine" => Schedule::WarmupCosine {
                warmup_steps,
                total_steps,
                min_lr_ratio: 0.0,
            },
            "step" => Schedule::StepDecay {
                step_size: steps_per_epoch * self.step_epochs.max(1) as u64,
                gamma: self.step_gamma,
                warmup_steps,
            },
            "constant" => Schedule::Constant,
            other => {
                return Err(format!(
                    "--schedule {other:?}: expected cosine, step or constant"
                ))
            }
        })
    }

    /// The loader's augmentation for this recipe.
    pub fn augmentation(&self) -> Result<Option<Augmentation>, String> {
        let strong = Augment::default();
        let light = Augment {
            rotation_deg: 10.0,
            translate: 0.06,
            scale: 0.1,
            shear_deg: 5.0,
            stroke: 0.25,
        };
        Ok(match self.augment.as_str() {
            "none" => None,
            "light" => Some(Augmentation {
                augment: light,
                schedule: AugSchedule::Constant(1.0),
            }),
            "strong" => Some(Augmentation {
                augment: strong,
                schedule: AugSchedule::Constant(1.0),
            }),
            "progressive" => Some(Augmentation {
                augment: strong,
                schedule: AugSchedule::Linear {
                    from: 0.2,
                    to: 1.0,
                    epochs: self.epochs.max(1),
                },
            }),
            other => {
                return Err(format!(
                    "--augment {other:?}: expected none, light, strong or progressive"
                ))
            }
        })
    }
}
