//! `PatchEmbed`: non-overlapping patches to tokens, a convolution with kernel = stride = patch,
//! then `[B, D, gh, gw]` → `[B, N, D]` (as timm's `PatchEmbed` with `flatten=True`).

use inkling_autograd::ops::{self, Conv2dSpec};
use inkling_autograd::{Param, Result, Tensor};
use rand::Rng;

use super::{init, Conv2d};
use crate::module::join;
use crate::{Error, Module, ParamRole};

/// Image `[B, C, H, W]` to patch tokens `[B, (H/p)·(W/p), D]`, named `proj.weight`/`proj.bias`.
#[derive(Debug)]
pub struct PatchEmbed {
    /// Convolution D × C × p × p, stride p.
    pub proj: Conv2d,
    /// Patch side p.
    pub patch: usize,
}

impl PatchEmbed {
    /// The projection initialised like a linear layer on the flattened patch: xavier-uniform on
    /// the weight viewed as `[D, C·p·p]` (as MAE and timm's flexible variants do), zero bias.
    /// Errors when a size is zero.
    pub fn new(
        in_chans: usize,
        dim: usize,
        patch: usize,
        rng: &mut impl Rng,
    ) -> crate::Result<PatchEmbed> {
        if patch == 0 || in_chans == 0 || dim == 0 {
            return Err(Error::Config {
                what: format!("patch embedding: patch {patch}, {in_chans} channels, width {dim} must be nonzero"),
            });
        }
        let spec = Conv2dSpec {
            stride: (patch, patch),
            padding: (0, 0),
            groups: 1,
        };
        let mut proj = Conv2d::new(in_chans, dim, (patch, patch), spec, true, rng)?;
        let fan_in = in_chans * patch * patch;
        *proj.weight.value_mut() =
            init::xavier_uniform(&[dim, in_chans, patch, patch], fan_in, dim, rng);
        if let Some(b) = &mut proj.bias {
            *b.value_mut() = Tensor::zeros(&[dim]);
        }
        Ok(PatchEmbed { proj, patch })
    }

    /// `[B, C, H, W]` → `[B, N, D]`, patches in row-major order.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.proj.forward(x)?;
        let &[b, d, gh, gw] = y.shape() else {
            inkling_autograd::bail_shape!(
                "patch_embed",
                "conv output {:?} is not rank 4",
                y.shape()
            );
        };
        let y = ops::reshape(&y, &[b, d, gh * gw])?;
        ops::transpose(&y, 1, 2)
    }
}

impl Module for PatchEmbed {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param, ParamRole)) {
        self.proj.visit(&join(prefix, "proj"), f);
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param, ParamRole)) {
        self.proj.visit_mut(&join(prefix, "proj"), f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testutil::{all_equal, check_grads};
    use inkling_autograd::gradcheck::{rand_tensor, Tol};
    use rand::SeedableRng;

    fn layer() -> PatchEmbed {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut pe = PatchEmbed::new(2, 3, 2, &mut rng).unwrap();
        *pe.proj.bias.as_mut().unwrap().value_mut() = rand_tensor(&[3], 2);
        pe
    }

    #[test]
    fn patch_embed_matches_naive() {
        let pe = layer();
        // 4×6 image, patch 2: a 2×3 grid of patches.
        let x = rand_tensor(&[2, 2, 4, 6], 3);
        let y = pe.forward(&x).unwrap();
        assert_eq!(y.shape(), [2, 6, 3]);
        let (w, bias) = (
            pe.proj.weight.value().data(),
            pe.proj.bias.as_ref().unwrap().value().data(),
        );
        for b in 0..2 {
            for n in 0..6 {
                let (gy, gx) = (n / 3, n % 3);
                for d in 0..3 {
                    let mut s = bias[d] as f64;
                    for c in 0..2 {
                        for i in 0..2 {
                            for j in 0..2 {
                                let xv = x.data()[((b * 2 + c) * 4 + gy * 2 + i) * 6 + gx * 2 + j];
                                s += xv as f64 * w[((d * 2 + c) * 2 + i) * 2 + j] as f64;
                            }
                        }
                    }
                    approx::assert_abs_diff_eq!(
                        y.data()[(b * 6 + n) * 3 + d] as f64,
                        s,
                        epsilon = 1e-5
                    );
                }
            }
        }
    }

    #[test]
    fn patch_embed_init_is_xavier_with_zero_bias() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let pe = PatchEmbed::new(1, 192, 4, &mut rng).unwrap();
        let bound = (6.0f32 / (16.0 + 192.0)).sqrt();
        let w = pe.proj.weight.value();
        assert_eq!(w.shape(), [192, 1, 4, 4]);
        assert!(w.data().iter().all(|v| v.abs() <= bound));
        assert!(w.data().iter().any(|v| v.abs() > 0.9 * bound));
        assert!(all_equal(pe.proj.bias.as_ref(), 0.0));
    }

    #[test]
    fn gradcheck_patch_embed() {
        let mut pe = layer();
        let x = rand_tensor(&[2, 2, 4, 2], 5);
        assert_eq!(
            check_grads(&mut pe, &x, true, Tol::F32, |_| true, |l, x| l.forward(x)),
            2
        );
    }
}
