//! `slice`: the range `start..end` of one axis, copied out.

use super::{apply, Op, OpKind, Saved};
use crate::{Result, Tensor};

/// Elements `start..end` along `axis` (materialized).
pub fn slice(x: &Tensor, axis: usize, start: usize, end: usize) -> Result<Tensor> {
    if axis >= x.rank() || start > end || end > x.shape()[axis] {
        crate::bail_shape!(
            "slice",
            "range {start}..{end} of axis {axis} is out of bounds for shape {:?}",
            x.shape()
        );
    }
    apply(
        Slice {
            axis,
            start,
            end,
            in_shape: x.shape().to_vec(),
        },
        &[x],
    )
}

/// The row structure of `shape` split at `axis`: (rows before the axis, elements per axis step).
pub(super) fn outer_inner(shape: &[usize], axis: usize) -> (usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis + 1..].iter().product(),
    )
}

/// For each of `rows` rows, copies `len` elements from `src[r·src_row + src_off..]` to
/// `dst[r·dst_row + dst_off..]`.
pub(super) fn copy_rows(
    rows: usize,
    len: usize,
    (src, src_row, src_off): (&[f32], usize, usize),
    (dst, dst_row, dst_off): (&mut [f32], usize, usize),
) {
    if len == 0 {
        return;
    }
    for r in 0..rows {
        dst[r * dst_row + dst_off..][..len].copy_from_slice(&src[r * src_row + src_off..][..len]);
    }
}

#[derive(Debug)]
struct Slice {
    axis: usize,
    start: usize,
    end: usize,
    in_shape: Vec<usize>,
}

impl Op for Slice {
    fn kind(&self) -> OpKind {
        OpKind::Slice {
            axis: self.axis,
            start: self.start,
            end: self.end,
        }
    }

    fn forward(&self, xs: &[&Tensor], _: &mut Saved) -> Result<Tensor> {
        let mut shape = self.in_shape.clone();
        shape[self.axis] = self.end - self.start;
        let mut y = Tensor::uninit(&shape);
        let (outer, inner) = outer_inner(&shape, self.axis);
        let (n, len) = (self.in_shape[self.axis] * inner, shape[self.axis] * inner);
        copy_rows(
            outer,
            len,
            (xs[0].data(), n, self.start * inner),
            (y.data_mut(), len, 0),
        );
        Ok(y)
    }

    fn backward(&self, gy: &Tensor, _: Saved, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if !needs[0] {
            return Ok(vec![None]);
        }
        let mut gx = Tensor::zeros(&self.in_shape);
        let (outer, inner) = outer_inner(gy.shape(), self.axis);
        let (n, len) = (
            self.in_shape[self.axis] * inner,
            gy.shape()[self.axis] * inner,
        );
        copy_rows(
            outer,
            len,
            (gy.data(), len, 0),
            (gx.data_mut(), n, self.start * inner),
        );
        Ok(vec![Some(gx)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{gradcheck, rand_tensor, Tol};
    use crate::Error;

    #[test]
    fn slice_matches_naive_loops() {
        let x = rand_tensor(&[3, 5, 4], 1);
        let y = slice(&x, 1, 1, 4).unwrap();
        assert_eq!(y.shape(), [3, 3, 4]);
        for i in 0..3 {
            for j in 0..3 {
                for k in 0..4 {
                    let e = x.data()[(i * 5 + j + 1) * 4 + k];
                    assert_eq!(y.data()[(i * 3 + j) * 4 + k], e);
                }
            }
        }
        assert_eq!(slice(&x, 2, 2, 2).unwrap().shape(), [3, 5, 0]);
        assert_eq!(slice(&x, 0, 0, 3).unwrap().data(), x.data());
    }

    #[test]
    fn gradcheck_slice() {
        let x = rand_tensor(&[3, 5, 4], 1);
        for (axis, start, end) in [(0, 1, 3), (1, 0, 1), (1, 2, 5), (2, 1, 3)] {
            gradcheck(
                |xs| slice(&xs[0], axis, start, end),
                std::slice::from_ref(&x),
                Tol::F32,
            );
        }
    }

    #[test]
    fn slice_rejects_bad_ranges() {
        let x = rand_tensor(&[3, 5], 1);
        for (axis, start, end) in [(2, 0, 1), (1, 3, 2), (1, 0, 6), (0, 4, 4)] {
            assert!(matches!(
                slice(&x, axis, start, end),
                Err(Error::BadShape { op: "slice", .. })
            ));
        }
    }
}
