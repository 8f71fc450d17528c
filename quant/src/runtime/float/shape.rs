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

/// The numpy broadcast of two shapes (right-aligned; each pair of dims equal or one of them 1).
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| {
        if i + s.len() < rank {
            1
        } else {
            s[i + s.len() - rank]
        }
    };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y || y == 1 => Ok(x),
            (1, y) => Ok(y),
            _ => Err(shape_err(
                "broadcast",
                format!("shapes {a:?} and {b:?} do not broadcast"),
            )),
        })
        .collect()
}

/// For each element of `out` (row-major), the index into an operand of shape `s` broadcast to it.
pub(super) fn broadcast_index(s: &[usize], out: &[usize]) -> Vec<usize> {
    let rank = out.len();
    // Row-major strides of `s` aligned to `out`, 0 where `s` is broadcast.
    let mut strides = vec![0usize; rank];
    let mut stride = 1;
    for i in (0..s.len()).rev() {
        let o = i + rank - s.len();
        strides[o] = if s[i] == 1 { 0 } else { stride };
        stride *= s[i];
    }
    let total: usize = out.iter().product();
    let mut idx = Vec::with_capacity(total);
    let mut pos = vec![0usize; rank];
    let mut cur = 0usize;
    for _ in 0..total {
        idx.push(cur);
        for d in (0..rank).rev() {
            pos[d] += 1;
            cur += strides[d];
            if pos[d] < out[d] {
                break;
            }
            cur -= strides[d] * out[d];
            pos[d] = 0;
        }
    }
    idx
}
