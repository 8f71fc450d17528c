//! `.tflite` bytes → [`ModelDef`], for the schema subset [`super::write_model`] emits.
//!
//! Every access goes through the bounds-checked reader in `flatread.rs`, and the result is put
//! through the same rules the writer checks, so a model read without error is consistent.
//! Anything outside the subset whose meaning we would silently lose (custom ops, sparsity,
//! external buffer data, unknown types or options) is an error naming where it was found.

use super::schema::{
    ActivationFn, Blockwise, BuiltinOp, BuiltinOptions, ModelDef, OperatorCode, OperatorDef,
    Padding, Quantization, SignatureDef, SubGraphDef, TensorDef, TensorType,
};
use super::validate::validate;
use super::write::FILE_IDENTIFIER;
use crate::error::format_err;
use crate::export::flatread::{Reader, Table};
use crate::Result;

/// Parses and checks a `.tflite` file. Never panics; any damage is an [`crate::Error::Format`]
/// that names the table and field (or the rule) at fault.
pub fn read_model(bytes: &[u8]) -> Result<ModelDef> {
    let r = Reader::new(bytes);
    let t = r.root(FILE_IDENTIFIER, "Model")?;
    let operator_codes = t
        .tables(1, "operator_codes", "OperatorCode")?
        .iter()
        .enumerate()
        .map(|(i, c)| operator_code(i, c))
        .collect::<Result<Vec<_>>>()?;
    let subgraphs = t
        .tables(2, "subgraphs", "SubGraph")?
        .iter()
        .enumerate()
        .map(|(i, sg)| subgraph(i, sg, &operator_codes))
        .collect::<Result<Vec<_>>>()?;
    let buffers = t
        .tables(4, "buffers", "Buffer")?
        .iter()
        .enumerate()
        .map(|(i, b)| buffer(i, b))
        .collect::<Result<Vec<_>>>()?;
    let metadata = t
        .tables(6, "metadata", "Metadata")?
        .iter()
        .map(|m| Ok((string(m, 0, "name")?, m.scalar(1, "buffer", 0u32)?)))
        .collect::<Result<Vec<_>>>()?;
    let signatures = t
        .tables(7, "signature_defs", "SignatureDef")?
        .iter()
        .map(signature)
        .collect::<Result<Vec<_>>>()?;
    let m = ModelDef {
        version: t.scalar(0, "version", 0u32)?,
        description: string(&t, 3, "description")?,
        operator_codes,
        subgraphs,
        buffers,
        metadata,
        signatures,
    };
    validate(&m).map_err(|e| format_err(format!("{}: {}", e.node, e.what)))?;
    Ok(m)
}

/// A string field, empty when absent.
fn string(t: &Table, slot: u16, field: &str) -> Result<String> {
    Ok(t.string(slot, field)?.unwrap_or_default().to_owned())
}

fn operator_code(i: usize, t: &Table) -> Result<OperatorCode> {
    if t.string(1, "custom_code")?.is_some() {
        return Err(format_err(format!(
            "operator code {i}: custom operators are not supported"
        )));
    }
    let deprecated = t.scalar(0, "deprecated_builtin_code", 0i8)?;
    let code = t.scalar(3, "builtin_code", 0i32)?;
    Ok(OperatorCode {
        // The runtime's rule (schema_utils.cc): the larger of the two fields.
        code: code.max(i32::from(deprecated)),
        version: t.scalar(2, "version", 1i32)?,
    })
}

fn buffer(i: usize, t: &Table) -> Result<Vec<u8>> {
    if t.scalar(1, "offset", 0u64)? != 0 || t.scalar(2, "size", 0u64)? != 0 {
        return Err(format_err(format!(
            "buffer {i}: data outside the FlatBuffer (offset/size) is not supported"
        )));
    }
    Ok(t.bytes(0, "data")?.to_vec())
}

fn subgraph(s: usize, t: &Table, codes: &[OperatorCode]) -> Result<SubGraphDef> {
    let tensors = t
        .tables(0, "tensors", "Tensor")?
        .iter()
        .enumerate()
        .map(|(i, x)| tensor(s, i, x))
        .collect::<Result<Vec<_>>>()?;
    let operators = t
        .tables(3, "operators", "Operator")?
        .iter()
        .enumerate()
        .map(|(i, x)| operator(s, i, x, codes))
        .collect::<Result<Vec<_>>>()?;
    Ok(SubGraphDef {
        name: string(t, 4, "name")?,
        tensors,
        inputs: t.vector(1, "inputs")?,
        outputs: t.vector(2, "outputs")?,
        operators,
    })
}

fn tensor(s: usize, i: usize, t: &Table) -> Result<TensorDef> {
    let node = || format!("subgraph {s} tensor {i}");
    let code = t.scalar(1, "type", 0i8)?;
    let dtype = TensorType::from_code(code)
        .ok_or_else(|| format_err(format!("{}: tensor type {code} is not supported", node())))?;
    if t.table(6, "sparsity", "SparsityParameters")?.is_some() {
        return Err(format_err(format!(
            "{}: sparse tensors are not supported",
            node()
        )));
    }
    let quant = match t.table(4, "quantization", "QuantizationParameters")? {
        Some(q) => Some(quantization(&q).map_err(|e| format_err(format!("{}: {e}", node())))?),
        None => None,
    };
    Ok(TensorDef {
        name: string(t, 3, "name")?,
        shape: t.vector(0, "shape")?,
        dtype,
        buffer: t.scalar(2, "buffer", 0u32)?,
        quant,
    })
}

fn quantization(t: &Table) -> Result<Quantization> {
    let blockwise = match t.scalar(4, "details_type", 0u8)? {
        0 => None,
        2 => {
            let d = t
                .table(5, "details", "BlockwiseQuantization")?
                .ok_or_else(|| format_err("blockwise quantization details are missing"))?;
            Some(Blockwise {
                scales: d.scalar(0, "scales", 0i32)?,
                zero_points: d.scalar(1, "zero_points", 0i32)?,
                block_size: d.scalar(2, "block_size", 0i32)?,
            })
        }
        other => {
            return Err(format_err(format!(
                "quantization details type {other} is not supported"
            )))
        }
    };
    Ok(Quantization {
        scale: t.vector(2, "scale")?,
        zero_point: t.vector(3, "zero_point")?,
        quantized_dimension: t.scalar(6, "quantized_dimension", 0i32)?,
        blockwise,
    })
}

fn operator(s: usize, i: usize, t: &Table, codes: &[OperatorCode]) -> Result<OperatorDef> {
    let opcode_index = t.scalar(0, "opcode_index", 0u32)?;
    let code = codes.get(opcode_index as usize).map(|c| c.code);
    let name = code.and_then(BuiltinOp::name).unwrap_or("?");
    let node = format!("subgraph {s} operator {i} ({name})");
    let union_type = t.scalar(3, "builtin_options_type", 0u8)?;
    let options = match t.table(4, "builtin_options", "BuiltinOptions")? {
        Some(o) if union_type != 0 => options(union_type, &o),
        None if union_type == 0 => Ok(BuiltinOptions::None),
        _ => Err(format_err("builtin options type and table disagree")),
    }
    .map_err(|e| format_err(format!("{node}: {e}")))?;
    if t.scalar(11, "builtin_options_2_type", 0u8)? != 0 {
        return Err(format_err(format!(
            "{node}: builtin_options_2 is not supported"
        )));
    }
    Ok(OperatorDef {
        opcode_index,
        inputs: t.vector(1, "inputs")?,
        outputs: t.vector(2, "outputs")?,
        options,
    })
}

fn activation(t: &Table, slot: u16) -> Result<ActivationFn> {
    let code = t.scalar(slot, "fused_activation_function", 0i8)?;
    ActivationFn::from_code(code)
        .ok_or_else(|| format_err(format!("unknown fused activation {code}")))
}

fn padding(t: &Table) -> Result<Padding> {
    let code = t.scalar(0, "padding", 0i8)?;
    Padding::from_code(code).ok_or_else(|| format_err(format!("unknown padding {code}")))
}

/// One options table, given its union type; defaults are the schema's.
fn options(union_type: u8, t: &Table) -> Result<BuiltinOptions> {
    use BuiltinOptions as O;
    let i32_at = |slot, field, default| t.scalar(slot, field, default);
    let bool_at = |slot, field| t.scalar(slot, field, false);
    Ok(match union_type {
        1 | 2 => {
            // DepthwiseConv2DOptions inserts depth_multiplier at slot 3 and shifts the rest.
            let dw = u16::from(union_type == 2);
            let padding = padding(t)?;
            let stride_w = i32_at(1, "stride_w", 0)?;
            let stride_h = i32_at(2, "stride_h", 0)?;
            let fused_activation = activation(t, 3 + dw)?;
            let dilation_w = i32_at(4 + dw, "dilation_w_factor", 1)?;
            let dilation_h = i32_at(5 + dw, "dilation_h_factor", 1)?;
            if dw == 0 {
                O::Conv2D {
                    padding,
                    stride_w,
                    stride_h,
                    fused_activation,
                    dilation_w,
                    dilation_h,
                }
            } else {
                let depth_multiplier = i32_at(3, "depth_multiplier", 0)?;
                O::DepthwiseConv2D {
                    padding,
                    stride_w,
                    stride_h,
                    depth_multiplier,
                    fused_activation,
                    dilation_w,
                    dilation_h,
                }
            }
        }
        5 => O::Pool2D {
            padding: padding(t)?,
            stride_w: i32_at(1, "stride_w", 0)?,
            stride_h: i32_at(2, "stride_h", 0)?,
            filter_width: i32_at(3, "filter_width", 0)?,
            filter_height: i32_at(4, "filter_height", 0)?,
            fused_activation: activation(t, 5)?,
        },
        8 => {
            if t.scalar(1, "weights_format", 0i8)? != 0 {
                return Err(format_err(
                    "shuffled FULLY_CONNECTED weights are not supported",
                ));
            }
            O::FullyConnected {
                fused_activation: activation(t, 0)?,
                keep_num_dims: bool_at(2, "keep_num_dims")?,
                asymmetric_quantize_inputs: bool_at(3, "asymmetric_quantize_inputs")?,
            }
        }
        9 => O::Softmax {
            beta: t.scalar(0, "beta", 0f32)?,
        },
        10 => O::Concatenation {
            axis: i32_at(0, "axis", 0)?,
            fused_activation: activation(t, 1)?,
        },
        11 | 28 => {
            let fused_activation = activation(t, 0)?;
            let pot_scale_int16 = t.scalar(1, "pot_scale_int16", true)?;
            if union_type == 11 {
                O::Add {
                    fused_activation,
                    pot_scale_int16,
                }
            } else {
                O::Sub {
                    fused_activation,
                    pot_scale_int16,
                }
            }
        }
        17 => O::Reshape {
            new_shape: t.vector(0, "new_shape")?,
        },
        21 => O::Mul {
            fused_activation: activation(t, 0)?,
        },
        26 => O::Transpose,
        27 => O::Reducer {
            keep_dims: bool_at(0, "keep_dims")?,
        },
        32 => O::StridedSlice {
            begin_mask: i32_at(0, "begin_mask", 0)?,
            end_mask: i32_at(1, "end_mask", 0)?,
            ellipsis_mask: i32_at(2, "ellipsis_mask", 0)?,
            new_axis_mask: i32_at(3, "new_axis_mask", 0)?,
            shrink_axis_mask: i32_at(4, "shrink_axis_mask", 0)?,
            offset: bool_at(5, "offset")?,
        },
        38 => O::Dequantize,
        76 => O::SquaredDifference,
        89 => O::Quantize,
        91 => O::HardSwish,
        101 => O::BatchMatMul {
            adj_x: bool_at(0, "adj_x")?,
            adj_y: bool_at(1, "adj_y")?,
            asymmetric_quantize_inputs: bool_at(2, "asymmetric_quantize_inputs")?,
        },
        116 => O::Gelu {
            approximate: bool_at(0, "approximate")?,
        },
        other => {
            return Err(format_err(format!(
                "builtin options type {other} is not supported"
            )))
        }
    })
}

fn signature(t: &Table) -> Result<SignatureDef> {
    let maps = |slot, field| {
        t.tables(slot, field, "TensorMap")?
            .iter()
            .map(|m| Ok((string(m, 0, "name")?, m.scalar(1, "tensor_index", 0u32)?)))
            .collect::<Result<Vec<_>>>()
    };
    Ok(SignatureDef {
        key: string(t, 2, "signature_key")?,
        inputs: maps(0, "inputs")?,
        outputs: maps(1, "outputs")?,
        subgraph_index: t.scalar(4, "subgraph_index", 0u32)?,
    })
}
