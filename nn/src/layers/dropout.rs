//! `Dropout` with a mask seeded from the step seed and a per-layer salt, so a run is reproducible
//! and every layer draws its own mask.

use inkling_autograd::{ops, Result, Tensor};

use crate::{Ctx, Error};

/// Inverted dropout: zeroes elements with probability `p` and scales the rest by 1/(1 − p) in
/// training; the identity in evaluation or when `p` is 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    /// Drop probability in [0, 1).
    pub p: f32,
    /// Distinguishes this layer's mask from other layers' in the same step.
    pub salt: u64,
}

/// SplitMix64's finaliser: a bijective mix whose outputs for nearby inputs are unrelated.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Dropout {
    /// Errors unless 0 ≤ p < 1.
    pub fn new(p: f32, salt: u64) -> crate::Result<Dropout> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::Config {
                what: format!("dropout probability {p} is not in [0, 1)"),
            });
        }
        Ok(Dropout { p, salt })
    }

    /// The mask seed for a step: a function of the step seed and the salt only.
    pub fn seed(&self, step_seed: u64) -> u64 {
        mix64(step_seed ^ mix64(self.salt))
    }

    /// Drops elements in training; returns `x` itself otherwise.
    /// Whether `forward` returns its input unchanged under `ctx` (evaluation, or p = 0).
    pub fn is_identity(&self, ctx: &Ctx) -> bool {
        !ctx.training || self.p == 0.0
    }

    /// Inverted dropout in training; identity otherwise.
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        if self.is_identity(ctx) {
            return Ok(x.clone());
        }
        ops::dropout(x, self.p, self.seed(ctx.seed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inkling_autograd::gradcheck::rand_tensor;

    fn mask(y: &Tensor) -> Vec<bool> {
        y.data().iter().map(|&v| v == 0.0).collect()
    }

    #[test]
    fn dropout_is_deterministic_per_seed_and_salt() {
        let x = rand_tensor(&[4, 64], 1);
        let d = Dropout::new(0.5, 3).unwrap();
        let a = d.forward(&x, &Ctx::train(7)).unwrap();
        let b = d.forward(&x, &Ctx::train(7)).unwrap();
        assert_eq!(a.data(), b.data());
        let c = d.forward(&x, &Ctx::train(8)).unwrap();
        assert_ne!(mask(&a), mask(&c));
        let e = Dropout::new(0.5, 4)
            .unwrap()
            .forward(&x, &Ctx::train(7))
            .unwrap();
        assert_ne!(mask(&a), mask(&e));
        // Kept elements are scaled by 1/(1 − p); about half are dropped.
        let dropped = mask(&a).iter().filter(|&&m| m).count();
        assert!((64..192).contains(&dropped), "{dropped} of 256 dropped");
        for (&y, &x) in a.data().iter().zip(x.data()) {
            assert!(y == 0.0 || (y - 2.0 * x).abs() < 1e-6);
        }
    }

    #[test]
    fn dropout_identity_in_eval_and_at_zero() {
        let x = rand_tensor(&[3, 5], 2);
        let d = Dropout::new(0.3, 1).unwrap();
        assert_eq!(d.forward(&x, &Ctx::eval()).unwrap().data(), x.data());
        let z = Dropout::new(0.0, 1).unwrap();
        assert_eq!(z.forward(&x, &Ctx::train(5)).unwrap().data(), x.data());
    }

    #[test]
    fn dropout_rejects_bad_p() {
        for p in [-0.1, 1.0, f32::NAN] {
            assert!(matches!(Dropout::new(p, 0), Err(Error::Config { .. })));
        }
    }
}
