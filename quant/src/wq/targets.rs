//! Which layers go 4-bit: every FULLY_CONNECTED with constant float32 weights `[N, K]` (q/k/v,
//! attention output, MLP fc1/fc2 in a ViT) except the classifier head.
//!
//! The head (an FC whose output is a graph output) stays as the float graph has it (float32
//! weight-only, int8 under static int8): it is a few KB, and its rounding error lands directly on
//! the logits with no later layer to average it out.

use crate::graph::{ConstData, Graph, Op, ValueId};

/// A linear layer the 4-bit methods quantize.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Node name (stable across the rewrites; nodes are found by it).
    pub name: String,
    /// The value it reads (its statistics key).
    pub input: ValueId,
    /// Output channels.
    pub n: usize,
    /// Input channels.
    pub k: usize,
}

/// The layers of `g` that go 4-bit, in execution order.
pub fn linear_layers(g: &Graph) -> Vec<Target> {
    g.nodes
        .iter()
        .filter(|n| matches!(n.op, Op::FullyConnected { .. }))
        .filter(|n| !n.outputs.iter().any(|o| g.outputs.contains(o)))
        .filter_map(|n| {
            let w = g.value(*n.inputs.get(1)?);
            let (Some(ConstData::F32(_)), &[out, inp]) = (&w.data, w.shape.as_slice()) else {
                return None;
            };
            Some(Target {
                name: n.name.clone(),
                input: n.inputs[0],
                n: out,
                k: inp,
            })
        })
        .collect()
}

/// The index of the node named `name`.
pub(crate) fn node_index(g: &Graph, name: &str) -> Option<usize> {
    g.nodes.iter().position(|n| n.name == name)
}
