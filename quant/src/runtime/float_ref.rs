//! The float32 executor of one node. The ops of the float islands (elementwise, MEAN, RSQRT, GELU,
//! SOFTMAX, HARD_SWISH) run on the slices with XNNPACK's exact arithmetic; the rest on the autograd
//! ops, so a traced graph reproduces the model's forward pass.

use inkling_autograd::{no_grad, ops, Tensor};

use super::float::{self, BinaryOp};
use super::tensor::{Buf, Data};
use crate::graph::{err, Act, Node, Op};
use crate::Result;

/// Runs a float32 node on float32 operands, writing into `reuse` (the previous run's buffer of this
/// value) when the op can.
pub(crate) fn run(node: &Node, xs: &[&Buf], reuse: Option<Data>) -> Result<Buf> {
    let e = |what: &str| err(&node.name, what);
    let vals = xs
        .iter()
        .map(|b| b.as_f32().ok_or_else(|| e("expected float32 operands")))
        .collect::<Result<Vec<_>>>()?;
    let bop = match node.op {
        Op::Add => Some(BinaryOp::Add),
        Op::Sub => Some(BinaryOp::Sub),
        Op::Mul => Some(BinaryOp::Mul),
        Op::Div => Some(BinaryOp::Div),
        Op::SquaredDifference => Some(BinaryOp::SquaredDifference),
        _ => None,
    };
    if let (Some(op), [a, b]) = (bop, xs) {
        let (y, shape) = float::binary_into(op, vals[0], &a.shape, vals[1], &b.shape, reuse)?;
        return Ok(Buf::f32(&shape, y));
    }
    if let ([x], [v]) = (xs, vals.as_slice()) {
        let same = |y: Vec<f32>| Ok(Buf::f32(&x.shape, y));
        match &node.op {
            Op::Gelu => {
                let mut y = f32_out(reuse, v.len());
                inkling_kernels::xnn::gelu(inkling_kernels::kernels(), v, &mut y)?;
                return same(y);
            }
            Op::HardSwish => return same(float::hard_swish(v)),
            Op::Softmax => return same(float::softmax(v, &x.shape, isa())?),
            Op::Rsqrt => return same(rsqrt(v)?),
            Op::Mean { axes, keep_dims } => {
                let (y, _) = float::mean(v, &x.shape, axes, isa())?;
                return Ok(Buf::f32(&node_shape(&x.shape, axes, *keep_dims), y));
            }
            _ => {}
        }
    }
    let ts = xs
        .iter()
        .zip(&vals)
        .map(|(b, v)| Ok(Tensor::from_slice(&b.shape, v)?))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&Tensor> = ts.iter().collect();
    let y = no_grad(|| run_tensor(node, &refs))?;
    let shape = y.shape().to_vec();
    Ok(Buf::f32(&shape, y.into_vec()))
}

/// A float32 output of `n` elements, reusing `reuse` when it fits.
pub(crate) fn f32_out(reuse: Option<Data>, n: usize) -> Vec<f32> {
    match reuse {
        Some(Data::F32(v)) if v.len() == n => v,
        _ => vec![0f32; n],
    }
}

/// The ops [`run`] leaves to the autograd ops.
fn run_tensor(node: &Node, xs: &[&Tensor]) -> Result<Tensor> {
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
            let (pt, pb) = padding.pads(x.dim(2), kh, stride.0);
            let (pl, pr) = padding.pads(x.dim(3), kw, stride.1);
            let x = zero_pad(&x, pt, pb, pl, pr)?;
            let spec = ops::Conv2dSpec {
                stride: *stride,
                padding: (0, 0),
                // The depthwise op checks groups = channels; a plain conv has one group.
                groups: if depthwise { x.dim(1) } else { 1 },
            };
            let y = if depthwise {
                ops::depthwise_conv2d(&x, &w, xs.get(2).copied(), &spec)?
            } else {
                ops::conv2d(&x, &w, xs.get(2).copied(), &spec)?
            };
            activate(ops::permute(&y, &[0, 2, 3, 1])?, *act)?
        }
        Op::BatchMatmul { adj_x, adj_y } => ops::matmul(arg(0)?, arg(1)?, *adj_x, *adj_y)?,
        Op::Logistic => ops::sigmoid(arg(0)?)?,
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
        Op::Add
        | Op::Sub
        | Op::Mul
        | Op::Div
        | Op::SquaredDifference
        | Op::Mean { .. }
        | Op::Rsqrt
        | Op::Gelu
        | Op::Softmax
        | Op::HardSwish => return Err(e("has the wrong number of operands")),
        Op::Quantize | Op::Dequantize => return Err(e("is not a float32 op")),
    };
    Ok(y)
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

/// The XNNPACK kernel family whose float arithmetic the islands reproduce on this CPU: the one
/// LiteRT picks here (AVX-512 when the CPU has it), else the 8-lane order (also the portable one
/// used on ARM and with `INKLING_ISA=scalar`).
pub(crate) fn isa() -> float::Isa {
    match inkling_kernels::kernels().isa {
        inkling_kernels::Isa::Avx512Vnni => float::Isa::Avx512f,
        _ => float::Isa::Avx2,
    }
}

fn node_shape(x: &[usize], axes: &[usize], keep: bool) -> Vec<usize> {
    x.iter()
        .enumerate()
        .filter_map(|(i, &d)| match (axes.contains(&i), keep) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

/// RSQRT as XNNPACK computes it on this x86 CPU (hardware estimate + one Newton step); elsewhere
/// (ARM, `INKLING_ISA=scalar`) from the correctly rounded estimate, so that every non-x86 build and
/// the scalar x86 build give the same bits.
pub(crate) fn rsqrt(x: &[f32]) -> Result<Vec<f32>> {
    let ks = inkling_kernels::kernels();
    Ok(match ks.isa {
        inkling_kernels::Isa::Avx2 | inkling_kernels::Isa::Avx512Vnni => float::rsqrt_with(ks, x),
        _ => float::rsqrt_with(
            &inkling_kernels::KernelSet::for_isa(inkling_kernels::Isa::Scalar)
                .ok_or_else(|| err("rsqrt", "no scalar kernel table"))?,
            x,
        ),
    })
}
