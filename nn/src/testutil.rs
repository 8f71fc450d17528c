//! A two-parameter model and gradient helpers for the optimizer, clipping and checkpoint tests.

use inkling_autograd::{Gradients, Param, Tensor};

use crate::module::join;
use crate::{Module, ParamRole};

/// Weight gradients of four steps for [`Tiny::small`].
pub(crate) const GW: [[f32; 4]; 4] = [
    [0.1, -0.2, 0.3, 0.0],
    [-0.05, 0.4, 0.3, 0.2],
    [0.2, 0.1, -0.3, -0.1],
    [0.7, -0.1, 0.0, 0.05],
];
/// Bias gradients of the same four steps.
pub(crate) const GB: [[f32; 2]; 4] = [[1.0, -1.0], [0.5, 0.0], [-2.0, 0.25], [0.1, 0.1]];

/// `fc.weight` (decayed), `fc.bias` (no decay) and `bn.running_mean` (a buffer).
pub(crate) struct Tiny {
    pub w: Param,
    pub b: Param,
    pub running: Param,
}

impl Tiny {
    pub fn new(w: &[usize], wv: &[f32], bv: &[f32]) -> Tiny {
        Tiny {
            w: Param::new(Tensor::from_slice(w, wv).expect("weight shape")),
            b: Param::new(Tensor::from_slice(&[bv.len()], bv).expect("bias shape")),
            running: Param::new(Tensor::from_slice(&[2], &[0.25, -0.75]).expect("buffer")),
        }
    }

    /// The 2×2 weight and 2-element bias most tests use.
    pub fn small() -> Tiny {
        Tiny::new(&[2, 2], &[0.5, -1.0, 2.0, 0.0], &[0.1, -0.2])
    }

    /// A copy with fresh parameter ids.
    pub fn duplicate(&self) -> Tiny {
        Tiny {
            w: self.w.duplicate(),
            b: self.b.duplicate(),
            running: self.running.duplicate(),
        }
    }

    /// Gradients for the weight and (optionally) the bias; the buffer gets one too, which must be
    /// ignored.
    pub fn grads(&self, gw: &[f32], gb: Option<&[f32]>) -> Gradients {
        let mut g = Gradients::default();
        let t = |p: &Param, v: &[f32]| Tensor::from_slice(p.value().shape(), v).expect("grad");
        g.insert_param(self.w.id(), t(&self.w, gw));
        if let Some(gb) = gb {
            g.insert_param(self.b.id(), t(&self.b, gb));
        }
        g.insert_param(self.running.id(), t(&self.running, &[1.0, 1.0]));
        g
    }

    pub fn w(&self) -> Vec<f32> {
        self.w.value().data().to_vec()
    }

    pub fn b(&self) -> Vec<f32> {
        self.b.value().data().to_vec()
    }
}

impl Module for Tiny {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param, ParamRole)) {
        f(&join(prefix, "fc.weight"), &self.w, ParamRole::Weight);
        f(&join(prefix, "fc.bias"), &self.b, ParamRole::NoDecay);
        f(
            &join(prefix, "bn.running_mean"),
            &self.running,
            ParamRole::Buffer,
        );
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param, ParamRole)) {
        f(&join(prefix, "fc.weight"), &mut self.w, ParamRole::Weight);
        f(&join(prefix, "fc.bias"), &mut self.b, ParamRole::NoDecay);
        f(
            &join(prefix, "bn.running_mean"),
            &mut self.running,
            ParamRole::Buffer,
        );
    }
}

/// Asserts `got` is within `rel` of `want`, relative to `max(|want|, 0.1)`, elementwise.
pub(crate) fn assert_close(got: &[f32], want: &[f64], rel: f64) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let tol = rel * w.abs().max(0.1);
        assert!(
            (f64::from(g) - w).abs() <= tol,
            "element {i}: got {g}, want {w} (tolerance {tol:e}); all: {got:?}"
        );
    }
}

/// A ViT config on 1×8×8 images (patch 4, so 4 patches and a class token), 3 classes, no dropout.
pub(crate) fn tiny_vit(
    width: usize,
    depth: usize,
    heads: usize,
    mlp_dim: usize,
) -> crate::models::VitConfig {
    crate::models::VitConfig {
        image_size: 8,
        in_chans: 1,
        patch: 4,
        width,
        depth,
        heads,
        mlp_dim,
        classes: 3,
        dropout: 0.0,
        qkv_bias: true,
    }
}
