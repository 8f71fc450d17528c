//! `concat`: tensors joined along one axis; the gradient is cut back into the pieces.

use super::slice::{copy_rows, outer_inner};
use super::{apply, Op, OpKind, Saved};
use crate::{Error, Result, Tensor};

/// `xs` joined along `axis`; all other dims must agree.
pub fn concat(xs: &[&Tensor], axis: usize) -> Result<Tensor> {
    const OP: &str = "concat";
    let Some(first) = xs.first() else {
        crate::bail_shape!(OP, "no tensors to join");
    };
    if axis >= first.rank() {
        crate::bail_shape!(OP, "axis {axis} out of range for shape {:?}", first.shape());
    }
    for x in &xs[1..] {
        let same = |i: usize| i == axis || x.shape().get(i) == first.shape().get(i);
        if x.rank() != first.rank() || !(0..first.rank()).all(same) {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: first.shape().to_vec(),
                rhs: x.shape().to_vec(),
            });
        }
    }
    apply(
        Concat {
            axis,
            sizes: xs.iter().map(|x| x.shape()[axis]).collect(),
        },
        xs,
    )
}

#[derive(Debug)]
struct Concat {
    axis: usize,
    sizes: Vec<usize>,
}

impl Op for Concat {
    fn kind(&self) -> OpKind {
        OpKind::Concat { axis: self.axis }
    }

    fn forward(&self, xs: &[&Tensor], _: &mut Saved) -> Result<Tensor> {
        let mut shape = xs[0].shape().to_vec();
        shape[self.axis] = self.sizes.iter().sum();
        let mut y = Tensor::uninit(&shape);
        let (outer, inner) = outer_inner(&shape, self.axis);
        let row = shape[self.axis] * inner;
        let mut off = 0;
        for x in xs {
            let len = x.shape()[self.axis] * inner;
            copy_rows(outer, len, (x.data(), len, 0), (y.data_mut(), row, off));
            off += len;
        }
        Ok(y)
    }

    fn backward(&self, gy: &Tensor, _: Saved, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (outer, inner) = outer_inner(gy.shape(), self.axis);
        let row = gy.shape()[self.axis] * inner;
        let mut off = 0;
        let mut grads = Vec::with_capacity(needs.len());
        for (&size, &need) in self.sizes.iter().zip(needs) {
            let len = size * inner;
            grads.push(need.then(|| {
                let mut shape = gy.shape().to_vec();
                shape[self.axis] = size;
                let mut gx = Tensor::uninit(&shape);
                copy_rows(outer, len, (gy.data(), row, off), (gx.data_mut(), len, 0));
                gx
            }));
            off += len;
        }
        Ok(grads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{gradcheck, rand_tensor, Tol};

    #[test]
    fn concat_matches_naive_loops() {
        let a = rand_tensor(&[2, 1, 3], 1);
        let b = rand_tensor(&[2, 4, 3], 2);
        let y = concat(&[&a, &b], 1).unwrap();
        assert_eq!(y.shape(), [2, 5, 3]);
        for i in 0..2 {
            for j in 0..5 {
                for k in 0..3 {
                    let e = if j == 0 {
                        a.data()[i * 3 + k]
                    } else {
                        b.data()[(i * 4 + j - 1) * 3 + k]
                    };
                    assert_eq!(y.data()[(i * 5 + j) * 3 + k], e);
                }
            }
        }
        let y = concat(&[&b, &b], 0).unwrap();
        assert_eq!(y.shape(), [4, 4, 3]);
        assert_eq!(y.data()[..24], *b.data());
        assert_eq!(y.data()[24..], *b.data());
    }

    #[test]
    fn gradcheck_concat() {
        let a = rand_tensor(&[2, 1, 3], 1);
        let b = rand_tensor(&[2, 4, 3], 2);
        let c = rand_tensor(&[2, 2, 3], 3);
        gradcheck(
            |xs| concat(&[&xs[0], &xs[1], &xs[2]], 1),
            &[a, b, c],
            Tol::F32,
        );
        let d = rand_tensor(&[2, 4, 2], 4);
        let e = rand_tensor(&[2, 4, 3], 5);
        gradcheck(|xs| concat(&[&xs[0], &xs[1]], 2), &[d, e], Tol::F32);
    }

    #[test]
    fn concat_rejects_bad_inputs() {
        let a = rand_tensor(&[2, 3], 1);
        let b = rand_tensor(&[3, 3], 2);
        assert!(matches!(concat(&[], 0), Err(Error::BadShape { .. })));
        assert!(matches!(concat(&[&a], 2), Err(Error::BadShape { .. })));
        assert!(matches!(
            concat(&[&a, &b], 1),
            Err(Error::ShapeMismatch { op: "concat", .. })
        ));
        assert!(matches!(
            concat(&[&a, &rand_tensor(&[2, 3, 1], 3)], 0),
            Err(Error::ShapeMismatch { .. })
        ));
        assert_eq!(concat(&[&a, &b], 0).unwrap().shape(), [5, 3]);
    }
}
