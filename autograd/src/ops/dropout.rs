//! `dropout`: inverted dropout with a mask that is a pure function of `(seed, element index)`.
//!
//! Elements 2k and 2k+1 are decided by the k-th output of a SplitMix64 generator seeded with
//! `seed` (bits 40..64 and 8..32, each kept when at or above p·2²⁴). Because the mask can be
//! recomputed, backward rebuilds it instead of keeping a mask tensor alive between the passes.

use super::{apply, Op, OpKind, Saved};
use crate::{Result, Tensor};

/// Zeroes each element with probability `p` and scales the rest by 1/(1−p); the mask depends only
/// on `seed` and the element index. `p == 0` returns `x` itself; `p` must be in [0, 1].
pub fn dropout(x: &Tensor, p: f32, seed: u64) -> Result<Tensor> {
    if !(0.0..=1.0).contains(&p) {
        crate::bail_shape!("dropout", "probability {p} is not in [0, 1]");
    }
    if p == 0.0 {
        return Ok(x.clone());
    }
    apply(Dropout { p, seed }, &[x])
}

#[derive(Debug)]
struct Dropout {
    p: f32,
    seed: u64,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The `i`-th (0-based) output of SplitMix64 seeded with `seed`.
fn splitmix64(seed: u64, i: u64) -> u64 {
    let mut z = seed.wrapping_add(i.wrapping_add(1).wrapping_mul(GOLDEN));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Dropout {
    /// `out[i] = keep(i) ? v[i]/(1−p) : 0`.
    fn masked(&self, v: &Tensor) -> Tensor {
        let threshold = (f64::from(self.p) * f64::from(1u32 << 24)).round() as u64;
        let scale = 1.0 / (1.0 - self.p);
        let mut out = Tensor::uninit(v.shape());
        let pick = |v: f32, bits: u64| if bits >= threshold { v * scale } else { 0.0 };
        let (od, vd) = (out.data_mut(), v.data());
        let mut pairs = od.chunks_exact_mut(2).zip(vd.chunks_exact(2));
        for (i, (o, v)) in (0u64..).zip(&mut pairs) {
            let h = splitmix64(self.seed, i);
            o[0] = pick(v[0], h >> 40);
            o[1] = pick(v[1], (h >> 8) & 0xff_ffff);
        }
        if let (Some(o), Some(&v)) = (
            od.chunks_exact_mut(2).into_remainder().first_mut(),
            vd.last(),
        ) {
            *o = pick(v, splitmix64(self.seed, (vd.len() / 2) as u64) >> 40);
        }
        out
    }
}

impl Op for Dropout {
    fn kind(&self) -> OpKind {
        OpKind::Dropout {
            p: self.p,
            seed: self.seed,
        }
    }

    fn forward(&self, xs: &[&Tensor], _: &mut Saved) -> Result<Tensor> {
        Ok(self.masked(xs[0]))
    }

    fn backward(&self, gy: &Tensor, _: Saved, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![needs[0].then(|| self.masked(gy))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{gradcheck, rand_tensor, Tol};
    use crate::Error;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // First outputs of Vigna's splitmix64.c seeded with 1234567.
        assert_eq!(splitmix64(1234567, 0), 6457827717110365317);
        assert_eq!(splitmix64(1234567, 1), 3203168211198807973);
    }

    #[test]
    fn dropout_keeps_about_one_minus_p_scaled() {
        let x = Tensor::full(&[100, 100], 2.0);
        let y = dropout(&x, 0.3, 7).unwrap();
        let kept = y.data().iter().filter(|&&v| v != 0.0).count();
        assert!((6800..=7200).contains(&kept), "kept {kept} of 10000");
        assert!(y
            .data()
            .iter()
            .all(|&v| v == 0.0 || (v - 2.0 / 0.7).abs() < 1e-6));
        assert_eq!(dropout(&x, 0.3, 7).unwrap().data(), y.data());
        assert_ne!(dropout(&x, 0.3, 8).unwrap().data(), y.data());
        assert!(dropout(&x, 1.0, 7)
            .unwrap()
            .data()
            .iter()
            .all(|&v| v == 0.0));
        let same = dropout(&x, 0.0, 7).unwrap();
        assert!(same.shares_storage(&x));
    }

    #[test]
    fn dropout_gradient_uses_the_forward_mask() {
        // An odd count: the last element is decided outside the pairs.
        let x = rand_tensor(&[3, 7], 1);
        gradcheck(
            |xs| dropout(&xs[0], 0.5, 3),
            std::slice::from_ref(&x),
            Tol::F32,
        );
        let xt = x.detach().requires_grad();
        let y = dropout(&xt, 0.5, 3).unwrap();
        let g = y.backward_with(Tensor::full(&[3, 7], 1.0)).unwrap();
        for (&g, &y) in g.wrt(&xt).unwrap().data().iter().zip(y.data()) {
            assert_eq!(g, if y == 0.0 { 0.0 } else { 2.0 });
        }
    }

    #[test]
    fn dropout_rejects_bad_probabilities() {
        let x = rand_tensor(&[3], 1);
        for p in [-0.1, 1.5, f32::NAN] {
            assert!(matches!(
                dropout(&x, p, 0),
                Err(Error::BadShape { op: "dropout", .. })
            ));
        }
    }
}
