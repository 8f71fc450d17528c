//! `reshape`: the same storage under another shape, recorded so a tracer sees the shape change.

use super::{apply, Op, OpKind, Saved};
use crate::{Result, Tensor};

/// `x` viewed with `shape` (same element count); shares storage, no copy.
pub fn reshape(x: &Tensor, shape: &[usize]) -> Result<Tensor> {
    apply(
        Reshape {
            from: x.shape().to_vec(),
            to: shape.to_vec(),
        },
        &[x],
    )
}

#[derive(Debug)]
struct Reshape {
    from: Vec<usize>,
    to: Vec<usize>,
}

impl Op for Reshape {
    fn kind(&self) -> OpKind {
        OpKind::Reshape {
            shape: self.to.clone(),
        }
    }

    fn forward(&self, xs: &[&Tensor], _: &mut Saved) -> Result<Tensor> {
        xs[0].with_shape(&self.to)
    }

    fn backward(&self, gy: &Tensor, _: Saved, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![if needs[0] {
            Some(gy.with_shape(&self.from)?)
        } else {
            None
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{gradcheck, rand_tensor, Tol};
    use crate::Error;

    #[test]
    fn gradcheck_reshape() {
        let x = rand_tensor(&[2, 3, 4], 1);
        gradcheck(
            |xs| reshape(&xs[0], &[6, 4]),
            std::slice::from_ref(&x),
            Tol::F32,
        );
        gradcheck(|xs| reshape(&xs[0], &[24]), &[x], Tol::F32);
        gradcheck(
            |xs| reshape(&xs[0], &[]),
            &[rand_tensor(&[1, 1], 2)],
            Tol::F32,
        );
    }

    #[test]
    fn reshape_shares_storage_and_keeps_order() {
        let x = rand_tensor(&[2, 3, 4], 1);
        let y = reshape(&x, &[4, 1, 6]).unwrap();
        assert_eq!(y.shape(), [4, 1, 6]);
        assert!(y.shares_storage(&x));
        assert_eq!(y.data(), x.data());
    }

    #[test]
    fn reshape_rejects_other_element_counts() {
        let x = rand_tensor(&[2, 3], 1);
        assert!(matches!(
            reshape(&x, &[4, 2]),
            Err(Error::ShapeMismatch { op: "reshape", .. })
        ));
    }
}
