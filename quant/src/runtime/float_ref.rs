//! The float32 executor of one node, on the autograd ops (so a traced graph reproduces the model's
//! forward pass) except where the float islands need XNNPACK's exact arithmetic.

use inkling_autograd::{ops, Tensor};

use crate::graph::{err, Act, Node, Op, Padding};
use crate::Result;

/// Runs a float32 node on float32 inputs.
pub(crate) fn run_f32(node: &Node, xs: &[&Tensor]) -> Result<Tensor> {
    let e = |what: &str| err(&node.name, what);
    let arg = |i: usize| xs.get(i).copied().ok_or_else(|| e("missing operand"));
    let y = match &node.op {
        Op::FullyConnected { act } => {
            let x = arg(0)?;
            let w = arg(1)?;
            let k = w.dim(-1);
            let lead: Vec<usize> = x.shape()[..x.rank() - 1].to_vec();
            let m = lead.iter().product();
            let x2 = x.with_shape(&[m, k])?;
            let y = ops::linear(&x2, w, xs.get(2).copied(), Default::default())?;
            let mut shape = lead;
            shape.push(w.dim(0));
            activate(y.with_shape(&shape)?, *act)?
        }
        Op::Conv2d {
            stride,
            padding,
            act,
        }
        | Op::DepthwiseConv2d {
            stride,
            padding,
            act,
        } => {
            let depthwise = matches!(node.op, Op::DepthwiseConv2d { .. });
            let x = ops::permute(arg(0)?, &[0, 3, 1, 2])?;
            // Filters are OHWI (1HWC for depthwise); autograd wants OIHW ([C,1,kh,kw]).
            let w = if depthwise {
                ops::permute(arg(1)?, &[3, 0, 1, 2])?
            } else {
                ops::permute(arg(1)?, &[0, 3, 1, 2])?
            };
            let (kh, kw) = (w.dim(2), w.dim(3));
            let (pt, pb) = pads(x.dim(2), kh, stride.0, *padding);
            let (pl, pr) = pads(x.dim(3), kw, stride.1, *padding);
            let x = zero_pad(&x, pt, pb, pl, pr)?;
            let spec = ops::Conv2dSpec {
                stride: *stride,
                padding: (0, 0),
                groups: 1,
            };
            let y = if depthwise {
                ops::depthwise_conv2d(&x, &w, xs.get(2).copied(), &spec)?
            } else {
                ops::conv2d(&x, &w, xs.get(2).copied(), &spec)?
            };
            activate(ops::permute(&y, &[0, 2, 3, 1])?, *act)?
        }
        Op::BatchMatmul { adj_x, adj_y } => ops::matmul(arg(0)?, arg(1)?, *adj_x, *adj_y)?,
        Op::Add => ops::add(arg(0)?, arg(1)?)?,
        Op::Sub => ops::sub(arg(0)?, arg(1)?)?,
        Op::Mul => ops::mul(arg(0)?, arg(1)?)?,
        Op::Div => ops::div(arg(0)?, arg(1)?)?,
        Op::SquaredDifference => {
            let d = ops::sub(arg(0)?, arg(1)?)?;
            ops::mul(&d, &d)?
        }
        Op::Mean { axes, keep_dims } => ops::mean(arg(0)?, axes, *keep_dims)?,
        Op::Rsqrt => map(arg(0)?, |v| 1.0 / v.sqrt())?,
        Op::Gelu => ops::gelu(arg(0)?)?,
        Op::Softmax => ops::softmax(arg(0)?)?,
        Op::Logistic => ops::sigmoid(arg(0)?)?,
        Op::HardSwish => ops::hard_swish(arg(0)?)?,
        Op::Relu => ops::relu(arg(0)?)?,
        Op::Reshape { shape } => arg(0)?.with_shape(shape)?,
        Op::Transpose { perm } => ops::permute(arg(0)?, perm)?,
        Op::Concat { axis } => ops::concat(xs, *axis)?,
        Op::Slice { begin, size } => {
            let mut y = arg(0)?.clone();
            for (axis, (&b, &s)) in begin.iter().zip(size).enumerate() {
                if b != 0 || s != y.dim(axis as isize) {
                    y = ops::slice(&y, axis, b, b + s)?;
                }
            }
            y
        }
        Op::LayerNorm { eps } => ops::layer_norm(arg(0)?, arg(1)?, arg(2)?, *eps)?,
        Op::Attention { heads } => ops::attention(arg(0)?, *heads)?,
        Op::BatchNorm { eps } => {
            // Over the last axis: y = (x − mean)·γ/√(var + eps) + β.
            let (g, b, m, v) = (arg(1)?, arg(2)?, arg(3)?, arg(4)?);
            let inv = map(v, |v| 1.0 / (v + eps).sqrt())?;
            let s = ops::mul(g, &inv)?;
            ops::add(&ops::mul(&ops::sub(arg(0)?, m)?, &s)?, b)?
        }
        Op::Quantize | Op::Dequantize => return Err(e("is not a float32 op")),
    };
    Ok(y)
}

/// TFLite padding (before, after) along one spatial axis.
pub(crate) fn pads(input: usize, k: usize, stride: usize, padding: Padding) -> (usize, usize) {
    match padding {
        Padding::Valid => (0, 0),
        Padding::Same => {
            let out = input.div_ceil(stride);
            let total = ((out - 1) * stride + k).saturating_sub(input);
            (total / 2, total - total / 2)
        }
    }
}

fn zero_pad(x: &Tensor, top: usize, bottom: usize, left: usize, right: usize) -> Result<Tensor> {
    if top + bottom + left + right == 0 {
        return Ok(x.clone());
    }
    let &[n, c, h, w] = x.shape() else {
        return Err(err("pad", "expected NCHW"));
    };
    let (oh, ow) = (h + top + bottom, w + left + right);
    let mut out = vec![0.0f32; n * c * oh * ow];
    for p in 0..n * c {
        for y in 0..h {
            let src = &x.data()[(p * h + y) * w..][..w];
            out[(p * oh + y + top) * ow + left..][..w].copy_from_slice(src);
        }
    }
    Ok(Tensor::new(&[n, c, oh, ow], out)?)
}

fn activate(y: Tensor, act: Act) -> Result<Tensor> {
    Ok(match act {
        Act::None => y,
        Act::Relu => ops::relu(&y)?,
        Act::Relu6 => map(&y, |v| v.clamp(0.0, 6.0))?,
    })
}

fn map(x: &Tensor, f: impl Fn(f32) -> f32) -> Result<Tensor> {
    Ok(Tensor::new(
        x.shape(),
        x.data().iter().map(|&v| f(v)).collect(),
    )?)
}
