//! Fuses a ReLU into the FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D that feeds only it.

use crate::graph::{Act, Graph, Op};

/// Folds `op → RELU` into the op's fused activation.
pub fn fuse_activations(g: &mut Graph) {
    let mut i = 0;
    while i < g.nodes.len() {
        let n = &g.nodes[i];
        if n.op != Op::Relu {
            i += 1;
            continue;
        }
        let x = n.inputs[0];
        let y = n.outputs[0];
        let fusable = g.producer(x).filter(|&p| {
            g.consumers(x).len() == 1
                && !g.outputs.contains(&x)
                && matches!(
                    g.nodes[p].op,
                    Op::FullyConnected { act: Act::None }
                        | Op::Conv2d { act: Act::None, .. }
                        | Op::DepthwiseConv2d { act: Act::None, .. }
                )
        });
        let Some(p) = fusable else {
            i += 1;
            continue;
        };
        match &mut g.nodes[p].op {
            Op::FullyConnected { act }
            | Op::Conv2d { act, .. }
            | Op::DepthwiseConv2d { act, .. } => *act = Act::Relu,
            _ => unreachable!("matched above"),
        }
        g.replace_uses(y, x);
        g.nodes.remove(i);
    }
}
