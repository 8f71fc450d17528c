//! Knowledge distillation (Hinton et al. 2015): the student learns from a teacher's softened
//! logits as well as the labels, `α·T²·KL(p_teacher ‖ p_student) + (1−α)·CE(labels)`.

use inkling_autograd::{no_grad, ops, Tensor};

use crate::{Ctx, Error, Model, Result};

/// A teacher and the mixing of its soft targets with the hard labels.
pub struct Distill {
    /// The teacher; only run forward, in evaluation mode, without recording.
    pub teacher: Box<dyn Model>,
    /// Softening temperature T (> 0).
    pub temperature: f32,
    /// Weight α of the soft-target term, in [0, 1]; the cross-entropy gets 1 − α.
    pub alpha: f32,
}

impl Distill {
    /// Errors on a temperature that is not finite and positive or α outside [0, 1].
    pub fn new(teacher: Box<dyn Model>, temperature: f32, alpha: f32) -> Result<Distill> {
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(Error::Config {
                what: format!("distillation temperature {temperature} must be positive"),
            });
        }
        if !(0.0..=1.0).contains(&alpha) {
            return Err(Error::Config {
                what: format!("distillation alpha {alpha} is not in [0, 1]"),
            });
        }
        Ok(Distill {
            teacher,
            temperature,
            alpha,
        })
    }

    /// The teacher's logits for `images` (the same, augmented batch the student sees), computed
    /// without a tape: nothing of the teacher's forward pass is kept.
    pub fn teacher_logits(&mut self, images: &Tensor) -> Result<Tensor> {
        let teacher = &mut self.teacher;
        Ok(no_grad(|| teacher.forward(images, &Ctx::eval()))?)
    }

    /// `α·kd_loss(student, teacher, T) + (1−α)·cross_entropy(student, labels, ε)`; terms with a
    /// zero weight are not computed.
    pub fn loss(
        &self,
        student: &Tensor,
        teacher: &Tensor,
        labels: &[usize],
        label_smoothing: f32,
    ) -> Result<Tensor> {
        let a = self.alpha;
        let kd = || ops::kd_loss(student, teacher, self.temperature);
        let ce = || ops::cross_entropy(student, labels, label_smoothing);
        Ok(if a == 1.0 {
            kd()?
        } else if a == 0.0 {
            ce()?
        } else {
            ops::add(&ops::scale(&kd()?, a)?, &ops::scale(&ce()?, 1.0 - a)?)?
        })
    }
}

impl std::fmt::Debug for Distill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Distill")
            .field("teacher", &self.teacher.config_json())
            .field("temperature", &self.temperature)
            .field("alpha", &self.alpha)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::Vit;
    use crate::optim::{AdamW, AdamWConfig};
    use crate::schedule::Schedule;
    use crate::testutil::tiny_vit;
    use crate::train::{TrainConfig, Trainer};
    use inkling_autograd::gradcheck::rand_tensor;
    use inkling_autograd::tape_len;

    fn vit(width: usize, seed: u64) -> Vit {
        let cfg = tiny_vit(width, 1, 2, 2 * width);
        Vit::new(cfg, seed).unwrap()
    }

    #[test]
    fn loss_mixes_kd_and_cross_entropy_by_alpha() {
        let s = rand_tensor(&[4, 3], 1);
        let t = rand_tensor(&[4, 3], 2);
        let labels = [0, 2, 1, 1];
        let d = Distill::new(Box::new(vit(8, 0)), 4.0, 0.7).unwrap();
        let kd = ops::kd_loss(&s, &t, 4.0).unwrap().item().unwrap();
        let ce = ops::cross_entropy(&s, &labels, 0.1)
            .unwrap()
            .item()
            .unwrap();
        let got = d.loss(&s, &t, &labels, 0.1).unwrap().item().unwrap();
        assert!((got - (0.7 * kd + 0.3 * ce)).abs() < 1e-6, "{got}");
        assert!(Distill::new(Box::new(vit(8, 0)), 0.0, 0.5).is_err());
        assert!(Distill::new(Box::new(vit(8, 0)), 2.0, 1.5).is_err());
    }

    #[test]
    fn teacher_forward_records_nothing() {
        let mut d = Distill::new(Box::new(vit(8, 0)), 2.0, 0.5).unwrap();
        inkling_autograd::clear_tape();
        let y = d.teacher_logits(&rand_tensor(&[2, 1, 8, 8], 3)).unwrap();
        assert_eq!(y.shape(), [2, 3]);
        assert_eq!(tape_len(), 0);
        assert!(!y.is_tracked());
    }

    /// With α = 1 the student learns the teacher's soft targets: the KD loss falls.
    #[test]
    fn distilling_pulls_the_student_toward_the_teacher() {
        let x = rand_tensor(&[6, 1, 8, 8], 4);
        let labels = [0, 1, 2, 0, 1, 2];
        let config = TrainConfig {
            lr: 0.01,
            schedule: Schedule::Constant,
            label_smoothing: 0.0,
            clip_norm: None,
            accumulate: 1,
        };
        let opt = AdamW::new(AdamWConfig::default()).unwrap();
        let mut t = Trainer::new(Box::new(vit(8, 5)), Box::new(opt), config).unwrap();
        // A wider teacher with scaled-up logits so its targets are confident.
        let mut teacher = vit(16, 6);
        teacher
            .head
            .weight
            .value_mut()
            .data_mut()
            .iter_mut()
            .for_each(|v| *v *= 200.0);
        t.distill = Some(Distill::new(Box::new(teacher), 2.0, 1.0).unwrap());
        let first = t.train_batch(&x, &labels, 0).unwrap().loss;
        let mut last = first;
        for i in 1..40 {
            last = t.train_batch(&x, &labels, i).unwrap().loss;
        }
        assert!(last < 0.3 * first, "kd loss {first} → {last}");
    }
}
