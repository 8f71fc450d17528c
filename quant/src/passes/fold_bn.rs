//! BatchNorm folding: `conv → BN` becomes one conv with scaled filters and a shifted bias; a BN
//! with no foldable producer becomes MUL + ADD by constants.

use crate::graph::{err, ConstData, Graph, Op, ValueId};
use crate::Result;

/// Folds or lowers every BATCH_NORM node (running statistics, over the last axis).
pub fn fold_batch_norm(g: &mut Graph) -> Result<()> {
    let mut i = 0;
    while i < g.nodes.len() {
        let Op::BatchNorm { eps } = g.nodes[i].op else {
            i += 1;
            continue;
        };
        let n = g.nodes[i].clone();
        let get = |id: ValueId| -> Result<Vec<f32>> {
            g.value(id)
                .data
                .as_ref()
                .and_then(|d| d.as_f32())
                .map(<[f32]>::to_vec)
                .ok_or_else(|| err(&n.name, "batch-norm parameters must be constants"))
        };
        let (gamma, beta, mean, var) = (
            get(n.inputs[1])?,
            get(n.inputs[2])?,
            get(n.inputs[3])?,
            get(n.inputs[4])?,
        );
        let scale: Vec<f32> = gamma
            .iter()
            .zip(&var)
            .map(|(g, v)| g / (v + eps).sqrt())
            .collect();
        let shift: Vec<f32> = beta
            .iter()
            .zip(&mean)
            .zip(&scale)
            .map(|((b, m), s)| b - m * s)
            .collect();
        let x = n.inputs[0];
        let y = n.outputs[0];
        let c = scale.len();
        let producer = g
            .producer(x)
            .filter(|_| g.consumers(x).len() == 1 && !g.outputs.contains(&x));
        let folded = producer.is_some_and(|p| fold_into(g, p, &scale, &shift));
        if folded {
            g.replace_uses(y, x);
            g.nodes.remove(i);
        } else {
            let s = g.add_const_f32(&format!("{}.scale", n.name), &[c], scale);
            let b = g.add_const_f32(&format!("{}.shift", n.name), &[c], shift);
            let shape = g.value(y).shape.clone();
            let m = g.add_activation(&format!("{}.mul", n.name), &shape);
            g.nodes[i].op = Op::Mul;
            g.nodes[i].inputs = vec![x, s];
            g.nodes[i].outputs = vec![m];
            g.nodes.insert(
                i + 1,
                crate::graph::Node {
                    name: n.name.clone(),
                    op: Op::Add,
                    inputs: vec![m, b],
                    outputs: vec![y],
                    float_island: false,
                },
            );
            i += 2;
        }
    }
    Ok(())
}

/// Scales the producer's output channels by `scale` and adds `shift` to its bias.
fn fold_into(g: &mut Graph, p: usize, scale: &[f32], shift: &[f32]) -> bool {
    let n = g.nodes[p].clone();
    let channel_last = match n.op {
        Op::DepthwiseConv2d { .. } => true,
        Op::Conv2d { .. } | Op::FullyConnected { .. } => false,
        _ => return false,
    };
    let w = n.inputs[1];
    let Some(ConstData::F32(mut wd)) = g.value(w).data.clone() else {
        return false;
    };
    let c = scale.len();
    if wd.len() % c != 0 {
        return false;
    }
    let per = wd.len() / c;
    for (j, v) in wd.iter_mut().enumerate() {
        *v *= scale[if channel_last { j % c } else { j / per }];
    }
    let bias: Vec<f32> = match n.inputs.get(2).and_then(|&b| g.value(b).data.clone()) {
        Some(ConstData::F32(b)) => b
            .iter()
            .zip(scale)
            .zip(shift)
            .map(|((b, s), t)| b * s + t)
            .collect(),
        _ => shift.to_vec(),
    };
    let wname = g.value(w).name.clone();
    let wshape = g.value(w).shape.clone();
    let nw = g.add_const_f32(&wname, &wshape, wd);
    let nb = g.add_const_f32(&format!("{}.bias", n.name), &[c], bias);
    g.nodes[p].inputs = vec![n.inputs[0], nw, nb];
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Act, Padding};
    use crate::runtime::{Buf, Session};

    fn vals(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    /// conv (NHWC) → BN, or BN straight on the input.
    fn graph(with_conv: bool) -> Graph {
        let mut g = Graph::default();
        let x = g.add_activation("x", &[1, 5, 5, 3]);
        g.inputs = vec![x];
        let c = 4;
        let h = if with_conv {
            let w = g.add_const_f32("conv.weight", &[c, 3, 3, 3], vals(c * 27, 1));
            let b = g.add_const_f32("conv.bias", &[c], vals(c, 2));
            let op = Op::Conv2d {
                stride: (1, 1),
                padding: Padding::Same,
                act: Act::None,
            };
            g.push("conv", op, vec![x, w, b], &[1, 5, 5, c], false)
        } else {
            x
        };
        let c = g.value(h).shape[3];
        let gamma = g.add_const_f32("bn.weight", &[c], vals(c, 3));
        let beta = g.add_const_f32("bn.bias", &[c], vals(c, 4));
        let mean = g.add_const_f32("bn.running_mean", &[c], vals(c, 5));
        let var: Vec<f32> = vals(c, 6).iter().map(|v| v.abs() + 0.5).collect();
        let var = g.add_const_f32("bn.running_var", &[c], var);
        let y = g.push(
            "bn",
            Op::BatchNorm { eps: 1e-5 },
            vec![h, gamma, beta, mean, var],
            &[1, 5, 5, c],
            false,
        );
        g.outputs = vec![y];
        g
    }

    fn run(g: &Graph) -> Vec<f32> {
        let x = Buf::f32(&[1, 5, 5, 3], vals(75, 9));
        let y = Session::new(g).unwrap().run(vec![x]).unwrap();
        y[0].as_f32().unwrap().to_vec()
    }

    #[test]
    fn batch_norm_folds_into_conv_or_lowers_to_mul_add() {
        for with_conv in [true, false] {
            let g = graph(with_conv);
            let want = run(&g);
            let mut f = g.clone();
            fold_batch_norm(&mut f).unwrap();
            crate::passes::compact(&mut f);
            let counts = f.op_counts();
            assert!(!counts.contains_key("batch_norm"), "{counts:?}");
            if with_conv {
                assert_eq!(counts.get("CONV_2D"), Some(&1));
                assert_eq!(f.nodes.len(), 1, "{counts:?}");
            } else {
                assert_eq!((counts.get("MUL"), counts.get("ADD")), (Some(&1), Some(&1)));
            }
            for (a, b) in run(&f).iter().zip(&want) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
            }
        }
    }
}
