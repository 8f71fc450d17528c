//! `Mlp`: the transformer feed-forward block, `fc1` with GELU fused into its GEMM, then `fc2`.

use inkling_autograd::ops::Activation;
use inkling_autograd::{ops, Param, Result, Tensor};
use rand::Rng;

use super::{Dropout, Linear};
use crate::module::join;
use crate::{Ctx, Module, ParamRole};

/// `fc2(drop(gelu(fc1(x))))` followed by dropout, named like timm's `Mlp`.
#[derive(Debug)]
pub struct Mlp {
    /// D → hidden, GELU fused.
    pub fc1: Linear,
    /// hidden → D.
    pub fc2: Linear,
    /// After the activation.
    pub drop1: Dropout,
    /// After `fc2`.
    pub drop2: Dropout,
}

impl Mlp {
    /// timm's initialisation; the two dropouts use salts `salt` and `salt + 1`.
    pub fn new(
        dim: usize,
        hidden: usize,
        p: f32,
        salt: u64,
        rng: &mut impl Rng,
    ) -> crate::Result<Mlp> {
        Ok(Mlp {
            fc1: Linear::new(dim, hidden, true, rng).with_activation(Activation::Gelu),
            fc2: Linear::new(hidden, dim, true, rng),
            drop1: Dropout::new(p, salt)?,
            drop2: Dropout::new(p, salt.wrapping_add(1))?,
        })
    }

    /// `[.., D]` → `[.., D]`.
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let h = self.drop1.forward(&self.fc1.forward(x)?, ctx)?;
        self.drop2.forward(&self.fc2.forward(&h)?, ctx)
    }

    /// `residual + forward(x)`; without dropout the add happens in fc2's GEMM.
    pub fn forward_residual(&self, x: &Tensor, residual: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        if !self.drop2.is_identity(ctx) {
            return ops::add(residual, &self.forward(x, ctx)?);
        }
        let h = self.drop1.forward(&self.fc1.forward(x)?, ctx)?;
        self.fc2.forward_residual(&h, residual)
    }
}

impl Module for Mlp {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param, ParamRole)) {
        self.fc1.visit(&join(prefix, "fc1"), f);
        self.fc2.visit(&join(prefix, "fc2"), f);
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param, ParamRole)) {
        self.fc1.visit_mut(&join(prefix, "fc1"), f);
        self.fc2.visit_mut(&join(prefix, "fc2"), f);
    }
}
