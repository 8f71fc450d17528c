//! Conversion of a calibrated float32 graph to int8 (TFLite's scheme, XNNPACK's constraints).
//!
//! Int8 nodes: FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D, BATCH_MATMUL, ADD, SUB, MUL, MEAN, LOGISTIC and the
//! data-movement ops (RESHAPE, TRANSPOSE, CONCATENATION, STRIDED_SLICE), unless marked as a float
//! island. Everything else stays float32 behind DEQUANTIZE … QUANTIZE. Values joined by
//! data-movement ops share one scale and zero point (range = union of the members'); a value read
//! as the right-hand side of a BATCH_MATMUL is symmetric (XNNPACK requires zero point 0 there);
//! softmax and logistic outputs use 1/256, −128.

use std::collections::HashMap;

use crate::graph::{ConstData, DType, Graph, Node, Op, Quant, Value, ValueId};
use crate::ptq::qparams::{
    asymmetric, quantize_bias, quantize_tensor, quantize_weights, symmetric,
};
use crate::{Error, QParams, Result};

/// Whether `n` runs in int8 after conversion.
pub fn is_int8_node(n: &Node) -> bool {
    !n.float_island
        && matches!(
            n.op,
            Op::FullyConnected { .. }
                | Op::Conv2d { .. }
                | Op::DepthwiseConv2d { .. }
                | Op::BatchMatmul { .. }
                | Op::Add
                | Op::Sub
                | Op::Mul
                | Op::Mean { .. }
                | Op::Logistic
                | Op::Reshape { .. }
                | Op::Transpose { .. }
                | Op::Concat { .. }
                | Op::Slice { .. }
        )
}

/// Union-find over value ids.
struct Groups(Vec<usize>);

impl Groups {
    fn find(&mut self, mut a: usize) -> usize {
        while self.0[a] != a {
            self.0[a] = self.0[self.0[a]];
            a = self.0[a];
        }
        a
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        self.0[ra] = rb;
    }
}

/// Range of a constant's data.
fn const_range(v: &Value) -> Option<(f32, f32)> {
    let d = v.data.as_ref()?.as_f32()?;
    let lo = d.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = d.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    (lo <= hi).then_some((lo, hi))
}

/// Chooses per-tensor parameters for every value an int8 node reads or writes.
fn choose_qparams(g: &Graph, ranges: &HashMap<ValueId, (f32, f32)>) -> HashMap<ValueId, QParams> {
    let n = g.values.len();
    let mut groups = Groups((0..n).collect());
    let mut symmetric_v = vec![false; n];
    let mut fixed: HashMap<usize, QParams> = HashMap::new();
    for node in &g.nodes {
        if matches!(node.op, Op::Softmax | Op::Logistic) {
            fixed.insert(node.outputs[0].0, QParams::new(1.0 / 256.0, -128));
        }
        if !is_int8_node(node) {
            continue;
        }
        if node.op.shares_qparams() {
            for &x in &node.inputs {
                groups.union(x.0, node.outputs[0].0);
            }
        }
        if let Op::BatchMatmul { .. } = node.op {
            symmetric_v[node.inputs[1].0] = true;
        }
    }
    let mut span: HashMap<usize, (f32, f32)> = HashMap::new();
    let mut sym: HashMap<usize, bool> = HashMap::new();
    let mut fix: HashMap<usize, QParams> = HashMap::new();
    for (v, &is_sym) in symmetric_v.iter().enumerate() {
        let r = groups.find(v);
        let id = ValueId(v);
        let range = ranges
            .get(&id)
            .copied()
            .or_else(|| const_range(g.value(id)));
        if let Some((lo, hi)) = range {
            let e = span.entry(r).or_insert((lo, hi));
            *e = (e.0.min(lo), e.1.max(hi));
        }
        if is_sym {
            sym.insert(r, true);
        }
        if let Some(q) = fixed.get(&v) {
            fix.insert(r, *q);
        }
    }
    let mut out = HashMap::new();
    for v in 0..n {
        let r = groups.find(v);
        let q = if let Some(q) = fix.get(&r) {
            *q
        } else if let Some(&(lo, hi)) = span.get(&r) {
            if sym.get(&r).copied().unwrap_or(false) {
                symmetric(lo, hi)
            } else {
                asymmetric(lo, hi)
            }
        } else {
            continue;
        };
        out.insert(ValueId(v), q);
    }
    out
}

/// Converts `g` (float32, prepared) to int8 given calibrated activation ranges.
pub fn convert(g: &Graph, ranges: &HashMap<ValueId, (f32, f32)>) -> Result<Graph> {
    let qp = choose_qparams(g, ranges);
    let mut c = Converter {
        src: g,
        out: Graph::default(),
        f32_of: HashMap::new(),
        i8_of: HashMap::new(),
        qp,
    };
    for &i in &g.inputs {
        let v = g.value(i).clone();
        let id = c.out.add_value(v);
        c.out.inputs.push(id);
        c.f32_of.insert(i, id);
    }
    for node in &g.nodes {
        c.node(node)?;
    }
    for &o in &g.outputs {
        let id = match (c.i8_of.get(&o), c.f32_of.get(&o)) {
            (Some(&q), _) => q,
            (None, Some(&f)) => f,
            _ => return Err(missing(g, o)),
        };
        c.out.outputs.push(id);
    }
    c.out.validate()?;
    Ok(c.out)
}

/// Per-channel symmetric int8 weights of `n` (and their scales).
fn int8_weights(n: &Node, wv: &Value) -> Result<(Value, Vec<f32>)> {
    let w = wv
        .data
        .as_ref()
        .and_then(|d| d.as_f32())
        .ok_or_else(|| Error::Unsupported {
            node: n.name.clone(),
            what: "weights must be constants for int8".into(),
        })?;
    // FC [N, K] and conv OHWI: channel axis 0; depthwise 1HWC: the last axis.
    let (axis, channels) = match n.op {
        Op::DepthwiseConv2d { .. } => (3, wv.shape[3]),
        _ => (0, wv.shape[0]),
    };
    let per = w.len() / channels.max(1);
    let (qw, scales) = if axis == 0 {
        quantize_weights(w, channels, |j| j / per)
    } else {
        quantize_weights(w, channels, |j| j % channels)
    };
    let mut nw = Value::constant(&wv.name, &wv.shape, ConstData::I8(qw));
    nw.quant = Some(Quant::PerChannel {
        scales: scales.clone(),
        axis,
    });
    Ok((nw, scales))
}

/// Weights a 4-bit pass already quantized (int4 with per-channel scales): convert keeps them as
/// they are instead of choosing int8 weights. int4 weights of any other kind are an error here.
fn pre_quantized(n: &Node, w: &Value) -> Result<Option<(Value, Vec<f32>)>> {
    if w.dtype != DType::I4 {
        return Ok(None);
    }
    match (&w.data, &w.quant) {
        (Some(ConstData::I4(_)), Some(Quant::PerChannel { scales, axis: 0 }))
            if matches!(n.op, Op::FullyConnected { .. }) =>
        {
            Ok(Some((w.clone(), scales.clone())))
        }
        _ => Err(Error::Unsupported {
            node: n.name.clone(),
            what: "int8 × int4 takes per-channel int4 FULLY_CONNECTED weights only".into(),
        }),
    }
}

fn missing(g: &Graph, v: ValueId) -> Error {
    Error::Graph {
        node: g.value(v).name.clone(),
        what: "has no converted value".into(),
    }
}

struct Converter<'a> {
    src: &'a Graph,
    out: Graph,
    f32_of: HashMap<ValueId, ValueId>,
    i8_of: HashMap<ValueId, ValueId>,
    qp: HashMap<ValueId, QParams>,
}

impl Converter<'_> {
    fn q(&self, v: ValueId) -> Result<QParams> {
        self.qp.get(&v).copied().ok_or_else(|| Error::Quant {
            node: self.src.value(v).name.clone(),
            what: "was never observed during calibration (no range)".into(),
        })
    }

    /// The float32 form of source value `v` (constants copied, int8 values dequantized).
    fn as_f32(&mut self, v: ValueId) -> Result<ValueId> {
        if let Some(&id) = self.f32_of.get(&v) {
            return Ok(id);
        }
        let sv = self.src.value(v);
        let id = if sv.data.is_some() {
            self.out.add_value(sv.clone())
        } else {
            let q = *self.i8_of.get(&v).ok_or_else(|| missing(self.src, v))?;
            let name = format!("{}.dequant", sv.name);
            self.out
                .push(&name, Op::Dequantize, vec![q], &sv.shape, false)
        };
        self.f32_of.insert(v, id);
        Ok(id)
    }

    /// The int8 per-tensor form of source value `v` (constants quantized, float values quantized
    /// by a QUANTIZE node).
    fn as_i8(&mut self, v: ValueId) -> Result<ValueId> {
        if let Some(&id) = self.i8_of.get(&v) {
            return Ok(id);
        }
        let q = self.q(v)?;
        let sv = self.src.value(v).clone();
        let id = if let Some(d) = sv.data.as_ref().and_then(|d| d.as_f32()) {
            let mut nv = Value::constant(&sv.name, &sv.shape, ConstData::I8(quantize_tensor(d, q)));
            nv.quant = Some(Quant::PerTensor(q));
            self.out.add_value(nv)
        } else {
            let f = self.as_f32(v)?;
            let name = format!("{}.quant", sv.name);
            let id = self
                .out
                .push(&name, Op::Quantize, vec![f], &sv.shape, false);
            let ov = self.out.value_mut(id);
            ov.dtype = DType::I8;
            ov.quant = Some(Quant::PerTensor(q));
            id
        };
        self.i8_of.insert(v, id);
        Ok(id)
    }

    fn node(&mut self, n: &Node) -> Result<()> {
        let y = n.outputs[0];
        let shape = self.src.value(y).shape.clone();
        if !is_int8_node(n) {
            let ins = n
                .inputs
                .iter()
                .map(|&x| self.as_f32(x))
                .collect::<Result<Vec<_>>>()?;
            let id = self
                .out
                .push(&n.name, n.op.clone(), ins, &shape, n.float_island);
            self.f32_of.insert(y, id);
            return Ok(());
        }
        let mut ins = Vec::with_capacity(n.inputs.len());
        let weighted = matches!(
            n.op,
            Op::FullyConnected { .. } | Op::Conv2d { .. } | Op::DepthwiseConv2d { .. }
        );
        if weighted {
            let x = self.as_i8(n.inputs[0])?;
            let s_in = self.q(n.inputs[0])?.scale;
            let wv = self.src.value(n.inputs[1]).clone();
            let (nw, scales) = match pre_quantized(n, &wv)? {
                Some(given) => given,
                None => int8_weights(n, &wv)?,
            };
            let channels = scales.len();
            let wid = self.out.add_value(nw);
            let bias = match n.inputs.get(2) {
                Some(&b) => {
                    let bv = self.src.value(b);
                    bv.data
                        .as_ref()
                        .and_then(|d| d.as_f32())
                        .map(<[f32]>::to_vec)
                        .ok_or_else(|| Error::Unsupported {
                            node: n.name.clone(),
                            what: "bias must be a constant for int8".into(),
                        })?
                }
                None => vec![0.0; channels],
            };
            let bname = n.inputs.get(2).map_or(format!("{}.bias", n.name), |&b| {
                self.src.value(b).name.clone()
            });
            let mut nb = Value::constant(
                &bname,
                &[channels],
                ConstData::I32(quantize_bias(&bias, s_in, &scales)),
            );
            nb.quant = Some(Quant::PerChannel {
                scales: scales.iter().map(|s| s * s_in).collect(),
                axis: 0,
            });
            let bid = self.out.add_value(nb);
            ins.extend([x, wid, bid]);
        } else {
            for &x in &n.inputs {
                ins.push(self.as_i8(x)?);
            }
        }
        let q = self.q(y)?;
        let id = self.out.push(&n.name, n.op.clone(), ins, &shape, false);
        let ov = self.out.value_mut(id);
        ov.dtype = DType::I8;
        ov.quant = Some(Quant::PerTensor(q));
        self.i8_of.insert(y, id);
        Ok(())
    }
}
