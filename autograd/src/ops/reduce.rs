//! `sum` and `mean` over chosen axes (and `sum_all` / `mean_all` to a scalar of shape `[]`).

use super::broadcast::{expand, sum_to};
use super::{apply, Op, OpKind, Saved};
use crate::{Result, Tensor};

/// Σ over `axes` (each < rank, no repeats, at least one); `keepdim` leaves them as size 1.
pub fn sum(x: &Tensor, axes: &[usize], keepdim: bool) -> Result<Tensor> {
    reduce(x, axes, keepdim, false)
}

/// Mean over `axes` (each < rank, no repeats, at least one); `keepdim` leaves them as size 1.
pub fn mean(x: &Tensor, axes: &[usize], keepdim: bool) -> Result<Tensor> {
    reduce(x, axes, keepdim, true)
}

/// Σ of every element, shape `[]`.
pub fn sum_all(x: &Tensor) -> Result<Tensor> {
    all(x, false)
}

/// Mean of every element, shape `[]`.
pub fn mean_all(x: &Tensor) -> Result<Tensor> {
    all(x, true)
}

fn all(x: &Tensor, mean: bool) -> Result<Tensor> {
    let axes = (0..x.rank()).collect();
    apply(Reduce::new(x, axes, false, mean), &[x])
}

fn reduce(x: &Tensor, axes: &[usize], keepdim: bool, mean: bool) -> Result<Tensor> {
    let op = if mean { "mean" } else { "sum" };
    // An empty list means "all axes" to PyTorch and "none" to numpy: refuse rather than guess.
    if axes.is_empty() {
        crate::bail_shape!(op, "no axes given (use {op}_all to reduce everything)");
    }
    let mut sorted = axes.to_vec();
    sorted.sort_unstable();
    for (i, &a) in sorted.iter().enumerate() {
        if a >= x.rank() || sorted.get(i + 1) == Some(&a) {
            crate::bail_shape!(
                op,
                "axes {axes:?} out of range or repeated for shape {:?}",
                x.shape()
            );
        }
    }
    apply(Reduce::new(x, sorted, keepdim, mean), &[x])
}

#[derive(Debug)]
struct Reduce {
    mean: bool,
    /// Sorted, distinct.
    axes: Vec<usize>,
    keepdim: bool,
    in_shape: Vec<usize>,
}

impl Reduce {
    fn new(x: &Tensor, axes: Vec<usize>, keepdim: bool, mean: bool) -> Reduce {
        Reduce {
            mean,
            axes,
            keepdim,
            in_shape: x.shape().to_vec(),
        }
    }

    /// The input shape with the reduced axes set to 1.
    fn kept_shape(&self) -> Vec<usize> {
        let mut s = self.in_shape.clone();
        for &a in &self.axes {
            s[a] = 1;
        }
        s
    }

    /// 1, or 1/(reduced element count) for a mean (∞ for an empty reduction: 0·∞ = NaN, as 0/0).
    fn factor(&self) -> f32 {
        if self.mean {
            let n: usize = self.axes.iter().map(|&a| self.in_shape[a]).product();
            1.0 / n as f32
        } else {
            1.0
        }
    }
}

impl Op for Reduce {
    fn kind(&self) -> OpKind {
        let (axes, keepdim) = (self.axes.clone(), self.keepdim);
        if self.mean {
            OpKind::Mean { axes, keepdim }
        } else {
            OpKind::Sum { axes, keepdim }
        }
    }

    fn forward(&self, xs: &[&Tensor], _: &mut Saved) -> Result<Tensor> {
        let kept = self.kept_shape();
        let mut y = sum_to(xs[0], &kept);
        if self.mean {
            let s = self.factor();
            y.data_mut().iter_mut().for_each(|v| *v *= s);
        }
        if self.keepdim {
            Ok(y)
        } else {
            let out: Vec<usize> = (0..kept.len())
                .filter(|i| self.axes.binary_search(i).is_err())
                .map(|i| kept[i])
                .collect();
            y.with_shape(&out)
        }
    }

    fn backward(&self, gy: &Tensor, _: Saved, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if !needs[0] {
            return Ok(vec![None]);
        }
        let g = gy.with_shape(&self.kept_shape())?;
        Ok(vec![Some(expand(&g, &self.in_shape, self.factor()))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{gradcheck, rand_tensor, Tol};
    use crate::Error;

    #[test]
    fn sum_and_mean_match_naive_loops() {
        let x = rand_tensor(&[2, 3, 4], 1);
        let at = |i: usize, j: usize, k: usize| x.data()[(i * 3 + j) * 4 + k];
        let y = sum(&x, &[1], false).unwrap();
        assert_eq!(y.shape(), [2, 4]);
        for i in 0..2 {
            for k in 0..4 {
                let e: f32 = (0..3).map(|j| at(i, j, k)).sum();
                approx::assert_abs_diff_eq!(y.data()[i * 4 + k], e, epsilon = 1e-6);
            }
        }
        let y = mean(&x, &[2, 0], true).unwrap();
        assert_eq!(y.shape(), [1, 3, 1]);
        for j in 0..3 {
            let e: f32 = (0..2)
                .flat_map(|i| (0..4).map(move |k| (i, k)))
                .map(|(i, k)| at(i, j, k))
                .sum();
            approx::assert_abs_diff_eq!(y.data()[j], e / 8.0, epsilon = 1e-6);
        }
        let s = sum_all(&x).unwrap();
        assert_eq!(s.shape(), [] as [usize; 0]);
        approx::assert_abs_diff_eq!(
            s.item().unwrap(),
            x.data().iter().sum::<f32>(),
            epsilon = 1e-5
        );
        let m = mean_all(&x).unwrap();
        approx::assert_abs_diff_eq!(m.item().unwrap(), s.item().unwrap() / 24.0, epsilon = 1e-6);
        assert_eq!(sum_all(&Tensor::scalar(3.0)).unwrap().item().unwrap(), 3.0);
        assert_eq!(
            sum(&x, &[0, 1, 2], false).unwrap().shape(),
            [] as [usize; 0]
        );
    }

    #[test]
    fn gradcheck_reductions() {
        let x = rand_tensor(&[2, 3, 4], 1);
        for (axes, keepdim) in [
            (&[0][..], false),
            (&[1], true),
            (&[2], false),
            (&[0, 2], true),
        ] {
            gradcheck(
                |xs| sum(&xs[0], axes, keepdim),
                std::slice::from_ref(&x),
                Tol::F32,
            );
            gradcheck(
                |xs| mean(&xs[0], axes, keepdim),
                std::slice::from_ref(&x),
                Tol::F32,
            );
        }
        gradcheck(|xs| sum_all(&xs[0]), std::slice::from_ref(&x), Tol::F32);
        gradcheck(|xs| mean_all(&xs[0]), &[x], Tol::F32);
    }

    #[test]
    fn reductions_reject_bad_axes() {
        let x = rand_tensor(&[2, 3], 1);
        for axes in [&[][..], &[2], &[1, 1]] {
            assert!(matches!(
                sum(&x, axes, false),
                Err(Error::BadShape { op: "sum", .. })
            ));
            assert!(matches!(
                mean(&x, axes, true),
                Err(Error::BadShape { op: "mean", .. })
            ));
        }
    }
}
