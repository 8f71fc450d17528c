//! Dead-code removal and renumbering.

use crate::graph::{Graph, ValueId};

/// Drops nodes whose outputs nothing reads and values nothing references, renumbering the rest.
pub fn compact(g: &mut Graph) {
    let mut live = vec![false; g.values.len()];
    for &o in g.outputs.iter().chain(&g.inputs) {
        live[o.0] = true;
    }
    let mut keep = vec![false; g.nodes.len()];
    for (i, n) in g.nodes.iter().enumerate().rev() {
        if n.outputs.iter().any(|o| live[o.0]) {
            keep[i] = true;
            for &x in &n.inputs {
                live[x.0] = true;
            }
        }
    }
    let mut k = keep.iter();
    g.nodes.retain(|_| *k.next().unwrap_or(&false));
    for n in &g.nodes {
        for &o in &n.outputs {
            live[o.0] = true;
        }
    }
    let mut map = vec![None; g.values.len()];
    let mut values = Vec::new();
    for (i, v) in std::mem::take(&mut g.values).into_iter().enumerate() {
        if live[i] {
            map[i] = Some(ValueId(values.len()));
            values.push(v);
        }
    }
    g.values = values;
    let remap = |id: &mut ValueId| {
        if let Some(m) = map[id.0] {
            *id = m;
        }
    };
    for n in &mut g.nodes {
        n.inputs.iter_mut().for_each(remap);
        n.outputs.iter_mut().for_each(remap);
    }
    g.inputs.iter_mut().for_each(remap);
    g.outputs.iter_mut().for_each(remap);
}
