//! The consistency rules a [`ModelDef`] must meet before it is written (and after it is read).
//!
//! These are the structural rules LiteRT enforces or silently relies on (tflite.md sections 1 and
//! 6): version 3, an empty buffer 0, indices in range, matching scale / zero-point lengths,
//! constant buffers exactly as long as their shape says, options that belong to their op.

use super::schema::{BuiltinOp, BuiltinOptions, ModelDef, Quantization, SubGraphDef, TensorDef};

/// Where a model breaks a rule, and which rule.
#[derive(Debug)]
pub(crate) struct Invalid {
    /// The offending element, e.g. `subgraph 0 tensor 3 "x"`.
    pub node: String,
    /// What is wrong with it.
    pub what: String,
}

fn bad(node: impl Into<String>, what: impl Into<String>) -> Invalid {
    Invalid {
        node: node.into(),
        what: what.into(),
    }
}

/// Checks every rule; the first violation is returned.
pub(crate) fn validate(m: &ModelDef) -> Result<(), Invalid> {
    if m.version != 3 {
        return Err(bad("model", format!("version is {}, must be 3", m.version)));
    }
    match m.buffers.first() {
        None => {
            return Err(bad(
                "model",
                "has no buffers; buffer 0 must exist and be empty",
            ))
        }
        Some(b) if !b.is_empty() => {
            return Err(bad(
                "buffer 0",
                format!("holds {} bytes; it is the empty sentinel", b.len()),
            ))
        }
        Some(_) => {}
    }
    for (name, buffer) in &m.metadata {
        if *buffer as usize >= m.buffers.len() {
            return Err(bad(
                format!("metadata {name:?}"),
                out_of_range("buffer", *buffer as i64, m.buffers.len()),
            ));
        }
    }
    for (i, code) in m.operator_codes.iter().enumerate() {
        if code.code < 0 || code.version < 1 {
            return Err(bad(
                format!("operator code {i}"),
                format!("code {} version {} are invalid", code.code, code.version),
            ));
        }
    }
    if m.subgraphs.is_empty() {
        return Err(bad("model", "has no subgraphs"));
    }
    for (s, sg) in m.subgraphs.iter().enumerate() {
        validate_subgraph(m, s, sg)?;
    }
    for sig in &m.signatures {
        let node = format!("signature {:?}", sig.key);
        let sg = m
            .subgraphs
            .get(sig.subgraph_index as usize)
            .ok_or_else(|| {
                bad(
                    &node,
                    out_of_range("subgraph", sig.subgraph_index as i64, m.subgraphs.len()),
                )
            })?;
        for (name, t) in sig.inputs.iter().chain(&sig.outputs) {
            if *t as usize >= sg.tensors.len() {
                return Err(bad(
                    format!("{node} tensor {name:?}"),
                    out_of_range("tensor", *t as i64, sg.tensors.len()),
                ));
            }
        }
    }
    Ok(())
}

fn out_of_range(kind: &str, index: i64, len: usize) -> String {
    format!("{kind} index {index} is out of range (there are {len})")
}

fn validate_subgraph(m: &ModelDef, s: usize, sg: &SubGraphDef) -> Result<(), Invalid> {
    let n = sg.tensors.len();
    for (t, tensor) in sg.tensors.iter().enumerate() {
        validate_tensor(m, sg, tensor)
            .map_err(|what| bad(format!("subgraph {s} tensor {t} {:?}", tensor.name), what))?;
    }
    let in_range = |i: i32| i >= 0 && (i as usize) < n;
    for (kind, list) in [("input", &sg.inputs), ("output", &sg.outputs)] {
        if let Some(&i) = list.iter().find(|&&i| !in_range(i)) {
            return Err(bad(
                format!("subgraph {s} {kind}s"),
                out_of_range("tensor", i64::from(i), n),
            ));
        }
    }
    for (o, op) in sg.operators.iter().enumerate() {
        let code = m.operator_codes.get(op.opcode_index as usize);
        let name = code.and_then(|c| BuiltinOp::name(c.code)).unwrap_or("?");
        let node = format!("subgraph {s} operator {o} ({name})");
        let code = code.ok_or_else(|| {
            bad(
                &node,
                out_of_range("opcode", i64::from(op.opcode_index), m.operator_codes.len()),
            )
        })?;
        let bad_input = op.inputs.iter().find(|&&i| i != -1 && !in_range(i));
        let bad_output = op.outputs.iter().find(|&&i| !in_range(i));
        if let Some(&i) = bad_input.or(bad_output) {
            return Err(bad(&node, out_of_range("tensor", i64::from(i), n)));
        }
        let want = BuiltinOptions::union_type_for(code.code);
        let got = op.options.union_type();
        if got != 0 && want != Some(got) {
            return Err(bad(
                &node,
                format!("options {:?} do not belong to this op", op.options),
            ));
        }
        if code.code == BuiltinOp::SOFTMAX && got == 0 {
            return Err(bad(
                &node,
                "needs Softmax options: without them LiteRT runs with beta 0",
            ));
        }
    }
    Ok(())
}

fn validate_tensor(m: &ModelDef, sg: &SubGraphDef, t: &TensorDef) -> Result<(), String> {
    if let Some(&d) = t.shape.iter().find(|&&d| d < 0) {
        return Err(format!("shape {:?} has negative dimension {d}", t.shape));
    }
    let data = m
        .buffers
        .get(t.buffer as usize)
        .ok_or_else(|| out_of_range("buffer", i64::from(t.buffer), m.buffers.len()))?;
    if !data.is_empty() {
        let numel = t
            .shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize));
        let want = numel.and_then(|n| t.dtype.buffer_len(n));
        if want != Some(data.len()) {
            return Err(format!(
                "buffer {} holds {} bytes but shape {:?} of {:?} needs {want:?}",
                t.buffer,
                data.len(),
                t.shape,
                t.dtype
            ));
        }
    }
    match &t.quant {
        Some(q) => validate_quant(sg, t, q),
        None => Ok(()),
    }
}

fn validate_quant(sg: &SubGraphDef, t: &TensorDef, q: &Quantization) -> Result<(), String> {
    if q.scale.len() != q.zero_point.len() {
        return Err(format!(
            "{} scales but {} zero points",
            q.scale.len(),
            q.zero_point.len()
        ));
    }
    let dim = usize::try_from(q.quantized_dimension).ok();
    if q.scale.len() > 1 {
        let size = dim.and_then(|d| t.shape.get(d));
        if size.map(|&s| s as usize) != Some(q.scale.len()) {
            return Err(format!(
                "{} per-axis scales do not fit quantized_dimension {} of shape {:?}",
                q.scale.len(),
                q.quantized_dimension,
                t.shape
            ));
        }
    } else if dim.is_none() {
        return Err(format!(
            "quantized_dimension {} is negative",
            q.quantized_dimension
        ));
    }
    if let Some(b) = &q.blockwise {
        let n = sg.tensors.len();
        let ok = |i: i32| i >= 0 && (i as usize) < n;
        if !ok(b.scales) || !(b.zero_points == -1 || ok(b.zero_points)) || b.block_size <= 0 {
            return Err(format!(
                "blockwise details {b:?} name tensors out of range or a non-positive block size"
            ));
        }
    }
    Ok(())
}
