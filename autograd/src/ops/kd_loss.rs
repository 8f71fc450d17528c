//! `kd_loss`: the soft-target term of knowledge distillation (Hinton et al. 2015),
//! `T²·KL(softmax(teacher/T) ‖ softmax(student/T))` averaged over the batch, i.e. PyTorch's
//! `F.kl_div(F.log_softmax(s/T), F.log_softmax(t/T), reduction="batchmean", log_target=True)·T²`.
//!
//! The T² factor keeps the soft term's gradient on the scale of a hard cross-entropy's as T grows,
//! so `α·KD + (1−α)·CE` mixes comparable magnitudes.

use inkling_kernels::rows::{self, Rows};

use super::{apply, Op, OpKind, Saved};
use crate::{Result, Tensor};

/// `T²/B · Σ_rows Σ_c p_c·(log p_c − log q_c)`, `p = softmax(teacher/T)`, `q = softmax(student/T)`;
/// both logits `[B, C]`, result shape `[]`. The teacher usually comes untracked (no gradient);
/// when it is tracked its gradient is computed too. Errors on different or empty shapes and on a
/// temperature that is not finite and positive.
pub fn kd_loss(student: &Tensor, teacher: &Tensor, temperature: f32) -> Result<Tensor> {
    apply(KdLoss { temperature }, &[student, teacher])
}

#[derive(Debug)]
struct KdLoss {
    temperature: f32,
}

const OP: &str = "kd_loss";

impl KdLoss {
    fn rows(&self, s: &Tensor, t: &Tensor) -> Result<Rows> {
        let &[b, c] = s.shape() else {
            crate::bail_shape!(OP, "needs student logits [B, C], got {:?}", s.shape());
        };
        if b == 0 || c == 0 || t.shape() != s.shape() {
            crate::bail_shape!(
                OP,
                "student {:?} and teacher {:?} logits must be the same non-empty [B, C]",
                s.shape(),
                t.shape()
            );
        }
        let temp = self.temperature;
        if !(temp.is_finite() && temp > 0.0) {
            crate::bail_shape!(OP, "temperature must be finite and positive, got {temp}");
        }
        Ok(Rows::new(b, c))
    }

    /// `log_softmax(x/T)` row by row.
    fn log_probs(&self, x: &Tensor, shape: Rows) -> Result<Tensor> {
        let mut y = x.detach();
        let inv = 1.0 / self.temperature;
        y.data_mut().iter_mut().for_each(|v| *v *= inv);
        rows::log_softmax(inkling_kernels::kernels(), shape, y.data_mut())?;
        Ok(y)
    }
}

impl Op for KdLoss {
    fn kind(&self) -> OpKind {
        OpKind::KdLoss {
            temperature: self.temperature,
        }
    }

    fn forward(&self, xs: &[&Tensor], save: &mut Saved) -> Result<Tensor> {
        let shape = self.rows(xs[0], xs[1])?;
        let log_q = self.log_probs(xs[0], shape)?;
        let log_p = self.log_probs(xs[1], shape)?;
        // Summed in f64: the KL of close distributions is a small difference of larger terms.
        let kl: f64 = log_p
            .data()
            .iter()
            .zip(log_q.data())
            .map(|(&lp, &lq)| (lp as f64).exp() * (lp as f64 - lq as f64))
            .sum();
        let t2 = (self.temperature as f64).powi(2);
        save.push(&log_q);
        save.push(&log_p);
        Ok(Tensor::scalar((t2 * kl / shape.rows as f64) as f32))
    }

    fn backward(&self, gy: &Tensor, saved: Saved, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let mut v = saved.into_vec();
        let log_p = v.pop().expect("saved teacher log-probabilities");
        let log_q = v.pop().expect("saved student log-probabilities");
        let shape = self.rows(&log_q, &log_p)?;
        // ∂/∂student = T/B·(q − p); ∂/∂teacher = T/B·p ⊙ (a − ⟨p, a⟩), a = log p − log q.
        let k = gy.item()? * self.temperature / shape.rows as f32;
        let ds = needs[0].then(|| {
            let mut d = log_q.clone();
            for (d, &lp) in d.data_mut().iter_mut().zip(log_p.data()) {
                *d = (d.exp() - lp.exp()) * k;
            }
            d
        });
        let dt = needs[1].then(|| {
            let mut d = log_p.clone();
            let rows_p = log_p.data().chunks_exact(shape.cols);
            let rows_q = log_q.data().chunks_exact(shape.cols);
            for ((d, lp), lq) in d
                .data_mut()
                .chunks_exact_mut(shape.cols)
                .zip(rows_p)
                .zip(rows_q)
            {
                let mean_a: f32 = lp.iter().zip(lq).map(|(&p, &q)| p.exp() * (p - q)).sum();
                for ((d, &p), &q) in d.iter_mut().zip(lp).zip(lq) {
                    *d = k * p.exp() * (p - q - mean_a);
                }
            }
            d
        });
        Ok(vec![ds, dt])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{gradcheck, gradcheck_inputs, rand_tensor, Tol};
    use crate::Error;

    /// Two rows worked by hand at T = 2: row 0 of the student is uniform, row 1 of the teacher
    /// equals the student's, so only row 0 contributes.
    #[test]
    fn kd_loss_matches_a_hand_computed_value() {
        let s = Tensor::from_slice(&[2, 2], &[0.0, 0.0, 1.0, 3.0]).unwrap();
        let t = Tensor::from_slice(&[2, 2], &[2.0, 0.0, 1.0, 3.0]).unwrap();
        // Row 0: p = softmax([1, 0]) = (e/(e+1), 1/(e+1)), q = (½, ½).
        let e = std::f64::consts::E;
        let (p0, p1) = (e / (e + 1.0), 1.0 / (e + 1.0));
        let kl = p0 * (p0 / 0.5).ln() + p1 * (p1 / 0.5).ln();
        let want = 4.0 * kl / 2.0; // T² = 4, batch mean over 2 rows.
        let got = kd_loss(&s, &t, 2.0).unwrap().item().unwrap() as f64;
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        assert!((want - 0.221_888).abs() < 1e-5, "hand value {want}");
        // Identical logits: zero loss at any temperature.
        assert_eq!(kd_loss(&s, &s, 4.0).unwrap().item().unwrap(), 0.0);
    }

    #[test]
    fn kd_loss_student_gradient_is_t_over_b_times_q_minus_p() {
        let s = Tensor::from_slice(&[1, 2], &[0.0, 0.0])
            .unwrap()
            .requires_grad();
        let t = Tensor::from_slice(&[1, 2], &[2.0, 0.0]).unwrap();
        let loss = kd_loss(&s, &t, 2.0).unwrap();
        let g = loss.backward().unwrap();
        let gs = g.wrt(&s).expect("student gradient").data().to_vec();
        let p0 = (1.0f32).exp() / ((1.0f32).exp() + 1.0);
        let want = [2.0 * (0.5 - p0), 2.0 * (p0 - 0.5)];
        for (a, b) in gs.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{gs:?} vs {want:?}");
        }
    }

    #[test]
    fn gradcheck_kd_loss() {
        for temp in [1.0, 4.0] {
            // Logits spread over [−3, 3) so the softmaxes are far from uniform.
            let s = rand_tensor(&[3, 5], 150);
            let t = rand_tensor(&[3, 5], 151);
            let spread = |x: Tensor| {
                let v: Vec<f32> = x.data().iter().map(|v| 3.0 * v).collect();
                Tensor::new(x.shape(), v).unwrap()
            };
            let inputs = [spread(s), spread(t)];
            gradcheck(|xs| kd_loss(&xs[0], &xs[1], temp), &inputs, Tol::F32);
            gradcheck_inputs(
                |xs| kd_loss(&xs[0], &xs[1], temp),
                &inputs,
                &[true, false],
                Tol::F32,
            );
        }
    }

    #[test]
    fn kd_loss_rejects_bad_input() {
        let x = rand_tensor(&[2, 3], 152);
        let bad = |r: Result<Tensor>| {
            assert!(matches!(r, Err(Error::BadShape { op: OP, .. })), "{r:?}");
        };
        bad(kd_loss(&x, &rand_tensor(&[2, 4], 153), 1.0));
        bad(kd_loss(&x, &x, 0.0));
        bad(kd_loss(&x, &x, f32::NAN));
        bad(kd_loss(
            &rand_tensor(&[6], 154),
            &rand_tensor(&[6], 154),
            1.0,
        ));
        bad(kd_loss(
            &Tensor::zeros(&[0, 3]),
            &Tensor::zeros(&[0, 3]),
            1.0,
        ));
    }
}
