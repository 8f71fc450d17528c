//! `softmax` and `log_softmax` over the last axis; backward from the saved output.

use inkling_kernels::rows::{self, Rows};

use super::{apply, Op, OpKind, Saved};
use crate::{Result, Tensor};

/// `softmax` over the last axis (max-subtracted, so large inputs do not overflow).
pub fn softmax(x: &Tensor) -> Result<Tensor> {
    apply(Softmax { log: false }, &[x])
}

/// `log_softmax` over the last axis: `x − max − ln Σ e^(x−max)`.
pub fn log_softmax(x: &Tensor) -> Result<Tensor> {
    apply(Softmax { log: true }, &[x])
}

/// Softmax, or its logarithm when `log` is set: both need only their output for backward.
#[derive(Debug)]
struct Softmax {
    log: bool,
}

impl Softmax {
    fn name(&self) -> &'static str {
        if self.log {
            "log_softmax"
        } else {
            "softmax"
        }
    }

    /// Rows and columns of `x` viewed as a matrix over its last axis.
    fn rows(&self, x: &Tensor) -> Result<Rows> {
        if x.rank() == 0 {
            crate::bail_shape!(self.name(), "needs rank ≥ 1, got a scalar");
        }
        let cols = x.dim(-1);
        Ok(Rows::new(x.numel().checked_div(cols).unwrap_or(0), cols))
    }
}

impl Op for Softmax {
    fn kind(&self) -> OpKind {
        if self.log {
            OpKind::LogSoftmax
        } else {
            OpKind::Softmax
        }
    }

    fn forward(&self, xs: &[&Tensor], save: &mut Saved) -> Result<Tensor> {
        let x = xs[0];
        let shape = self.rows(x)?;
        let ks = inkling_kernels::kernels();
        let mut y = x.detach();
        if self.log {
            rows::log_softmax(ks, shape, y.data_mut())?;
        } else {
            rows::softmax(ks, shape, y.data_mut())?;
        }
        save.push(&y);
        Ok(y)
    }

    fn backward(&self, gy: &Tensor, saved: Saved, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if !needs[0] {
            return Ok(vec![None]);
        }
        let y = saved.into_vec().pop().expect("saved output");
        let shape = self.rows(&y)?;
        let ks = inkling_kernels::kernels();
        let mut g = gy.detach();
        if self.log {
            rows::log_softmax_backward(ks, shape, y.data(), g.data_mut())?;
        } else {
            rows::softmax_backward(ks, shape, y.data(), g.data_mut())?;
        }
        Ok(vec![Some(g)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{gradcheck, rand_tensor, Tol};
    use crate::Error;

    #[test]
    fn gradcheck_softmax_and_log_softmax() {
        let x = rand_tensor(&[2, 3, 5], 7);
        gradcheck(|xs| softmax(&xs[0]), std::slice::from_ref(&x), Tol::F32);
        gradcheck(|xs| log_softmax(&xs[0]), &[x], Tol::F32);
    }

    #[test]
    fn softmax_matches_naive() {
        let x = rand_tensor(&[3, 4], 8);
        let (y, ly) = (softmax(&x).unwrap(), log_softmax(&x).unwrap());
        for r in 0..3 {
            let row = &x.data()[r * 4..r * 4 + 4];
            let z: f64 = row.iter().map(|&v| (v as f64).exp()).sum();
            for (c, &v) in row.iter().enumerate() {
                let p = (v as f64).exp() / z;
                approx::assert_abs_diff_eq!(y.data()[r * 4 + c], p as f32, epsilon = 1e-6);
                approx::assert_abs_diff_eq!(ly.data()[r * 4 + c], p.ln() as f32, epsilon = 1e-5);
            }
        }
    }

    #[test]
    fn softmax_rejects_a_scalar() {
        assert!(matches!(
            softmax(&Tensor::scalar(1.0)),
            Err(Error::BadShape { op: "softmax", .. })
        ));
        assert!(matches!(
            log_softmax(&Tensor::scalar(1.0)),
            Err(Error::BadShape {
                op: "log_softmax",
                ..
            })
        ));
    }
}
