//! Where the int8 graph quantizes, decided once for [`super::convert`] and quantization-aware
//! training (`crate::qat`), so that the values QAT fake-quantizes are exactly those the converted
//! graph holds in int8, with the same sharing, symmetry and fixed parameters.
//!
//! Values joined by data-movement ops share one scale and zero point (range = union of the
//! members'); a value read as the right-hand side of a BATCH_MATMUL is symmetric (XNNPACK requires
//! zero point 0 there); softmax and logistic outputs use 1/256, −128.

use std::collections::HashMap;

use crate::graph::{Graph, Op, Value, ValueId};
use crate::ptq::convert::is_int8_node;
use crate::ptq::qparams::{asymmetric, symmetric};
use crate::QParams;

/// Union-find over value ids.
struct Groups(Vec<usize>);

impl Groups {
    fn find(&mut self, mut a: usize) -> usize {
        while self.0[a] != a {
            self.0[a] = self.0[self.0[a]];
            a = self.0[a];
        }
        a
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        self.0[ra] = rb;
    }
}

/// Range of a constant's data.
pub fn const_range(v: &Value) -> Option<(f32, f32)> {
    data_range(v.data.as_ref()?.as_f32()?)
}

/// (min, max) of `d`; None when empty.
pub fn data_range(d: &[f32]) -> Option<(f32, f32)> {
    let lo = d.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = d.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    (lo <= hi).then_some((lo, hi))
}

/// For every value of a float graph: its parameter group, whether that group is symmetric or has
/// fixed parameters, and which values the int8 graph holds per tensor in int8.
pub struct QuantPlan {
    /// Group representative of each value (its own id when it shares with nothing).
    group: Vec<usize>,
    /// Per representative: symmetric.
    symmetric: Vec<bool>,
    /// Per representative: fixed parameters.
    fixed: HashMap<usize, QParams>,
    /// Values int8 nodes write or read as activations (not weights or biases), in first-use order.
    int8_values: Vec<ValueId>,
}

/// Whether `op` reads weights (input 1, per-channel int8) and a bias (input 2, int32).
pub fn is_weighted(op: &Op) -> bool {
    matches!(
        op,
        Op::FullyConnected { .. } | Op::Conv2d { .. } | Op::DepthwiseConv2d { .. }
    )
}

/// The per-channel axis of a weighted op's weights: FC `[N, K]` and conv OHWI 0, depthwise 1HWC
/// the last (3).
pub fn weight_axis(op: &Op) -> usize {
    match op {
        Op::DepthwiseConv2d { .. } => 3,
        _ => 0,
    }
}

/// The quantization plan of `g` (float32, prepared).
pub fn quant_plan(g: &Graph) -> QuantPlan {
    let n = g.values.len();
    let mut groups = Groups((0..n).collect());
    let mut symmetric_v = vec![false; n];
    let mut fixed: HashMap<usize, QParams> = HashMap::new();
    let mut seen = vec![false; n];
    let mut int8_values = Vec::new();
    for node in &g.nodes {
        if matches!(node.op, Op::Softmax | Op::Logistic) {
            fixed.insert(node.outputs[0].0, QParams::new(1.0 / 256.0, -128));
        }
        if !is_int8_node(node) {
            continue;
        }
        let acts = if is_weighted(&node.op) {
            &node.inputs[..1]
        } else {
            &node.inputs[..]
        };
        for &v in acts.iter().chain(&node.outputs) {
            if !std::mem::replace(&mut seen[v.0], true) {
                int8_values.push(v);
            }
        }
        if node.op.shares_qparams() {
            for &x in &node.inputs {
                groups.union(x.0, node.outputs[0].0);
            }
        }
        if let Op::BatchMatmul { .. } = node.op {
            symmetric_v[node.inputs[1].0] = true;
        }
    }
    let group: Vec<usize> = (0..n).map(|v| groups.find(v)).collect();
    let mut sym = vec![false; n];
    let mut fix = HashMap::new();
    for v in 0..n {
        sym[group[v]] |= symmetric_v[v];
        if let Some(q) = fixed.get(&v) {
            fix.insert(group[v], *q);
        }
    }
    QuantPlan {
        group,
        symmetric: sym,
        fixed: fix,
        int8_values,
    }
}

impl QuantPlan {
    /// The values the int8 graph holds per tensor in int8 (activations int8 nodes read or write,
    /// and constants they read other than weights and biases).
    pub fn int8_values(&self) -> &[ValueId] {
        &self.int8_values
    }

    /// The group of `v`: values of one group share their parameters.
    pub fn group(&self, v: ValueId) -> usize {
        self.group[v.0]
    }

    /// The fixed parameters of `v`'s group, if it has them (softmax and logistic outputs).
    pub fn fixed(&self, v: ValueId) -> Option<QParams> {
        self.fixed.get(&self.group[v.0]).copied()
    }

    /// Whether `v`'s group is quantized symmetrically (zero point 0).
    pub fn is_symmetric(&self, v: ValueId) -> bool {
        self.symmetric[self.group[v.0]]
    }

    /// The parameters of `v`'s group when the group's values span `[lo, hi]`.
    pub fn params(&self, v: ValueId, (lo, hi): (f32, f32)) -> QParams {
        match self.fixed(v) {
            Some(q) => q,
            None if self.is_symmetric(v) => symmetric(lo, hi),
            None => asymmetric(lo, hi),
        }
    }

    /// Per-tensor parameters for every value with a range (calibrated in `ranges`, else its
    /// constant data's), unioned over each group.
    pub fn qparams(
        &self,
        g: &Graph,
        ranges: &HashMap<ValueId, (f32, f32)>,
    ) -> HashMap<ValueId, QParams> {
        let n = g.values.len();
        let mut span: HashMap<usize, (f32, f32)> = HashMap::new();
        for v in 0..n {
            let id = ValueId(v);
            let range = ranges
                .get(&id)
                .copied()
                .or_else(|| const_range(g.value(id)));
            if let Some((lo, hi)) = range {
                let e = span.entry(self.group[v]).or_insert((lo, hi));
                *e = (e.0.min(lo), e.1.max(hi));
            }
        }
        let mut out = HashMap::new();
        for v in 0..n {
            let id = ValueId(v);
            let q = if let Some(q) = self.fixed(id) {
                q
            } else if let Some(&r) = span.get(&self.group[v]) {
                self.params(id, r)
            } else {
                continue;
            };
            out.insert(id, q);
        }
        out
    }
}
