//! The `Module` trait: named parameter traversal (for optimizers, checkpoints, counting) and the
//! forward-pass context.

use inkling_autograd::{Param, Result, Tensor};

/// How the training loop treats a parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamRole {
    /// Trained with weight decay (linear and conv weights).
    Weight,
    /// Trained without weight decay (biases, norm scales/shifts, class token, position embedding).
    NoDecay,
    /// Not trained, but saved (batch-norm running statistics).
    Buffer,
}

/// A layer or model whose parameters can be visited by name.
///
/// Names are dotted paths in timm/PyTorch style (`blocks.3.attn.qkv.weight`) so that checkpoints open
/// in PyTorch with familiar keys. `visit` and `visit_mut` visit the same names in the same order.
pub trait Module {
    /// Calls `f(name, param, role)` for every parameter and buffer, names prefixed by `prefix`.
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param, ParamRole));
    /// Like `visit`, with mutable access (optimizer steps, loading).
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param, ParamRole));
}

/// Joins a prefix and a name with a dot (no dot when the prefix is empty).
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Number of trainable scalars (roles `Weight` and `NoDecay`).
pub fn num_trainable(m: &dyn Module) -> usize {
    let mut n = 0;
    m.visit("", &mut |_, p, role| {
        if role != ParamRole::Buffer {
            n += p.value().numel();
        }
    });
    n
}

/// What a forward pass needs beyond its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ctx {
    /// Training mode: dropout active, batch norm uses and updates batch statistics.
    pub training: bool,
    /// Seed of this step's randomness (dropout masks); layers derive their own from it.
    pub seed: u64,
}

impl Ctx {
    /// Evaluation mode.
    pub fn eval() -> Ctx {
        Ctx {
            training: false,
            seed: 0,
        }
    }

    /// Training mode with a step seed.
    pub fn train(seed: u64) -> Ctx {
        Ctx {
            training: true,
            seed,
        }
    }
}

/// A classifier: images `[N, C, H, W]` to logits `[N, classes]`.
pub trait Model: Module {
    /// Logits for a batch of images.
    fn forward(&mut self, x: &Tensor, ctx: &Ctx) -> Result<Tensor>;
    /// The architecture name and config as JSON (stored in checkpoints, checked on load).
    fn config_json(&self) -> String;
    /// The input one image must have: `[channels, height, width]`.
    fn input_shape(&self) -> [usize; 3];
}
