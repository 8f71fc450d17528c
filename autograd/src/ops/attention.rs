//! `attention`: the fused multi-head self-attention core, `softmax(q·kᵀ/√dh)·v` per head.
//!
//! The GEMMs read q, k and v in place from the `[B, T, 3D]` projection (leading dimension 3D) and
//! write each head's output at its column offset of `[B, T, D]`, so no head is ever permuted into a
//! buffer of its own. Batch items run in parallel; each writes only its own rows of the output (and
//! of the gradient), so results do not depend on the thread count. The probabilities are saved for
//! backward; without recording, one `T×T` scratch per thread holds them instead.

use inkling_kernels::gemm::{self, Epilogue, GemmParams};
use inkling_kernels::rows::{self, Rows};
use rayon::prelude::*;

use super::{apply, par, Op, OpKind, Saved};
use crate::{Result, Tensor};

/// Multi-head self-attention of `qkv` `[B, T, 3D]` laid out q | k | v along the last axis (PyTorch's
/// `in_proj` order); head h uses columns `h·dh..(h+1)·dh` of each, `dh = D/heads`. Returns the heads'
/// outputs concatenated: `[B, T, D]`.
pub fn attention(qkv: &Tensor, heads: usize) -> Result<Tensor> {
    apply(Attention { heads }, &[qkv])
}

#[derive(Debug)]
struct Attention {
    heads: usize,
}

const OP: &str = "attention";

/// Batch, tokens, model width D and head width dh.
#[derive(Clone, Copy, Debug)]
struct Dims {
    b: usize,
    t: usize,
    d: usize,
    dh: usize,
}

impl Dims {
    /// Row stride of the qkv buffer.
    fn ld(&self) -> usize {
        3 * self.d
    }

    /// `1/√dh`.
    fn scale(&self) -> f32 {
        1.0 / (self.dh as f32).sqrt()
    }
}

impl Attention {
    fn dims(&self, qkv: &Tensor) -> Result<Dims> {
        let heads = self.heads;
        let &[b, t, w] = qkv.shape() else {
            crate::bail_shape!(OP, "needs qkv [B, T, 3D], got {:?}", qkv.shape());
        };
        if heads == 0 || w == 0 || w % (3 * heads) != 0 {
            crate::bail_shape!(
                OP,
                "the last axis of {:?} must be 3·D with D > 0 a multiple of heads ({heads})",
                qkv.shape()
            );
        }
        let d = w / 3;
        Ok(Dims {
            b,
            t,
            d,
            dh: d / heads,
        })
    }

    /// Forward of batch item `xb` (`[T, 3D]`) into `yb` (`[T, D]`); head h's probabilities go to
    /// `probs[h·stride..]` (stride 0: one scratch reused by every head).
    fn forward_item(
        &self,
        z: Dims,
        xb: &[f32],
        yb: &mut [f32],
        probs: &mut [f32],
        stride: usize,
    ) -> Result<()> {
        let ks = inkling_kernels::kernels();
        let none = Epilogue::default();
        let (t, d, dh, ld) = (z.t, z.d, z.dh, z.ld());
        for h in 0..self.heads {
            let p = &mut probs[h * stride..h * stride + t * t];
            let (q, k, v) = (&xb[h * dh..], &xb[d + h * dh..], &xb[2 * d + h * dh..]);
            let qk = GemmParams::new(t, t, dh)
                .trans_b()
                .ld(ld, ld, t)
                .scale(z.scale(), 0.0);
            gemm::sgemm(ks, &qk, q, k, p, &none)?;
            rows::softmax(ks, Rows::new(t, t), p)?;
            let pv = GemmParams::new(t, dh, t).ld(t, ld, d);
            gemm::sgemm(ks, &pv, p, v, &mut yb[h * dh..], &none)?;
        }
        Ok(())
    }

    /// Backward of batch item: qkv rows `xb`, probabilities `pb` (`[heads, T, T]`), output gradient
    /// `gb` (`[T, D]`) into `db` (`[T, 3D]`, every element written once); `dp` is `T×T` scratch.
    fn backward_item(
        &self,
        z: Dims,
        xb: &[f32],
        pb: &[f32],
        gb: &[f32],
        db: &mut [f32],
        dp: &mut [f32],
    ) -> Result<()> {
        let ks = inkling_kernels::kernels();
        let none = Epilogue::default();
        let (t, d, dh, ld) = (z.t, z.d, z.dh, z.ld());
        for h in 0..self.heads {
            let p = &pb[h * t * t..(h + 1) * t * t];
            let (q, k, v) = (&xb[h * dh..], &xb[d + h * dh..], &xb[2 * d + h * dh..]);
            let go = &gb[h * dh..];
            // dP = dO·vᵀ, then dS = softmax′(dP) (the 1/√dh of S is applied in the two GEMMs below).
            let p_dp = GemmParams::new(t, t, dh).trans_b().ld(d, ld, t);
            gemm::sgemm(ks, &p_dp, go, v, dp, &none)?;
            rows::softmax_backward(ks, Rows::new(t, t), p, dp)?;
            // dq = dS·k/√dh, dk = dSᵀ·q/√dh, dv = Pᵀ·dO.
            let p_dq = GemmParams::new(t, dh, t)
                .ld(t, ld, ld)
                .scale(z.scale(), 0.0);
            gemm::sgemm(ks, &p_dq, dp, k, &mut db[h * dh..], &none)?;
            let p_dk = GemmParams::new(t, dh, t)
                .trans_a()
                .ld(t, ld, ld)
                .scale(z.scale(), 0.0);
            gemm::sgemm(ks, &p_dk, dp, q, &mut db[d + h * dh..], &none)?;
            let p_dv = GemmParams::new(t, dh, t).trans_a().ld(t, d, ld);
            gemm::sgemm(ks, &p_dv, p, go, &mut db[2 * d + h * dh..], &none)?;
        }
        Ok(())
    }
}

impl Op for Attention {
    fn kind(&self) -> OpKind {
        OpKind::Attention { heads: self.heads }
    }

    fn forward(&self, xs: &[&Tensor], save: &mut Saved) -> Result<Tensor> {
        let qkv = xs[0];
        let z = self.dims(qkv)?;
        let (t, d) = (z.t, z.d);
        let mut y = Tensor::uninit(&[z.b, t, d]);
        if z.b * t == 0 {
            return Ok(y);
        }
        let x = qkv.data();
        let item = |bi: usize| &x[bi * t * z.ld()..(bi + 1) * t * z.ld()];
        if save.recording() {
            let mut probs = Tensor::uninit(&[z.b, self.heads, t, t]);
            par::install(|| {
                y.data_mut()
                    .par_chunks_mut(t * d)
                    .zip(probs.data_mut().par_chunks_mut(self.heads * t * t))
                    .enumerate()
                    .try_for_each(|(bi, (yb, pb))| self.forward_item(z, item(bi), yb, pb, t * t))
            })?;
            save.push(qkv);
            save.push(&probs);
        } else {
            par::install(|| {
                y.data_mut()
                    .par_chunks_mut(t * d)
                    .enumerate()
                    .try_for_each(|(bi, yb)| {
                        par::with_scratch(t * t, |p| self.forward_item(z, item(bi), yb, p, 0))
                    })
            })?;
        }
        Ok(y)
    }

    fn backward(&self, gy: &Tensor, saved: Saved, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if !needs[0] {
            return Ok(vec![None]);
        }
        let mut s = saved.into_vec().into_iter();
        let (qkv, probs) = (s.next().expect("saved qkv"), s.next().expect("saved probs"));
        let z = self.dims(&qkv)?;
        let (t, d, ld) = (z.t, z.d, z.ld());
        let mut dqkv = Tensor::uninit(qkv.shape());
        if z.b * t == 0 {
            return Ok(vec![Some(dqkv)]);
        }
        let (x, p, g) = (qkv.data(), probs.data(), gy.data());
        let hp = self.heads * t * t;
        par::install(|| {
            dqkv.data_mut()
                .par_chunks_mut(t * ld)
                .enumerate()
                .try_for_each(|(bi, db)| {
                    let xb = &x[bi * t * ld..(bi + 1) * t * ld];
                    let pb = &p[bi * hp..(bi + 1) * hp];
                    let gb = &g[bi * t * d..(bi + 1) * t * d];
                    par::with_scratch(t * t, |dp| self.backward_item(z, xb, pb, gb, db, dp))
                })
        })?;
        Ok(vec![Some(dqkv)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{gradcheck, rand_tensor, Tol};
    use crate::{no_grad, Error};

    /// Unfused attention in f64: split heads, scores, softmax, weighted sum, concatenate.
    fn naive(qkv: &Tensor, heads: usize) -> Vec<f32> {
        let &[b, t, w] = qkv.shape() else { panic!() };
        let d = w / 3;
        let dh = d / heads;
        let at = |bi: usize, ti: usize, c: usize| qkv.data()[(bi * t + ti) * w + c] as f64;
        let mut y = vec![0.0; b * t * d];
        for bi in 0..b {
            for h in 0..heads {
                for i in 0..t {
                    let scores: Vec<f64> = (0..t)
                        .map(|j| {
                            (0..dh)
                                .map(|c| at(bi, i, h * dh + c) * at(bi, j, d + h * dh + c))
                                .sum::<f64>()
                                / (dh as f64).sqrt()
                        })
                        .collect();
                    let mx = scores.iter().cloned().fold(f64::MIN, f64::max);
                    let e: Vec<f64> = scores.iter().map(|s| (s - mx).exp()).collect();
                    let z: f64 = e.iter().sum();
                    for c in 0..dh {
                        let o: f64 = (0..t)
                            .map(|j| e[j] / z * at(bi, j, 2 * d + h * dh + c))
                            .sum();
                        y[(bi * t + i) * d + h * dh + c] = o as f32;
                    }
                }
            }
        }
        y
    }

    #[test]
    fn attention_matches_unfused_naive() {
        for (b, t, d, heads) in [(2, 5, 6, 2), (1, 4, 6, 1), (3, 3, 6, 3), (2, 7, 8, 2)] {
            let qkv = rand_tensor(&[b, t, 3 * d], 120 + heads as u64);
            let want = naive(&qkv, heads);
            // Recorded (probabilities saved) and unrecorded (scratch) forwards agree with it.
            let tracked = qkv.detach().requires_grad();
            let y = attention(&tracked, heads).unwrap();
            let y_inf = no_grad(|| attention(&qkv, heads)).unwrap();
            assert_eq!(y.shape(), [b, t, d]);
            assert_eq!(y.data(), y_inf.data());
            for (a, e) in y.data().iter().zip(&want) {
                approx::assert_abs_diff_eq!(*a, *e, epsilon = 1e-5);
            }
        }
    }

    #[test]
    fn gradcheck_attention() {
        for heads in [1, 2] {
            gradcheck(
                |xs| attention(&xs[0], heads),
                &[rand_tensor(&[2, 5, 18], 130)],
                Tol::F32,
            );
        }
    }

    #[test]
    fn attention_rejects_bad_shapes() {
        let bad = |shape: &[usize], heads: usize| {
            let r = attention(&Tensor::zeros(shape), heads);
            assert!(
                matches!(r, Err(Error::BadShape { op: OP, .. })),
                "{shape:?}/{heads}: {r:?}"
            );
        };
        bad(&[2, 5, 18], 4); // heads do not divide D = 6
        bad(&[2, 5, 17], 1); // not 3·D
        bad(&[2, 5, 18], 0);
        bad(&[10, 18], 2);
    }
}
