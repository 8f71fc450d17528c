//! Shape checks and numpy broadcasting shared by the float ops.

use crate::{Error, Result};

/// A [`Error::Graph`] naming the float op.
pub(super) fn shape_err(op: &str, what: impl Into<String>) -> Error {
    Error::Graph {
        node: op.to_string(),
        what: what.into(),
    }
}

/// The element count of `shape`, checking that `len` matches it.
pub(super) fn check_len(op: &str, shape: &[usize], len: usize) -> Result<usize> {
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| shape_err(op, format!("shape {shape:?} overflows")))?;
    if n != len {
        return Err(shape_err(
            op,
            format!("shape {shape:?} holds {n} elements, got {len}"),
        ));
    }
    Ok(n)
}
