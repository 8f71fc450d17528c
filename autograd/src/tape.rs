//! The reverse-mode tape: ops record nodes as they run; `backward` walks them in reverse.
//!
//! One tape per thread. A node is recorded only when gradients are enabled (not inside [`no_grad`])
//! and at least one input is tracked, so inference records nothing and drops intermediates at once.
//! `backward` consumes the tape: saved values are freed node by node as soon as their backward ran,
//! and tensors from an older tape read as untracked.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::ops::{Op, Saved};
use crate::param::ParamId;
use crate::profile;
use crate::{Error, Result, Tensor};

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// Where a tensor sits on a tape: the tape's generation and the node index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NodeRef {
    gen: u64,
    idx: usize,
}

impl NodeRef {
    /// Whether the tape this node belongs to is still the current one.
    pub(crate) fn is_current(self) -> bool {
        TAPE.with(|t| t.borrow().gen == self.gen)
    }
}

enum Entry {
    Leaf {
        param: Option<ParamId>,
        /// The leaf's value, kept only while tracing (the graph needs constants and weights).
        value: Option<Tensor>,
    },
    Op {
        op: Box<dyn Op>,
        inputs: Vec<Option<usize>>,
        saved: Option<Saved>,
    },
}

struct Node {
    entry: Entry,
    shape: Vec<usize>,
}

struct Tape {
    gen: u64,
    nodes: Vec<Node>,
    grad_enabled: bool,
    /// Set by [`trace`]: every op is recorded (even on untracked inputs) and nothing is saved.
    tracing: bool,
}

thread_local! {
    static TAPE: RefCell<Tape> = RefCell::new(Tape {
        gen: GENERATION.fetch_add(1, Ordering::Relaxed),
        nodes: Vec::new(),
        grad_enabled: true,
        tracing: false,
    });
}

/// Runs `f` with recording off: ops record nothing and free their intermediates at once.
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            TAPE.with(|t| t.borrow_mut().grad_enabled = self.0);
        }
    }
    let _restore =
        Restore(TAPE.with(|t| std::mem::replace(&mut t.borrow_mut().grad_enabled, false)));
    f()
}

/// Whether ops on tracked tensors are being recorded (false inside [`no_grad`]).
pub fn grad_enabled() -> bool {
    TAPE.with(|t| t.borrow().grad_enabled)
}

/// Drops every recorded node (and what they saved); tensors from before read as untracked.
pub fn clear_tape() {
    let old = TAPE.with(|t| {
        let mut t = t.borrow_mut();
        t.gen = GENERATION.fetch_add(1, Ordering::Relaxed);
        std::mem::take(&mut t.nodes)
    });
    drop(old);
}

/// Number of nodes on this thread's tape.
pub fn tape_len() -> usize {
    TAPE.with(|t| t.borrow().nodes.len())
}

/// Records a leaf (a parameter or a tensor that wants its gradient) when recording is on.
pub(crate) fn leaf(x: &Tensor, param: Option<ParamId>) -> Option<NodeRef> {
    TAPE.with(|t| {
        let mut t = t.borrow_mut();
        if !t.grad_enabled {
            return None;
        }
        Some(push_leaf(&mut t, x, param))
    })
}

fn push_leaf(t: &mut Tape, x: &Tensor, param: Option<ParamId>) -> NodeRef {
    let idx = t.nodes.len();
    let value = t.tracing.then(|| x.detach());
    t.nodes.push(Node {
        entry: Entry::Leaf { param, value },
        shape: x.shape().to_vec(),
    });
    NodeRef { gen: t.gen, idx }
}

/// Whether an op on these inputs must be recorded, and whether it must save tensors for backward.
pub(crate) fn should_record(inputs: &[&Tensor]) -> (bool, bool) {
    TAPE.with(|t| {
        let t = t.borrow();
        if t.tracing {
            return (true, false);
        }
        let record = t.grad_enabled
            && inputs
                .iter()
                .any(|x| x.node.is_some_and(|n| n.gen == t.gen));
        (record, record)
    })
}

/// Appends an op node and returns its place.
pub(crate) fn record(
    op: Box<dyn Op>,
    inputs: &[&Tensor],
    saved: Saved,
    shape: &[usize],
) -> NodeRef {
    TAPE.with(|t| {
        let mut t = t.borrow_mut();
        let gen = t.gen;
        let inputs = inputs
            .iter()
            .map(|x| match x.node.filter(|n| n.gen == gen) {
                Some(n) => Some(n.idx),
                // While tracing an untracked input is a constant of the graph.
                None if t.tracing => Some(push_leaf(&mut t, x, None).idx),
                None => None,
            })
            .collect();
        let idx = t.nodes.len();
        t.nodes.push(Node {
            entry: Entry::Op {
                op,
                inputs,
                saved: Some(saved),
            },
            shape: shape.to_vec(),
        });
        NodeRef { gen, idx }
    })
}

/// Gradients of one backward pass: per parameter (summed over its uses) and per marked leaf.
#[derive(Debug, Default)]
pub struct Gradients {
    params: HashMap<ParamId, Tensor>,
    leaves: HashMap<(u64, usize), Tensor>,
}

impl Gradients {
    /// ∂loss/∂p for a parameter used in the forward pass.
    pub fn param(&self, id: ParamId) -> Option<&Tensor> {
        self.params.get(&id)
    }

    /// Moves a parameter's gradient out.
    pub fn take_param(&mut self, id: ParamId) -> Option<Tensor> {
        self.params.remove(&id)
    }

    /// ∂loss/∂x for a tensor marked with [`Tensor::requires_grad`] before the forward pass.
    pub fn wrt(&self, x: &Tensor) -> Option<&Tensor> {
        let n = x.node?;
        self.leaves.get(&(n.gen, n.idx))
    }

    /// Number of parameters that received a gradient.
    pub fn num_params(&self) -> usize {
        self.params.len()
    }

    /// ∂loss/∂p for in-place changes (clipping by global norm).
    pub fn param_mut(&mut self, id: ParamId) -> Option<&mut Tensor> {
        self.params.get_mut(&id)
    }

    /// Sets a parameter's gradient (gradients reduced across ranks, tests); returns the old one.
    pub fn insert_param(&mut self, id: ParamId, g: Tensor) -> Option<Tensor> {
        self.params.insert(id, g.detach())
    }

    /// Multiplies every gradient by `s` (e.g. `1/k` after accumulating `k` micro-batches).
    pub fn scale(&mut self, s: f32) {
        for g in self.params.values_mut().chain(self.leaves.values_mut()) {
            for v in g.data_mut() {
                *v *= s;
            }
        }
    }

    /// Adds the gradients of another backward pass (gradient accumulation over micro-batches):
    /// parameter gradients are summed per parameter; leaf gradients of `other` belong to its own
    /// pass and are kept as they are. On a shape mismatch nothing is changed.
    pub fn accumulate(&mut self, other: Gradients) -> Result<()> {
        for (id, g) in &other.params {
            if let Some(acc) = self.params.get(id) {
                if acc.shape() != g.shape() {
                    return Err(Error::ShapeMismatch {
                        op: "Gradients::accumulate",
                        lhs: acc.shape().to_vec(),
                        rhs: g.shape().to_vec(),
                    });
                }
            }
        }
        for (id, g) in other.params {
            let mut slot = self.params.remove(&id);
            accumulate(&mut slot, g);
            self.params.extend(slot.map(|g| (id, g)));
        }
        self.leaves.extend(other.leaves);
        Ok(())
    }
}

fn accumulate(slot: &mut Option<Tensor>, g: Tensor) {
    match slot {
        None => *slot = Some(g),
        Some(acc) => {
            for (a, b) in acc.data_mut().iter_mut().zip(g.data()) {
                *a += b;
            }
        }
    }
}

/// Backpropagates from `y` (seeded with `seed`, or 1 for a scalar) and consumes the tape.
pub(crate) fn backward(y: &Tensor, seed: Option<Tensor>) -> Result<Gradients> {
    let start = y
        .node
        .filter(|n| n.is_current())
        .ok_or(Error::NotRecorded)?;
    let seed = match seed {
        Some(s) if s.shape() == y.shape() => s.detach(),
        Some(s) => {
            return Err(Error::ShapeMismatch {
                op: "backward seed",
                lhs: y.shape().to_vec(),
                rhs: s.shape().to_vec(),
            })
        }
        None if y.numel() == 1 => Tensor::full(y.shape(), 1.0),
        None => return Err(Error::NotScalar(y.shape().to_vec())),
    };
    let (gen, mut nodes) = TAPE.with(|t| {
        let mut t = t.borrow_mut();
        let gen = t.gen;
        t.gen = GENERATION.fetch_add(1, Ordering::Relaxed);
        (gen, std::mem::take(&mut t.nodes))
    });
    nodes.truncate(start.idx + 1);
    let mut grads: Vec<Option<Tensor>> = vec![None; nodes.len()];
    grads[start.idx] = Some(seed);
    let mut out = Gradients::default();
    while let Some(node) = nodes.pop() {
        let idx = nodes.len();
        let Some(gy) = grads[idx].take() else {
            continue;
        };
        match node.entry {
            Entry::Leaf {
                param: Some(id), ..
            } => {
                let mut slot = out.params.remove(&id);
                accumulate(&mut slot, gy);
                out.params.extend(slot.map(|g| (id, g)));
            }
            Entry::Leaf { param: None, .. } => {
                out.leaves.insert((gen, idx), gy);
            }
            Entry::Op {
                op,
                inputs,
                mut saved,
            } => {
                let needs: Vec<bool> = inputs.iter().map(Option::is_some).collect();
                let saved = saved.take().unwrap_or_default();
                let t0 = profile::enabled().then(Instant::now);
                let gxs = op.backward(&gy, saved, &needs)?;
                if let Some(t0) = t0 {
                    profile::add(op.kind().name(), profile::Pass::Backward, t0.elapsed());
                }
                drop(gy);
                if gxs.len() != inputs.len() {
                    crate::bail_shape!(
                        "backward",
                        "{} returned {} gradients for {} inputs",
                        op.kind().name(),
                        gxs.len(),
                        inputs.len()
                    );
                }
                for (gx, input) in gxs.into_iter().zip(inputs) {
                    let (Some(gx), Some(i)) = (gx, input) else {
                        continue;
                    };
                    if gx.shape() != nodes[i].shape {
                        return Err(Error::ShapeMismatch {
                            op: op.kind().name(),
                            lhs: nodes[i].shape.clone(),
                            rhs: gx.shape().to_vec(),
                        });
                    }
                    accumulate(&mut grads[i], gx.detach());
                }
            }
        }
    }
    Ok(out)
}

/// A recorded node as [`crate::trace`] hands it out.
pub(crate) enum RawNode {
    Leaf {
        param: Option<ParamId>,
        value: Option<Tensor>,
        shape: Vec<usize>,
    },
    Op {
        op: Box<dyn Op>,
        inputs: Vec<Option<usize>>,
        shape: Vec<usize>,
    },
}

/// Starts a fresh tape in tracing mode (recording on); returns the previous grad-enabled flag.
pub(crate) fn begin_trace() -> bool {
    clear_tape();
    TAPE.with(|t| {
        let mut t = t.borrow_mut();
        t.tracing = true;
        std::mem::replace(&mut t.grad_enabled, true)
    })
}

/// Ends tracing, restores the grad-enabled flag and returns the recorded nodes (the tape is left
/// empty under a new generation).
pub(crate) fn end_trace(grad_enabled: bool) -> Vec<RawNode> {
    let nodes = TAPE.with(|t| {
        let mut t = t.borrow_mut();
        t.tracing = false;
        t.grad_enabled = grad_enabled;
        t.gen = GENERATION.fetch_add(1, Ordering::Relaxed);
        std::mem::take(&mut t.nodes)
    });
    nodes
        .into_iter()
        .map(|n| match n.entry {
            Entry::Leaf { param, value } => RawNode::Leaf {
                param,
                value,
                shape: n.shape,
            },
            Entry::Op { op, inputs, .. } => RawNode::Op {
                op,
                inputs,
                shape: n.shape,
            },
        })
        .collect()
}

/// The tape index of `x` when it belongs to the current tape.
pub(crate) fn index_of(x: &Tensor) -> Option<usize> {
    x.node.filter(|n| n.is_current()).map(|n| n.idx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Param;

    fn grads(entries: &[(&Param, &[usize], &[f32])]) -> Gradients {
        let mut g = Gradients::default();
        for (p, shape, v) in entries {
            g.insert_param(p.id(), Tensor::from_slice(shape, v).expect("shape"));
        }
        g
    }

    #[test]
    fn accumulate_sums_per_param_and_keeps_others() {
        let (a, b, c) = (
            Param::new(Tensor::zeros(&[2])),
            Param::new(Tensor::zeros(&[1])),
            Param::new(Tensor::zeros(&[3])),
        );
        let mut acc = grads(&[(&a, &[2], &[1.0, 2.0]), (&b, &[1], &[5.0])]);
        let other = grads(&[(&a, &[2], &[0.5, -4.0]), (&c, &[3], &[1.0, 2.0, 3.0])]);
        acc.accumulate(other).expect("same shapes");
        assert_eq!(acc.num_params(), 3);
        assert_eq!(acc.param(a.id()).map(Tensor::data), Some(&[1.5, -2.0][..]));
        assert_eq!(acc.param(b.id()).map(Tensor::data), Some(&[5.0][..]));
        assert_eq!(
            acc.param(c.id()).map(Tensor::data),
            Some(&[1.0, 2.0, 3.0][..])
        );
    }

    #[test]
    fn accumulate_rejects_a_shape_mismatch_and_changes_nothing() {
        let (a, b) = (
            Param::new(Tensor::zeros(&[2])),
            Param::new(Tensor::zeros(&[1])),
        );
        let mut acc = grads(&[(&a, &[2], &[1.0, 2.0])]);
        let other = grads(&[(&b, &[1], &[7.0]), (&a, &[1, 2], &[1.0, 1.0])]);
        let err = acc.accumulate(other).expect_err("shapes differ");
        assert!(
            err.to_string().contains("[2]") && err.to_string().contains("[1, 2]"),
            "{err}"
        );
        assert_eq!(acc.num_params(), 1);
        assert_eq!(acc.param(a.id()).map(Tensor::data), Some(&[1.0, 2.0][..]));
    }

    #[test]
    fn scale_and_param_mut_change_values_in_place() {
        let a = Param::new(Tensor::zeros(&[2]));
        let mut g = grads(&[(&a, &[2], &[1.0, -3.0])]);
        g.scale(0.5);
        assert_eq!(g.param(a.id()).map(Tensor::data), Some(&[0.5, -1.5][..]));
        if let Some(t) = g.param_mut(a.id()) {
            t.data_mut()[1] = 9.0;
        }
        assert_eq!(g.param(a.id()).map(Tensor::data), Some(&[0.5, 9.0][..]));
        assert!(g.param_mut(Param::new(Tensor::zeros(&[1])).id()).is_none());
    }
}
