//! `trace`: one recorded forward pass of a model turned into a [`Graph`] in TFLite's layouts.
//!
//! Convolutions are traced NCHW; each becomes TRANSPOSE → NHWC op → TRANSPOSE with the filter
//! rewritten to OHWI (1HWC), and the layout pass later cancels the transposes. Parameters become
//! constants named after the model's parameter names; nodes take the name of their first parameter's
//! layer (`blocks.0.attn.qkv`) or the op and index.

use std::collections::HashMap;

use inkling_autograd::{Activation, OpKind, ParamId, Tensor, TraceEntry};
use inkling_nn::{Ctx, Model};

use crate::graph::{err, Act, Graph, Op, Padding, ValueId};
use crate::{Error, Result};

/// Traces `model` on `example` (one batch, normally of 1 image) in evaluation mode.
pub fn trace(model: &mut dyn Model, example: &Tensor) -> Result<Graph> {
    let mut names: HashMap<ParamId, String> = HashMap::new();
    model.visit("", &mut |name, p, _| {
        names.insert(p.id(), name.to_string());
    });
    let ctx = Ctx::eval();
    let t = inkling_autograd::trace(example, |x| model.forward(x, &ctx))?;
    let mut b = Builder {
        g: Graph::default(),
        ids: Vec::with_capacity(t.entries.len()),
    };
    for (i, e) in t.entries.iter().enumerate() {
        let id = match e {
            TraceEntry::Input { shape } => {
                let id = b.g.add_activation("input", shape);
                b.g.inputs.push(id);
                id
            }
            TraceEntry::Param { id, value } => {
                let name = names
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| format!("param{i}"));
                b.g.add_const_f32(&name, value.shape(), value.data().to_vec())
            }
            TraceEntry::Const { value } => {
                b.g.add_const_f32(&format!("const{i}"), value.shape(), value.data().to_vec())
            }
            TraceEntry::Op {
                kind,
                inputs,
                shape,
            } => {
                let xs: Vec<ValueId> = inputs.iter().map(|&j| b.ids[j]).collect();
                b.op(i, kind, &xs, shape)?
            }
        };
        b.ids.push(id);
    }
    b.g.outputs.push(b.ids[t.output]);
    b.g.validate()?;
    Ok(b.g)
}

struct Builder {
    g: Graph,
    ids: Vec<ValueId>,
}

impl Builder {
    /// A node name: the layer of the first parameter operand (`blocks.0.attn.qkv`), else the op
    /// under the layer that produced its first input (`blocks.0.attn.attention`), else `op_index`.
    fn name(&self, i: usize, kind: &OpKind, xs: &[ValueId]) -> String {
        let layer = |n: &str| n.rsplit_once('.').map_or(n, |(l, _)| l).to_string();
        xs.iter()
            .find_map(|&x| {
                let v = self.g.value(x);
                (v.data.is_some() && !v.name.starts_with("const")).then(|| layer(&v.name))
            })
            .or_else(|| {
                let x = *xs.first()?;
                let p = self.g.producer(x)?;
                let n = &self.g.nodes[p].name;
                n.contains('.')
                    .then(|| format!("{}.{}", layer(n), kind.name()))
            })
            .unwrap_or_else(|| format!("{}_{i}", kind.name()))
    }

    fn op(&mut self, i: usize, kind: &OpKind, xs: &[ValueId], shape: &[usize]) -> Result<ValueId> {
        let name = self.name(i, kind, xs);
        let unsupported = |what: String| Error::Unsupported {
            node: name.clone(),
            what,
        };
        let g = &mut self.g;
        let simple =
            |g: &mut Graph, op: Op, island: bool| g.push(&name, op, xs.to_vec(), shape, island);
        Ok(match kind {
            OpKind::Linear {
                activation,
                bias,
                residual,
            } => {
                let n_in = 2 + usize::from(*bias);
                let act = if *activation == Activation::Relu {
                    Act::Relu
                } else {
                    Act::None
                };
                let mut y = g.push(
                    &name,
                    Op::FullyConnected { act },
                    xs[..n_in].to_vec(),
                    shape,
                    false,
                );
                if *activation == Activation::Gelu {
                    y = g.push(&format!("{name}.gelu"), Op::Gelu, vec![y], shape, true);
                }
                if *residual {
                    y = g.push(
                        &format!("{name}.residual"),
                        Op::Add,
                        vec![y, xs[n_in]],
                        shape,
                        false,
                    );
                }
                y
            }
            OpKind::Add => simple(g, Op::Add, false),
            OpKind::Sub => simple(g, Op::Sub, false),
            OpKind::Mul => simple(g, Op::Mul, false),
            OpKind::Div => simple(g, Op::Div, false),
            OpKind::Scale { factor } => {
                let c = g.add_const_f32(&format!("{name}.factor"), &[1], vec![*factor]);
                g.push(&name, Op::Mul, vec![xs[0], c], shape, false)
            }
            OpKind::AddScalar { value } => {
                let c = g.add_const_f32(&format!("{name}.value"), &[1], vec![*value]);
                g.push(&name, Op::Add, vec![xs[0], c], shape, false)
            }
            OpKind::Relu => simple(g, Op::Relu, false),
            OpKind::Gelu => simple(g, Op::Gelu, true),
            OpKind::HardSwish => simple(g, Op::HardSwish, false),
            OpKind::Sigmoid => simple(g, Op::Logistic, false),
            OpKind::Silu => {
                let s = g.push(
                    &format!("{name}.sigmoid"),
                    Op::Logistic,
                    xs.to_vec(),
                    shape,
                    false,
                );
                g.push(&name, Op::Mul, vec![xs[0], s], shape, false)
            }
            OpKind::Reshape { shape: s } => simple(g, Op::Reshape { shape: s.clone() }, false),
            OpKind::Permute { perm } => simple(g, Op::Transpose { perm: perm.clone() }, false),
            OpKind::Concat { axis } => simple(g, Op::Concat { axis: *axis }, false),
            OpKind::Slice { axis, start, end } => {
                let src = &g.value(xs[0]).shape;
                let mut begin = vec![0; src.len()];
                let mut size = src.clone();
                begin[*axis] = *start;
                size[*axis] = end - start;
                simple(g, Op::Slice { begin, size }, false)
            }
            OpKind::Mean { axes, keepdim } => simple(
                g,
                Op::Mean {
                    axes: axes.clone(),
                    keep_dims: *keepdim,
                },
                false,
            ),
            OpKind::Matmul { trans_a, trans_b } => simple(
                g,
                Op::BatchMatmul {
                    adj_x: *trans_a,
                    adj_y: *trans_b,
                },
                false,
            ),
            OpKind::Softmax => simple(g, Op::Softmax, true),
            OpKind::LayerNorm { eps } => simple(g, Op::LayerNorm { eps: *eps }, true),
            OpKind::Attention { heads } => simple(g, Op::Attention { heads: *heads }, false),
            OpKind::Dropout { .. } => xs[0],
            OpKind::BatchNorm {
                eps,
                training: false,
            } => {
                let nhwc = self.nhwc_of(&name, xs[0])?;
                let g = &mut self.g;
                let mut ins = vec![nhwc];
                ins.extend_from_slice(&xs[1..]);
                let s = g.value(nhwc).shape.clone();
                let y = g.push(&name, Op::BatchNorm { eps: *eps }, ins, &s, false);
                self.nchw_of(&name, y)
            }
            OpKind::Conv2d {
                kernel,
                stride,
                padding,
                groups,
                bias,
            } => {
                if *groups != 1 {
                    return Err(unsupported(format!(
                        "grouped convolution (groups {groups})"
                    )));
                }
                self.conv(&name, xs, *kernel, *stride, *padding, *bias, false)?
            }
            OpKind::DepthwiseConv2d {
                kernel,
                stride,
                padding,
                bias,
            } => self.conv(&name, xs, *kernel, *stride, *padding, *bias, true)?,
            other => {
                return Err(unsupported(format!(
                    "op {} has no graph form",
                    other.name()
                )))
            }
        })
    }

    fn nhwc_of(&mut self, name: &str, x: ValueId) -> Result<ValueId> {
        let s = self.g.value(x).shape.clone();
        let &[n, c, h, w] = s.as_slice() else {
            return Err(err(name, "expected an NCHW tensor"));
        };
        Ok(self.g.push(
            &format!("{name}.to_nhwc"),
            Op::Transpose {
                perm: vec![0, 2, 3, 1],
            },
            vec![x],
            &[n, h, w, c],
            false,
        ))
    }

    fn nchw_of(&mut self, name: &str, y: ValueId) -> ValueId {
        let s = self.g.value(y).shape.clone();
        self.g.push(
            &format!("{name}.to_nchw"),
            Op::Transpose {
                perm: vec![0, 3, 1, 2],
            },
            vec![y],
            &[s[0], s[3], s[1], s[2]],
            false,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        name: &str,
        xs: &[ValueId],
        kernel: (usize, usize),
        stride: (usize, usize),
        pad: (usize, usize),
        bias: bool,
        depthwise: bool,
    ) -> Result<ValueId> {
        let xshape = self.g.value(xs[0]).shape.clone();
        let padding = tflite_padding(name, &xshape, kernel, stride, pad)?;
        let wv = self.g.value(xs[1]).clone();
        let Some(w) = wv.data.as_ref().and_then(|d| d.as_f32()) else {
            return Err(Error::Unsupported {
                node: name.to_string(),
                what: "convolution filters must be constants".into(),
            });
        };
        let &[o, i, kh, kw] = wv.shape.as_slice() else {
            return Err(err(name, "filter is not rank 4"));
        };
        // OIHW → OHWI (depthwise [C,1,kh,kw] → 1HWC).
        let (shape, perm) = if depthwise {
            (vec![1, kh, kw, o], [1, 2, 3, 0])
        } else {
            (vec![o, kh, kw, i], [0, 2, 3, 1])
        };
        let src = [o, i, kh, kw];
        let t = Tensor::from_slice(&src, w)?;
        let t = inkling_autograd::no_grad(|| inkling_autograd::ops::permute(&t, &perm))?;
        let wid = self.g.add_const_f32(&wv.name, &shape, t.into_vec());
        let x = self.nhwc_of(name, xs[0])?;
        let (n, h, wd) = (xshape[0], xshape[2], xshape[3]);
        let (oh, ow) = out_size(h, wd, kernel, stride, pad);
        let mut ins = vec![x, wid];
        if bias {
            ins.push(xs[2]);
        }
        let op = if depthwise {
            Op::DepthwiseConv2d {
                stride,
                padding,
                act: Act::None,
            }
        } else {
            Op::Conv2d {
                stride,
                padding,
                act: Act::None,
            }
        };
        let y = self.g.push(name, op, ins, &[n, oh, ow, o], false);
        Ok(self.nchw_of(name, y))
    }
}

fn out_size(
    h: usize,
    w: usize,
    k: (usize, usize),
    s: (usize, usize),
    p: (usize, usize),
) -> (usize, usize) {
    ((h + 2 * p.0 - k.0) / s.0 + 1, (w + 2 * p.1 - k.1) / s.1 + 1)
}

/// The TFLite padding equal to PyTorch-style symmetric zero padding, if one is.
fn tflite_padding(
    name: &str,
    xshape: &[usize],
    k: (usize, usize),
    s: (usize, usize),
    p: (usize, usize),
) -> Result<Padding> {
    if p == (0, 0) {
        return Ok(Padding::Valid);
    }
    let same = |input: usize, k: usize, s: usize, p: usize| {
        Padding::Same.pads(input, k, s) == (p, p)
            && (input + 2 * p - k) / s + 1 == input.div_ceil(s)
    };
    if same(xshape[2], k.0, s.0, p.0) && same(xshape[3], k.1, s.1, p.1) {
        Ok(Padding::Same)
    } else {
        Err(Error::Unsupported {
            node: name.to_string(),
            what: format!(
                "padding {p:?} with kernel {k:?} and stride {s:?} on {}×{} is neither VALID nor SAME",
                xshape[2], xshape[3]
            ),
        })
    }
}
