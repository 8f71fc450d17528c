//! int8 nodes of a session: weights packed once, then XNNPACK's arithmetic op by op.

use std::borrow::Cow;

use super::int8::{
    self, batch_matmul, Clamp, Int8Conv2d, Int8DepthwiseConv2d, Int8Linear, LogisticTable, Operand,
    Window,
};
use super::tensor::{Buf, Data};
use crate::graph::{Act, ConstData, Graph, Node, Op, Padding, Quant};
use crate::{Error, QParams, Result};

/// Prepared state of one int8 node.
enum Kernel {
    None,
    Linear(Int8Linear),
    Conv(Int8Conv2d),
    Depthwise(Int8DepthwiseConv2d),
    Logistic(LogisticTable),
    /// FULLY_CONNECTED with int4 weights, float32 in and out (weight-only 4-bit).
    Int4(super::int4::Int4Linear),
}

/// Per-node prepared state for the int8 nodes of a graph.
pub(crate) struct Prepared {
    kernels: Vec<Kernel>,
}

fn bad(n: &Node, what: impl Into<String>) -> Error {
    Error::Graph {
        node: n.name.clone(),
        what: what.into(),
    }
}

fn qp(g: &Graph, n: &Node, v: crate::graph::ValueId) -> Result<QParams> {
    g.value(v).qparams().ok_or_else(|| {
        bad(
            n,
            format!("{} has no per-tensor int8 parameters", g.value(v).name),
        )
    })
}

/// int8 weights, their per-channel scales and the int32 bias of a FC/conv node.
type Weights<'g> = (&'g [i8], &'g [f32], Option<&'g [i32]>);

fn weights<'g>(g: &'g Graph, n: &Node) -> Result<Weights<'g>> {
    let w = g.value(n.inputs[1]);
    // int4 weights (int8 × int4, FC only) are int8 values in [−8, 7] to the int8 kernels, as
    // XNNPACK unpacks them when it packs.
    let (Some(ConstData::I8(wd) | ConstData::I4(wd)), Some(Quant::PerChannel { scales, .. })) =
        (&w.data, &w.quant)
    else {
        return Err(bad(n, "int8 weights must be constant and per-channel"));
    };
    let bias = match n.inputs.get(2).map(|&b| &g.value(b).data) {
        Some(Some(ConstData::I32(b))) => Some(b.as_slice()),
        None => None,
        _ => return Err(bad(n, "bias must be a constant int32")),
    };
    Ok((wd, scales, bias))
}

fn clamp(act: Act, y: QParams) -> Result<Clamp> {
    match act {
        Act::None => Ok(Clamp::NONE),
        Act::Relu => Ok(Clamp::relu(y)),
        Act::Relu6 => Err(Error::Unsupported {
            node: "int8".into(),
            what: "fused ReLU6 in int8".into(),
        }),
    }
}

impl Prepared {
    pub(crate) fn new(g: &Graph) -> Result<Prepared> {
        let mut kernels = Vec::with_capacity(g.nodes.len());
        for n in &g.nodes {
            let int8_out = g.value(n.outputs[0]).dtype == crate::graph::DType::I8;
            let w4 = n
                .inputs
                .get(1)
                .map(|&w| g.value(w))
                .filter(|w| w.dtype == crate::graph::DType::I4);
            let k = match &n.op {
                Op::FullyConnected { act } if !int8_out && w4.is_some() => {
                    Kernel::Int4(int4_linear(g, n, *act)?)
                }
                Op::FullyConnected { .. } if int8_out => {
                    let (w, s, b) = weights(g, n)?;
                    let [nn, k] = g.value(n.inputs[1]).shape[..] else {
                        return Err(bad(n, "weights must be [N, K]"));
                    };
                    Kernel::Linear(Int8Linear::new(w, nn, k, b, s)?)
                }
                Op::Conv2d { .. } if int8_out => {
                    let (w, s, b) = weights(g, n)?;
                    let [o, kh, kw, c] = g.value(n.inputs[1]).shape[..] else {
                        return Err(bad(n, "filter must be OHWI"));
                    };
                    Kernel::Conv(Int8Conv2d::new(w, o, (kh, kw), c, b, s)?)
                }
                Op::DepthwiseConv2d { .. } if int8_out => {
                    let (w, s, b) = weights(g, n)?;
                    let [_, kh, kw, o] = g.value(n.inputs[1]).shape[..] else {
                        return Err(bad(n, "filter must be 1HWC"));
                    };
                    Kernel::Depthwise(Int8DepthwiseConv2d::new(w, o, (kh, kw), b, s)?)
                }
                Op::Logistic if int8_out => Kernel::Logistic(LogisticTable::new(
                    qp(g, n, n.inputs[0])?,
                    qp(g, n, n.outputs[0])?,
                )?),
                _ => Kernel::None,
            };
            kernels.push(k);
        }
        Ok(Prepared { kernels })
    }

    /// Whether node `i` runs on a packed kernel (its weights and bias are read from the kernel).
    pub(crate) fn is_packed(&self, i: usize) -> bool {
        matches!(
            self.kernels[i],
            Kernel::Linear(_) | Kernel::Conv(_) | Kernel::Depthwise(_) | Kernel::Int4(_)
        )
    }

    pub(crate) fn run(
        &self,
        g: &Graph,
        i: usize,
        xs: &[Cow<'_, Buf>],
        reuse: Option<Data>,
    ) -> Result<Buf> {
        let n = &g.nodes[i];
        let y = n.outputs[0];
        let shape = g.value(y).shape.clone();
        let numel: usize = shape.iter().product();
        let i8in = |j: usize| -> Result<&[i8]> {
            xs.get(j)
                .and_then(|b| b.as_i8())
                .ok_or_else(|| bad(n, format!("operand {j} must be int8")))
        };
        let operand = |j: usize| -> Result<Operand<'_>> {
            Ok(Operand::new(i8in(j)?, &xs[j].shape, qp(g, n, n.inputs[j])?))
        };
        if let Kernel::Int4(l) = &self.kernels[i] {
            let x = xs[0]
                .as_f32()
                .ok_or_else(|| bad(n, "int4 weights with float32 output need a float32 input"))?;
            let mut out = super::f32_out(reuse, numel);
            l.run(x, x.len() / l.k().max(1), &mut out)?;
            return Ok(Buf::f32(&shape, out));
        }
        if let Op::Dequantize = n.op {
            let mut out = super::f32_out(reuse, numel);
            int8::dequantize(i8in(0)?, qp(g, n, n.inputs[0])?, &mut out)?;
            return Ok(Buf::f32(&shape, out));
        }
        let mut out = match reuse {
            Some(Data::I8(v)) if v.len() == numel => v,
            _ => vec![0i8; numel],
        };
        match (&n.op, &self.kernels[i]) {
            (Op::Quantize, _) => {
                let x = xs[0]
                    .as_f32()
                    .ok_or_else(|| bad(n, "int8 → int8 requantization is not supported"))?;
                int8::quantize(x, qp(g, n, y)?, &mut out)?;
            }
            (Op::FullyConnected { act }, Kernel::Linear(l)) => {
                let yq = qp(g, n, y)?;
                let m = xs[0].len() / l.k();
                l.run(
                    i8in(0)?,
                    m,
                    qp(g, n, n.inputs[0])?,
                    yq,
                    clamp(*act, yq)?,
                    &mut out,
                )?;
            }
            (
                Op::Conv2d {
                    stride,
                    padding: p,
                    act,
                }
                | Op::DepthwiseConv2d {
                    stride,
                    padding: p,
                    act,
                },
                k @ (Kernel::Conv(_) | Kernel::Depthwise(_)),
            ) => {
                let yq = qp(g, n, y)?;
                let win = window(n, &xs[0].shape, &g.value(n.inputs[1]).shape, *stride, *p)?;
                let (x, xq, c) = (i8in(0)?, qp(g, n, n.inputs[0])?, clamp(*act, yq)?);
                match k {
                    Kernel::Conv(k) => k.run(x, &win, xq, yq, c, &mut out)?,
                    Kernel::Depthwise(k) => k.run(x, &win, xq, yq, c, &mut out)?,
                    _ => unreachable!("matched above"),
                }
            }
            (Op::Logistic, Kernel::Logistic(t)) => t.apply(i8in(0)?, &mut out)?,
            (Op::BatchMatmul { adj_x, adj_y }, _) => {
                if *adj_x {
                    return Err(bad(n, "int8 BATCH_MATMUL with adj_x is not supported"));
                }
                batch_matmul(
                    operand(0)?,
                    operand(1)?,
                    *adj_y,
                    qp(g, n, y)?,
                    Clamp::NONE,
                    &mut out,
                )?;
            }
            (Op::Add | Op::Sub | Op::Mul, _) => {
                let f = match n.op {
                    Op::Add => int8::add,
                    Op::Sub => int8::sub,
                    _ => int8::mul,
                };
                f(
                    operand(0)?,
                    operand(1)?,
                    qp(g, n, y)?,
                    Clamp::NONE,
                    &mut out,
                )?
            }
            (Op::Mean { axes, .. }, _) => int8::mean(
                i8in(0)?,
                &xs[0].shape,
                axes,
                qp(g, n, n.inputs[0])?,
                qp(g, n, y)?,
                &mut out,
            )?,
            (Op::Reshape { .. }, _) => out.copy_from_slice(i8in(0)?),
            (Op::Transpose { perm }, _) => {
                super::layout::permute(i8in(0)?, &xs[0].shape, perm, &mut out)
            }
            (Op::Concat { axis }, _) => {
                let parts = (0..xs.len())
                    .map(|j| Ok((i8in(j)?, xs[j].shape.as_slice())))
                    .collect::<Result<Vec<_>>>()?;
                super::layout::concat(&parts, *axis, &mut out)
            }
            (Op::Slice { begin, .. }, _) => {
                super::layout::slice(i8in(0)?, &xs[0].shape, begin, &shape, &mut out)
            }
            (op, _) => {
                return Err(Error::Unsupported {
                    node: n.name.clone(),
                    what: format!("{} on int8 operands", op.name()),
                })
            }
        }
        Ok(Buf {
            shape,
            data: Data::I8(out),
        })
    }
}

/// The weight-only int4 kernel of FC node `n` (int4 weights, float32 bias).
fn int4_linear(g: &Graph, n: &Node, act: Act) -> Result<super::int4::Int4Linear> {
    let w = g.value(n.inputs[1]);
    let (Some(ConstData::I4(values)), Some(q), [nn, k]) = (&w.data, &w.quant, &w.shape[..]) else {
        return Err(bad(n, "int4 weights must be a constant [N, K] with scales"));
    };
    let bias = match n.inputs.get(2).map(|&b| &g.value(b).data) {
        Some(Some(ConstData::F32(b))) => Some(b.as_slice()),
        None => None,
        _ => {
            return Err(bad(
                n,
                "the bias of a weight-only int4 layer must be a constant float32",
            ))
        }
    };
    super::int4::Int4Linear::new(&n.name, values, (*nn, *k), q, bias, act)
}

fn window(
    n: &Node,
    x: &[usize],
    w: &[usize],
    stride: (usize, usize),
    p: Padding,
) -> Result<Window> {
    let &[b, h, wd, c] = x else {
        return Err(bad(n, "input must be NHWC"));
    };
    Window::new([b, h, wd, c], (w[1], w[2]), stride, p)
}
