//! `BatchNorm2d`: batch statistics in training (updating running statistics as PyTorch does),
//! running statistics in evaluation.

use inkling_autograd::{ops, Param, Result, Tensor};

use crate::module::join;
use crate::{Ctx, Module, ParamRole};

/// Batch normalisation over `[N, C, H, W]` per channel.
#[derive(Debug)]
pub struct BatchNorm2d {
    /// Scale `[C]`, initialised to 1.
    pub weight: Param,
    /// Shift `[C]`, initialised to 0.
    pub bias: Param,
    /// Running mean `[C]` (a buffer), initialised to 0.
    pub running_mean: Param,
    /// Running unbiased variance `[C]` (a buffer), initialised to 1.
    pub running_var: Param,
    /// Added to the variance.
    pub eps: f32,
    /// Weight of the new batch in the running statistics: `r ← (1 − m)·r + m·batch`.
    pub momentum: f32,
}

impl BatchNorm2d {
    /// PyTorch's defaults: eps 1e-5, momentum 0.1.
    pub fn new(channels: usize) -> BatchNorm2d {
        BatchNorm2d {
            weight: Param::new(Tensor::full(&[channels], 1.0)),
            bias: Param::new(Tensor::zeros(&[channels])),
            running_mean: Param::new(Tensor::zeros(&[channels])),
            running_var: Param::new(Tensor::full(&[channels], 1.0)),
            eps: 1e-5,
            momentum: 0.1,
        }
    }

    /// Normalises `x`; in training also folds the batch mean and unbiased variance into the
    /// running statistics.
    pub fn forward(&mut self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let (w, b) = (self.weight.tensor(), self.bias.tensor());
        if !ctx.training {
            return ops::batch_norm_eval(
                x,
                &w,
                &b,
                self.running_mean.value(),
                self.running_var.value(),
                self.eps,
            );
        }
        let (y, mean, var) = ops::batch_norm_train(x, &w, &b, self.eps)?;
        let m = self.momentum;
        for (r, s) in [
            (&mut self.running_mean, &mean),
            (&mut self.running_var, &var),
        ] {
            for (r, &s) in r.value_mut().data_mut().iter_mut().zip(s.data()) {
                *r = (1.0 - m) * *r + m * s;
            }
        }
        Ok(y)
    }
}

impl Module for BatchNorm2d {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param, ParamRole)) {
        f(&join(prefix, "weight"), &self.weight, ParamRole::NoDecay);
        f(&join(prefix, "bias"), &self.bias, ParamRole::NoDecay);
        f(
            &join(prefix, "running_mean"),
            &self.running_mean,
            ParamRole::Buffer,
        );
        f(
            &join(prefix, "running_var"),
            &self.running_var,
            ParamRole::Buffer,
        );
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param, ParamRole)) {
        f(
            &join(prefix, "weight"),
            &mut self.weight,
            ParamRole::NoDecay,
        );
        f(&join(prefix, "bias"), &mut self.bias, ParamRole::NoDecay);
        f(
            &join(prefix, "running_mean"),
            &mut self.running_mean,
            ParamRole::Buffer,
        );
        f(
            &join(prefix, "running_var"),
            &mut self.running_var,
            ParamRole::Buffer,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testutil::{check_grads, names_and_roles};
    use inkling_autograd::gradcheck::{rand_tensor, Tol};

    fn layer() -> BatchNorm2d {
        let mut bn = BatchNorm2d::new(2);
        *bn.weight.value_mut() = Tensor::new(&[2], vec![1.5, -0.5]).unwrap();
        *bn.bias.value_mut() = Tensor::new(&[2], vec![0.25, 1.0]).unwrap();
        bn
    }

    #[test]
    fn batch_norm_train_normalises_and_updates_running_stats() {
        let mut bn = layer();
        // N=2, C=2, 1×2: channel 0 holds 1,2,3,4 (mean 2.5, biased var 1.25, unbiased 5/3);
        // channel 1 holds 10,10,10,14 (mean 11, biased var 3, unbiased 4).
        let x = Tensor::new(
            &[2, 2, 1, 2],
            vec![1.0, 2.0, 10.0, 10.0, 3.0, 4.0, 10.0, 14.0],
        )
        .unwrap();
        let y = bn.forward(&x, &Ctx::train(0)).unwrap();
        let want_y = |c: usize, v: f32| {
            let (mean, var, g, b) = [(2.5, 1.25, 1.5, 0.25), (11.0, 3.0, -0.5, 1.0)][c];
            (v - mean) / (var + 1e-5f32).sqrt() * g + b
        };
        for (i, (&yv, &xv)) in y.data().iter().zip(x.data()).enumerate() {
            approx::assert_abs_diff_eq!(yv, want_y((i / 2) % 2, xv), epsilon = 1e-5);
        }
        approx::assert_abs_diff_eq!(
            bn.running_mean.value().data(),
            &[0.25f32, 1.1][..],
            epsilon = 1e-6
        );
        approx::assert_abs_diff_eq!(
            bn.running_var.value().data(),
            &[0.9 + 0.1 * 5.0 / 3.0, 0.9 + 0.1 * 4.0][..],
            epsilon = 1e-6
        );
        // A second step folds in again: r ← 0.9·r + 0.1·batch.
        bn.forward(&x, &Ctx::train(1)).unwrap();
        approx::assert_abs_diff_eq!(
            bn.running_mean.value().data(),
            &[0.9 * 0.25 + 0.25, 0.9 * 1.1 + 1.1][..],
            epsilon = 1e-6
        );
    }

    #[test]
    fn batch_norm_eval_uses_running_stats() {
        let mut bn = layer();
        *bn.running_mean.value_mut() = Tensor::new(&[2], vec![1.0, -2.0]).unwrap();
        *bn.running_var.value_mut() = Tensor::new(&[2], vec![4.0, 0.25]).unwrap();
        let x = rand_tensor(&[3, 2, 2, 2], 1);
        let y = bn.forward(&x, &Ctx::eval()).unwrap();
        let (m, v, g, b) = (
            [1.0f32, -2.0],
            [4.0f32, 0.25],
            [1.5f32, -0.5],
            [0.25f32, 1.0],
        );
        for (i, (&yv, &xv)) in y.data().iter().zip(x.data()).enumerate() {
            let c = (i / 4) % 2;
            approx::assert_abs_diff_eq!(
                yv,
                (xv - m[c]) / (v[c] + 1e-5).sqrt() * g[c] + b[c],
                epsilon = 1e-5
            );
        }
        // Evaluation leaves the running statistics alone.
        assert_eq!(bn.running_mean.value().data(), [1.0, -2.0]);
    }

    #[test]
    fn gradcheck_batch_norm_layer() {
        let x = rand_tensor(&[3, 2, 2, 3], 2);
        for ctx in [Ctx::train(0), Ctx::eval()] {
            let mut bn = layer();
            // Buffers are not trained: only weight and bias are checked.
            let n = check_grads(
                &mut bn,
                &x,
                true,
                Tol::F32,
                |_| true,
                |l, x| l.forward(x, &ctx),
            );
            assert_eq!(n, 2);
        }
        assert_eq!(
            names_and_roles(&layer(), "bn1"),
            [
                "bn1.weight:NoDecay",
                "bn1.bias:NoDecay",
                "bn1.running_mean:Buffer",
                "bn1.running_var:Buffer"
            ]
        );
    }
}
