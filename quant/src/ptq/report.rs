//! Per-layer quantization error: each int8 node's output against the float graph's same node, so
//! users see which layer hurts.

use std::collections::HashMap;

use crate::graph::{Graph, ValueId};
use crate::runtime::{Buf, Data, Session};
use crate::Result;

/// Error of one layer's int8 output against float, accumulated over the report's inputs.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerError {
    /// The node's name.
    pub name: String,
    /// Its TFLite op.
    pub op: &'static str,
    /// Signal-to-quantization-noise ratio, 10·log10(Σx² / Σ(x − x̂)²), in dB.
    pub sqnr_db: f64,
    /// Cosine similarity of the flattened outputs.
    pub cosine: f64,
}

#[derive(Default)]
struct Acc {
    signal: f64,
    noise: f64,
    dot: f64,
    nq: f64,
}

/// Compares every int8-output compute node (not data movement) of `int8` with the float node of the same name in `float`.
pub fn layer_errors(float: &Graph, int8: &Graph, inputs: &[Buf]) -> Result<Vec<LayerError>> {
    let fs = Session::new(float)?;
    let qs = Session::new(int8)?;
    let qnodes: HashMap<ValueId, usize> = int8
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.outputs[0], i))
        .collect();
    let float_by_name: HashMap<&str, ValueId> = float
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.outputs[0]))
        .collect();
    let mut acc: HashMap<usize, Acc> = HashMap::new();
    for x in inputs {
        let mut fvals: HashMap<ValueId, Vec<f32>> = HashMap::new();
        fs.run_observed(vec![x.clone()], &mut |id, b| {
            // Sessions report node outputs only.
            if let Some(v) = b.as_f32() {
                fvals.insert(id, v.to_vec());
            }
        })?;
        qs.run_observed(vec![x.clone()], &mut |id, b| {
            let Some(&qi) = qnodes.get(&id) else { return };
            // Data movement repeats its producer's error.
            if int8.nodes[qi].op.shares_qparams() {
                return;
            }
            let (Data::I8(q), Some(p)) = (&b.data, int8.value(id).qparams()) else {
                return;
            };
            let Some(f) = float_by_name
                .get(int8.nodes[qi].name.as_str())
                .and_then(|fid| fvals.get(fid))
            else {
                return;
            };
            if f.len() != q.len() {
                return;
            }
            let a = acc.entry(qi).or_default();
            for (&fv, &qv) in f.iter().zip(q) {
                let r = ((qv as i32 - p.zero_point) as f32 * p.scale) as f64;
                let fv = fv as f64;
                a.signal += fv * fv;
                a.noise += (fv - r) * (fv - r);
                a.dot += fv * r;
                a.nq += r * r;
            }
        })?;
    }
    let mut out: Vec<(usize, LayerError)> = acc
        .into_iter()
        .map(|(i, a)| {
            let n = &int8.nodes[i];
            (
                i,
                LayerError {
                    name: n.name.clone(),
                    op: n.op.name(),
                    sqnr_db: 10.0 * (a.signal / a.noise.max(1e-30)).log10(),
                    cosine: a.dot / (a.signal.sqrt() * a.nq.sqrt()).max(1e-30),
                },
            )
        })
        .collect();
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, e)| e).collect())
}
