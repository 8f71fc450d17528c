//! Numpy broadcasting shared by the float and int8 elementwise ops.

use crate::{Error, Result};

/// The numpy broadcast of two shapes, or an error when a pair of dimensions is neither equal nor 1.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| (i + s.len()).checked_sub(rank).map_or(1, |j| s[j]);
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y || y == 1 => Ok(x),
            (1, y) => Ok(y),
            _ => Err(Error::Graph {
                node: "broadcast".into(),
                what: format!("shapes {a:?} and {b:?} do not broadcast"),
            }),
        })
        .collect()
}

/// Element strides of `s` inside the broadcast shape `out` (0 along broadcast dimensions).
fn strides(s: &[usize], out: &[usize]) -> Vec<usize> {
    let mut st = vec![0; out.len()];
    let mut acc = 1;
    for (i, &d) in s.iter().enumerate().rev() {
        if d != 1 {
            st[out.len() - s.len() + i] = acc;
        }
        acc *= d;
    }
    st
}

/// `out[i] = f(a[..], b[..])` for every element of `shape` (the broadcast of `sa` and `sb`), in
/// row-major order. The caller has checked the lengths against the shapes.
pub(crate) fn broadcast_map<A: Copy, B: Copy, Y>(
    (a, sa): (&[A], &[usize]),
    (b, sb): (&[B], &[usize]),
    shape: &[usize],
    out: &mut [Y],
    f: impl Fn(A, B) -> Y,
) {
    if out.is_empty() {
        return;
    }
    let (sta, stb) = (strides(sa, shape), strides(sb, shape));
    // Odometer over all but the last dimension; the last one is the inner loop.
    let inner = shape.last().copied().unwrap_or(1);
    let (ia, ib) = (
        sta.last().copied().unwrap_or(0),
        stb.last().copied().unwrap_or(0),
    );
    let mut idx = vec![0usize; shape.len().saturating_sub(1)];
    let (mut oa, mut ob) = (0usize, 0usize);
    for row in out.chunks_exact_mut(inner) {
        // Contiguous or repeated operands as plain slice loops (these vectorize; the strided
        // form does not).
        match (ia, ib) {
            (1, 1) => {
                for ((y, &x), &z) in row
                    .iter_mut()
                    .zip(&a[oa..oa + inner])
                    .zip(&b[ob..ob + inner])
                {
                    *y = f(x, z);
                }
            }
            (1, 0) => {
                let z = b[ob];
                for (y, &x) in row.iter_mut().zip(&a[oa..oa + inner]) {
                    *y = f(x, z);
                }
            }
            (0, 1) => {
                let x = a[oa];
                for (y, &z) in row.iter_mut().zip(&b[ob..ob + inner]) {
                    *y = f(x, z);
                }
            }
            _ => {
                for (j, y) in row.iter_mut().enumerate() {
                    *y = f(a[oa + j * ia], b[ob + j * ib]);
                }
            }
        }
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            oa += sta[d];
            ob += stb[d];
            if idx[d] < shape[d] {
                break;
            }
            oa -= sta[d] * shape[d];
            ob -= stb[d] * shape[d];
            idx[d] = 0;
        }
    }
}
