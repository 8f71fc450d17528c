//! `TransformerBlock`: a pre-norm encoder block, `x + attn(norm1(x))` then `x + mlp(norm2(x))`.

use inkling_autograd::{Param, Result, Tensor};
use rand::Rng;

use super::{Dropout, LayerNorm, Mlp, MultiHeadSelfAttention};
use crate::module::join;
use crate::{Ctx, Module, ParamRole};

/// Shape of a transformer block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockSpec {
    /// Token width D.
    pub dim: usize,
    /// Attention heads (divide D).
    pub heads: usize,
    /// MLP hidden width.
    pub mlp_dim: usize,
    /// Bias on the qkv projection.
    pub qkv_bias: bool,
    /// Dropout after the attention projection and in the MLP.
    pub dropout: f32,
    /// LayerNorm epsilon (timm's ViT: 1e-6).
    pub eps: f32,
}

/// One pre-norm transformer encoder block, named like timm's `Block`.
#[derive(Debug)]
pub struct TransformerBlock {
    /// Before attention.
    pub norm1: LayerNorm,
    /// Self-attention.
    pub attn: MultiHeadSelfAttention,
    /// Before the MLP.
    pub norm2: LayerNorm,
    /// Feed-forward.
    pub mlp: Mlp,
}

impl TransformerBlock {
    /// timm's initialisation; dropouts use salts `salt..salt + 3`.
    pub fn new(spec: &BlockSpec, salt: u64, rng: &mut impl Rng) -> crate::Result<TransformerBlock> {
        let proj_drop = Dropout::new(spec.dropout, salt)?;
        Ok(TransformerBlock {
            norm1: LayerNorm::new(spec.dim, spec.eps),
            attn: MultiHeadSelfAttention::new(spec.dim, spec.heads, spec.qkv_bias, proj_drop, rng)?,
            norm2: LayerNorm::new(spec.dim, spec.eps),
            mlp: Mlp::new(
                spec.dim,
                spec.mlp_dim,
                spec.dropout,
                salt.wrapping_add(1),
                rng,
            )?,
        })
    }

    /// `[B, T, D]` → `[B, T, D]`.
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let x = self
            .attn
            .forward_residual(&self.norm1.forward(x)?, x, ctx)?;
        self.mlp.forward_residual(&self.norm2.forward(&x)?, &x, ctx)
    }
}

impl Module for TransformerBlock {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param, ParamRole)) {
        self.norm1.visit(&join(prefix, "norm1"), f);
        self.attn.visit(&join(prefix, "attn"), f);
        self.norm2.visit(&join(prefix, "norm2"), f);
        self.mlp.visit(&join(prefix, "mlp"), f);
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param, ParamRole)) {
        self.norm1.visit_mut(&join(prefix, "norm1"), f);
        self.attn.visit_mut(&join(prefix, "attn"), f);
        self.norm2.visit_mut(&join(prefix, "norm2"), f);
        self.mlp.visit_mut(&join(prefix, "mlp"), f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testutil::{check_grads, names_and_roles, BLOCK_PARAMS};
    use inkling_autograd::gradcheck::{rand_tensor, Tol};
    use rand::SeedableRng;

    fn spec(dropout: f32) -> BlockSpec {
        BlockSpec {
            dim: 4,
            heads: 2,
            mlp_dim: 6,
            qkv_bias: true,
            dropout,
            eps: 1e-6,
        }
    }

    #[test]
    fn block_is_two_residual_branches() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let blk = TransformerBlock::new(&spec(0.0), 0, &mut rng).unwrap();
        let x = rand_tensor(&[2, 3, 4], 2);
        let ctx = Ctx::eval();
        let y = blk.forward(&x, &ctx).unwrap();
        let h: Vec<f32> = {
            let a = blk
                .attn
                .forward(&blk.norm1.forward(&x).unwrap(), &ctx)
                .unwrap();
            x.data().iter().zip(a.data()).map(|(p, q)| p + q).collect()
        };
        let h = Tensor::new(&[2, 3, 4], h).unwrap();
        let m = blk
            .mlp
            .forward(&blk.norm2.forward(&h).unwrap(), &ctx)
            .unwrap();
        // The MLP is fc2(gelu(fc1)): check it against the layers taken apart too.
        let fc1 = blk
            .mlp
            .fc1
            .forward(&blk.norm2.forward(&h).unwrap())
            .unwrap();
        assert_eq!(blk.mlp.fc2.forward(&fc1).unwrap().data(), m.data());
        for ((y, h), m) in y.data().iter().zip(h.data()).zip(m.data()) {
            approx::assert_abs_diff_eq!(*y, h + m, epsilon = 1e-6);
        }
        assert_eq!(blk.mlp.fc1.activation, inkling_autograd::Activation::Gelu);
        let want: Vec<String> = BLOCK_PARAMS
            .iter()
            .map(|p| format!("blocks.0.{p}"))
            .collect();
        assert_eq!(names_and_roles(&blk, "blocks.0"), want);
    }

    #[test]
    fn gradcheck_block() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut blk = TransformerBlock::new(&spec(0.0), 0, &mut rng).unwrap();
        let mut s = 10;
        blk.visit_mut("", &mut |_, p, _| {
            s += 1;
            *p.value_mut() = rand_tensor(p.value().shape(), s);
        });
        let x = rand_tensor(&[1, 3, 4], 4);
        let n = check_grads(
            &mut blk,
            &x,
            true,
            Tol::F32,
            |_| true,
            |l, x| l.forward(x, &Ctx::eval()),
        );
        assert_eq!(n, 12);
    }

    #[test]
    fn dropout_in_block_is_seeded() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let blk = TransformerBlock::new(&spec(0.5), 0, &mut rng).unwrap();
        let x = rand_tensor(&[2, 3, 4], 2);
        let a = blk.forward(&x, &Ctx::train(1)).unwrap();
        assert_eq!(a.data(), blk.forward(&x, &Ctx::train(1)).unwrap().data());
        assert_ne!(a.data(), blk.forward(&x, &Ctx::train(2)).unwrap().data());
        assert_ne!(a.data(), blk.forward(&x, &Ctx::eval()).unwrap().data());
    }
}
