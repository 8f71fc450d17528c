//! Applying AWQ's per-input-channel scales to a graph without changing what it computes: the
//! layers reading the input get `W diag(s)`, and the input itself is divided by `s` where it is
//! made, so no op is added where one can absorb it:
//!
//! - a LayerNorm output (`ADD(MUL(x̂, γ), β)`, as [`crate::passes::lower_layer_norm`] writes it):
//!   γ and β are divided (q/k/v and fc1 of a transformer block);
//! - the merged heads of attention (`RESHAPE(TRANSPOSE(BATCH_MATMUL(P, TRANSPOSE(RESHAPE(v)))))`, as
//!   [`crate::passes::lower_attention`] writes it): softmax·V is linear in V and the head split keeps
//!   channel c at c, so the rows (and bias) of the v projection are divided (attention output);
//! - another FULLY_CONNECTED: its rows and bias are divided;
//! - anything else (GELU before fc2): an explicit float32 MUL by `1/s` is inserted before the
//!   layers, marked as a float island so that under static int8 it joins the GELU island instead of
//!   adding a DEQUANTIZE/QUANTIZE pair.
//!
//! The folding only applies when every reader of each rewritten value is one of the scaled layers
//! (or the next op of the pattern), so nothing else sees the scaled values.

use super::targets::node_index;
use crate::graph::{ConstData, Graph, Node, Op, Value, ValueId};
use crate::{Error, Result};

/// Where the `1/s` of one input went.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum FoldedInto {
    /// γ and β of the LayerNorm that produces the input.
    LayerNorm(String),
    /// Rows and bias of this linear layer (through the attention core when it is the v projection).
    Linear(String),
    /// An inserted float32 MUL node of this name.
    Mul(String),
}

/// A constant operand to rescale: node index, operand slot, and how element i maps to a channel.
struct Edit {
    node: usize,
    slot: usize,
    /// Channel of element i: `i % k` for per-channel vectors, `i / per_row` for weight rows.
    rows: bool,
}

/// Scales the weight columns of the FC nodes `readers` (names) by `s` and divides their common
/// input by `s` (see the module doc). Errors when a reader is missing or not a float FC.
pub fn fold_input_scale(
    g: &mut Graph,
    input: ValueId,
    readers: &[String],
    s: &[f32],
) -> Result<FoldedInto> {
    let idx = readers
        .iter()
        .map(|r| node_index(g, r).ok_or_else(|| missing(r)))
        .collect::<Result<Vec<_>>>()?;
    for &i in &idx {
        let k = s.len();
        rescale(g, i, 1, |j| s[j % k])?;
    }
    let inv: Vec<f32> = s.iter().map(|v| 1.0 / v).collect();
    let all_readers = |g: &Graph, v: ValueId, allowed: &[usize]| {
        !g.outputs.contains(&v) && g.consumers(v).iter().all(|c| allowed.contains(c))
    };
    if all_readers(g, input, &idx) {
        if let Some((edits, into)) = plan(g, input) {
            for e in edits {
                let k = inv.len();
                let per = g.value(g.nodes[e.node].inputs[e.slot]).numel() / k.max(1);
                if e.rows {
                    rescale(g, e.node, e.slot, |j| inv[j / per.max(1)])?;
                } else {
                    rescale(g, e.node, e.slot, |j| inv[j % k])?;
                }
            }
            return Ok(into);
        }
    }
    // Explicit MUL before the first reader.
    let first = *idx.iter().min().ok_or_else(|| missing("(no readers)"))?;
    let name = format!("{}.awq_scale", g.nodes[first].name);
    let k = inv.len();
    let c = g.add_const_f32(&format!("{name}.inv"), &[k], inv);
    let shape = g.value(input).shape.clone();
    let y = g.add_activation(&name, &shape);
    g.nodes.insert(
        first,
        Node {
            name: name.clone(),
            op: Op::Mul,
            inputs: vec![input, c],
            outputs: vec![y],
            float_island: true,
        },
    );
    for r in readers {
        let i = node_index(g, r).ok_or_else(|| missing(r))?;
        g.nodes[i].inputs[0] = y;
    }
    Ok(FoldedInto::Mul(name))
}

fn missing(name: &str) -> Error {
    Error::Graph {
        node: name.to_string(),
        what: "AWQ: layer not found in the graph".into(),
    }
}

/// Multiplies element j of constant operand `slot` of node `i` by `f(j)`, in a fresh copy of the
/// constant (another node may share the original).
fn rescale(g: &mut Graph, i: usize, slot: usize, f: impl Fn(usize) -> f32) -> Result<()> {
    let id = g.nodes[i].inputs[slot];
    let v = g.value(id);
    let Some(ConstData::F32(d)) = &v.data else {
        return Err(Error::Unsupported {
            node: g.nodes[i].name.clone(),
            what: format!("AWQ: operand {slot} ({}) is not a float32 constant", v.name),
        });
    };
    let data = d.iter().enumerate().map(|(j, &x)| x * f(j)).collect();
    let nv = Value::constant(&v.name, &v.shape, ConstData::F32(data));
    let nid = g.add_value(nv);
    g.nodes[i].inputs[slot] = nid;
    Ok(())
}

/// The producer of `v` when `v` has exactly one reader.
fn sole_producer(g: &Graph, v: ValueId) -> Option<usize> {
    (g.consumers(v).len() == 1 && !g.outputs.contains(&v))
        .then(|| g.producer(v))
        .flatten()
}

/// A float32 constant operand of length `k` (a per-channel vector) at `slot` of node `i`.
fn channel_const(g: &Graph, i: usize, slot: usize, k: usize) -> bool {
    let v = g.value(g.nodes[i].inputs[slot]);
    matches!(v.data, Some(ConstData::F32(_))) && v.numel() == k && v.shape.last() == Some(&k)
}

/// The constants to divide so that `v` (read only by the scaled layers) comes out divided by `s`.
fn plan(g: &Graph, v: ValueId) -> Option<(Vec<Edit>, FoldedInto)> {
    let k = *g.value(v).shape.last()?;
    let p = g.producer(v)?;
    let node = &g.nodes[p];
    match &node.op {
        // LayerNorm tail: ADD(MUL(x̂, γ), β).
        Op::Add if channel_const(g, p, 1, k) => {
            let m = sole_producer(g, node.inputs[0])?;
            (g.nodes[m].op == Op::Mul && channel_const(g, m, 1, k)).then(|| {
                let ln = node.name.strip_suffix(".shifted").unwrap_or(&node.name);
                (
                    vec![
                        Edit {
                            node: p,
                            slot: 1,
                            rows: false,
                        },
                        Edit {
                            node: m,
                            slot: 1,
                            rows: false,
                        },
                    ],
                    FoldedInto::LayerNorm(ln.to_string()),
                )
            })
        }
        Op::FullyConnected { .. } => linear_rows(g, p),
        Op::Reshape { .. } => attention_v(g, p),
        _ => None,
    }
}

/// Rows (and bias) of FC node `p`.
fn linear_rows(g: &Graph, p: usize) -> Option<(Vec<Edit>, FoldedInto)> {
    let n = &g.nodes[p];
    let w = g.value(*n.inputs.get(1)?);
    if !matches!(w.data, Some(ConstData::F32(_))) || w.shape.len() != 2 {
        return None;
    }
    let mut edits = vec![Edit {
        node: p,
        slot: 1,
        rows: true,
    }];
    if n.inputs.len() > 2 {
        if !channel_const(g, p, 2, w.shape[0]) {
            return None;
        }
        edits.push(Edit {
            node: p,
            slot: 2,
            rows: false,
        });
    }
    Some((edits, FoldedInto::Linear(n.name.clone())))
}

/// The attention core: merge RESHAPE [B,T,H,d]→[B,T,H·d] ← TRANSPOSE [0,2,1,3] ← BATCH_MATMUL(P, V)
/// ← TRANSPOSE [0,2,1,3] ← RESHAPE [B,T,H·d]→[B,T,H,d] ← FC v. Channel h·d + e of the merged
/// output is channel h·d + e of v, so dividing v's rows divides the merged channels alike.
fn attention_v(g: &Graph, merge: usize) -> Option<(Vec<Edit>, FoldedInto)> {
    let head_perm =
        |i: usize| matches!(&g.nodes[i].op, Op::Transpose { perm } if perm == &[0, 2, 1, 3]);
    let split = |i: usize| -> bool {
        let n = &g.nodes[i];
        let (x, y) = (&g.value(n.inputs[0]).shape, &g.value(n.outputs[0]).shape);
        matches!(n.op, Op::Reshape { .. })
            && x.len() == 3
            && y.len() == 4
            && x[..2] == y[..2]
            && x[2] == y[2] * y[3]
    };
    let m = &g.nodes[merge];
    let (mx, my) = (&g.value(m.inputs[0]).shape, &g.value(m.outputs[0]).shape);
    if !(mx.len() == 4 && my.len() == 3 && mx[..2] == my[..2] && my[2] == mx[2] * mx[3]) {
        return None;
    }
    let t1 = sole_producer(g, m.inputs[0]).filter(|&i| head_perm(i))?;
    let bmm = sole_producer(g, g.nodes[t1].inputs[0])?;
    if g.nodes[bmm].op
        != (Op::BatchMatmul {
            adj_x: false,
            adj_y: false,
        })
    {
        return None;
    }
    let t2 = sole_producer(g, g.nodes[bmm].inputs[1]).filter(|&i| head_perm(i))?;
    let sp = sole_producer(g, g.nodes[t2].inputs[0]).filter(|&i| split(i))?;
    let v = sole_producer(g, g.nodes[sp].inputs[0])?;
    if !matches!(g.nodes[v].op, Op::FullyConnected { .. }) {
        return None;
    }
    linear_rows(g, v)
}
