//! `.tflite` → graph: the inverse of [`super::to_tflite`], so a model file runs in the session with
//! nothing else installed.
//!
//! Subgraph 0 is mapped op by op. Every operand is checked before anything is built on it: indices,
//! dtypes, constant lengths, and each op's output shape against the one we compute from its inputs.
//! The session then only ever sees shapes its kernels agree on, so a damaged or hostile file is an
//! error naming the operator or tensor, never a panic or a huge allocation.

use super::f16::f16_bits_to_f32;
use super::tflite::{
    read_model, ActivationFn, BuiltinOp, BuiltinOptions, ModelDef, OperatorDef,
    Padding as TfPadding, Quantization, TensorDef, TensorType,
};
use super::{ModelInfo, METADATA_NAME};
use crate::graph::{Act, ConstData, DType, Graph, Node, Op, Padding, Quant, Value, ValueId};
use crate::runtime::int8::broadcast_shape;
use crate::{Error, QParams, Result};
use inkling_kernels::qgemm::int4::unpack_int4;

/// The most elements one tensor may have (1 GiB of float32): far above any model we run, far below
/// what a hostile shape could ask the session to allocate.
const MAX_NUMEL: usize = 1 << 28;

/// Reads a `.tflite` model into a graph, with its [`ModelInfo`] when the file carries one.
pub fn from_tflite(bytes: &[u8]) -> Result<(Graph, Option<ModelInfo>)> {
    let m = read_model(bytes)?;
    let info = model_info(&m)?;
    let sg = m.subgraphs.first().ok_or_else(|| Error::Format {
        what: "model has no subgraphs".into(),
    })?;
    let int8 = sg.tensors.iter().any(|t| t.dtype == TensorType::I8);
    let mut b = Builder {
        m: &m,
        tensors: &sg.tensors,
        g: Graph::default(),
        value_of: vec![None; sg.tensors.len()],
        written: vec![false; sg.tensors.len()],
        int8,
    };
    for &t in &sg.inputs {
        let v = b.value(t)?;
        if b.g.value(v).data.is_some() {
            return Err(tensor_err(
                &sg.tensors[t as usize],
                t,
                "a graph input is a constant",
            ));
        }
        b.written[t as usize] = true;
        b.g.inputs.push(v);
    }
    for (i, op) in sg.operators.iter().enumerate() {
        b.operator(i, op)?;
    }
    for &t in &sg.outputs {
        let v = b.value(t)?;
        b.g.outputs.push(v);
    }
    b.g.validate()?;
    Ok((b.g, info))
}

/// The JSON in the `inkling` metadata entry, if present.
fn model_info(m: &ModelDef) -> Result<Option<ModelInfo>> {
    let Some((_, buf)) = m.metadata.iter().find(|(n, _)| n == METADATA_NAME) else {
        return Ok(None);
    };
    let data = m.buffers.get(*buf as usize).ok_or_else(|| Error::Format {
        what: format!("metadata {METADATA_NAME:?}: buffer {buf} is out of range"),
    })?;
    serde_json::from_slice(data)
        .map(Some)
        .map_err(|e| Error::Format {
            what: format!("metadata {METADATA_NAME:?}: {e}"),
        })
}

fn tensor_err(t: &TensorDef, i: i32, what: impl Into<String>) -> Error {
    Error::Graph {
        node: format!("tensor {i} {:?}", t.name),
        what: what.into(),
    }
}

/// One operator being mapped, for error messages.
struct Ctx {
    name: String,
}

impl Ctx {
    fn err(&self, what: impl Into<String>) -> Error {
        Error::Graph {
            node: self.name.clone(),
            what: what.into(),
        }
    }

    fn unsupported(&self, what: impl Into<String>) -> Error {
        Error::Unsupported {
            node: self.name.clone(),
            what: what.into(),
        }
    }

    /// Errors unless the file's output shape is the one the op produces.
    fn expect_shape(&self, want: &[usize], got: &[usize]) -> Result<()> {
        if want != got {
            return Err(self.err(format!(
                "output tensor has shape {got:?}, the op produces {want:?}"
            )));
        }
        Ok(())
    }

    fn act(&self, a: ActivationFn) -> Result<Act> {
        match a {
            ActivationFn::None => Ok(Act::None),
            ActivationFn::Relu => Ok(Act::Relu),
            ActivationFn::Relu6 => Ok(Act::Relu6),
            other => Err(self.unsupported(format!("fused activation {other:?}"))),
        }
    }

    fn no_act(&self, a: ActivationFn) -> Result<()> {
        match a {
            ActivationFn::None => Ok(()),
            other => Err(self.unsupported(format!("fused activation {other:?} (must be NONE)"))),
        }
    }
}

struct Builder<'m> {
    m: &'m ModelDef,
    tensors: &'m [TensorDef],
    g: Graph,
    /// The graph value of each tensor, created on first use (attribute constants never get one).
    value_of: Vec<Option<ValueId>>,
    /// Tensors already written (graph inputs and earlier op outputs).
    written: Vec<bool>,
    /// Whether any tensor is int8 (float ops are then islands).
    int8: bool,
}

/// Operand shapes of one operator (its value ids and shapes), with the output's.
struct Operands {
    ids: Vec<ValueId>,
    shapes: Vec<Vec<usize>>,
}

impl Builder<'_> {
    fn tensor(&self, i: i32) -> Result<&TensorDef> {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.tensors.get(i))
            .ok_or_else(|| Error::Format {
                what: format!(
                    "tensor index {i} is out of range (there are {})",
                    self.tensors.len()
                ),
            })
    }

    /// The graph value of tensor `i`, created (and checked) on first use.
    fn value(&mut self, i: i32) -> Result<ValueId> {
        let t = self.tensor(i)?;
        if let Some(v) = self.value_of[i as usize] {
            return Ok(v);
        }
        let v = self
            .g
            .add_value(to_value(self.m, self.tensors, t).map_err(|e| tensor_err(t, i, e))?);
        self.value_of[i as usize] = Some(v);
        Ok(v)
    }

    /// The elements of constant int32 vector `i` (shapes, permutations, axes, slice bounds).
    fn i32_vec(&self, cx: &Ctx, i: i32, what: &str) -> Result<Vec<i32>> {
        let t = self.tensor(i)?;
        let data = self.m.buffers.get(t.buffer as usize).map(Vec::as_slice);
        match (t.dtype, t.shape.len(), data) {
            (TensorType::I32, 1, Some(d))
                if !d.is_empty() && d.len() == 4 * t.shape[0] as usize =>
            {
                Ok(d.chunks_exact(4)
                    .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect())
            }
            _ => Err(cx.unsupported(format!(
                "{what} (tensor {i} {:?}) must be a constant int32 vector",
                t.name
            ))),
        }
    }

    fn operator(&mut self, i: usize, op: &OperatorDef) -> Result<()> {
        let code = self
            .m
            .operator_codes
            .get(op.opcode_index as usize)
            .map(|c| c.code)
            .ok_or_else(|| Error::Format {
                what: format!(
                    "operator {i}: opcode index {} is out of range",
                    op.opcode_index
                ),
            })?;
        let op_name =
            BuiltinOp::name(code).map_or_else(|| format!("builtin {code}"), str::to_owned);
        let cx = Ctx {
            name: format!("operator {i} ({op_name})"),
        };
        let &[out] = op.outputs.as_slice() else {
            return Err(cx.err(format!("has {} outputs, expected 1", op.outputs.len())));
        };
        let out_t = self.tensor(out)?;
        if self
            .m
            .buffers
            .get(out_t.buffer as usize)
            .is_some_and(|b| !b.is_empty())
        {
            return Err(cx.err(format!("writes constant tensor {out} {:?}", out_t.name)));
        }
        if self.written[out as usize] {
            return Err(cx.err(format!("tensor {out} {:?} is written twice", out_t.name)));
        }
        let node_name = if out_t.name.is_empty() {
            format!("op{i}")
        } else {
            out_t.name.clone()
        };
        let cx = Ctx {
            name: format!("operator {i} ({op_name}, {node_name:?})"),
        };
        let (graph_op, n_data) = self.map_op(&cx, code, op)?;
        // Inputs past `n_data` are attribute constants the graph op carries.
        let mut ops = Operands {
            ids: Vec::new(),
            shapes: Vec::new(),
        };
        for (j, &t) in op.inputs.iter().enumerate().take(n_data) {
            if t == -1 {
                if j == 2 && is_weighted(&graph_op) {
                    continue;
                }
                return Err(cx.err(format!("input {j} is omitted (-1)")));
            }
            let v = self.value(t)?;
            ops.ids.push(v);
            ops.shapes.push(self.g.value(v).shape.clone());
        }
        let y = self.value(out)?;
        let y_shape = self.g.value(y).shape.clone();
        let want = out_shape(&cx, &graph_op, &ops.shapes)?;
        cx.expect_shape(&want, &y_shape)?;
        if is_weighted(&graph_op) {
            self.fix_weight_quant(&graph_op, ops.ids[1]);
        }
        let y_dtype = self.g.value(y).dtype;
        let float_island = y_dtype == DType::F32
            && !matches!(graph_op, Op::Dequantize)
            && (self.int8 || matches!(graph_op, Op::Gelu | Op::Softmax));
        self.written[out as usize] = true;
        self.g.nodes.push(Node {
            name: self.node_name(op, n_data).unwrap_or(node_name),
            op: graph_op,
            inputs: ops.ids,
            outputs: vec![y],
            float_island,
        });
        Ok(())
    }

    /// The node's own name where the exporter recorded it: the attribute constants are named
    /// `<node>.shape`, `<node>.perm`, `<node>.axes`, `<node>.begin`.
    fn node_name(&self, op: &OperatorDef, n_data: usize) -> Option<String> {
        let t = self.tensor(*op.inputs.get(n_data)?).ok()?;
        [".shape", ".perm", ".axes", ".begin"]
            .iter()
            .find_map(|s| t.name.strip_suffix(s))
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
    }

    /// int8 weights with one per-tensor symmetric scale are per-channel weights with that scale
    /// repeated (how a 1-channel layer is written), which is what the session's packers expect.
    fn fix_weight_quant(&mut self, op: &Op, w: ValueId) {
        let axis = if matches!(op, Op::DepthwiseConv2d { .. }) {
            3
        } else {
            0
        };
        let v = self.g.value_mut(w);
        if let Some(Quant::PerTensor(q)) = v.quant {
            if q.zero_point == 0 && matches!(v.dtype, DType::I8 | DType::I4) {
                v.quant = Some(Quant::PerChannel {
                    scales: vec![q.scale],
                    axis,
                });
            }
        }
    }

    /// The graph op of a TFLite operator and how many leading inputs are data operands (the rest
    /// are int32 attribute constants read here).
    fn map_op(&self, cx: &Ctx, code: i32, op: &OperatorDef) -> Result<(Op, usize)> {
        use BuiltinOptions as O;
        let n_in = op.inputs.len();
        let arity = |lo: usize, hi: usize| -> Result<()> {
            if n_in < lo || n_in > hi {
                return Err(cx.err(format!("has {n_in} inputs, expected {lo}..={hi}")));
            }
            Ok(())
        };
        let input = |j: usize| op.inputs[j];
        Ok(match (code, &op.options) {
            (
                BuiltinOp::FULLY_CONNECTED,
                O::FullyConnected {
                    fused_activation,
                    asymmetric_quantize_inputs,
                    keep_num_dims,
                },
            ) => {
                arity(2, 3)?;
                if *asymmetric_quantize_inputs {
                    return Err(cx.unsupported("hybrid (asymmetric_quantize_inputs) weights"));
                }
                // Without keep_num_dims a rank > 2 input would be flattened to [M, N]; the graph
                // op always keeps the leading dimensions.
                let x = self.tensor(input(0))?;
                if !keep_num_dims && x.shape.len() > 2 {
                    return Err(cx.unsupported("keep_num_dims false on an input of rank > 2"));
                }
                (
                    Op::FullyConnected {
                        act: cx.act(*fused_activation)?,
                    },
                    n_in,
                )
            }
            (
                BuiltinOp::CONV_2D,
                O::Conv2D {
                    padding,
                    stride_w,
                    stride_h,
                    fused_activation,
                    dilation_w,
                    dilation_h,
                },
            )
            | (
                BuiltinOp::DEPTHWISE_CONV_2D,
                O::DepthwiseConv2D {
                    padding,
                    stride_w,
                    stride_h,
                    fused_activation,
                    dilation_w,
                    dilation_h,
                    ..
                },
            ) => {
                arity(2, 3)?;
                if (*dilation_w, *dilation_h) != (1, 1) {
                    return Err(cx.unsupported(format!("dilation {dilation_h}×{dilation_w}")));
                }
                let s = |v: i32| {
                    usize::try_from(v)
                        .ok()
                        .filter(|&v| v > 0)
                        .ok_or_else(|| cx.err(format!("stride {v} must be positive")))
                };
                let stride = (s(*stride_h)?, s(*stride_w)?);
                let padding = match padding {
                    TfPadding::Same => Padding::Same,
                    TfPadding::Valid => Padding::Valid,
                };
                let act = cx.act(*fused_activation)?;
                let op = if code == BuiltinOp::CONV_2D {
                    Op::Conv2d {
                        stride,
                        padding,
                        act,
                    }
                } else {
                    Op::DepthwiseConv2d {
                        stride,
                        padding,
                        act,
                    }
                };
                (op, n_in)
            }
            (
                BuiltinOp::BATCH_MATMUL,
                O::BatchMatMul {
                    adj_x,
                    adj_y,
                    asymmetric_quantize_inputs,
                },
            ) => {
                arity(2, 2)?;
                if *asymmetric_quantize_inputs {
                    return Err(cx.unsupported("hybrid (asymmetric_quantize_inputs) BATCH_MATMUL"));
                }
                (
                    Op::BatchMatmul {
                        adj_x: *adj_x,
                        adj_y: *adj_y,
                    },
                    2,
                )
            }
            // An absent options table means the kernel's default: no activation.
            (
                BuiltinOp::ADD | BuiltinOp::SUB | BuiltinOp::MUL,
                O::Add {
                    fused_activation, ..
                }
                | O::Sub {
                    fused_activation, ..
                }
                | O::Mul { fused_activation },
            ) if fused_activation != &ActivationFn::None => {
                return Err(cx.unsupported(format!(
                    "fused activation {fused_activation:?} (must be NONE)"
                )))
            }
            (BuiltinOp::ADD, O::Add { .. } | O::None) => (arity(2, 2).map(|_| Op::Add)?, 2),
            (BuiltinOp::SUB, O::Sub { .. } | O::None) => (arity(2, 2).map(|_| Op::Sub)?, 2),
            (BuiltinOp::MUL, O::Mul { .. } | O::None) => (arity(2, 2).map(|_| Op::Mul)?, 2),
            (BuiltinOp::SQUARED_DIFFERENCE, O::SquaredDifference | O::None) => {
                arity(2, 2)?;
                (Op::SquaredDifference, 2)
            }
            (BuiltinOp::MEAN, O::Reducer { .. } | O::None) => {
                arity(2, 2)?;
                let keep_dims = matches!(op.options, O::Reducer { keep_dims: true });
                let rank = self.tensor(input(0))?.shape.len();
                let mut axes = Vec::new();
                for a in self.i32_vec(cx, input(1), "axes")? {
                    let ax = if a < 0 { a + rank as i32 } else { a };
                    match usize::try_from(ax) {
                        Ok(ax) if ax < rank && !axes.contains(&ax) => axes.push(ax),
                        _ => return Err(cx.err(format!("axis {a} is invalid for rank {rank}"))),
                    }
                }
                axes.sort_unstable();
                (Op::Mean { axes, keep_dims }, 1)
            }
            (BuiltinOp::RSQRT, O::None) => (arity(1, 1).map(|_| Op::Rsqrt)?, 1),
            (BuiltinOp::LOGISTIC, O::None) => (arity(1, 1).map(|_| Op::Logistic)?, 1),
            (BuiltinOp::HARD_SWISH, O::HardSwish | O::None) => {
                (arity(1, 1).map(|_| Op::HardSwish)?, 1)
            }
            (BuiltinOp::GELU, O::Gelu { approximate }) => {
                arity(1, 1)?;
                if *approximate {
                    return Err(cx.unsupported("approximate (tanh) GELU"));
                }
                (Op::Gelu, 1)
            }
            (BuiltinOp::GELU, O::None) => (arity(1, 1).map(|_| Op::Gelu)?, 1),
            (BuiltinOp::SOFTMAX, O::Softmax { beta }) => {
                arity(1, 1)?;
                if *beta != 1.0 {
                    return Err(cx.unsupported(format!("softmax beta {beta} (must be 1)")));
                }
                (Op::Softmax, 1)
            }
            (BuiltinOp::RESHAPE, O::Reshape { .. } | O::None) => {
                arity(1, 2)?;
                let x = self.tensor(input(0))?;
                let y = self.tensor(op.outputs[0])?;
                let numel =
                    checked_numel(&x.shape).ok_or_else(|| cx.err("input shape overflows"))?;
                let shape = dims(&y.shape).ok_or_else(|| cx.err("output shape is negative"))?;
                // The requested shape (operand, else options) must agree with the output tensor.
                let spec = match (n_in, &op.options) {
                    (2, _) => Some(self.i32_vec(cx, input(1), "shape")?),
                    (_, O::Reshape { new_shape }) if !new_shape.is_empty() => {
                        Some(new_shape.clone())
                    }
                    _ => None,
                };
                if let Some(spec) = spec {
                    if resolve_shape(&spec, numel).as_deref() != Some(&shape[..]) {
                        return Err(cx.err(format!(
                            "requested shape {spec:?} does not give the output shape {shape:?}"
                        )));
                    }
                }
                (Op::Reshape { shape }, 1)
            }
            (BuiltinOp::TRANSPOSE, O::Transpose | O::None) => {
                arity(2, 2)?;
                let rank = self.tensor(input(0))?.shape.len();
                let p = self.i32_vec(cx, input(1), "perm")?;
                let mut perm = Vec::with_capacity(p.len());
                for &a in &p {
                    match usize::try_from(a) {
                        Ok(a) if a < rank && !perm.contains(&a) => perm.push(a),
                        _ => {
                            return Err(
                                cx.err(format!("perm {p:?} is not a permutation of rank {rank}"))
                            )
                        }
                    }
                }
                if perm.len() != rank {
                    return Err(cx.err(format!("perm {p:?} is not a permutation of rank {rank}")));
                }
                (Op::Transpose { perm }, 1)
            }
            (
                BuiltinOp::CONCATENATION,
                O::Concatenation {
                    axis,
                    fused_activation,
                },
            ) => {
                arity(1, usize::MAX)?;
                cx.no_act(*fused_activation)?;
                let rank = self.tensor(input(0))?.shape.len() as i64;
                let a = i64::from(*axis);
                let a = if a < 0 { a + rank } else { a };
                if !(0..rank).contains(&a) {
                    return Err(cx.err(format!("axis {axis} is invalid for rank {rank}")));
                }
                (Op::Concat { axis: a as usize }, n_in)
            }
            (
                BuiltinOp::STRIDED_SLICE,
                O::StridedSlice {
                    begin_mask,
                    end_mask,
                    ellipsis_mask,
                    new_axis_mask,
                    shrink_axis_mask,
                    offset,
                },
            ) => {
                arity(4, 4)?;
                if [
                    *begin_mask,
                    *end_mask,
                    *ellipsis_mask,
                    *new_axis_mask,
                    *shrink_axis_mask,
                ] != [0; 5]
                    || *offset
                {
                    return Err(
                        cx.unsupported("masks or offset (only mask-free slices are supported)")
                    );
                }
                let shape = &self.tensor(input(0))?.shape;
                let b = self.i32_vec(cx, input(1), "begin")?;
                let e = self.i32_vec(cx, input(2), "end")?;
                let s = self.i32_vec(cx, input(3), "strides")?;
                if s.iter().any(|&s| s != 1) {
                    return Err(cx.unsupported(format!("strides {s:?} (only 1 is supported)")));
                }
                if b.len() != shape.len() || e.len() != shape.len() || s.len() != shape.len() {
                    return Err(cx.err(format!(
                        "begin/end/strides have {}/{}/{} entries for rank {}",
                        b.len(),
                        e.len(),
                        s.len(),
                        shape.len()
                    )));
                }
                let mut begin = Vec::new();
                let mut size = Vec::new();
                for ((&bi, &ei), &d) in b.iter().zip(&e).zip(shape) {
                    // TFLite's rule: negative indices count from the end, then clamp to [0, d].
                    let d = i64::from(d);
                    let norm = |v: i32| {
                        let v = i64::from(v);
                        (if v < 0 { v + d } else { v }).clamp(0, d)
                    };
                    let (bi, ei) = (norm(bi), norm(ei));
                    if ei <= bi {
                        return Err(cx.err(format!("empty slice {b:?}..{e:?} of {shape:?}")));
                    }
                    begin.push(bi as usize);
                    size.push((ei - bi) as usize);
                }
                (Op::Slice { begin, size }, 1)
            }
            (BuiltinOp::QUANTIZE, O::Quantize | O::None) => (arity(1, 1).map(|_| Op::Quantize)?, 1),
            (BuiltinOp::DEQUANTIZE, O::Dequantize | O::None) => {
                (arity(1, 1).map(|_| Op::Dequantize)?, 1)
            }
            (c, o) if BuiltinOp::name(c).is_some() => {
                return Err(cx.unsupported(format!("this op with options {o:?}")))
            }
            _ => return Err(cx.unsupported("unknown builtin operator")),
        })
    }
}

fn is_weighted(op: &Op) -> bool {
    matches!(
        op,
        Op::FullyConnected { .. } | Op::Conv2d { .. } | Op::DepthwiseConv2d { .. }
    )
}

/// Non-negative dimensions as `usize`.
fn dims(shape: &[i32]) -> Option<Vec<usize>> {
    shape.iter().map(|&d| usize::try_from(d).ok()).collect()
}

fn checked_numel(shape: &[i32]) -> Option<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(usize::try_from(d).ok()?))
}

/// A RESHAPE request with at most one −1 resolved against `numel`.
fn resolve_shape(spec: &[i32], numel: usize) -> Option<Vec<usize>> {
    let known = spec
        .iter()
        .filter(|&&d| d != -1)
        .try_fold(1usize, |acc, &d| acc.checked_mul(usize::try_from(d).ok()?))?;
    let wild = spec.iter().filter(|&&d| d == -1).count();
    let fill = match wild {
        0 => None,
        1 if known > 0 && numel.is_multiple_of(known) => Some(numel / known),
        _ => return None,
    };
    let shape: Vec<usize> = spec
        .iter()
        .map(|&d| {
            if d == -1 {
                fill.unwrap_or(0)
            } else {
                d as usize
            }
        })
        .collect();
    (shape.iter().product::<usize>() == numel).then_some(shape)
}

/// A tensor as a graph value: dtype, checked shape, quantization and decoded constant data.
fn to_value(
    m: &ModelDef,
    tensors: &[TensorDef],
    t: &TensorDef,
) -> std::result::Result<Value, String> {
    let dtype = match t.dtype {
        TensorType::F32 => DType::F32,
        TensorType::I8 => DType::I8,
        TensorType::I32 => DType::I32,
        TensorType::I4 => DType::I4,
        other => return Err(format!("element type {other:?} is not supported")),
    };
    let shape =
        dims(&t.shape).ok_or_else(|| format!("shape {:?} has a negative dimension", t.shape))?;
    // Zero-size tensors have no use in the models we run and would reach kernels as empty
    // products; reject them with the absurd ones.
    let numel = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_NUMEL);
    if shape.contains(&0) || numel.is_none() {
        return Err(format!(
            "shape {shape:?} is empty or has more than {MAX_NUMEL} elements"
        ));
    }
    let numel = numel.unwrap_or(0);
    let quant = match &t.quant {
        None => None,
        Some(q) if q.blockwise.is_some() => Some(blockwise(m, tensors, q, &shape)?),
        Some(q) => quant(q, &shape)?,
    };
    if matches!(quant, Some(Quant::Blockwise { .. })) && dtype != DType::I4 {
        return Err(format!(
            "blockwise quantization of a {dtype:?} tensor (only INT4 is supported)"
        ));
    }
    let bytes = m
        .buffers
        .get(t.buffer as usize)
        .ok_or_else(|| format!("buffer {} is out of range", t.buffer))?;
    let data = if bytes.is_empty() {
        None
    } else if dtype == DType::I4 {
        if bytes.len() != numel.div_ceil(2) {
            return Err(format!(
                "buffer {} holds {} bytes, {numel} int4 values need {}",
                t.buffer,
                bytes.len(),
                numel.div_ceil(2)
            ));
        }
        let mut v = vec![0i8; numel];
        unpack_int4(bytes, &mut v).map_err(|e| e.to_string())?;
        Some(ConstData::I4(v))
    } else {
        let size = match dtype {
            DType::I8 => 1,
            _ => 4,
        };
        if Some(bytes.len()) != numel.checked_mul(size) {
            return Err(format!(
                "buffer {} holds {} bytes, shape {shape:?} needs {}",
                t.buffer,
                bytes.len(),
                numel * size
            ));
        }
        let words = || bytes.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]);
        Some(match dtype {
            DType::F32 => ConstData::F32(words().map(f32::from_le_bytes).collect()),
            DType::I32 => ConstData::I32(words().map(i32::from_le_bytes).collect()),
            _ => ConstData::I8(bytes.iter().map(|&b| b as i8).collect()),
        })
    };
    Ok(Value {
        name: t.name.clone(),
        shape,
        dtype,
        quant,
        data,
    })
}

/// Blockwise int4 parameters: the FLOAT16 scale tensor `[N, K / block]` the details point at,
/// symmetric (no zero-point tensor), quantized dimension 0 of an `[N, K]` tensor.
fn blockwise(
    m: &ModelDef,
    tensors: &[TensorDef],
    q: &Quantization,
    shape: &[usize],
) -> std::result::Result<Quant, String> {
    let Some(b) = &q.blockwise else {
        return Err("no blockwise details".into());
    };
    let &[n, k] = shape else {
        return Err(format!(
            "blockwise quantization of a {shape:?} tensor (must be [N, K])"
        ));
    };
    let block = usize::try_from(b.block_size)
        .ok()
        .filter(|&s| s > 0 && k.is_multiple_of(s))
        .ok_or_else(|| format!("block size {} does not divide K = {k}", b.block_size))?;
    if b.zero_points != -1 || q.quantized_dimension != 0 {
        return Err("blockwise int4 must be symmetric (zero_points -1) along dimension 0".into());
    }
    let st = usize::try_from(b.scales)
        .ok()
        .and_then(|i| tensors.get(i))
        .ok_or_else(|| format!("blockwise scale tensor {} is out of range", b.scales))?;
    let want = [n as i32, (k / block) as i32];
    if st.dtype != TensorType::F16 || st.shape != want {
        return Err(format!(
            "blockwise scales {:?} are {:?} {:?}, must be FLOAT16 {want:?}",
            st.name, st.dtype, st.shape
        ));
    }
    let bytes = m
        .buffers
        .get(st.buffer as usize)
        .filter(|d| d.len() == 2 * n * (k / block))
        .ok_or_else(|| {
            format!(
                "blockwise scales {:?} have no data of the right size",
                st.name
            )
        })?;
    let scales = bytes
        .chunks_exact(2)
        .map(|c| f16_bits_to_f32(u16::from_le_bytes([c[0], c[1]])))
        .collect();
    Ok(Quant::Blockwise {
        scales,
        block_size: block,
    })
}

/// Per-tensor parameters, or per-channel symmetric ones along `quantized_dimension`.
fn quant(q: &Quantization, shape: &[usize]) -> std::result::Result<Option<Quant>, String> {
    if q.blockwise.is_some() {
        return Err("blockwise quantization is not supported".into());
    }
    if q.scale.len() != q.zero_point.len() {
        return Err("scale and zero point counts differ".into());
    }
    match q.scale.len() {
        // An empty parameters table means "not quantized" (converters write one).
        0 => Ok(None),
        1 => {
            let zero_point = i32::try_from(q.zero_point[0])
                .map_err(|_| format!("zero point {} is out of range", q.zero_point[0]))?;
            Ok(Some(Quant::PerTensor(QParams {
                scale: q.scale[0],
                zero_point,
            })))
        }
        n => {
            let axis = usize::try_from(q.quantized_dimension)
                .ok()
                .filter(|&a| shape.get(a) == Some(&n))
                .ok_or_else(|| {
                    format!(
                        "{n} scales do not fit quantized_dimension {} of {shape:?}",
                        q.quantized_dimension
                    )
                })?;
            if q.zero_point.iter().any(|&z| z != 0) {
                return Err("per-channel zero points must be 0".into());
            }
            Ok(Some(Quant::PerChannel {
                scales: q.scale.clone(),
                axis,
            }))
        }
    }
}

/// The output shape `op` produces from operands of `shapes`, or an error naming the mismatch.
fn out_shape(cx: &Ctx, op: &Op, shapes: &[Vec<usize>]) -> Result<Vec<usize>> {
    let x = &shapes[0];
    let bad = |what: String| Err(cx.err(what));
    let y = match op {
        Op::FullyConnected { .. } => {
            let w = &shapes[1];
            let [n, k] = w[..] else {
                return bad(format!("weights {w:?} must be [N, K]"));
            };
            if x.last() != Some(&k) {
                return bad(format!("input {x:?} does not end in K = {k}"));
            }
            check_bias(cx, shapes, n)?;
            let mut y = x[..x.len() - 1].to_vec();
            y.push(n);
            y
        }
        Op::Conv2d {
            stride, padding, ..
        }
        | Op::DepthwiseConv2d {
            stride, padding, ..
        } => {
            let w = &shapes[1];
            let (&[b, h, wd, c], &[o, kh, kw, wc]) = (&x[..], &w[..]) else {
                return bad(format!("input {x:?} and filter {w:?} must be rank 4"));
            };
            let depthwise = matches!(op, Op::DepthwiseConv2d { .. });
            let oc = if depthwise {
                if o != 1 || wc != c {
                    return bad(format!("depthwise filter {w:?} must be [1, kh, kw, {c}]"));
                }
                c
            } else {
                if wc != c {
                    return bad(format!("filter {w:?} does not take {c} input channels"));
                }
                o
            };
            check_bias(cx, shapes, oc)?;
            let side = |size: usize, k: usize, s: usize| match padding {
                Padding::Same => Ok(size.div_ceil(s)),
                Padding::Valid if size >= k => Ok((size - k) / s + 1),
                Padding::Valid => {
                    Err(cx.err(format!("kernel {kh}×{kw} is larger than input {x:?}")))
                }
            };
            vec![b, side(h, kh, stride.0)?, side(wd, kw, stride.1)?, oc]
        }
        Op::BatchMatmul { adj_x, adj_y } => {
            let w = &shapes[1];
            if x.len() < 2 || w.len() < 2 {
                return bad(format!("operands {x:?} and {w:?} need rank ≥ 2"));
            }
            let (ra, rb) = (x.len() - 2, w.len() - 2);
            let (m, k) = if *adj_x {
                (x[ra + 1], x[ra])
            } else {
                (x[ra], x[ra + 1])
            };
            let (kb, n) = if *adj_y {
                (w[rb + 1], w[rb])
            } else {
                (w[rb], w[rb + 1])
            };
            // What both executors take: equal batch dimensions, or one shared right-hand matrix.
            if k != kb || !(rb == 0 || x[..ra] == w[..rb]) {
                return bad(format!("cannot multiply {x:?} by {w:?}"));
            }
            let mut y = x[..ra].to_vec();
            y.extend([m, n]);
            y
        }
        Op::Add | Op::Sub | Op::Mul | Op::SquaredDifference => {
            broadcast_shape(x, &shapes[1]).map_err(|e| cx.err(e.to_string()))?
        }
        Op::Mean { axes, keep_dims } => x
            .iter()
            .enumerate()
            .filter_map(|(i, &d)| match (axes.contains(&i), keep_dims) {
                (false, _) => Some(d),
                (true, true) => Some(1),
                (true, false) => None,
            })
            .collect(),
        Op::Softmax if x.is_empty() => return bad("softmax of a scalar".into()),
        Op::Rsqrt
        | Op::Gelu
        | Op::Softmax
        | Op::Logistic
        | Op::HardSwish
        | Op::Quantize
        | Op::Dequantize => x.clone(),
        Op::Reshape { shape } => {
            if shape.iter().product::<usize>() != x.iter().product::<usize>() {
                return bad(format!("cannot reshape {x:?} to {shape:?}"));
            }
            shape.clone()
        }
        Op::Transpose { perm } => perm.iter().map(|&p| x[p]).collect(),
        Op::Concat { axis } => {
            let mut y = x.clone();
            for s in &shapes[1..] {
                let same_rest = s.len() == x.len()
                    && s.iter()
                        .zip(x)
                        .enumerate()
                        .all(|(i, (a, b))| i == *axis || a == b);
                if !same_rest {
                    return bad(format!("cannot join {s:?} to {x:?} along axis {axis}"));
                }
                y[*axis] += s[*axis];
            }
            y
        }
        Op::Slice { size, .. } => size.clone(),
        other => return Err(cx.unsupported(format!("{} cannot come from a file", other.name()))),
    };
    Ok(y)
}

/// An optional bias operand must be `[n]`.
fn check_bias(cx: &Ctx, shapes: &[Vec<usize>], n: usize) -> Result<()> {
    match shapes.get(2) {
        Some(b) if b[..] != [n] => Err(cx.err(format!("bias {b:?} must be [{n}]"))),
        _ => Ok(()),
    }
}
