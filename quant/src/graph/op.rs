//! Graph ops. Most are one TFLite builtin each (the runtime and the exporter map them one to one);
//! `LayerNorm`, `Attention` and `BatchNorm` exist only between tracing and lowering.

/// A fused output activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Act {
    /// Identity.
    #[default]
    None,
    /// max(x, 0).
    Relu,
    /// min(max(x, 0), 6).
    Relu6,
}

/// Convolution padding: TFLite can express only these two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// No padding.
    Valid,
    /// Output size ⌈in/stride⌉, padding split with the extra row/column at the end.
    Same,
}

impl Padding {
    /// Zero rows (or columns) before and after an axis of `input` elements for a kernel of `k`
    /// taps at `stride` (dilation 1), as TFLite pads.
    pub fn pads(self, input: usize, k: usize, stride: usize) -> (usize, usize) {
        match self {
            Padding::Valid => (0, 0),
            Padding::Same => {
                let out = input.div_ceil(stride);
                let total = ((out.max(1) - 1) * stride + k).saturating_sub(input);
                (total / 2, total - total / 2)
            }
        }
    }
}

/// What a node computes. Layouts are TFLite's: NHWC activations, OHWI conv filters, 1HWC
/// depthwise filters, `[N, K]` fully-connected weights.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `x·Wᵀ + b` over the last axis; inputs x, W `[N, K]`, optional b `[N]`.
    FullyConnected {
        /// Fused activation.
        act: Act,
    },
    /// 2-D convolution, NHWC; inputs x, W `[O, kh, kw, C]`, b `[O]`.
    Conv2d {
        /// (vertical, horizontal).
        stride: (usize, usize),
        /// Padding.
        padding: Padding,
        /// Fused activation.
        act: Act,
    },
    /// Depthwise 2-D convolution, NHWC, multiplier 1; inputs x, W `[1, kh, kw, C]`, b `[C]`.
    DepthwiseConv2d {
        /// (vertical, horizontal).
        stride: (usize, usize),
        /// Padding.
        padding: Padding,
        /// Fused activation.
        act: Act,
    },
    /// Batched `op(a)·op(b)` over the last two axes (TFLite BATCH_MATMUL).
    BatchMatmul {
        /// a is stored transposed.
        adj_x: bool,
        /// b is stored transposed.
        adj_y: bool,
    },
    /// Elementwise with numpy broadcasting.
    Add,
    /// Elementwise with numpy broadcasting.
    Sub,
    /// Elementwise with numpy broadcasting.
    Mul,
    /// Elementwise with numpy broadcasting.
    Div,
    /// `(a − b)²` with broadcasting.
    SquaredDifference,
    /// Mean over `axes`.
    Mean {
        /// Reduced axes, ascending.
        axes: Vec<usize>,
        /// Keep reduced axes as size 1.
        keep_dims: bool,
    },
    /// `1/√x`.
    Rsqrt,
    /// GELU, exact erf form.
    Gelu,
    /// Softmax over the last axis (β = 1).
    Softmax,
    /// σ(x).
    Logistic,
    /// `x·relu6(x + 3)/6`.
    HardSwish,
    /// max(x, 0).
    Relu,
    /// Same elements, new shape.
    Reshape {
        /// Output shape.
        shape: Vec<usize>,
    },
    /// Output axis i is input axis `perm[i]`.
    Transpose {
        /// The permutation.
        perm: Vec<usize>,
    },
    /// Inputs joined along `axis`.
    Concat {
        /// The axis.
        axis: usize,
    },
    /// `x[begin .. begin + size]` per axis (a mask-free STRIDED_SLICE with stride 1).
    Slice {
        /// First index per axis.
        begin: Vec<usize>,
        /// Extent per axis.
        size: Vec<usize>,
    },
    /// float32 → int8 at the output's parameters (or int8 → int8 requantization).
    Quantize,
    /// int8 → float32.
    Dequantize,
    /// Layer norm over the last axis; inputs x, γ, β (lowered before running).
    LayerNorm {
        /// Added to the variance.
        eps: f32,
    },
    /// Multi-head self-attention core on a `[B, T, 3D]` qkv tensor (lowered before running).
    Attention {
        /// Number of heads.
        heads: usize,
    },
    /// Batch norm with running statistics over the last axis (NHWC); inputs x, γ, β, mean, var
    /// (folded into the preceding conv, or lowered to MUL + ADD).
    BatchNorm {
        /// Added to the variance.
        eps: f32,
    },
}

impl Op {
    /// A short stable name (reports, errors).
    pub fn name(&self) -> &'static str {
        match self {
            Op::FullyConnected { .. } => "FULLY_CONNECTED",
            Op::Conv2d { .. } => "CONV_2D",
            Op::DepthwiseConv2d { .. } => "DEPTHWISE_CONV_2D",
            Op::BatchMatmul { .. } => "BATCH_MATMUL",
            Op::Add => "ADD",
            Op::Sub => "SUB",
            Op::Mul => "MUL",
            Op::Div => "DIV",
            Op::SquaredDifference => "SQUARED_DIFFERENCE",
            Op::Mean { .. } => "MEAN",
            Op::Rsqrt => "RSQRT",
            Op::Gelu => "GELU",
            Op::Softmax => "SOFTMAX",
            Op::Logistic => "LOGISTIC",
            Op::HardSwish => "HARD_SWISH",
            Op::Relu => "RELU",
            Op::Reshape { .. } => "RESHAPE",
            Op::Transpose { .. } => "TRANSPOSE",
            Op::Concat { .. } => "CONCATENATION",
            Op::Slice { .. } => "STRIDED_SLICE",
            Op::Quantize => "QUANTIZE",
            Op::Dequantize => "DEQUANTIZE",
            Op::LayerNorm { .. } => "layer_norm",
            Op::Attention { .. } => "attention",
            Op::BatchNorm { .. } => "batch_norm",
        }
    }

    /// Whether int8 values pass through unchanged in meaning, so input and output must share one
    /// scale and zero point (TFLite's rule for these ops).
    pub fn shares_qparams(&self) -> bool {
        matches!(
            self,
            Op::Reshape { .. } | Op::Transpose { .. } | Op::Concat { .. } | Op::Slice { .. }
        )
    }
}
