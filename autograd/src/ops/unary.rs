//! Elementwise functions of one tensor: `relu`, `gelu`, `hard_swish`, `hard_sigmoid`, `silu`,
//! `sigmoid`, `rsqrt`, `scale`, `add_scalar`. Hard-swish and hard-sigmoid follow PyTorch, including the
//! gradient at the breakpoints.

use inkling_kernels::rows;

use super::{apply, Op, OpKind, Saved};
use crate::{Result, Tensor};

/// `max(x, 0)`.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    apply(Unary(OpKind::Relu), &[x])
}

/// GELU, exact erf form: `x·Φ(x)`.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    apply(Unary(OpKind::Gelu), &[x])
}

/// `x·relu6(x + 3)/6`.
pub fn hard_swish(x: &Tensor) -> Result<Tensor> {
    apply(Unary(OpKind::HardSwish), &[x])
}

/// `relu6(x + 3)/6`.
pub fn hard_sigmoid(x: &Tensor) -> Result<Tensor> {
    apply(Unary(OpKind::HardSigmoid), &[x])
}

/// `x·σ(x)`.
pub fn silu(x: &Tensor) -> Result<Tensor> {
    apply(Unary(OpKind::Silu), &[x])
}

/// `σ(x) = 1/(1 + e⁻ˣ)`.
pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    apply(Unary(OpKind::Sigmoid), &[x])
}

/// `1/√x` (the lowered LayerNorm's op; quantization-aware training runs that graph).
pub fn rsqrt(x: &Tensor) -> Result<Tensor> {
    apply(Unary(OpKind::Rsqrt), &[x])
}

/// `s·x`.
pub fn scale(x: &Tensor, s: f32) -> Result<Tensor> {
    apply(Unary(OpKind::Scale { factor: s }), &[x])
}

/// `x + s`.
pub fn add_scalar(x: &Tensor, s: f32) -> Result<Tensor> {
    apply(Unary(OpKind::AddScalar { value: s }), &[x])
}

/// One of the unary kinds above; built only by this file's functions.
#[derive(Debug)]
struct Unary(OpKind);

fn sigmoid_f(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `f(x)` elementwise into a new tensor.
fn map(x: &Tensor, f: impl Fn(f32) -> f32) -> Tensor {
    let mut y = Tensor::uninit(x.shape());
    for (y, &x) in y.data_mut().iter_mut().zip(x.data()) {
        *y = f(x);
    }
    y
}

/// `g·f(v)` elementwise (v is the saved input or output) into a new tensor.
fn map_grad(gy: &Tensor, v: &Tensor, f: impl Fn(f32) -> f32) -> Tensor {
    let mut gx = Tensor::uninit(gy.shape());
    for ((gx, &g), &v) in gx.data_mut().iter_mut().zip(gy.data()).zip(v.data()) {
        *gx = g * f(v);
    }
    gx
}

impl Op for Unary {
    fn kind(&self) -> OpKind {
        self.0.clone()
    }

    fn forward(&self, xs: &[&Tensor], save: &mut Saved) -> Result<Tensor> {
        let x = xs[0];
        let y = match self.0 {
            // Written so that a NaN passes through (f32::max would turn it into 0).
            OpKind::Relu => map(x, |x| if x < 0.0 { 0.0 } else { x }),
            OpKind::Gelu => {
                let mut y = Tensor::uninit(x.shape());
                y.data_mut().copy_from_slice(x.data());
                rows::gelu(inkling_kernels::kernels(), y.data_mut());
                y
            }
            OpKind::HardSwish => map(x, |x| x * (x + 3.0).clamp(0.0, 6.0) / 6.0),
            OpKind::HardSigmoid => map(x, |x| (x + 3.0).clamp(0.0, 6.0) / 6.0),
            OpKind::Silu => map(x, |x| x * sigmoid_f(x)),
            OpKind::Sigmoid => map(x, sigmoid_f),
            OpKind::Rsqrt => map(x, |x| 1.0 / x.sqrt()),
            OpKind::Scale { factor: s } => map(x, |x| s * x),
            OpKind::AddScalar { value: s } => map(x, |x| x + s),
            ref other => crate::bail_shape!("unary", "{} is not a unary op", other.name()),
        };
        match self.0 {
            OpKind::Sigmoid | OpKind::Rsqrt => save.push(&y),
            OpKind::Scale { .. } | OpKind::AddScalar { .. } => {}
            _ => save.push(x),
        }
        Ok(y)
    }

    fn backward(&self, gy: &Tensor, saved: Saved, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if !needs[0] {
            return Ok(vec![None]);
        }
        let v = saved.into_vec().pop();
        let v = || v.as_ref().expect("forward saved its input or output");
        let gx = match self.0 {
            OpKind::Relu => map_grad(gy, v(), |x| if x > 0.0 { 1.0 } else { 0.0 }),
            OpKind::Gelu => {
                let mut gx = Tensor::uninit(gy.shape());
                gx.data_mut().copy_from_slice(gy.data());
                rows::gelu_backward(inkling_kernels::kernels(), v().data(), gx.data_mut())?;
                gx
            }
            // PyTorch: 0 below −3, x/3 + 1/2 on [−3, 3], 1 above.
            OpKind::HardSwish => map_grad(gy, v(), |x| {
                if x < -3.0 {
                    0.0
                } else if x <= 3.0 {
                    x / 3.0 + 0.5
                } else {
                    1.0
                }
            }),
            OpKind::HardSigmoid => {
                map_grad(
                    gy,
                    v(),
                    |x| {
                        if x > -3.0 && x < 3.0 {
                            1.0 / 6.0
                        } else {
                            0.0
                        }
                    },
                )
            }
            OpKind::Silu => map_grad(gy, v(), |x| {
                let s = sigmoid_f(x);
                s * (1.0 + x * (1.0 - s))
            }),
            OpKind::Sigmoid => map_grad(gy, v(), |y| y * (1.0 - y)),
            // d/dx x^(−1/2) = −y³/2.
            OpKind::Rsqrt => map_grad(gy, v(), |y| -0.5 * y * y * y),
            OpKind::Scale { factor: s } => map(gy, |g| s * g),
            OpKind::AddScalar { .. } => gy.clone(),
            ref other => crate::bail_shape!("unary", "{} is not a unary op", other.name()),
        };
        Ok(vec![Some(gx)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{gradcheck, rand_tensor, Tol};

    /// Values in (−5, 5) at least 0.05 away from the kinks at 0 and ±3.
    fn off_kinks(shape: &[usize], seed: u64) -> Tensor {
        let mut t = rand_tensor(shape, seed);
        for v in t.data_mut() {
            let x = *v * 5.0;
            *v = if [0.0f32, 3.0, -3.0].iter().any(|k| (x - k).abs() < 0.05) {
                x + 0.1
            } else {
                x
            };
        }
        t
    }

    type UnaryCase = (fn(&Tensor) -> Result<Tensor>, fn(f64) -> f64);

    fn cases() -> [UnaryCase; 8] {
        fn sig(x: f64) -> f64 {
            1.0 / (1.0 + (-x).exp())
        }
        [
            (relu, |x| x.max(0.0)),
            (gelu, |x| {
                // std has no stable erf: Φ(x) by Simpson's rule on the normal density.
                let n = 4000;
                let (lo, h) = (-12.0, (x + 12.0) / n as f64);
                let pdf = |t: f64| (-t * t / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
                let simpson: f64 = (0..=n)
                    .map(|i| {
                        let w = if i == 0 || i == n {
                            1.0
                        } else if i % 2 == 1 {
                            4.0
                        } else {
                            2.0
                        };
                        w * pdf(lo + i as f64 * h)
                    })
                    .sum();
                x * simpson * h / 3.0
            }),
            (hard_swish, |x| x * (x + 3.0).clamp(0.0, 6.0) / 6.0),
            (hard_sigmoid, |x| (x + 3.0).clamp(0.0, 6.0) / 6.0),
            (silu, |x| x * sig(x)),
            (sigmoid, sig),
            (|x| scale(x, -1.5), |x| -1.5 * x),
            (|x| add_scalar(x, 0.25), |x| x + 0.25),
        ]
    }

    #[test]
    fn rsqrt_matches_the_formula_and_its_gradient() {
        let mut x = rand_tensor(&[4, 5], 3);
        x.data_mut()
            .iter_mut()
            .for_each(|v| *v = 0.5 + 1.5 * (*v + 1.0));
        let y = rsqrt(&x).unwrap();
        for (&y, &x) in y.data().iter().zip(x.data()) {
            assert!(
                (y as f64 - 1.0 / (x as f64).sqrt()).abs() < 1e-6,
                "{x}: {y}"
            );
        }
        gradcheck(|xs| rsqrt(&xs[0]), &[x], Tol::F32);
    }

    #[test]
    fn gradcheck_unary_ops() {
        for (op, _) in cases() {
            gradcheck(|xs| op(&xs[0]), &[off_kinks(&[3, 7], 1)], Tol::F32);
        }
    }

    #[test]
    fn unary_ops_match_reference_values() {
        let x = off_kinks(&[64], 2);
        for (i, (op, f)) in cases().into_iter().enumerate() {
            let y = op(&x).unwrap();
            assert_eq!(y.shape(), [64]);
            for (&y, &x) in y.data().iter().zip(x.data()) {
                let e = f(x as f64);
                assert!(
                    (y as f64 - e).abs() <= 1e-5 * (1.0 + e.abs()),
                    "case {i}: f({x}) = {y}, expected {e}"
                );
            }
        }
    }

    #[test]
    fn hard_swish_gradient_matches_pytorch_at_breakpoints() {
        let x = Tensor::from_slice(&[5], &[-3.0, 3.0, -4.0, 4.0, 0.0])
            .unwrap()
            .requires_grad();
        let g = hard_swish(&x)
            .unwrap()
            .backward_with(Tensor::full(&[5], 1.0));
        assert_eq!(
            g.unwrap().wrt(&x).unwrap().data(),
            [-0.5, 1.5, 0.0, 1.0, 0.5]
        );
        let x = x.detach().requires_grad();
        let g = hard_sigmoid(&x)
            .unwrap()
            .backward_with(Tensor::full(&[5], 1.0));
        let s = 1.0 / 6.0;
        assert_eq!(g.unwrap().wrt(&x).unwrap().data(), [0.0, 0.0, 0.0, 0.0, s]);
    }
}
