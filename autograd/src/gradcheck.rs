//! Central-difference gradient checks for ops and layers (used by this crate's and `nn`'s tests).

use rand::{Rng, SeedableRng};

use crate::{clear_tape, no_grad, Result, Tensor};

/// Tolerances of a gradient check: `|analytic − numeric| ≤ atol + rtol·max(|analytic|, |numeric|)`,
/// with finite-difference step `eps`.
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance.
    pub rtol: f64,
    /// Finite-difference step.
    pub eps: f32,
}

impl Tol {
    /// For smooth ops evaluated in f32: a step of 1e-2 keeps f32 rounding (≈1e-7/1e-2 relative)
    /// far below the O(eps²) truncation error of central differences.
    pub const F32: Tol = Tol {
        atol: 2e-3,
        rtol: 1e-2,
        eps: 1e-2,
    };
}

/// A tensor of uniform values in [−1, 1) from `seed`.
pub fn rand_tensor(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let n = shape.iter().product();
    let v = (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    Tensor::new(shape, v).expect("shape and data agree")
}

/// `Σ y·r` accumulated in f64.
fn weighted_sum(y: &Tensor, r: &Tensor) -> f64 {
    y.data()
        .iter()
        .zip(r.data())
        .map(|(&a, &b)| a as f64 * b as f64)
        .sum()
}

/// Checks the gradients `f` computes for every input against central differences of
/// `L = Σ f(xs)·r` (r random, fixed). Panics with the worst element when a gradient is off.
pub fn gradcheck(f: impl Fn(&[Tensor]) -> Result<Tensor>, inputs: &[Tensor], tol: Tol) {
    gradcheck_inputs(f, inputs, &vec![true; inputs.len()], tol)
}

/// Like [`gradcheck`], checking only the inputs where `check[i]` is true (others get no gradient).
pub fn gradcheck_inputs(
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
    inputs: &[Tensor],
    check: &[bool],
    tol: Tol,
) {
    clear_tape();
    let xs: Vec<Tensor> = inputs
        .iter()
        .zip(check)
        .map(|(x, &c)| {
            if c {
                x.detach().requires_grad()
            } else {
                x.detach()
            }
        })
        .collect();
    let y = f(&xs).expect("forward");
    let r = rand_tensor(y.shape(), 0x5eed);
    let grads = y.backward_with(r.clone()).expect("backward");
    for (i, x) in xs.iter().enumerate() {
        if !check[i] {
            continue;
        }
        let analytic = grads
            .wrt(x)
            .unwrap_or_else(|| panic!("input {i} received no gradient"))
            .clone();
        assert_eq!(analytic.shape(), x.shape(), "gradient shape of input {i}");
        let mut worst = (0.0f64, 0usize, 0.0f64, 0.0f64);
        for j in 0..x.numel() {
            let eval = |delta: f32| {
                let mut probe: Vec<Tensor> = xs.iter().map(Tensor::detach).collect();
                probe[i].data_mut()[j] += delta;
                let y = no_grad(|| f(&probe)).expect("forward");
                weighted_sum(&y, &r)
            };
            let numeric = (eval(tol.eps) - eval(-tol.eps)) / (2.0 * tol.eps as f64);
            let a = analytic.data()[j] as f64;
            let excess = (a - numeric).abs() - (tol.atol + tol.rtol * a.abs().max(numeric.abs()));
            if excess > worst.0 {
                worst = (excess, j, a, numeric);
            }
        }
        let (excess, j, a, numeric) = worst;
        assert!(
            excess <= 0.0,
            "input {i} {:?}, element {j}: analytic {a} vs numeric {numeric}",
            x.shape()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{apply, Op, OpKind, Saved};

    /// `y = x` with a backward that returns twice the true gradient.
    #[derive(Debug)]
    struct DoubledGradient;

    impl Op for DoubledGradient {
        fn kind(&self) -> OpKind {
            OpKind::Scale { factor: 1.0 }
        }

        fn forward(&self, xs: &[&Tensor], _: &mut Saved) -> Result<Tensor> {
            Ok(xs[0].detach())
        }

        fn backward(&self, gy: &Tensor, _: Saved, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
            let mut g = gy.clone();
            g.data_mut().iter_mut().for_each(|v| *v *= 2.0);
            Ok(vec![Some(g)])
        }
    }

    #[test]
    #[should_panic(expected = "analytic")]
    fn gradcheck_fails_on_a_wrong_backward() {
        gradcheck(
            |xs| apply(DoubledGradient, &[&xs[0]]),
            &[rand_tensor(&[3, 4], 1)],
            Tol::F32,
        );
    }
}
