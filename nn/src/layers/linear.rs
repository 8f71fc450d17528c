//! `Linear`: `y = act(x·Wᵀ + b)`, W `[out, in]` as in PyTorch, one fused GEMM op.

use inkling_autograd::ops::{self, Activation};
use inkling_autograd::{Param, Result, Tensor};
use rand::Rng;

use super::init;
use crate::module::join;
use crate::{Module, ParamRole};

/// A fully connected layer with an optional bias and a fused activation.
#[derive(Debug)]
pub struct Linear {
    /// `[out, in]`.
    pub weight: Param,
    /// `[out]`.
    pub bias: Option<Param>,
    /// Applied in the GEMM's epilogue.
    pub activation: Activation,
}

impl Linear {
    /// timm's ViT initialisation: weight trunc-normal(std 0.02), bias zero, no activation.
    pub fn new(inp: usize, out: usize, bias: bool, rng: &mut impl Rng) -> Linear {
        Linear {
            weight: Param::new(init::trunc_normal(&[out, inp], 0.02, rng)),
            bias: bias.then(|| Param::new(Tensor::zeros(&[out]))),
            activation: Activation::None,
        }
    }

    /// The same layer with a fused activation.
    pub fn with_activation(mut self, activation: Activation) -> Linear {
        self.activation = activation;
        self
    }

    /// Input features.
    pub fn in_features(&self) -> usize {
        self.weight.value().shape()[1]
    }

    /// Output features.
    pub fn out_features(&self) -> usize {
        self.weight.value().shape()[0]
    }

    /// `[.., in]` → `[.., out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let b = self.bias.as_ref().map(Param::tensor);
        ops::linear(x, &self.weight.tensor(), b.as_ref(), self.activation)
    }
}

impl Linear {
    /// `x·Wᵀ + b + r` with the residual added in the GEMM epilogue; needs no activation.
    pub fn forward_residual(&self, x: &Tensor, r: &Tensor) -> Result<Tensor> {
        if self.activation != Activation::None {
            return ops::add(&self.forward(x)?, r);
        }
        let b = self.bias.as_ref().map(Param::tensor);
        ops::linear_residual(x, &self.weight.tensor(), b.as_ref(), r)
    }
}

impl Module for Linear {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param, ParamRole)) {
        f(&join(prefix, "weight"), &self.weight, ParamRole::Weight);
        if let Some(b) = &self.bias {
            f(&join(prefix, "bias"), b, ParamRole::NoDecay);
        }
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param, ParamRole)) {
        f(&join(prefix, "weight"), &mut self.weight, ParamRole::Weight);
        if let Some(b) = &mut self.bias {
            f(&join(prefix, "bias"), b, ParamRole::NoDecay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testutil::{all_equal, check_grads, names_and_roles};
    use inkling_autograd::gradcheck::{rand_tensor, Tol};
    use rand::SeedableRng;

    fn layer(act: Activation, bias: bool) -> Linear {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut l = Linear::new(5, 3, bias, &mut rng).with_activation(act);
        // Larger weights and a nonzero bias than the init, so every term shows in the check.
        *l.weight.value_mut() = rand_tensor(&[3, 5], 2);
        if let Some(b) = &mut l.bias {
            *b.value_mut() = rand_tensor(&[3], 3);
        }
        l
    }

    #[test]
    fn linear_matches_naive() {
        let x = rand_tensor(&[2, 2, 5], 4);
        for act in [Activation::None, Activation::Relu, Activation::Gelu] {
            let l = layer(act, true);
            let y = l.forward(&x).unwrap();
            assert_eq!(y.shape(), [2, 2, 3]);
            let (w, b) = (
                l.weight.value().data(),
                l.bias.as_ref().unwrap().value().data(),
            );
            for r in 0..4 {
                for o in 0..3 {
                    let mut z = b[o] as f64;
                    for i in 0..5 {
                        z += x.data()[r * 5 + i] as f64 * w[o * 5 + i] as f64;
                    }
                    let want = match act {
                        Activation::None => z,
                        Activation::Relu => z.max(0.0),
                        Activation::Gelu => 0.5 * z * (1.0 + erf(z / std::f64::consts::SQRT_2)),
                    };
                    approx::assert_abs_diff_eq!(y.data()[r * 3 + o] as f64, want, epsilon = 1e-5);
                }
            }
        }
    }

    /// erf by Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7), enough for a 1e-5 comparison.
    pub(crate) fn erf(x: f64) -> f64 {
        let t = 1.0 / (1.0 + 0.3275911 * x.abs());
        let p = t
            * (0.254829592
                + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
        let y = 1.0 - p * (-x * x).exp();
        if x < 0.0 {
            -y
        } else {
            y
        }
    }

    #[test]
    fn gradcheck_linear_layer() {
        let x = rand_tensor(&[3, 5], 5);
        for (act, bias) in [
            (Activation::None, true),
            (Activation::Gelu, true),
            (Activation::None, false),
        ] {
            let mut l = layer(act, bias);
            let n = check_grads(&mut l, &x, true, Tol::F32, |_| true, |l, x| l.forward(x));
            assert_eq!(n, 1 + bias as usize);
        }
    }

    #[test]
    fn linear_init_and_names() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let l = Linear::new(64, 32, true, &mut rng);
        assert!(l.weight.value().data().iter().all(|v| v.abs() <= 0.04));
        assert!(l.weight.value().data().iter().any(|&v| v != 0.0));
        assert!(all_equal(l.bias.as_ref(), 0.0));
        assert_eq!(
            names_and_roles(&l, "head"),
            ["head.weight:Weight", "head.bias:NoDecay"]
        );
        assert_eq!((l.in_features(), l.out_features()), (64, 32));
    }
}
