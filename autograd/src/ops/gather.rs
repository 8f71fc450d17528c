//! `gather_rows`: embedding-style row lookup; the gradient scatter-adds into the table.

use super::{apply, Op, OpKind, Saved};
use crate::{Result, Tensor};

/// Rows `idx` of `table` `[n, d]`, shape `[idx.len(), d]`; errors on an index ≥ n.
pub fn gather_rows(table: &Tensor, idx: &[usize]) -> Result<Tensor> {
    super::expect_rank("gather_rows", table, 2)?;
    let n = table.shape()[0];
    if let Some(bad) = idx.iter().find(|&&i| i >= n) {
        crate::bail_shape!(
            "gather_rows",
            "index {bad} out of range for a table of {n} rows"
        );
    }
    apply(
        GatherRows {
            indices: idx.to_vec(),
            rows: n,
        },
        &[table],
    )
}

#[derive(Debug)]
struct GatherRows {
    indices: Vec<usize>,
    rows: usize,
}

impl Op for GatherRows {
    fn kind(&self) -> OpKind {
        OpKind::GatherRows {
            indices: self.indices.clone(),
        }
    }

    fn forward(&self, xs: &[&Tensor], _: &mut Saved) -> Result<Tensor> {
        let d = xs[0].shape()[1];
        let mut y = Tensor::uninit(&[self.indices.len(), d]);
        if d > 0 {
            for (row, &i) in y.data_mut().chunks_exact_mut(d).zip(&self.indices) {
                row.copy_from_slice(&xs[0].data()[i * d..][..d]);
            }
        }
        Ok(y)
    }

    fn backward(&self, gy: &Tensor, _: Saved, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if !needs[0] {
            return Ok(vec![None]);
        }
        let d = gy.shape()[1];
        let mut gt = Tensor::zeros(&[self.rows, d]);
        if d > 0 {
            let g = gt.data_mut();
            for (row, &i) in gy.data().chunks_exact(d).zip(&self.indices) {
                for (a, &v) in g[i * d..][..d].iter_mut().zip(row) {
                    *a += v;
                }
            }
        }
        Ok(vec![Some(gt)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{gradcheck, rand_tensor, Tol};
    use crate::Error;

    #[test]
    fn gather_rows_copies_rows_and_scatter_adds_gradients() {
        let t = rand_tensor(&[4, 3], 1);
        let idx = [2, 0, 2, 3];
        let y = gather_rows(&t, &idx).unwrap();
        assert_eq!(y.shape(), [4, 3]);
        for (r, &i) in idx.iter().enumerate() {
            assert_eq!(y.data()[r * 3..][..3], t.data()[i * 3..][..3]);
        }
        let tt = t.detach().requires_grad();
        let g = rand_tensor(&[4, 3], 2);
        let grads = gather_rows(&tt, &idx)
            .unwrap()
            .backward_with(g.clone())
            .unwrap();
        let gt = grads.wrt(&tt).unwrap().data();
        for c in 0..3 {
            assert_eq!(gt[c], g.data()[3 + c]);
            assert_eq!(gt[3 + c], 0.0);
            assert_eq!(gt[6 + c], g.data()[c] + g.data()[6 + c]);
            assert_eq!(gt[9 + c], g.data()[9 + c]);
        }
        assert_eq!(gather_rows(&t, &[]).unwrap().shape(), [0, 3]);
    }

    #[test]
    fn gradcheck_gather_rows() {
        let t = rand_tensor(&[5, 3], 1);
        gradcheck(|xs| gather_rows(&xs[0], &[4, 1, 1, 0]), &[t], Tol::F32);
    }

    #[test]
    fn gather_rows_rejects_bad_inputs() {
        let t = rand_tensor(&[4, 3], 1);
        assert!(matches!(
            gather_rows(&t, &[0, 4]),
            Err(Error::BadShape {
                op: "gather_rows",
                ..
            })
        ));
        assert!(matches!(
            gather_rows(&rand_tensor(&[12], 1), &[0]),
            Err(Error::BadShape {
                op: "gather_rows",
                ..
            })
        ));
    }
}
