//! `LayerNorm` over the last axis with a learned scale and shift.

use inkling_autograd::{ops, Param, Result, Tensor};

use crate::module::join;
use crate::{Module, ParamRole};

/// `y = (x − mean) / √(var + eps) · weight + bias` per row of the last axis (biased variance).
#[derive(Debug)]
pub struct LayerNorm {
    /// Scale `[D]`, initialised to 1.
    pub weight: Param,
    /// Shift `[D]`, initialised to 0.
    pub bias: Param,
    /// Added to the variance (timm's ViT uses 1e-6, PyTorch's default is 1e-5).
    pub eps: f32,
}

impl LayerNorm {
    /// Weight 1, bias 0.
    pub fn new(dim: usize, eps: f32) -> LayerNorm {
        LayerNorm {
            weight: Param::new(Tensor::full(&[dim], 1.0)),
            bias: Param::new(Tensor::zeros(&[dim])),
            eps,
        }
    }

    /// `[.., D]` → `[.., D]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::layer_norm(x, &self.weight.tensor(), &self.bias.tensor(), self.eps)
    }
}

impl Module for LayerNorm {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param, ParamRole)) {
        f(&join(prefix, "weight"), &self.weight, ParamRole::NoDecay);
        f(&join(prefix, "bias"), &self.bias, ParamRole::NoDecay);
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param, ParamRole)) {
        f(
            &join(prefix, "weight"),
            &mut self.weight,
            ParamRole::NoDecay,
        );
        f(&join(prefix, "bias"), &mut self.bias, ParamRole::NoDecay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testutil::{all_equal, check_grads, names_and_roles};
    use inkling_autograd::gradcheck::{rand_tensor, Tol};

    fn layer() -> LayerNorm {
        let mut ln = LayerNorm::new(6, 1e-5);
        *ln.weight.value_mut() = rand_tensor(&[6], 1);
        *ln.bias.value_mut() = rand_tensor(&[6], 2);
        ln
    }

    #[test]
    fn layer_norm_matches_naive() {
        let ln = layer();
        let x = rand_tensor(&[2, 3, 6], 3);
        let y = ln.forward(&x).unwrap();
        let (g, b) = (ln.weight.value().data(), ln.bias.value().data());
        for (row, out) in x.data().chunks(6).zip(y.data().chunks(6)) {
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / 6.0;
            let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / 6.0;
            for i in 0..6 {
                let want = (row[i] as f64 - mean) / (var + 1e-5).sqrt() * g[i] as f64 + b[i] as f64;
                approx::assert_abs_diff_eq!(out[i] as f64, want, epsilon = 1e-5);
            }
        }
    }

    #[test]
    fn layer_norm_init_is_identity_normalisation() {
        let ln = LayerNorm::new(4, 1e-6);
        let x = Tensor::new(&[1, 4], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let y = ln.forward(&x).unwrap();
        let s = 1.25f32.sqrt();
        for (a, b) in y.data().iter().zip([-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s]) {
            approx::assert_abs_diff_eq!(*a, b, epsilon = 1e-5);
        }
        assert_eq!(
            names_and_roles(&ln, "norm"),
            ["norm.weight:NoDecay", "norm.bias:NoDecay"]
        );
        assert!(all_equal(Some(&ln.weight), 1.0) && all_equal(Some(&ln.bias), 0.0));
    }

    #[test]
    fn gradcheck_layer_norm_layer() {
        let mut ln = layer();
        let x = rand_tensor(&[4, 6], 4);
        assert_eq!(
            check_grads(&mut ln, &x, true, Tol::F32, |_| true, |l, x| l.forward(x)),
            2
        );
    }
}
