//! Layout clean-up after tracing: the NCHW ↔ NHWC transposes around convolutions cancel, a
//! transpose that moves only size-1 axes is a reshape, reshape chains collapse, and a graph input
//! read only by a reshape takes the reshaped shape (same bytes).

use crate::graph::{Graph, Op};

/// Applies the rewrites until none applies.
pub fn simplify_layout(g: &mut Graph) {
    while step(g) {}
}

fn step(g: &mut Graph) -> bool {
    for i in 0..g.nodes.len() {
        let n = &g.nodes[i];
        let x = n.inputs.first().copied();
        let y = n.outputs[0];
        match &n.op {
            Op::Transpose { perm } => {
                let x = x.expect("transpose has an input");
                let src = g.value(x).shape.clone();
                // Only size-1 axes move: the bytes are unchanged.
                let kept: Vec<usize> = perm.iter().copied().filter(|&a| src[a] != 1).collect();
                if kept.windows(2).all(|w| w[0] < w[1]) {
                    let shape = g.value(y).shape.clone();
                    g.nodes[i].op = Op::Reshape { shape };
                    return true;
                }
                // Transpose of a transpose: compose.
                if let Some(p) = g.producer(x) {
                    if let Op::Transpose { perm: first } = &g.nodes[p].op {
                        let composed: Vec<usize> = perm.iter().map(|&a| first[a]).collect();
                        let src0 = g.nodes[p].inputs[0];
                        if composed.iter().enumerate().all(|(i, &a)| i == a) {
                            g.replace_uses(y, src0);
                            g.nodes.remove(i);
                        } else {
                            g.nodes[i].op = Op::Transpose { perm: composed };
                            g.nodes[i].inputs[0] = src0;
                        }
                        return true;
                    }
                }
                // NHWC→NCHW, reshape to [N, C, HW], swap the last two: a reshape of the NHWC tensor.
                if perm == &[0, 2, 1] {
                    if let Some(r) = g.producer(x) {
                        if let Op::Reshape { .. } = g.nodes[r].op {
                            let rin = g.nodes[r].inputs[0];
                            if let Some(t) = g.producer(rin) {
                                if g.nodes[t].op
                                    == (Op::Transpose {
                                        perm: vec![0, 3, 1, 2],
                                    })
                                {
                                    let nhwc = g.nodes[t].inputs[0];
                                    let rs = &g.value(x).shape;
                                    let s4 = &g.value(nhwc).shape;
                                    if rs.len() == 3 && rs[1] == s4[3] && rs[2] == s4[1] * s4[2] {
                                        let shape = g.value(y).shape.clone();
                                        g.nodes[i].op = Op::Reshape { shape };
                                        g.nodes[i].inputs[0] = nhwc;
                                        return true;
                                    }
                                }
                            }
                        }
                    }
                }
            }
            Op::Reshape { shape } => {
                let x = x.expect("reshape has an input");
                if &g.value(x).shape == shape {
                    g.replace_uses(y, x);
                    g.nodes.remove(i);
                    return true;
                }
                if let Some(p) = g.producer(x) {
                    if let Op::Reshape { .. } = g.nodes[p].op {
                        g.nodes[i].inputs[0] = g.nodes[p].inputs[0];
                        return true;
                    }
                }
                if g.inputs.contains(&x) && g.consumers(x).len() == 1 {
                    let shape = shape.clone();
                    g.value_mut(x).shape = shape;
                    g.replace_uses(y, x);
                    g.nodes.remove(i);
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}
