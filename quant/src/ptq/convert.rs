//! Conversion of a calibrated float32 graph to int8 (TFLite's scheme, XNNPACK's constraints).
//!
//! Int8 nodes: FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D, BATCH_MATMUL, ADD, SUB, MUL, MEAN, LOGISTIC and the
//! data-movement ops (RESHAPE, TRANSPOSE, CONCATENATION, STRIDED_SLICE), unless marked as a float
//! island. Everything else stays float32 behind DEQUANTIZE … QUANTIZE. Which values share, are
//! symmetric or have fixed parameters is [`super::plan`]'s decision (QAT reads the same plan).

use std::collections::HashMap;

use crate::graph::{ConstData, DType, Graph, Node, Op, Quant, Value, ValueId};
use crate::ptq::plan::{is_weighted, quant_plan, weight_axis};
use crate::ptq::qparams::{quantize_bias, quantize_tensor, quantize_weights};
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

/// Converts `g` (float32, prepared) to int8 given calibrated activation ranges.
pub fn convert(g: &Graph, ranges: &HashMap<ValueId, (f32, f32)>) -> Result<Graph> {
    let qp = quant_plan(g).qparams(g, ranges);
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
    let axis = weight_axis(&n.op);
    let channels = wv.shape[axis];
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
        if is_weighted(&n.op) {
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
