//! [`ModelDef`] → `.tflite` bytes.
//!
//! Slot numbers are the field ids of `schema.fbs` (a union takes two: type, then value). Every
//! modelled field is written, even when it equals the schema default, so what LiteRT reads never
//! depends on a default we did not mean (SOFTMAX's beta defaults to 0). Empty buffers are empty
//! tables, as the converter writes them.

use super::schema::{
    ActivationFn, BuiltinOptions, ModelDef, OperatorDef, Padding, Quantization, SignatureDef,
    SubGraphDef, TensorDef,
};
use super::validate::validate;
use crate::export::flatbuf::{Builder, Field, Offset};
use crate::{Error, Result};
use std::collections::HashMap;

/// The file identifier at bytes 4..8.
pub const FILE_IDENTIFIER: &[u8; 4] = b"TFL3";

/// Alignment of `Buffer.data` (`force_align: 16`): builtin kernels read constants in place.
pub const BUFFER_ALIGN: usize = 16;

/// Serializes a model after checking it (see the rules in `validate.rs`).
///
/// Errors: [`Error::Graph`] naming the element that breaks a rule, or [`Error::Format`] when the
/// model does not fit a FlatBuffer (2 GiB).
pub fn write_model(m: &ModelDef) -> Result<Vec<u8>> {
    validate(m).map_err(|e| Error::Graph {
        node: e.node,
        what: e.what,
    })?;
    let mut b = Builder::new();
    // Large constant data first: built first means placed last in the file.
    let buffers: Vec<Offset> = m
        .buffers
        .iter()
        .map(|data| {
            if data.is_empty() {
                b.table(&[])
            } else {
                let d = b.bytes(data, BUFFER_ALIGN);
                b.table(&[(0, Field::Ref(d))])
            }
        })
        .collect();
    let buffers = b.refs(&buffers);
    let subgraphs: Vec<Offset> = m.subgraphs.iter().map(|sg| subgraph(&mut b, sg)).collect();
    let subgraphs = b.refs(&subgraphs);
    let codes: Vec<Offset> = m
        .operator_codes
        .iter()
        .map(|c| {
            b.table(&[
                (0, Field::I8(c.code.min(127) as i8)),
                (2, Field::I32(c.version)),
                (3, Field::I32(c.code)),
            ])
        })
        .collect();
    let codes = b.refs(&codes);
    let metadata: Vec<Offset> = m
        .metadata
        .iter()
        .map(|(name, buffer)| {
            let name = b.string(name);
            b.table(&[(0, Field::Ref(name)), (1, Field::U32(*buffer))])
        })
        .collect();
    let metadata = b.refs(&metadata);
    let signatures: Vec<Offset> = m.signatures.iter().map(|s| signature(&mut b, s)).collect();
    let signatures = b.refs(&signatures);
    let description = b.string(&m.description);
    let root = b.table(&[
        (0, Field::U32(m.version)),
        (1, Field::Ref(codes)),
        (2, Field::Ref(subgraphs)),
        (3, Field::Ref(description)),
        (4, Field::Ref(buffers)),
        (6, Field::Ref(metadata)),
        (7, Field::Ref(signatures)),
    ]);
    b.finish(root, Some(FILE_IDENTIFIER))
}

fn subgraph(b: &mut Builder, sg: &SubGraphDef) -> Offset {
    // Per-channel zero points are all-zero int64 vectors, one per weight and bias: tensors with the
    // same vector share one copy (about 8 bytes per output channel twice over otherwise).
    let mut zero_points = HashMap::new();
    let tensors: Vec<Offset> = sg
        .tensors
        .iter()
        .map(|t| tensor(b, t, &mut zero_points))
        .collect();
    let tensors = b.refs(&tensors);
    let operators: Vec<Offset> = sg.operators.iter().map(|op| operator(b, op)).collect();
    let operators = b.refs(&operators);
    let inputs = b.vector(&sg.inputs);
    let outputs = b.vector(&sg.outputs);
    let name = b.string(&sg.name);
    b.table(&[
        (0, Field::Ref(tensors)),
        (1, Field::Ref(inputs)),
        (2, Field::Ref(outputs)),
        (3, Field::Ref(operators)),
        (4, Field::Ref(name)),
    ])
}

fn tensor(b: &mut Builder, t: &TensorDef, zero_points: &mut HashMap<Vec<i64>, Offset>) -> Offset {
    let shape = b.vector(&t.shape);
    let name = b.string(&t.name);
    let mut fields = vec![
        (0, Field::Ref(shape)),
        (1, Field::I8(t.dtype.code())),
        (2, Field::U32(t.buffer)),
        (3, Field::Ref(name)),
    ];
    if let Some(q) = &t.quant {
        fields.push((4, Field::Ref(quantization(b, q, zero_points))));
    }
    b.table(&fields)
}

fn quantization(
    b: &mut Builder,
    q: &Quantization,
    zero_points: &mut HashMap<Vec<i64>, Offset>,
) -> Offset {
    let scale = b.vector(&q.scale);
    let zero_point = match zero_points.get(&q.zero_point) {
        Some(&o) => o,
        None => {
            let o = b.vector(&q.zero_point);
            zero_points.insert(q.zero_point.clone(), o);
            o
        }
    };
    let mut fields = vec![
        (2, Field::Ref(scale)),
        (3, Field::Ref(zero_point)),
        (6, Field::I32(q.quantized_dimension)),
    ];
    if let Some(bw) = &q.blockwise {
        let details = b.table(&[
            (0, Field::I32(bw.scales)),
            (1, Field::I32(bw.zero_points)),
            (2, Field::I32(bw.block_size)),
        ]);
        // QuantizationDetails union: type 2 is BlockwiseQuantization.
        fields.push((4, Field::U8(2)));
        fields.push((5, Field::Ref(details)));
    }
    b.table(&fields)
}

fn operator(b: &mut Builder, op: &OperatorDef) -> Offset {
    let inputs = b.vector(&op.inputs);
    let outputs = b.vector(&op.outputs);
    let mut fields = vec![
        (0, Field::U32(op.opcode_index)),
        (1, Field::Ref(inputs)),
        (2, Field::Ref(outputs)),
    ];
    if let Some(options) = options(b, &op.options) {
        fields.push((3, Field::U8(op.options.union_type())));
        fields.push((4, Field::Ref(options)));
    }
    b.table(&fields)
}

/// The options table, `None` for [`BuiltinOptions::None`]. Slots are each table's field ids.
fn options(b: &mut Builder, o: &BuiltinOptions) -> Option<Offset> {
    use BuiltinOptions as O;
    use Field::{Bool, F32, I32, I8};
    let fields: Vec<(u16, Field)> = match o {
        O::None => return None,
        O::Conv2D {
            padding,
            stride_w,
            stride_h,
            fused_activation,
            dilation_w,
            dilation_h,
        } => conv_fields(
            *padding,
            (*stride_w, *stride_h),
            None,
            *fused_activation,
            (*dilation_w, *dilation_h),
        ),
        O::DepthwiseConv2D {
            padding,
            stride_w,
            stride_h,
            depth_multiplier,
            fused_activation,
            dilation_w,
            dilation_h,
        } => conv_fields(
            *padding,
            (*stride_w, *stride_h),
            Some(*depth_multiplier),
            *fused_activation,
            (*dilation_w, *dilation_h),
        ),
        O::Pool2D {
            padding,
            stride_w,
            stride_h,
            filter_width,
            filter_height,
            fused_activation,
        } => vec![
            (0, I8(padding.code())),
            (1, I32(*stride_w)),
            (2, I32(*stride_h)),
            (3, I32(*filter_width)),
            (4, I32(*filter_height)),
            (5, I8(fused_activation.code())),
        ],
        O::FullyConnected {
            fused_activation,
            keep_num_dims,
            asymmetric_quantize_inputs,
        } => vec![
            (0, I8(fused_activation.code())),
            (2, Bool(*keep_num_dims)),
            (3, Bool(*asymmetric_quantize_inputs)),
        ],
        O::Softmax { beta } => vec![(0, F32(*beta))],
        O::Concatenation {
            axis,
            fused_activation,
        } => vec![(0, I32(*axis)), (1, I8(fused_activation.code()))],
        O::Add {
            fused_activation,
            pot_scale_int16,
        }
        | O::Sub {
            fused_activation,
            pot_scale_int16,
        } => vec![
            (0, I8(fused_activation.code())),
            (1, Bool(*pot_scale_int16)),
        ],
        O::Reshape { new_shape } => {
            let v = b.vector(new_shape);
            vec![(0, Field::Ref(v))]
        }
        O::Mul { fused_activation } => vec![(0, I8(fused_activation.code()))],
        O::Reducer { keep_dims } => vec![(0, Bool(*keep_dims))],
        O::StridedSlice {
            begin_mask,
            end_mask,
            ellipsis_mask,
            new_axis_mask,
            shrink_axis_mask,
            offset,
        } => vec![
            (0, I32(*begin_mask)),
            (1, I32(*end_mask)),
            (2, I32(*ellipsis_mask)),
            (3, I32(*new_axis_mask)),
            (4, I32(*shrink_axis_mask)),
            (5, Bool(*offset)),
        ],
        O::BatchMatMul {
            adj_x,
            adj_y,
            asymmetric_quantize_inputs,
        } => vec![
            (0, Bool(*adj_x)),
            (1, Bool(*adj_y)),
            (2, Bool(*asymmetric_quantize_inputs)),
        ],
        O::Gelu { approximate } => vec![(0, Bool(*approximate))],
        O::Transpose | O::Dequantize | O::SquaredDifference | O::Quantize | O::HardSwish => {
            vec![]
        }
    };
    Some(b.table(&fields))
}

/// `Conv2DOptions`, or with a depth multiplier `DepthwiseConv2DOptions`, which inserts it at
/// slot 3 and shifts the later fields by one.
fn conv_fields(
    padding: Padding,
    (stride_w, stride_h): (i32, i32),
    depth_multiplier: Option<i32>,
    fused_activation: ActivationFn,
    (dilation_w, dilation_h): (i32, i32),
) -> Vec<(u16, Field)> {
    let mut fields = vec![
        (0, Field::I8(padding.code())),
        (1, Field::I32(stride_w)),
        (2, Field::I32(stride_h)),
    ];
    if let Some(d) = depth_multiplier {
        fields.push((3, Field::I32(d)));
    }
    let next = fields.len() as u16;
    fields.extend([
        (next, Field::I8(fused_activation.code())),
        (next + 1, Field::I32(dilation_w)),
        (next + 2, Field::I32(dilation_h)),
    ]);
    fields
}

fn signature(b: &mut Builder, s: &SignatureDef) -> Offset {
    let mut maps = |list: &[(String, u32)]| {
        let maps: Vec<Offset> = list
            .iter()
            .map(|(name, t)| {
                let name = b.string(name);
                b.table(&[(0, Field::Ref(name)), (1, Field::U32(*t))])
            })
            .collect();
        b.refs(&maps)
    };
    let inputs = maps(&s.inputs);
    let outputs = maps(&s.outputs);
    let key = b.string(&s.key);
    b.table(&[
        (0, Field::Ref(inputs)),
        (1, Field::Ref(outputs)),
        (2, Field::Ref(key)),
        (4, Field::U32(s.subgraph_index)),
    ])
}
