//! Where SmoothQuant can fold exactly: a value written by a per-channel affine `x·γ + β` (a lowered
//! LayerNorm's last two ops) and read only as the input of FULLY_CONNECTED layers with constant
//! float weights. Every other FULLY_CONNECTED input is a skipped site, with the reason.

use crate::graph::{Graph, Op, ValueId};

/// An input slot: (node index, input index).
type Slot = (usize, usize);

/// One foldable site.
pub(crate) struct Site {
    /// The affine's output, read by `fcs`.
    pub input: ValueId,
    /// Where γ is read: the `MUL(·, γ)` node and input index.
    pub mul: Slot,
    /// Where β is read: the `ADD(·, β)` node and input index.
    pub add: Slot,
    /// Node indices of the FULLY_CONNECTED layers reading `input`.
    pub fcs: Vec<usize>,
}

/// A FULLY_CONNECTED input that cannot be smoothed exactly.
pub(crate) struct Skip {
    /// The input value.
    pub input: ValueId,
    /// Node indices of its readers.
    pub consumers: Vec<usize>,
    /// Why.
    pub reason: String,
}

/// Every distinct FULLY_CONNECTED input of `g`, in node order, as a site or a skip.
pub(crate) fn find(g: &Graph) -> (Vec<Site>, Vec<Skip>) {
    let mut seen = Vec::new();
    let (mut sites, mut skips) = (Vec::new(), Vec::new());
    for n in &g.nodes {
        if !matches!(n.op, Op::FullyConnected { .. }) || seen.contains(&n.inputs[0]) {
            continue;
        }
        let x = n.inputs[0];
        seen.push(x);
        let consumers = g.consumers(x);
        match site(g, x, &consumers) {
            Ok((mul, add)) => sites.push(Site {
                input: x,
                mul,
                add,
                fcs: consumers,
            }),
            Err(reason) => skips.push(Skip {
                input: x,
                consumers,
                reason,
            }),
        }
    }
    (sites, skips)
}

/// The (MUL, ADD) nodes to fold into for `x`, or why there are none.
fn site(g: &Graph, x: ValueId, consumers: &[usize]) -> Result<(Slot, Slot), String> {
    let k = *g.value(x).shape.last().ok_or("a scalar input")?;
    if g.outputs.contains(&x) {
        return Err("it is also a graph output".into());
    }
    for &c in consumers {
        let n = &g.nodes[c];
        let fc_input = matches!(n.op, Op::FullyConnected { .. })
            && n.inputs[0] == x
            && !n.inputs[1..].contains(&x);
        let w = g.value(n.inputs.get(1).copied().unwrap_or(x));
        let const_weight = w.data.as_ref().and_then(|d| d.as_f32()).is_some()
            && w.shape.len() == 2
            && w.shape[1] == k;
        if !fc_input {
            return Err(format!(
                "also read by {} {} (scaling it would change that result)",
                n.op.name(),
                n.name
            ));
        }
        if !const_weight {
            return Err(format!("{} has no constant float [N, {k}] weights", n.name));
        }
    }
    let Some(add) = g.producer(x) else {
        return Err("a graph input: no per-channel affine x·γ + β writes it".into());
    };
    let by = format!("{} {}", g.nodes[add].op.name(), g.nodes[add].name);
    let no_affine = |what: &str| format!("written by {by}, not a per-channel affine x·γ + β{what}");
    if g.nodes[add].op != Op::Add {
        return Err(no_affine(""));
    }
    let (a, beta_slot) =
        affine_operand(g, add, Op::Add, k).ok_or_else(|| no_affine(" (no [K] constant added)"))?;
    let mul = g
        .producer(a)
        .filter(|_| g.consumers(a) == [add] && !g.outputs.contains(&a))
        .ok_or_else(|| no_affine(" (what it adds to is not a MUL read only by it)"))?;
    let (_, gamma_slot) = affine_operand(g, mul, Op::Mul, k)
        .ok_or_else(|| no_affine(" (no multiplication by a [K] constant before it)"))?;
    Ok(((mul, gamma_slot), (add, beta_slot)))
}

/// For a binary `op` node with one constant float operand broadcast along the last axis of `k`
/// channels: (the other operand, the constant's slot).
fn affine_operand(g: &Graph, node: usize, op: Op, k: usize) -> Option<(ValueId, usize)> {
    let n = &g.nodes[node];
    if n.op != op || n.inputs.len() != 2 {
        return None;
    }
    let per_channel = |id: ValueId| {
        let v = g.value(id);
        let s = &v.shape;
        v.data.as_ref().and_then(|d| d.as_f32()).is_some()
            && s.last() == Some(&k)
            && s[..s.len() - 1].iter().all(|&d| d == 1)
    };
    let other_is_activation = |id: ValueId| g.value(id).data.is_none();
    match (n.inputs[0], n.inputs[1]) {
        (a, c) if per_channel(c) && other_is_activation(a) => Some((a, 1)),
        (c, a) if per_channel(c) && other_is_activation(a) => Some((a, 0)),
        _ => None,
    }
}
