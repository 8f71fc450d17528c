//! Batch norm over axis 1 of `[N, C, ..]` (BatchNorm2d on NCHW): training mode through the batch
//! statistics, evaluation mode with running statistics.

use std::cell::RefCell;
use std::rc::Rc;

use rayon::prelude::*;

use super::{apply, par, Op, OpKind, Saved};
use crate::{Error, Result, Tensor};

/// Training-mode batch norm of x `[N, C, ..]` with γ, β `[C]`: normalises each channel by its batch
/// mean and biased variance, `y = (x − mean)/√(var + eps)·γ + β`.
///
/// Returns `(y, batch_mean, batch_var_unbiased)`; the statistics are untracked (for the layer's
/// running averages, which PyTorch updates with the unbiased variance). Errors when a channel has
/// fewer than two values.
pub fn batch_norm_train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f32,
) -> Result<(Tensor, Tensor, Tensor)> {
    let stats = Rc::new(RefCell::new(None));
    let op = BatchNorm {
        eps,
        batch_stats: Some(stats.clone()),
    };
    let y = apply(op, &[x, gamma, beta])?;
    let (mean, var) = stats
        .take()
        .expect("a successful forward sets the batch statistics");
    Ok((y, mean, var))
}

/// Evaluation-mode batch norm: `y = (x − running_mean)/√(running_var + eps)·γ + β` per channel of
/// x `[N, C, ..]`; every other input is `[C]`.
pub fn batch_norm_eval(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    eps: f32,
) -> Result<Tensor> {
    let op = BatchNorm {
        eps,
        batch_stats: None,
    };
    apply(op, &[x, gamma, beta, running_mean, running_var])
}

/// The forward's batch mean and unbiased variance, handed back to [`batch_norm_train`].
type BatchStats = Rc<RefCell<Option<(Tensor, Tensor)>>>;

/// Batch norm; training mode (inputs x, γ, β) when `batch_stats` is set, else evaluation mode
/// (inputs x, γ, β, running mean, running variance).
#[derive(Debug)]
struct BatchNorm {
    eps: f32,
    batch_stats: Option<BatchStats>,
}

const OP: &str = "batch_norm";

/// `x` as `n` images of `c` channel planes of `hw` elements.
#[derive(Clone, Copy, Debug)]
struct Layout {
    n: usize,
    c: usize,
    hw: usize,
}

impl Layout {
    fn of(x: &Tensor, per_channel: &[&Tensor]) -> Result<Layout> {
        if x.rank() < 2 {
            crate::bail_shape!(OP, "needs x of rank ≥ 2 ([N, C, ..]), got {:?}", x.shape());
        }
        let (n, c) = (x.shape()[0], x.shape()[1]);
        for p in per_channel {
            if p.shape() != [c] {
                return Err(Error::ShapeMismatch {
                    op: OP,
                    lhs: x.shape().to_vec(),
                    rhs: p.shape().to_vec(),
                });
            }
        }
        Ok(Layout {
            n,
            c,
            hw: x.shape()[2..].iter().product(),
        })
    }

    /// Values per channel.
    fn count(&self) -> usize {
        self.n * self.hw
    }

    /// The planes of channel `ch`, one per image.
    fn planes<'a>(&self, x: &'a [f32], ch: usize) -> impl Iterator<Item = &'a [f32]> {
        let (c, hw) = (self.c, self.hw);
        (0..self.n).map(move |i| &x[(i * c + ch) * hw..(i * c + ch + 1) * hw])
    }

    /// `f(ch)` for every channel, in parallel.
    fn per_channel<T: Send>(&self, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
        par::install(|| (0..self.c).into_par_iter().map(&f).collect())
    }

    /// Writes `out` plane by plane: `f(ch, plane_index, out_plane)`, in parallel.
    fn each_plane(&self, out: &mut [f32], f: impl Fn(usize, usize, &mut [f32]) + Sync) {
        let c = self.c;
        par::install(|| {
            out.par_chunks_mut(self.hw.max(1))
                .enumerate()
                .for_each(|(i, o)| f(i % c, i, o))
        })
    }
}

impl BatchNorm {
    fn check_eps(&self) -> Result<()> {
        if !(self.eps.is_finite() && self.eps >= 0.0) {
            crate::bail_shape!(OP, "eps must be finite and ≥ 0, got {}", self.eps);
        }
        Ok(())
    }
}

impl Op for BatchNorm {
    fn kind(&self) -> OpKind {
        OpKind::BatchNorm {
            eps: self.eps,
            training: self.batch_stats.is_some(),
        }
    }

    fn forward(&self, xs: &[&Tensor], save: &mut Saved) -> Result<Tensor> {
        self.check_eps()?;
        let (x, gamma, beta) = (xs[0], xs[1], xs[2]);
        let l = Layout::of(x, &xs[1..])?;
        let xd = x.data();
        let (mean, rstd) = match &self.batch_stats {
            Some(out) => {
                let m = l.count();
                if m < 2 {
                    crate::bail_shape!(
                        OP,
                        "training needs more than one value per channel, got shape {:?}",
                        x.shape()
                    );
                }
                // Two passes in f64: the mean, then the centred sum of squares.
                let stats = l.per_channel(|ch| {
                    let sum: f64 = l.planes(xd, ch).flatten().map(|&v| v as f64).sum();
                    let mean = sum / m as f64;
                    let ss: f64 = l
                        .planes(xd, ch)
                        .flatten()
                        .map(|&v| (v as f64 - mean).powi(2))
                        .sum();
                    (mean, ss / m as f64)
                });
                let mean: Vec<f32> = stats.iter().map(|s| s.0 as f32).collect();
                let rstd: Vec<f32> = stats
                    .iter()
                    .map(|s| (1.0 / (s.1 + self.eps as f64).sqrt()) as f32)
                    .collect();
                let unbiased = stats
                    .iter()
                    .map(|s| (s.1 * m as f64 / (m - 1) as f64) as f32);
                let mean_t = Tensor::from_slice(&[l.c], &mean)?;
                let var_t = Tensor::new(&[l.c], unbiased.collect())?;
                *out.borrow_mut() = Some((mean_t, var_t));
                (mean, rstd)
            }
            None => {
                let (rm, rv) = (xs[3].data(), xs[4].data());
                let rstd = rv.iter().map(|&v| 1.0 / (v + self.eps).sqrt()).collect();
                (rm.to_vec(), rstd)
            }
        };
        let mut y = Tensor::uninit(x.shape());
        let (g, b) = (gamma.data(), beta.data());
        l.each_plane(y.data_mut(), |ch, i, yp| {
            let (scale, m) = (g[ch] * rstd[ch], mean[ch]);
            for (o, &v) in yp.iter_mut().zip(&xd[i * l.hw..(i + 1) * l.hw]) {
                *o = (v - m) * scale + b[ch];
            }
        });
        if save.recording() {
            save.push(x);
            save.push(gamma);
            save.push(&Tensor::new(&[l.c], mean)?);
            save.push(&Tensor::new(&[l.c], rstd)?);
        }
        Ok(y)
    }

    fn backward(&self, gy: &Tensor, saved: Saved, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let mut s = saved.into_vec().into_iter();
        let mut next = || s.next().expect("saved by forward");
        let (x, gamma, mean, rstd) = (next(), next(), next(), next());
        let l = Layout::of(&x, &[&gamma, &mean, &rstd])?;
        let (xd, dy, g, mean, rstd) = (x.data(), gy.data(), gamma.data(), mean.data(), rstd.data());
        // Σ dy and Σ dy·x̂ per channel, in f64.
        let sums = l.per_channel(|ch| {
            let (m, r) = (mean[ch] as f64, rstd[ch] as f64);
            let mut sdy = 0.0f64;
            let mut sdyx = 0.0f64;
            for (xp, dp) in l.planes(xd, ch).zip(l.planes(dy, ch)) {
                for (&v, &d) in xp.iter().zip(dp) {
                    sdy += d as f64;
                    sdyx += d as f64 * (v as f64 - m) * r;
                }
            }
            (sdy, sdyx)
        });
        let training = self.batch_stats.is_some();
        let dx = needs[0].then(|| {
            let inv_m = 1.0 / l.count() as f64;
            let mut dx = Tensor::uninit(x.shape());
            l.each_plane(dx.data_mut(), |ch, i, dp| {
                let (m, r) = (mean[ch], rstd[ch]);
                let k = g[ch] * r;
                let span = i * l.hw..(i + 1) * l.hw;
                let rows = dp.iter_mut().zip(&xd[span.clone()]).zip(&dy[span]);
                if training {
                    // dx = γ·rstd·(dy − mean(dy) − x̂·mean(dy·x̂)).
                    let (a, b) = ((sums[ch].0 * inv_m) as f32, (sums[ch].1 * inv_m) as f32);
                    for ((o, &v), &d) in rows {
                        *o = k * (d - a - (v - m) * r * b);
                    }
                } else {
                    for ((o, _), &d) in rows {
                        *o = k * d;
                    }
                }
            });
            dx
        });
        let per_channel = |need: bool, f: &dyn Fn(usize) -> f64| -> Result<Option<Tensor>> {
            need.then(|| Tensor::new(&[l.c], (0..l.c).map(|ch| f(ch) as f32).collect()))
                .transpose()
        };
        let mut grads = vec![
            dx,
            per_channel(needs[1], &|ch| sums[ch].1)?,
            per_channel(needs[2], &|ch| sums[ch].0)?,
        ];
        if !training {
            // The running statistics are buffers, but their gradients are cheap and exact.
            let (g, r) = (|ch: usize| g[ch] as f64, |ch: usize| rstd[ch] as f64);
            grads.push(per_channel(needs[3], &|ch| -g(ch) * r(ch) * sums[ch].0)?);
            grads.push(per_channel(needs[4], &|ch| {
                -0.5 * g(ch) * r(ch) * r(ch) * sums[ch].1
            })?);
        }
        Ok(grads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{gradcheck, rand_tensor, Tol};

    /// Batch norm with plain f64 loops: per-channel mean and biased variance over N and H·W.
    fn naive(
        x: &Tensor,
        g: &Tensor,
        b: &Tensor,
        stats: Option<(&[f32], &[f32])>,
        eps: f64,
    ) -> Vec<f32> {
        let (n, c) = (x.shape()[0], x.shape()[1]);
        let hw: usize = x.shape()[2..].iter().product();
        let mut y = vec![0.0; x.numel()];
        for ch in 0..c {
            let vals: Vec<f64> = (0..n)
                .flat_map(|i| {
                    x.data()[(i * c + ch) * hw..(i * c + ch + 1) * hw]
                        .iter()
                        .map(|&v| v as f64)
                })
                .collect();
            let (mean, var) = match stats {
                Some((m, v)) => (m[ch] as f64, v[ch] as f64),
                None => {
                    let mean = vals.iter().sum::<f64>() / vals.len() as f64;
                    let var =
                        vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64;
                    (mean, var)
                }
            };
            for i in 0..n {
                for j in 0..hw {
                    let at = (i * c + ch) * hw + j;
                    let xh = (x.data()[at] as f64 - mean) / (var + eps).sqrt();
                    y[at] = (xh * g.data()[ch] as f64 + b.data()[ch] as f64) as f32;
                }
            }
        }
        y
    }

    #[test]
    fn batch_norm_train_matches_naive_and_returns_unbiased_stats() {
        let x = rand_tensor(&[3, 2, 2, 3], 21);
        let (g, b) = (rand_tensor(&[2], 22), rand_tensor(&[2], 23));
        let (y, mean, var) = batch_norm_train(&x, &g, &b, 1e-5).unwrap();
        let want = naive(&x, &g, &b, None, 1e-5);
        for (a, w) in y.data().iter().zip(&want) {
            approx::assert_abs_diff_eq!(*a, *w, epsilon = 1e-5);
        }
        assert!(!mean.is_tracked() && !var.is_tracked());
        for ch in 0..2 {
            let vals: Vec<f64> = (0..3)
                .flat_map(|i| {
                    x.data()[(i * 2 + ch) * 6..(i * 2 + ch + 1) * 6]
                        .iter()
                        .map(|&v| v as f64)
                })
                .collect();
            let m = vals.iter().sum::<f64>() / 18.0;
            let v = vals.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 17.0;
            approx::assert_abs_diff_eq!(mean.data()[ch] as f64, m, epsilon = 1e-6);
            approx::assert_abs_diff_eq!(var.data()[ch] as f64, v, epsilon = 1e-6);
        }
    }

    #[test]
    fn batch_norm_eval_matches_naive() {
        let x = rand_tensor(&[2, 3, 2, 2], 24);
        let (g, b) = (rand_tensor(&[3], 25), rand_tensor(&[3], 26));
        let rm = rand_tensor(&[3], 27);
        let rv = Tensor::from_slice(&[3], &[0.5, 1.0, 2.0]).unwrap();
        let y = batch_norm_eval(&x, &g, &b, &rm, &rv, 1e-3).unwrap();
        let want = naive(&x, &g, &b, Some((rm.data(), rv.data())), 1e-3);
        for (a, w) in y.data().iter().zip(&want) {
            approx::assert_abs_diff_eq!(*a, *w, epsilon = 1e-5);
        }
    }

    #[test]
    fn gradcheck_batch_norm_train() {
        let x = rand_tensor(&[3, 2, 2, 2], 28);
        let (g, b) = (rand_tensor(&[2], 29), rand_tensor(&[2], 30));
        gradcheck(
            |xs| Ok(batch_norm_train(&xs[0], &xs[1], &xs[2], 1e-5)?.0),
            &[x, g, b],
            Tol::F32,
        );
    }

    #[test]
    fn gradcheck_batch_norm_eval() {
        let x = rand_tensor(&[2, 2, 3, 2], 31);
        let (g, b) = (rand_tensor(&[2], 32), rand_tensor(&[2], 33));
        let rm = rand_tensor(&[2], 34);
        let rv = Tensor::from_slice(&[2], &[0.7, 1.3]).unwrap();
        gradcheck(
            |xs| batch_norm_eval(&xs[0], &xs[1], &xs[2], &xs[3], &xs[4], 1e-5),
            &[x, g, b, rm, rv],
            Tol::F32,
        );
    }

    #[test]
    fn batch_norm_rejects_bad_input() {
        let x = rand_tensor(&[2, 3, 2, 2], 1);
        let (ok, bad) = (rand_tensor(&[3], 2), rand_tensor(&[2], 3));
        assert!(matches!(
            batch_norm_train(&x, &bad, &ok, 1e-5),
            Err(Error::ShapeMismatch { op: OP, .. })
        ));
        assert!(matches!(
            batch_norm_eval(&x, &ok, &ok, &ok, &bad, 1e-5),
            Err(Error::ShapeMismatch { op: OP, .. })
        ));
        // One value per channel has no batch variance.
        let one = rand_tensor(&[1, 3, 1, 1], 4);
        assert!(matches!(
            batch_norm_train(&one, &ok, &ok, 1e-5),
            Err(Error::BadShape { op: OP, .. })
        ));
        assert!(matches!(
            batch_norm_train(&rand_tensor(&[3], 5), &ok, &ok, 1e-5),
            Err(Error::BadShape { op: OP, .. })
        ));
    }
}
