//! Trainable parameters: tensors with a stable id that the tape maps gradients back to.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::Tensor;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Identifies one parameter for the lifetime of the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(u64);

/// A trainable tensor. Each use in a forward pass ([`Param::tensor`]) records a leaf on the tape;
/// gradients of all uses are summed under [`Param::id`].
#[derive(Debug)]
pub struct Param {
    id: ParamId,
    value: Tensor,
}

impl Param {
    /// A parameter with a fresh id.
    pub fn new(value: Tensor) -> Param {
        Param {
            id: ParamId(NEXT_ID.fetch_add(1, Ordering::Relaxed)),
            value: value.detach(),
        }
    }

    /// The id gradients are keyed by.
    pub fn id(&self) -> ParamId {
        self.id
    }

    /// The value, for use in a forward pass: tracked when recording is on.
    pub fn tensor(&self) -> Tensor {
        let mut t = self.value.detach();
        t.node = crate::tape::leaf(&t, Some(self.id));
        t
    }

    /// The value, untracked.
    pub fn value(&self) -> &Tensor {
        &self.value
    }

    /// The value for in-place updates (optimizers, loading).
    pub fn value_mut(&mut self) -> &mut Tensor {
        &mut self.value
    }

    /// A copy with a new id (its own gradients).
    pub fn duplicate(&self) -> Param {
        Param::new(self.value.clone())
    }
}
