//! Differentiable ops: the [`Op`] trait, the public [`OpKind`] enum the tracer reads, and [`apply`].
//!
//! One op per file, forward and backward side by side, with its gradient check in the same file.

use std::time::Instant;

use crate::{profile, tape, Result, Tensor};

mod binary;
mod broadcast;
mod concat;
mod dropout;
mod fake_quant;
mod fake_quant_lsq;
mod gather;
mod linear;
mod permute;
mod reduce;
mod reshape;
mod slice;
mod unary;

pub use binary::{add, div, mul, sub};
pub use concat::concat;
pub use dropout::dropout;
pub use fake_quant::{fake_quant, FakeQuant};
pub use fake_quant_lsq::{fake_quant_lsq, Lsq};
pub use gather::gather_rows;
pub use linear::{linear, linear_residual};
pub use permute::{permute, transpose};
pub use reduce::{mean, mean_all, sum, sum_all};
pub use reshape::reshape;
pub use slice::slice;
pub use unary::{add_scalar, gelu, hard_sigmoid, hard_swish, relu, rsqrt, scale, sigmoid, silu};

mod attention;
mod batch_norm;
mod conv2d;
mod cross_entropy;
mod depthwise_conv2d;
mod kd_loss;
mod layer_norm;
mod matmul;
mod par;
mod softmax;

pub use attention::attention;
pub use batch_norm::{batch_norm_eval, batch_norm_train};
pub use conv2d::{conv2d, Conv2dSpec};
pub use cross_entropy::cross_entropy;
pub use depthwise_conv2d::depthwise_conv2d;
pub use kd_loss::kd_loss;
pub use layer_norm::layer_norm;
pub use matmul::matmul;
pub use softmax::{log_softmax, softmax};

/// The activation a fused op applies to its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Activation {
    /// Identity.
    #[default]
    None,
    /// max(x, 0).
    Relu,
    /// GELU, exact erf form.
    Gelu,
}

/// What an op node computes, with its attributes. The quantization issue's tracer turns a tape of
/// these into its graph; exporters map each to runtime ops.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum OpKind {
    /// `y = act(x·Wᵀ + b)`, x `[.., in]`, W `[out, in]`, b `[out]` (optional).
    Linear {
        /// Fused activation.
        activation: Activation,
        /// Whether a bias input is present.
        bias: bool,
        /// Whether a residual input (same shape as y, the last input) is added after the activation.
        residual: bool,
    },
    /// `a + b`, numpy broadcasting.
    Add,
    /// `a − b`, numpy broadcasting.
    Sub,
    /// `a · b` elementwise, numpy broadcasting.
    Mul,
    /// `a / b` elementwise, numpy broadcasting.
    Div,
    /// `factor · x`.
    Scale {
        /// The multiplier.
        factor: f32,
    },
    /// `x + value`.
    AddScalar {
        /// The addend.
        value: f32,
    },
    /// `max(x, 0)`.
    Relu,
    /// GELU, exact erf form.
    Gelu,
    /// `x·relu6(x + 3)/6`.
    HardSwish,
    /// `relu6(x + 3)/6`.
    HardSigmoid,
    /// `x·σ(x)`.
    Silu,
    /// `σ(x)`.
    Sigmoid,
    /// `1/√x`.
    Rsqrt,
    /// The same elements (row-major order) with another shape.
    Reshape {
        /// The output shape.
        shape: Vec<usize>,
    },
    /// Output axis `i` is input axis `perm[i]` (transpose is a permutation swapping two axes).
    Permute {
        /// The permutation.
        perm: Vec<usize>,
    },
    /// Inputs joined along `axis`.
    Concat {
        /// The joined axis.
        axis: usize,
    },
    /// Elements `start..end` of `axis`.
    Slice {
        /// The sliced axis.
        axis: usize,
        /// First index kept.
        start: usize,
        /// One past the last index kept.
        end: usize,
    },
    /// Σ over `axes` (sorted); `[]` output shape when every axis is reduced without `keepdim`.
    Sum {
        /// The reduced axes, ascending.
        axes: Vec<usize>,
        /// Whether reduced axes stay as size 1.
        keepdim: bool,
    },
    /// Mean over `axes` (sorted).
    Mean {
        /// The reduced axes, ascending.
        axes: Vec<usize>,
        /// Whether reduced axes stay as size 1.
        keepdim: bool,
    },
    /// Inverted dropout: zero with probability `p`, scale the rest by 1/(1−p); the mask is a
    /// function of `seed` and the element index. (Not recorded when `p == 0`.)
    Dropout {
        /// Drop probability.
        p: f32,
        /// Mask seed.
        seed: u64,
    },
    /// Rows `indices` of a `[n, d]` table.
    GatherRows {
        /// The gathered row indices.
        indices: Vec<usize>,
    },
    /// Affine quantize-dequantize with a straight-through gradient.
    FakeQuant(FakeQuant),
    /// Per-tensor quantize-dequantize with a learned scale (LSQ); inputs x and the scale `[1]`.
    FakeQuantLsq(Lsq),
    /// `op(a)·op(b)` over the last two axes; a `[.., m, k]`, b `[.., k, n]` or rank 2 (shared
    /// across the batch); a flag means that operand is stored transposed.
    Matmul {
        /// a is stored `[.., k, m]`.
        trans_a: bool,
        /// b is stored `[.., n, k]`.
        trans_b: bool,
    },
    /// Softmax over the last axis.
    Softmax,
    /// Log-softmax over the last axis.
    LogSoftmax,
    /// Layer norm over the last axis; inputs x, γ, β.
    LayerNorm {
        /// Added to the variance.
        eps: f32,
    },
    /// Batch norm over axis 1 of `[N, C, ..]`. Training: inputs x, γ, β, normalised by the batch
    /// statistics; evaluation: inputs x, γ, β, running mean, running variance.
    BatchNorm {
        /// Added to the variance.
        eps: f32,
        /// Batch statistics (true) or running statistics (false).
        training: bool,
    },
    /// 2-D convolution (cross-correlation), NCHW; inputs x `[N, C, H, W]`, W
    /// `[O, C/groups, kh, kw]`, bias `[O]` if present.
    Conv2d {
        /// (kh, kw).
        kernel: (usize, usize),
        /// (vertical, horizontal).
        stride: (usize, usize),
        /// Zero padding (rows on top and bottom, columns on left and right).
        padding: (usize, usize),
        /// Channel groups.
        groups: usize,
        /// Whether a bias input is present.
        bias: bool,
    },
    /// Depthwise 2-D convolution (one filter per channel, groups = C), NCHW; inputs x
    /// `[N, C, H, W]`, W `[C, 1, kh, kw]`, bias `[C]` if present.
    DepthwiseConv2d {
        /// (kh, kw).
        kernel: (usize, usize),
        /// (vertical, horizontal).
        stride: (usize, usize),
        /// Zero padding (rows on top and bottom, columns on left and right).
        padding: (usize, usize),
        /// Whether a bias input is present.
        bias: bool,
    },
    /// Fused multi-head self-attention core: qkv `[B, T, 3D]` (q | k | v) → `[B, T, D]`,
    /// `softmax(q·kᵀ/√dh)·v` per head of width `dh = D/heads`.
    Attention {
        /// Number of heads.
        heads: usize,
    },
    /// Mean cross-entropy of logits `[B, C]` against integer labels → `[]`.
    CrossEntropy {
        /// Weight ε of the uniform target: `(1−ε)·nll + ε·mean_c(−log p_c)`.
        label_smoothing: f32,
    },
    /// Distillation soft-target loss of student and teacher logits `[B, C]` → `[]`:
    /// `T²·KL(softmax(teacher/T) ‖ softmax(student/T))` averaged over the batch.
    KdLoss {
        /// The softening temperature T.
        temperature: f32,
    },
}

impl OpKind {
    /// A short stable name (profiles, error messages).
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Linear { .. } => "linear",
            OpKind::Add => "add",
            OpKind::Sub => "sub",
            OpKind::Mul => "mul",
            OpKind::Div => "div",
            OpKind::Scale { .. } => "scale",
            OpKind::AddScalar { .. } => "add_scalar",
            OpKind::Relu => "relu",
            OpKind::Gelu => "gelu",
            OpKind::HardSwish => "hard_swish",
            OpKind::HardSigmoid => "hard_sigmoid",
            OpKind::Silu => "silu",
            OpKind::Sigmoid => "sigmoid",
            OpKind::Rsqrt => "rsqrt",
            OpKind::Reshape { .. } => "reshape",
            OpKind::Permute { .. } => "permute",
            OpKind::Concat { .. } => "concat",
            OpKind::Slice { .. } => "slice",
            OpKind::Sum { .. } => "sum",
            OpKind::Mean { .. } => "mean",
            OpKind::Dropout { .. } => "dropout",
            OpKind::GatherRows { .. } => "gather_rows",
            OpKind::FakeQuant(_) => "fake_quant",
            OpKind::FakeQuantLsq(_) => "fake_quant_lsq",
            OpKind::Matmul { .. } => "matmul",
            OpKind::Softmax => "softmax",
            OpKind::LogSoftmax => "log_softmax",
            OpKind::LayerNorm { .. } => "layer_norm",
            OpKind::BatchNorm { .. } => "batch_norm",
            OpKind::Conv2d { .. } => "conv2d",
            OpKind::DepthwiseConv2d { .. } => "depthwise_conv2d",
            OpKind::Attention { .. } => "attention",
            OpKind::CrossEntropy { .. } => "cross_entropy",
            OpKind::KdLoss { .. } => "kd_loss",
        }
    }
}

/// Tensors an op keeps from forward for its backward; dropped as soon as backward has run.
#[derive(Debug, Default)]
pub struct Saved {
    tensors: Vec<Tensor>,
    recording: bool,
}

impl Saved {
    /// Keeps `t` for backward (a no-op when nothing is recorded, so inference frees at once).
    pub fn push(&mut self, t: &Tensor) {
        if self.recording {
            self.tensors.push(t.detach());
        }
    }

    /// Whether this forward is being recorded (ops skip work only backward needs otherwise).
    pub fn recording(&self) -> bool {
        self.recording
    }

    /// The saved tensors in push order.
    pub fn into_vec(self) -> Vec<Tensor> {
        self.tensors
    }

    /// A saved set for calling an op's forward directly (tests).
    pub fn for_test() -> Saved {
        Saved {
            tensors: Vec::new(),
            recording: true,
        }
    }
}

/// One differentiable op: its attributes live in the implementing struct.
pub trait Op: std::fmt::Debug + 'static {
    /// The op's kind and attributes.
    fn kind(&self) -> OpKind;
    /// Computes the output from the inputs, saving what backward needs.
    fn forward(&self, xs: &[&Tensor], save: &mut Saved) -> Result<Tensor>;
    /// Gradients of the inputs from the output gradient; `None` where `needs[i]` is false.
    fn backward(&self, gy: &Tensor, saved: Saved, needs: &[bool]) -> Result<Vec<Option<Tensor>>>;
}

/// Runs `op` on `xs` and records it on the tape when an input is tracked and recording is on.
pub fn apply(op: impl Op, xs: &[&Tensor]) -> Result<Tensor> {
    let (recording, saving) = tape::should_record(xs);
    let mut saved = Saved {
        tensors: Vec::new(),
        recording: saving,
    };
    let t0 = profile::enabled().then(Instant::now);
    let mut y = op.forward(xs, &mut saved)?;
    if let Some(t0) = t0 {
        profile::add(op.kind().name(), profile::Pass::Forward, t0.elapsed());
    }
    y.node = None;
    if recording {
        let node = tape::record(Box::new(op), xs, saved, y.shape());
        y.node = Some(node);
    }
    Ok(y)
}

/// Errors unless `x` has rank `r`.
pub(crate) fn expect_rank(op: &'static str, x: &Tensor, r: usize) -> Result<()> {
    if x.rank() != r {
        crate::bail_shape!(op, "expected rank {r}, got shape {:?}", x.shape());
    }
    Ok(())
}
