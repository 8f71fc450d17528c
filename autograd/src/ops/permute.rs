//! `permute` (any rank) and `transpose` (a permutation that swaps two axes): a materialized copy.

use super::broadcast::Plan;
use super::{apply, Op, OpKind, Saved};
use crate::{Result, Tensor};

/// Output axis `i` is input axis `perm[i]`; `perm` must be a permutation of `0..rank`.
pub fn permute(x: &Tensor, perm: &[usize]) -> Result<Tensor> {
    let mut seen = vec![false; x.rank()];
    for &p in perm {
        if p >= x.rank() || std::mem::replace(&mut seen[p], true) {
            crate::bail_shape!(
                "permute",
                "{perm:?} is not a permutation of the axes of shape {:?}",
                x.shape()
            );
        }
    }
    if perm.len() != x.rank() {
        crate::bail_shape!(
            "permute",
            "{perm:?} has {} axes, shape {:?} has {}",
            perm.len(),
            x.shape(),
            x.rank()
        );
    }
    apply(
        Permute {
            perm: perm.to_vec(),
        },
        &[x],
    )
}

/// Swaps axes `d0` and `d1` (a [`permute`]).
pub fn transpose(x: &Tensor, d0: usize, d1: usize) -> Result<Tensor> {
    if d0 >= x.rank() || d1 >= x.rank() {
        crate::bail_shape!(
            "transpose",
            "axes {d0} and {d1} out of range for shape {:?}",
            x.shape()
        );
    }
    let mut perm: Vec<usize> = (0..x.rank()).collect();
    perm.swap(d0, d1);
    permute(x, &perm)
}

#[derive(Debug)]
struct Permute {
    perm: Vec<usize>,
}

/// Edge of the square tiles a transposing copy moves at a time (two 16×16 f32 tiles fit in L1).
const TILE: usize = 16;

/// `x` of `shape` with its axes permuted by `perm` into a new tensor.
fn permuted(x: &Tensor, perm: &[usize]) -> Tensor {
    let shape = x.shape();
    let mut y = Tensor::uninit(&perm.iter().map(|&p| shape[p]).collect::<Vec<_>>());
    let (xd, yd) = (x.data(), y.data_mut());
    if yd.is_empty() {
        return y;
    }
    let mut in_stride = vec![1usize; shape.len()];
    for i in (1..shape.len()).rev() {
        in_stride[i - 1] = in_stride[i] * shape[i];
    }
    // Output dims as (size, input stride), size-1 dims dropped and dims that stay neighbours in
    // the input merged: [B,T,H,dh] → [B,H,T,dh] walks as 4 dims, a no-op permutation as 1.
    let mut dims: Vec<(usize, usize)> = Vec::with_capacity(perm.len());
    for &p in perm {
        let (n, s) = (shape[p], in_stride[p]);
        if n == 1 {
            continue;
        }
        match dims.last_mut() {
            Some((pn, ps)) if *ps == s * n => {
                *pn *= n;
                *ps = s;
            }
            _ => dims.push((n, s)),
        }
    }
    let mut out_stride = vec![1usize; dims.len()];
    for i in (1..dims.len()).rev() {
        out_stride[i - 1] = out_stride[i] * dims[i].0;
    }
    let Some(&(n_last, s_last)) = dims.last() else {
        yd.copy_from_slice(xd);
        return y;
    };
    let last = dims.len() - 1;
    if s_last == 1 {
        // The innermost output dim is contiguous in the input too: copy whole runs.
        let plan = Plan::from_parts(
            dims.iter().map(|d| d.0).collect(),
            dims.iter()
                .zip(&out_stride)
                .map(|(d, &o)| [d.1, o])
                .collect(),
        );
        plan.for_each_run(|[i, o]| yd[o..o + n_last].copy_from_slice(&xd[i..i + n_last]));
        return y;
    }
    // The input's contiguous dim q lands elsewhere: move TILE×TILE tiles of the (q, last) plane
    // so both the reads and the writes stay within a few cache lines.
    let q = dims
        .iter()
        .position(|d| d.1 == 1)
        .expect("the input's innermost non-unit dim has stride 1");
    let (n_q, o_q) = (dims[q].0, out_stride[q]);
    let rest: Vec<usize> = (0..last).filter(|&i| i != q).collect();
    let plan = Plan::from_parts(
        rest.iter().map(|&i| dims[i].0).chain([1]).collect(),
        rest.iter()
            .map(|&i| [dims[i].1, out_stride[i]])
            .chain([[0, 0]])
            .collect(),
    );
    plan.for_each_run(|[ib, ob]| {
        for i0 in (0..n_q).step_by(TILE) {
            for j0 in (0..n_last).step_by(TILE) {
                for i in i0..(i0 + TILE).min(n_q) {
                    let row = &mut yd[ob + i * o_q..][j0..(j0 + TILE).min(n_last)];
                    for (j, y) in (j0..).zip(row) {
                        *y = xd[ib + i + j * s_last];
                    }
                }
            }
        }
    });
    y
}

impl Op for Permute {
    fn kind(&self) -> OpKind {
        OpKind::Permute {
            perm: self.perm.clone(),
        }
    }

    fn forward(&self, xs: &[&Tensor], _: &mut Saved) -> Result<Tensor> {
        Ok(permuted(xs[0], &self.perm))
    }

    fn backward(&self, gy: &Tensor, _: Saved, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if !needs[0] {
            return Ok(vec![None]);
        }
        let mut inverse = vec![0; self.perm.len()];
        for (i, &p) in self.perm.iter().enumerate() {
            inverse[p] = i;
        }
        Ok(vec![Some(permuted(gy, &inverse))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{gradcheck, rand_tensor, Tol};
    use crate::Error;

    /// Permutes by computing each output element's input index from scratch.
    fn naive(x: &Tensor, perm: &[usize]) -> Vec<f32> {
        let s = x.shape();
        let out: Vec<usize> = perm.iter().map(|&p| s[p]).collect();
        (0..x.numel())
            .map(|mut i| {
                let mut idx = vec![0; s.len()];
                for d in (0..out.len()).rev() {
                    idx[perm[d]] = i % out[d];
                    i /= out[d];
                }
                x.data()[idx.iter().zip(s).fold(0, |acc, (&j, &n)| acc * n + j)]
            })
            .collect()
    }

    #[test]
    fn permute_matches_naive_index_math() {
        let cases: [(&[usize], &[usize]); 8] = [
            (&[2, 5, 3, 4], &[0, 2, 1, 3]),
            (&[3, 37, 21], &[0, 2, 1]),
            (&[37, 21], &[1, 0]),
            (&[2, 3, 4, 5], &[3, 1, 0, 2]),
            (&[2, 1, 3, 1], &[3, 2, 1, 0]),
            (&[4, 3, 2], &[0, 1, 2]),
            (&[5], &[0]),
            (&[], &[]),
        ];
        for (shape, perm) in cases {
            let x = rand_tensor(shape, 1);
            let y = permute(&x, perm).unwrap();
            let out: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
            assert_eq!(y.shape(), out);
            assert_eq!(y.data(), naive(&x, perm), "{shape:?} by {perm:?}");
        }
        let x = rand_tensor(&[2, 3, 4], 2);
        let t = transpose(&x, 2, 0).unwrap();
        assert_eq!(t.data(), naive(&x, &[2, 1, 0]));
    }

    #[test]
    fn gradcheck_permute_and_transpose() {
        let x = rand_tensor(&[2, 3, 4, 2], 1);
        gradcheck(
            |xs| permute(&xs[0], &[0, 2, 1, 3]),
            std::slice::from_ref(&x),
            Tol::F32,
        );
        gradcheck(
            |xs| permute(&xs[0], &[3, 0, 2, 1]),
            std::slice::from_ref(&x),
            Tol::F32,
        );
        gradcheck(|xs| transpose(&xs[0], 1, 2), &[x], Tol::F32);
    }

    #[test]
    fn permute_rejects_bad_axes() {
        let x = rand_tensor(&[2, 3, 4], 1);
        for perm in [&[0, 1][..], &[0, 1, 1], &[0, 1, 3], &[0, 1, 2, 3]] {
            assert!(matches!(
                permute(&x, perm),
                Err(Error::BadShape { op: "permute", .. })
            ));
        }
        assert!(matches!(
            transpose(&x, 0, 3),
            Err(Error::BadShape {
                op: "transpose",
                ..
            })
        ));
    }
}
