//! `cross_entropy`: fused log-softmax and negative log-likelihood with label smoothing, averaged
//! over the batch (PyTorch's `F.cross_entropy(logits, labels, label_smoothing=ε)`).

use inkling_kernels::rows::{self, Rows};

use super::{apply, Op, OpKind, Saved};
use crate::{Result, Tensor};

/// Mean over the batch of `(1−ε)·(−log p[label]) + ε·mean_c(−log p_c)`, `p = softmax(logits)`;
/// logits `[B, C]`, one label per row. Returns shape `[]`. Errors when a label is ≥ C, the label
/// count is not B, the batch or the class count is empty, or ε is outside [0, 1].
pub fn cross_entropy(logits: &Tensor, labels: &[usize], label_smoothing: f32) -> Result<Tensor> {
    let op = CrossEntropy {
        labels: labels.to_vec(),
        label_smoothing,
    };
    apply(op, &[logits])
}

#[derive(Debug)]
struct CrossEntropy {
    labels: Vec<usize>,
    label_smoothing: f32,
}

const OP: &str = "cross_entropy";

impl CrossEntropy {
    /// The logits as rows × classes after checking them against the labels and ε.
    fn rows(&self, logits: &Tensor) -> Result<Rows> {
        let &[b, c] = logits.shape() else {
            crate::bail_shape!(OP, "needs logits [B, C], got {:?}", logits.shape());
        };
        if b == 0 || c == 0 || self.labels.len() != b {
            crate::bail_shape!(
                OP,
                "logits {:?} need B, C > 0 and one label per row, got {} labels",
                logits.shape(),
                self.labels.len()
            );
        }
        if let Some((i, l)) = self.labels.iter().enumerate().find(|(_, &l)| l >= c) {
            crate::bail_shape!(OP, "label {l} of row {i} is out of range for {c} classes");
        }
        let eps = self.label_smoothing;
        if !(0.0..=1.0).contains(&eps) {
            crate::bail_shape!(OP, "label smoothing must be in [0, 1], got {eps}");
        }
        Ok(Rows::new(b, c))
    }
}

impl Op for CrossEntropy {
    fn kind(&self) -> OpKind {
        OpKind::CrossEntropy {
            label_smoothing: self.label_smoothing,
        }
    }

    fn forward(&self, xs: &[&Tensor], save: &mut Saved) -> Result<Tensor> {
        let shape = self.rows(xs[0])?;
        let ks = inkling_kernels::kernels();
        let mut logp = xs[0].detach();
        rows::log_softmax(ks, shape, logp.data_mut())?;
        let eps = self.label_smoothing as f64;
        let mut loss = 0.0f64;
        for (row, &l) in logp.data().chunks_exact(shape.cols).zip(&self.labels) {
            let mean_logp = row.iter().map(|&v| v as f64).sum::<f64>() / shape.cols as f64;
            loss -= (1.0 - eps) * row[l] as f64 + eps * mean_logp;
        }
        save.push(&logp);
        Ok(Tensor::scalar((loss / shape.rows as f64) as f32))
    }

    fn backward(&self, gy: &Tensor, saved: Saved, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if !needs[0] {
            return Ok(vec![None]);
        }
        let logp = saved.into_vec().pop().expect("saved log-probabilities");
        let shape = self.rows(&logp)?;
        let ks = inkling_kernels::kernels();
        // ∂/∂logits = (softmax − target)·g/B, target = (1−ε)·onehot + ε/C.
        let mut dx = logp;
        rows::exp(ks, dx.data_mut());
        let k = gy.item()? / shape.rows as f32;
        let eps = self.label_smoothing;
        let uniform = eps / shape.cols as f32;
        for (row, &l) in dx.data_mut().chunks_exact_mut(shape.cols).zip(&self.labels) {
            row[l] -= 1.0 - eps;
            for v in row.iter_mut() {
                *v = (*v - uniform) * k;
            }
        }
        Ok(vec![Some(dx)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{gradcheck, rand_tensor, Tol};
    use crate::Error;

    #[test]
    fn cross_entropy_matches_naive() {
        let (b, c) = (4, 5);
        let x = rand_tensor(&[b, c], 140);
        let labels = [0, 4, 2, 2];
        for eps in [0.0f64, 0.1] {
            let loss = cross_entropy(&x, &labels, eps as f32).unwrap();
            assert_eq!(loss.shape(), [] as [usize; 0]);
            let mut want = 0.0;
            for (i, &l) in labels.iter().enumerate() {
                let row: Vec<f64> = x.data()[i * c..(i + 1) * c]
                    .iter()
                    .map(|&v| v as f64)
                    .collect();
                let lse = row.iter().map(|v| v.exp()).sum::<f64>().ln();
                let nll = lse - row[l];
                let smooth = row.iter().map(|v| lse - v).sum::<f64>() / c as f64;
                want += (1.0 - eps) * nll + eps * smooth;
            }
            approx::assert_abs_diff_eq!(
                loss.item().unwrap() as f64,
                want / b as f64,
                epsilon = 1e-6
            );
        }
    }

    #[test]
    fn gradcheck_cross_entropy() {
        for eps in [0.0, 0.1] {
            gradcheck(
                |xs| cross_entropy(&xs[0], &[1, 0, 3], eps),
                &[rand_tensor(&[3, 4], 141)],
                Tol::F32,
            );
        }
    }

    #[test]
    fn cross_entropy_rejects_bad_input() {
        let x = rand_tensor(&[2, 3], 142);
        let bad = |r: Result<Tensor>| {
            assert!(matches!(r, Err(Error::BadShape { op: OP, .. })), "{r:?}");
        };
        bad(cross_entropy(&x, &[0, 3], 0.0)); // label out of range
        bad(cross_entropy(&x, &[0], 0.0)); // one label too few
        bad(cross_entropy(&x, &[0, 1], 1.5));
        bad(cross_entropy(&x, &[0, 1], f32::NAN));
        bad(cross_entropy(&rand_tensor(&[6], 143), &[0], 0.0));
    }
}
