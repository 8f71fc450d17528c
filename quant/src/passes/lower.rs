//! Lowering of the ops TFLite has no builtin for: LayerNorm to MEAN/SUB/MUL/ADD/RSQRT (a float
//! island), attention to three FULLY_CONNECTED, RESHAPE/TRANSPOSE, two BATCH_MATMUL and SOFTMAX.

use crate::graph::{err, Act, ConstData, Graph, Node, Op, ValueId};
use crate::Result;

/// Appends nodes to a list instead of the graph (so a lowering can be spliced in place).
struct Splice<'g> {
    g: &'g mut Graph,
    nodes: Vec<Node>,
    name: String,
    island: bool,
}

impl Splice<'_> {
    fn push(&mut self, suffix: &str, op: Op, inputs: Vec<ValueId>, shape: &[usize]) -> ValueId {
        let name = format!("{}.{suffix}", self.name);
        let out = self.g.add_activation(&name, shape);
        self.nodes.push(Node {
            name,
            op,
            inputs,
            outputs: vec![out],
            float_island: self.island,
        });
        out
    }

    /// Finishes: the last pushed node writes `y` instead of its own value; nodes replace node `i`.
    fn finish(mut self, i: usize, y: ValueId) {
        if let Some(last) = self.nodes.last_mut() {
            last.outputs = vec![y];
        }
        self.g.nodes.splice(i..=i, self.nodes);
    }
}

/// LayerNorm(x, γ, β) over the last axis →
/// `d = x − mean(x)`, `y = d·rsqrt(mean((x − mean)²) + eps)·γ + β`, all float32 (an island in int8 graphs).
pub fn lower_layer_norm(g: &mut Graph) {
    let mut i = 0;
    while i < g.nodes.len() {
        let Op::LayerNorm { eps } = g.nodes[i].op else {
            i += 1;
            continue;
        };
        let n = g.nodes[i].clone();
        let (x, gamma, beta, y) = (n.inputs[0], n.inputs[1], n.inputs[2], n.outputs[0]);
        let shape = g.value(x).shape.clone();
        let last = shape.len() - 1;
        let mut red = shape.clone();
        red[last] = 1;
        let eps_c = g.add_const_f32(&format!("{}.eps", n.name), &[1], vec![eps]);
        let mut s = Splice {
            g,
            nodes: Vec::new(),
            name: n.name.clone(),
            island: true,
        };
        let mean_op = Op::Mean {
            axes: vec![last],
            keep_dims: true,
        };
        let mean = s.push("mean", mean_op.clone(), vec![x], &red);
        let d = s.push("centered", Op::Sub, vec![x, mean], &shape);
        // (x − mean)² as one op: measured closer to LiteRT than MUL(d, d) (quant/tests/float_golden.rs).
        let sq = s.push("squared", Op::SquaredDifference, vec![x, mean], &shape);
        let var = s.push("var", mean_op, vec![sq], &red);
        let ve = s.push("var_eps", Op::Add, vec![var, eps_c], &red);
        let r = s.push("rstd", Op::Rsqrt, vec![ve], &red);
        let nrm = s.push("normalized", Op::Mul, vec![d, r], &shape);
        let sc = s.push("scaled", Op::Mul, vec![nrm, gamma], &shape);
        s.push("shifted", Op::Add, vec![sc, beta], &shape);
        let count = s.nodes.len();
        s.finish(i, y);
        i += count;
    }
}

/// Attention(qkv) with `heads` heads → per-head `softmax(q·kᵀ)·v`. When qkv comes from one
/// FULLY_CONNECTED with constant weights read only here, it is split into separate q, k and v
/// layers (so k and v can be quantized symmetrically for BATCH_MATMUL) and the 1/√dh scale is folded
/// into q's weights.
pub fn lower_attention(g: &mut Graph) -> Result<()> {
    let mut i = 0;
    while i < g.nodes.len() {
        let Op::Attention { heads } = g.nodes[i].op else {
            i += 1;
            continue;
        };
        let n = g.nodes[i].clone();
        let (qkv, y) = (n.inputs[0], n.outputs[0]);
        let shape = g.value(qkv).shape.clone();
        let &[b, t, d3] = shape.as_slice() else {
            return Err(err(&n.name, "attention input must be [B, T, 3D]"));
        };
        let d = d3 / 3;
        if d3 % 3 != 0 || heads == 0 || d % heads != 0 {
            return Err(err(
                &n.name,
                "width is not divisible into q, k, v and heads",
            ));
        }
        let dh = d / heads;
        let scale = 1.0 / (dh as f32).sqrt();
        let split = split_qkv(g, qkv, d, scale);
        if split.is_some() {
            // One node became three, before this one.
            i += 2;
        }
        let mut s = Splice {
            g,
            nodes: Vec::new(),
            name: n.name.clone(),
            island: false,
        };
        let [q, k, v] = match split {
            Some(qkv3) => qkv3,
            None => {
                let part = |s: &mut Splice, j: usize, name: &str| {
                    let op = Op::Slice {
                        begin: vec![0, 0, j * d],
                        size: vec![b, t, d],
                    };
                    s.push(name, op, vec![qkv], &[b, t, d])
                };
                let q = part(&mut s, 0, "q");
                let k = part(&mut s, 1, "k");
                let v = part(&mut s, 2, "v");
                let c =
                    s.g.add_const_f32(&format!("{}.scale", n.name), &[1], vec![scale]);
                let q = s.push("q_scaled", Op::Mul, vec![q, c], &[b, t, d]);
                [q, k, v]
            }
        };
        let heads_first = |s: &mut Splice, x: ValueId, name: &str| {
            let r = s.push(
                &format!("{name}_split"),
                Op::Reshape {
                    shape: vec![b, t, heads, dh],
                },
                vec![x],
                &[b, t, heads, dh],
            );
            s.push(
                &format!("{name}_heads"),
                Op::Transpose {
                    perm: vec![0, 2, 1, 3],
                },
                vec![r],
                &[b, heads, t, dh],
            )
        };
        let qh = heads_first(&mut s, q, "q");
        let kh = heads_first(&mut s, k, "k");
        let vh = heads_first(&mut s, v, "v");
        let scores = s.push(
            "scores",
            Op::BatchMatmul {
                adj_x: false,
                adj_y: true,
            },
            vec![qh, kh],
            &[b, heads, t, t],
        );
        s.island = true;
        let probs = s.push("softmax", Op::Softmax, vec![scores], &[b, heads, t, t]);
        s.island = false;
        let ctx = s.push(
            "context",
            Op::BatchMatmul {
                adj_x: false,
                adj_y: false,
            },
            vec![probs, vh],
            &[b, heads, t, dh],
        );
        let tr = s.push(
            "merge_heads",
            Op::Transpose {
                perm: vec![0, 2, 1, 3],
            },
            vec![ctx],
            &[b, t, heads, dh],
        );
        s.push(
            "merge",
            Op::Reshape {
                shape: vec![b, t, d],
            },
            vec![tr],
            &[b, t, d],
        );
        let count = s.nodes.len();
        s.finish(i, y);
        i += count;
    }
    Ok(())
}

/// Splits the FULLY_CONNECTED producing `qkv` into three (q scaled by `scale`), appended right
/// after it; returns their outputs, or None when qkv is not such a layer.
fn split_qkv(g: &mut Graph, qkv: ValueId, d: usize, scale: f32) -> Option<[ValueId; 3]> {
    let p = g.producer(qkv)?;
    let n = g.nodes[p].clone();
    if n.op != (Op::FullyConnected { act: Act::None }) || g.consumers(qkv).len() != 1 {
        return None;
    }
    let w = g.value(n.inputs[1]).data.as_ref()?.as_f32()?.to_vec();
    let k = g.value(n.inputs[1]).shape[1];
    let bias = match n.inputs.get(2) {
        Some(&b) => Some(g.value(b).data.as_ref()?.as_f32()?.to_vec()),
        None => None,
    };
    let x = n.inputs[0];
    let mut out_shape = g.value(qkv).shape.clone();
    *out_shape.last_mut()? = d;
    let mut nodes = Vec::new();
    let mut outs = [ValueId(0); 3];
    for (j, part) in ["q", "k", "v"].iter().enumerate() {
        let f = if j == 0 { scale } else { 1.0 };
        let wj: Vec<f32> = w[j * d * k..(j + 1) * d * k]
            .iter()
            .map(|v| v * f)
            .collect();
        let name = format!("{}.{part}", n.name);
        let wid = g.add_value(crate::graph::Value::constant(
            &format!("{name}.weight"),
            &[d, k],
            ConstData::F32(wj),
        ));
        let mut inputs = vec![x, wid];
        if let Some(b) = &bias {
            let bj: Vec<f32> = b[j * d..(j + 1) * d].iter().map(|v| v * f).collect();
            inputs.push(g.add_const_f32(&format!("{name}.bias"), &[d], bj));
        }
        let out = g.add_activation(&name, &out_shape);
        outs[j] = out;
        nodes.push(Node {
            name,
            op: Op::FullyConnected { act: Act::None },
            inputs,
            outputs: vec![out],
            float_island: false,
        });
    }
    g.nodes.splice(p..=p, nodes);
    Some(outs)
}
