//! Graph → `.tflite`: tensors, constant buffers, the op mapping with the converter's op versions,
//! XNNPACK's constraints checked per node, signature and metadata. Written atomically.

use std::collections::BTreeMap;
use std::path::Path;

use super::f16::{f32_to_f16_bits, is_positive_normal_f16};
use super::tflite::{
    write_model, ActivationFn, Blockwise, BuiltinOp, BuiltinOptions, ModelDef, OperatorCode,
    OperatorDef, Padding as TfPadding, Quantization, SignatureDef, SubGraphDef, TensorDef,
    TensorType,
};
use crate::graph::{Act, ConstData, DType, Graph, Node, Op, Padding, Quant, ValueId};
use inkling_kernels::qgemm::int4::{int4_bytes, pack_int4};

use crate::runtime::int8::{check_add_scales, check_conv_scales, check_mul_scales};
use crate::{Error, Result};

/// What an app needs to feed the model, stored as JSON in the file's `inkling` metadata.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ModelInfo {
    /// Class names in logit order.
    pub classes: Vec<String>,
    /// Input tensor shape (NHWC).
    pub input_shape: Vec<usize>,
    /// Whether pixels are inverted (255 − v) before normalization (Quick, Draw! bitmaps are
    /// white-on-black; the model was trained on what the loader produced).
    pub invert: bool,
    /// `x = (v/255 − mean)/std`.
    pub mean: f32,
    /// See `mean`.
    pub std: f32,
    /// "float32" or "int8".
    pub precision: String,
}

/// Name of the metadata entry holding [`ModelInfo`].
pub const METADATA_NAME: &str = "inkling";

/// Serializes `g` as a `.tflite` model.
pub fn to_tflite(g: &Graph, info: &ModelInfo) -> Result<Vec<u8>> {
    g.validate()?;
    let mut b = Builder {
        g,
        tensors: Vec::new(),
        buffers: vec![Vec::new()],
        tensor_of: BTreeMap::new(),
        codes: Vec::new(),
        ops: Vec::new(),
    };
    for n in &g.nodes {
        b.node(n)?;
    }
    let inputs = g
        .inputs
        .iter()
        .map(|&v| b.tensor(v))
        .collect::<Result<Vec<_>>>()?;
    let outputs = g
        .outputs
        .iter()
        .map(|&v| b.tensor(v))
        .collect::<Result<Vec<_>>>()?;
    let meta = serde_json::to_vec(info).map_err(|e| crate::error::format_err(e.to_string()))?;
    b.buffers.push(meta);
    let meta_buf = (b.buffers.len() - 1) as u32;
    let sig = |names: &[i32], prefix: &str| -> Vec<(String, u32)> {
        names
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                let name = if names.len() == 1 {
                    prefix.to_string()
                } else {
                    format!("{prefix}_{i}")
                };
                (name, t as u32)
            })
            .collect()
    };
    let model = ModelDef {
        version: 3,
        description: "Inkling".into(),
        operator_codes: b.codes.clone(),
        subgraphs: vec![SubGraphDef {
            name: "main".into(),
            tensors: b.tensors,
            inputs: inputs.clone(),
            outputs: outputs.clone(),
            operators: b.ops,
        }],
        buffers: b.buffers,
        metadata: vec![(METADATA_NAME.into(), meta_buf)],
        signatures: vec![SignatureDef {
            key: "serving_default".into(),
            inputs: sig(&inputs, "image"),
            outputs: sig(&outputs, "logits"),
            subgraph_index: 0,
        }],
    };
    write_model(&model)
}

/// Writes `bytes` to `path` atomically (temporary file in the same directory, then rename).
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp-inkling");
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

struct Builder<'g> {
    g: &'g Graph,
    tensors: Vec<TensorDef>,
    buffers: Vec<Vec<u8>>,
    tensor_of: BTreeMap<ValueId, i32>,
    codes: Vec<OperatorCode>,
    ops: Vec<OperatorDef>,
}

fn unsupported(n: &Node, what: impl Into<String>) -> Error {
    Error::Unsupported {
        node: n.name.clone(),
        what: what.into(),
    }
}

fn act(a: Act) -> ActivationFn {
    match a {
        Act::None => ActivationFn::None,
        Act::Relu => ActivationFn::Relu,
        Act::Relu6 => ActivationFn::Relu6,
    }
}

fn pad(p: Padding) -> TfPadding {
    match p {
        Padding::Same => TfPadding::Same,
        Padding::Valid => TfPadding::Valid,
    }
}

impl Builder<'_> {
    /// The tensor index of graph value `v` (created on first use).
    fn tensor(&mut self, v: ValueId) -> Result<i32> {
        if let Some(&t) = self.tensor_of.get(&v) {
            return Ok(t);
        }
        let val = self.g.value(v);
        let dtype = match val.dtype {
            DType::F32 => TensorType::F32,
            DType::I8 => TensorType::I8,
            DType::I32 => TensorType::I32,
            DType::I4 => TensorType::I4,
        };
        let buffer = match &val.data {
            None => 0,
            Some(d) => {
                self.buffers.push(match d {
                    ConstData::F32(x) => x.iter().flat_map(|v| v.to_le_bytes()).collect(),
                    ConstData::I8(x) => x.iter().map(|&v| v as u8).collect(),
                    ConstData::I32(x) => x.iter().flat_map(|v| v.to_le_bytes()).collect(),
                    ConstData::I4(x) => {
                        let mut packed = vec![0u8; int4_bytes(x.len())];
                        pack_int4(x, &mut packed).map_err(|e| Error::Quant {
                            node: val.name.clone(),
                            what: e.to_string(),
                        })?;
                        packed
                    }
                });
                (self.buffers.len() - 1) as u32
            }
        };
        let quant = match &val.quant {
            None => None,
            Some(Quant::PerTensor(p)) => Some(Quantization {
                scale: vec![p.scale],
                zero_point: vec![p.zero_point as i64],
                quantized_dimension: 0,
                blockwise: None,
            }),
            Some(Quant::PerChannel { scales, axis }) => Some(Quantization {
                scale: scales.clone(),
                zero_point: vec![0; scales.len()],
                quantized_dimension: *axis as i32,
                blockwise: None,
            }),
            Some(Quant::Blockwise { scales, block_size }) => {
                Some(self.blockwise_scales(v, scales, *block_size)?)
            }
        };
        self.tensors.push(TensorDef {
            name: val.name.clone(),
            shape: val.shape.iter().map(|&d| d as i32).collect(),
            dtype,
            buffer,
            quant,
        });
        let t = (self.tensors.len() - 1) as i32;
        self.tensor_of.insert(v, t);
        Ok(t)
    }

    /// The FLOAT16 scale tensor `[N, K / block]` of blockwise int4 weights `v` and the
    /// quantization parameters that point at it (zero points -1: symmetric).
    fn blockwise_scales(
        &mut self,
        v: ValueId,
        scales: &[f32],
        block: usize,
    ) -> Result<Quantization> {
        let val = self.g.value(v);
        let err = |what: String| Error::Quant {
            node: val.name.clone(),
            what,
        };
        let &[n, k] = val.shape.as_slice() else {
            return Err(err(format!(
                "blockwise weights must be [N, K], not {:?}",
                val.shape
            )));
        };
        if block == 0 || !block.is_multiple_of(32) || !k.is_multiple_of(block) {
            return Err(err(format!(
                "block size {block} must be a multiple of 32 that divides K = {k} (XNNPACK)"
            )));
        }
        if scales.len() != n * (k / block) {
            return Err(err(format!(
                "{} block scales for [{n}, {}]",
                scales.len(),
                k / block
            )));
        }
        if let Some(s) = scales.iter().find(|&&s| !is_positive_normal_f16(s)) {
            return Err(err(format!(
                "block scale {s} is not a positive normal float16 value (XNNPACK reads FLOAT16 scales)"
            )));
        }
        self.buffers.push(
            scales
                .iter()
                .flat_map(|&s| f32_to_f16_bits(s).to_le_bytes())
                .collect(),
        );
        self.tensors.push(TensorDef {
            name: format!("{}.scales", val.name),
            shape: vec![n as i32, (k / block) as i32],
            dtype: TensorType::F16,
            buffer: (self.buffers.len() - 1) as u32,
            quant: None,
        });
        Ok(Quantization {
            scale: Vec::new(),
            zero_point: Vec::new(),
            quantized_dimension: 0,
            blockwise: Some(Blockwise {
                scales: (self.tensors.len() - 1) as i32,
                zero_points: -1,
                block_size: block as i32,
            }),
        })
    }

    /// A constant int32 vector operand (shapes, permutations, axes).
    fn i32_const(&mut self, name: &str, data: &[i32]) -> i32 {
        self.buffers
            .push(data.iter().flat_map(|v| v.to_le_bytes()).collect());
        self.tensors.push(TensorDef {
            name: name.to_string(),
            shape: vec![data.len() as i32],
            dtype: TensorType::I32,
            buffer: (self.buffers.len() - 1) as u32,
            quant: None,
        });
        (self.tensors.len() - 1) as i32
    }

    fn opcode(&mut self, code: i32, version: i32) -> u32 {
        if let Some(i) = self
            .codes
            .iter()
            .position(|c| c.code == code && c.version == version)
        {
            return i as u32;
        }
        self.codes.push(OperatorCode { code, version });
        (self.codes.len() - 1) as u32
    }

    fn scale(&self, v: ValueId) -> Option<f32> {
        self.g.value(v).qparams().map(|q| q.scale)
    }

    fn node(&mut self, n: &Node) -> Result<()> {
        let g = self.g;
        let y = n.outputs[0];
        let int8 = g.value(y).dtype == DType::I8
            || n.inputs.iter().any(|&x| g.value(x).dtype == DType::I8);
        let v = |int8v: i32, f: i32| if int8 { int8v } else { f };
        let mut inputs: Vec<i32> = n
            .inputs
            .iter()
            .map(|&x| self.tensor(x))
            .collect::<Result<_>>()?;
        let shape_i32 = |s: &[usize]| s.iter().map(|&d| d as i32).collect::<Vec<i32>>();
        let (code, version, options) = match &n.op {
            Op::FullyConnected { act: a } => {
                let keep = g.value(n.inputs[0]).shape.len() > 2;
                self.check_weighted(n)?;
                // INT4 filters: version 10, the first whose kernels read them (op_version.cc gives
                // it to int8 × INT4; its keep_num_dims rule would say 5 for 3-D inputs, which an
                // older runtime would take and then misread the weights). f32 × INT4 has no rule
                // of its own there; it needs the same INT4 support, so it gets 10 as well.
                let ver = if g.value(n.inputs[1]).dtype == DType::I4 {
                    10
                } else if keep {
                    5
                } else {
                    v(4, 1)
                };
                (
                    BuiltinOp::FULLY_CONNECTED,
                    ver,
                    BuiltinOptions::FullyConnected {
                        fused_activation: act(*a),
                        keep_num_dims: keep,
                        asymmetric_quantize_inputs: false,
                    },
                )
            }
            Op::Conv2d {
                stride,
                padding,
                act: a,
            } => {
                self.check_weighted(n)?;
                (
                    BuiltinOp::CONV_2D,
                    v(3, 1),
                    BuiltinOptions::Conv2D {
                        padding: pad(*padding),
                        stride_w: stride.1 as i32,
                        stride_h: stride.0 as i32,
                        fused_activation: act(*a),
                        dilation_w: 1,
                        dilation_h: 1,
                    },
                )
            }
            Op::DepthwiseConv2d {
                stride,
                padding,
                act: a,
            } => {
                self.check_weighted(n)?;
                (
                    BuiltinOp::DEPTHWISE_CONV_2D,
                    v(3, 1),
                    BuiltinOptions::DepthwiseConv2D {
                        padding: pad(*padding),
                        stride_w: stride.1 as i32,
                        stride_h: stride.0 as i32,
                        depth_multiplier: 1,
                        fused_activation: act(*a),
                        dilation_w: 1,
                        dilation_h: 1,
                    },
                )
            }
            Op::BatchMatmul { adj_x, adj_y } => {
                if int8 && g.value(n.inputs[1]).qparams().map(|q| q.zero_point) != Some(0) {
                    return Err(unsupported(
                        n,
                        "int8 BATCH_MATMUL needs a symmetric right-hand side (zero point 0) for XNNPACK",
                    ));
                }
                (
                    BuiltinOp::BATCH_MATMUL,
                    v(2, 1),
                    BuiltinOptions::BatchMatMul {
                        adj_x: *adj_x,
                        adj_y: *adj_y,
                        asymmetric_quantize_inputs: false,
                    },
                )
            }
            Op::Add | Op::Sub => {
                if int8 {
                    let (a, b, o) = (
                        self.scale(n.inputs[0]),
                        self.scale(n.inputs[1]),
                        self.scale(y),
                    );
                    if let (Some(a), Some(b), Some(o)) = (a, b, o) {
                        check_add_scales(&n.name, a, b, o)?;
                    }
                }
                let (code, options) = if n.op == Op::Add {
                    (
                        BuiltinOp::ADD,
                        BuiltinOptions::Add {
                            fused_activation: ActivationFn::None,
                            pot_scale_int16: true,
                        },
                    )
                } else {
                    (
                        BuiltinOp::SUB,
                        BuiltinOptions::Sub {
                            fused_activation: ActivationFn::None,
                            pot_scale_int16: true,
                        },
                    )
                };
                (code, v(2, 1), options)
            }
            Op::Mul => {
                let mut ver = v(2, 1);
                if int8 {
                    if let (Some(a), Some(b), Some(o)) = (
                        self.scale(n.inputs[0]),
                        self.scale(n.inputs[1]),
                        self.scale(y),
                    ) {
                        check_mul_scales(&n.name, a, b, o)?;
                        if a * b / o >= 1.0 {
                            ver = 3;
                        }
                    }
                }
                (
                    BuiltinOp::MUL,
                    ver,
                    BuiltinOptions::Mul {
                        fused_activation: ActivationFn::None,
                    },
                )
            }
            Op::SquaredDifference => (
                BuiltinOp::SQUARED_DIFFERENCE,
                v(2, 1),
                BuiltinOptions::SquaredDifference,
            ),
            Op::Mean { axes, keep_dims } => {
                let axes: Vec<i32> = axes.iter().map(|&a| a as i32).collect();
                inputs.push(self.i32_const(&format!("{}.axes", n.name), &axes));
                (
                    BuiltinOp::MEAN,
                    v(2, 1),
                    BuiltinOptions::Reducer {
                        keep_dims: *keep_dims,
                    },
                )
            }
            Op::Rsqrt => (BuiltinOp::RSQRT, v(2, 1), BuiltinOptions::None),
            Op::Gelu => (
                BuiltinOp::GELU,
                v(2, 1),
                BuiltinOptions::Gelu { approximate: false },
            ),
            Op::Softmax => (
                BuiltinOp::SOFTMAX,
                v(2, 1),
                BuiltinOptions::Softmax { beta: 1.0 },
            ),
            Op::Logistic => (BuiltinOp::LOGISTIC, v(2, 1), BuiltinOptions::None),
            Op::HardSwish => (BuiltinOp::HARD_SWISH, 1, BuiltinOptions::HardSwish),
            Op::Reshape { shape } => {
                self.check_shared(n)?;
                let s = shape_i32(shape);
                inputs.push(self.i32_const(&format!("{}.shape", n.name), &s));
                (
                    BuiltinOp::RESHAPE,
                    1,
                    BuiltinOptions::Reshape { new_shape: s },
                )
            }
            Op::Transpose { perm } => {
                self.check_shared(n)?;
                let p = shape_i32(perm);
                inputs.push(self.i32_const(&format!("{}.perm", n.name), &p));
                let ver = if perm.len() > 4 { 4 } else { v(2, 1) };
                (BuiltinOp::TRANSPOSE, ver, BuiltinOptions::Transpose)
            }
            Op::Concat { axis } => {
                self.check_shared(n)?;
                (
                    BuiltinOp::CONCATENATION,
                    v(2, 1),
                    BuiltinOptions::Concatenation {
                        axis: *axis as i32,
                        fused_activation: ActivationFn::None,
                    },
                )
            }
            Op::Slice { begin, size } => {
                self.check_shared(n)?;
                let b = shape_i32(begin);
                let e: Vec<i32> = begin
                    .iter()
                    .zip(size)
                    .map(|(&b, &s)| (b + s) as i32)
                    .collect();
                let s = vec![1; begin.len()];
                inputs.push(self.i32_const(&format!("{}.begin", n.name), &b));
                inputs.push(self.i32_const(&format!("{}.end", n.name), &e));
                inputs.push(self.i32_const(&format!("{}.strides", n.name), &s));
                (
                    BuiltinOp::STRIDED_SLICE,
                    v(2, 1),
                    BuiltinOptions::StridedSlice {
                        begin_mask: 0,
                        end_mask: 0,
                        ellipsis_mask: 0,
                        new_axis_mask: 0,
                        shrink_axis_mask: 0,
                        offset: false,
                    },
                )
            }
            Op::Quantize => (BuiltinOp::QUANTIZE, 1, BuiltinOptions::Quantize),
            Op::Dequantize => (BuiltinOp::DEQUANTIZE, 2, BuiltinOptions::Dequantize),
            other => {
                return Err(unsupported(
                    n,
                    format!(
                        "{} has no .tflite form (run the lowering passes first)",
                        other.name()
                    ),
                ))
            }
        };
        let opcode_index = self.opcode(code, version);
        let outputs = vec![self.tensor(y)?];
        self.ops.push(OperatorDef {
            opcode_index,
            inputs,
            outputs,
            options,
        });
        Ok(())
    }

    /// int8 FC/conv: per-channel weights on the right axis, bias at s_in·s_w, scale_c < 256;
    /// int4 weights: FC only, an even K, and per-channel weights when the input is int8.
    fn check_weighted(&self, n: &Node) -> Result<()> {
        let g = self.g;
        let w = g.value(n.inputs[1]);
        if w.dtype == DType::I4 {
            if !matches!(n.op, Op::FullyConnected { .. }) {
                return Err(unsupported(
                    n,
                    "XNNPACK takes int4 weights in FULLY_CONNECTED only",
                ));
            }
            if w.shape.len() != 2 || !w.shape[1].is_multiple_of(2) {
                return Err(unsupported(
                    n,
                    format!(
                        "int4 weights {:?} need an even number of input channels",
                        w.shape
                    ),
                ));
            }
            if g.value(n.outputs[0]).dtype == DType::I8
                && !matches!(w.quant, Some(Quant::PerChannel { .. }))
            {
                return Err(unsupported(
                    n,
                    "int8 × int4 needs per-channel int4 weights (XNNPACK has no blockwise form of it)",
                ));
            }
        }
        if g.value(n.outputs[0]).dtype != DType::I8 {
            return Ok(());
        }
        let want_axis = if matches!(n.op, Op::DepthwiseConv2d { .. }) {
            3
        } else {
            0
        };
        let (Some(x), Some(y)) = (
            g.value(n.inputs[0]).qparams(),
            g.value(n.outputs[0]).qparams(),
        ) else {
            return Err(unsupported(
                n,
                "int8 input and output need per-tensor parameters",
            ));
        };
        let Some(Quant::PerChannel { scales, axis }) = &g.value(n.inputs[1]).quant else {
            return Err(unsupported(
                n,
                "int8 weights need per-channel symmetric parameters",
            ));
        };
        if *axis != want_axis {
            return Err(unsupported(
                n,
                format!("weights quantized along axis {axis}, XNNPACK needs {want_axis}"),
            ));
        }
        if let Some(&b) = n.inputs.get(2) {
            if let Some(Quant::PerChannel { scales: bs, .. }) = &g.value(b).quant {
                for (c, (&sb, &sw)) in bs.iter().zip(scales).enumerate() {
                    if (sb - x.scale * sw).abs() > 1e-6 * sb.abs() {
                        return Err(unsupported(
                            n,
                            format!(
                                "bias scale of channel {c} is {sb}, must be s_in·s_w = {}",
                                x.scale * sw
                            ),
                        ));
                    }
                }
            }
        }
        check_conv_scales(&n.name, x.scale, scales, y.scale)?;
        Ok(())
    }

    /// Data-movement ops: every int8 input and the output share one scale and zero point.
    fn check_shared(&self, n: &Node) -> Result<()> {
        let g = self.g;
        let Some(y) = g.value(n.outputs[0]).qparams() else {
            return Ok(());
        };
        for &x in &n.inputs {
            if g.value(x).qparams() != Some(y) {
                return Err(unsupported(
                    n,
                    format!(
                        "{} must share the output's scale and zero point ({:?} vs {:?})",
                        g.value(x).name,
                        g.value(x).qparams(),
                        y
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Value;
    use crate::QParams;

    fn int8(g: &mut Graph, name: &str, shape: &[usize], q: QParams) -> ValueId {
        let mut v = Value::activation(name, shape, DType::I8);
        v.quant = Some(Quant::PerTensor(q));
        g.add_value(v)
    }

    fn node(g: &mut Graph, name: &str, op: Op, inputs: Vec<ValueId>, out: ValueId) {
        g.nodes.push(Node {
            name: name.into(),
            op,
            inputs,
            outputs: vec![out],
            float_island: false,
        });
    }

    fn export_err(g: &Graph) -> String {
        to_tflite(g, &ModelInfo::default()).unwrap_err().to_string()
    }

    #[test]
    fn xnnpack_constraints_are_checked_and_name_the_node() {
        let q = QParams::new(0.05, 3);
        // BATCH_MATMUL with an asymmetric right-hand side.
        let mut g = Graph::default();
        let a = int8(&mut g, "a", &[1, 4, 8], q);
        let b = int8(&mut g, "b", &[1, 8, 4], q);
        let y = int8(&mut g, "y", &[1, 4, 4], q);
        g.inputs = vec![a, b];
        g.outputs = vec![y];
        let bmm = Op::BatchMatmul {
            adj_x: false,
            adj_y: false,
        };
        node(&mut g, "attn.scores", bmm, vec![a, b], y);
        let e = export_err(&g);
        assert!(
            e.contains("attn.scores") && e.contains("zero point 0"),
            "{e}"
        );

        // RESHAPE whose output has other parameters than its input.
        let mut g = Graph::default();
        let x = int8(&mut g, "x", &[2, 4], q);
        let y = int8(&mut g, "y", &[8], QParams::new(0.1, 3));
        g.inputs = vec![x];
        g.outputs = vec![y];
        node(
            &mut g,
            "flatten",
            Op::Reshape { shape: vec![8] },
            vec![x],
            y,
        );
        let e = export_err(&g);
        assert!(e.contains("flatten") && e.contains("share"), "{e}");

        // ADD whose input/output scale ratio is outside XNNPACK's [2^-10, 2^8).
        let mut g = Graph::default();
        let a = int8(&mut g, "a", &[4], QParams::new(1000.0, 0));
        let b = int8(&mut g, "b", &[4], q);
        let y = int8(&mut g, "y", &[4], QParams::new(0.001, 0));
        g.inputs = vec![a, b];
        g.outputs = vec![y];
        node(&mut g, "residual", Op::Add, vec![a, b], y);
        assert!(export_err(&g).contains("residual"));

        // Layer norm was not lowered.
        let mut g = Graph::default();
        let x = g.add_activation("x", &[1, 4]);
        let gm = g.add_const_f32("g", &[4], vec![1.0; 4]);
        let bt = g.add_const_f32("b", &[4], vec![0.0; 4]);
        let y = g.add_activation("y", &[1, 4]);
        g.inputs = vec![x];
        g.outputs = vec![y];
        node(
            &mut g,
            "norm",
            Op::LayerNorm { eps: 1e-6 },
            vec![x, gm, bt],
            y,
        );
        let e = export_err(&g);
        assert!(e.contains("norm") && e.contains("lowering"), "{e}");
    }
}
