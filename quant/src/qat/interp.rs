//! The prepared float graph as a differentiable program: each node mapped to autograd ops, run
//! at any batch size.
//!
//! Graphs are traced at batch 1 in TFLite layouts (NHWC, OHWI filters, `[N, K]` FC weights). Axis
//! 0 of every activation is the batch: [`check`] verifies that no node mixes it with other axes
//! (reshapes and slices keep it leading and whole, transposes fix it, means and concatenations
//! do not act on it), so [`run_node`] can substitute the batch size for the traced 1. Constants
//! joined to a batch (the class token in a CONCATENATION) are repeated along it.

use inkling_autograd::ops::{self, Activation, Conv2dSpec};
use inkling_autograd::{Error as AgError, Result as AgResult, Tensor};

use crate::graph::{Act, Graph, Node, Op, Padding};
use crate::{Error, Result};

fn unsupported(n: &Node, what: impl Into<String>) -> Error {
    Error::Unsupported {
        node: n.name.clone(),
        what: format!("quantization-aware training: {}", what.into()),
    }
}

/// Checks that every node of `g` can run here at any batch size.
pub fn check(g: &Graph) -> Result<()> {
    let batch_one = |v: crate::graph::ValueId| g.value(v).shape.first() == Some(&1);
    for &i in &g.inputs {
        if !batch_one(i) {
            return Err(Error::Unsupported {
                node: g.value(i).name.clone(),
                what: format!(
                    "quantization-aware training needs a batch-1 traced input, got {:?}",
                    g.value(i).shape
                ),
            });
        }
    }
    for n in &g.nodes {
        if !n.outputs.iter().all(|&o| batch_one(o)) {
            return Err(unsupported(
                n,
                "an output without a leading batch axis of 1",
            ));
        }
        let act_ok = |a: Act| a != Act::Relu6;
        let ok = match &n.op {
            Op::FullyConnected { act } => act_ok(*act),
            Op::Conv2d { act, .. } | Op::DepthwiseConv2d { act, .. } => {
                act_ok(*act) && g.value(n.inputs[0]).shape.len() == 4
            }
            Op::Reshape { shape } => shape.first() == Some(&1) && batch_one(n.inputs[0]),
            Op::Transpose { perm } => perm.first() == Some(&0),
            Op::Concat { axis } => *axis != 0,
            Op::Slice { begin, size } => begin.first() == Some(&0) && size.first() == Some(&1),
            Op::Mean { axes, .. } => !axes.contains(&0),
            Op::BatchMatmul { .. }
            | Op::Add
            | Op::Sub
            | Op::Mul
            | Op::Div
            | Op::SquaredDifference
            | Op::Rsqrt
            | Op::Gelu
            | Op::Softmax
            | Op::Logistic
            | Op::HardSwish
            | Op::Relu => true,
            Op::Quantize
            | Op::Dequantize
            | Op::LayerNorm { .. }
            | Op::Attention { .. }
            | Op::BatchNorm { .. } => false,
        };
        if !ok {
            return Err(unsupported(
                n,
                format!("{:?} (not a prepared float op on a batch axis)", n.op),
            ));
        }
    }
    Ok(())
}

fn bad(n: &Node, what: String) -> AgError {
    AgError::BadShape {
        op: "qat",
        what: format!("{}: {what}", n.name),
    }
}

/// `x` repeated `batch` times along axis 0 when it has batch 1 (a constant joined to a batch).
fn to_batch(x: &Tensor, batch: usize) -> AgResult<Tensor> {
    if batch == 1 || x.rank() == 0 || x.dim(0) != 1 {
        return Ok(x.clone());
    }
    let copies = vec![x; batch];
    ops::concat(&copies, 0)
}

/// TFLite padding as the symmetric padding autograd's convolutions take (SAME with an odd total
/// is asymmetric: not supported).
fn pads(
    n: &Node,
    padding: Padding,
    x: &Tensor,
    w_hw: (usize, usize),
    stride: (usize, usize),
) -> AgResult<(usize, usize)> {
    let (t, b) = padding.pads(x.dim(1), w_hw.0, stride.0);
    let (l, r) = padding.pads(x.dim(2), w_hw.1, stride.1);
    if t != b || l != r {
        return Err(bad(
            n,
            "asymmetric SAME padding is not supported in training".into(),
        ));
    }
    Ok((t, l))
}

fn act(y: Tensor, a: Act) -> AgResult<Tensor> {
    match a {
        Act::Relu => ops::relu(&y),
        _ => Ok(y),
    }
}

/// Runs node `n` on autograd tensors `ins` (weights in graph layout) for a batch of `batch`.
pub fn run_node(n: &Node, ins: &[Tensor], batch: usize) -> AgResult<Tensor> {
    let x = &ins[0];
    match &n.op {
        Op::FullyConnected { act } => {
            let a = if *act == Act::Relu {
                Activation::Relu
            } else {
                Activation::None
            };
            ops::linear(x, &ins[1], ins.get(2), a)
        }
        Op::Conv2d {
            stride,
            padding,
            act: a,
        }
        | Op::DepthwiseConv2d {
            stride,
            padding,
            act: a,
        } => {
            // NHWC → NCHW around autograd's convolutions; filters OHWI → OIHW, 1HWC → C1HW.
            let depthwise = matches!(n.op, Op::DepthwiseConv2d { .. });
            let w = &ins[1];
            let padding = pads(n, *padding, x, (w.dim(1), w.dim(2)), *stride)?;
            let xc = ops::permute(x, &[0, 3, 1, 2])?;
            let (perm, groups) = if depthwise {
                ([3, 0, 1, 2], x.dim(3))
            } else {
                ([0, 3, 1, 2], 1)
            };
            let wc = ops::permute(w, &perm)?;
            let spec = Conv2dSpec {
                stride: *stride,
                padding,
                groups,
            };
            let y = if depthwise {
                ops::depthwise_conv2d(&xc, &wc, ins.get(2), &spec)?
            } else {
                ops::conv2d(&xc, &wc, ins.get(2), &spec)?
            };
            act(ops::permute(&y, &[0, 2, 3, 1])?, *a)
        }
        Op::BatchMatmul { adj_x, adj_y } => ops::matmul(x, &ins[1], *adj_x, *adj_y),
        Op::Add => ops::add(x, &ins[1]),
        Op::Sub => ops::sub(x, &ins[1]),
        Op::Mul => ops::mul(x, &ins[1]),
        Op::Div => ops::div(x, &ins[1]),
        Op::SquaredDifference => {
            let d = ops::sub(x, &ins[1])?;
            ops::mul(&d, &d)
        }
        Op::Mean { axes, keep_dims } => ops::mean(x, axes, *keep_dims),
        Op::Rsqrt => ops::rsqrt(x),
        Op::Gelu => ops::gelu(x),
        Op::Softmax => ops::softmax(x),
        Op::Logistic => ops::sigmoid(x),
        Op::HardSwish => ops::hard_swish(x),
        Op::Relu => ops::relu(x),
        Op::Reshape { shape } => {
            let mut s = shape.clone();
            s[0] = batch;
            ops::reshape(x, &s)
        }
        Op::Transpose { perm } => ops::permute(x, perm),
        Op::Concat { axis } => {
            let parts = ins
                .iter()
                .map(|t| to_batch(t, batch))
                .collect::<AgResult<Vec<_>>>()?;
            let refs: Vec<&Tensor> = parts.iter().collect();
            ops::concat(&refs, *axis)
        }
        Op::Slice { begin, size } => {
            let mut y = x.clone();
            for (axis, (&b, &s)) in begin.iter().zip(size).enumerate().skip(1) {
                if b != 0 || s != y.dim(axis as isize) {
                    y = ops::slice(&y, axis, b, b + s)?;
                }
            }
            Ok(y)
        }
        other => Err(bad(n, format!("{} cannot run in training", other.name()))),
    }
}
