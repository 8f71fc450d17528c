//! `layer_norm` over the last axis with per-feature γ and β, parallel over rows.

use inkling_kernels::rows::{self, LayerNorm as LnParams, LayerNormGrads, RowStats, Rows};
use rayon::prelude::*;

use super::{apply, par, Op, OpKind, Saved};
use crate::{Error, Result, Tensor};

/// `y = (x − mean)/√(var + eps)·γ + β` over the last axis of x; γ and β are `[x.dim(-1)]`.
pub fn layer_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f32) -> Result<Tensor> {
    apply(LayerNorm { eps }, &[x, gamma, beta])
}

#[derive(Debug)]
struct LayerNorm {
    eps: f32,
}

const OP: &str = "layer_norm";

/// Elements per forward task: large enough to pay for the task, small enough to balance.
const TASK_ELEMS: usize = 16 << 10;

impl LayerNorm {
    /// The kernel parameters after checking γ and β against x's last axis.
    fn params(&self, x: &Tensor, gamma: &Tensor, beta: &Tensor) -> Result<LnParams> {
        if x.rank() == 0 {
            crate::bail_shape!(OP, "needs rank ≥ 1, got a scalar");
        }
        let d = x.dim(-1);
        if d == 0 || !(self.eps.is_finite() && self.eps >= 0.0) {
            crate::bail_shape!(
                OP,
                "needs features > 0 and a finite eps ≥ 0, got shape {:?} and eps {}",
                x.shape(),
                self.eps
            );
        }
        for p in [gamma, beta] {
            if p.shape() != [d] {
                return Err(Error::ShapeMismatch {
                    op: OP,
                    lhs: x.shape().to_vec(),
                    rhs: p.shape().to_vec(),
                });
            }
        }
        Ok(LnParams {
            shape: Rows::new(x.numel() / d, d),
            eps: self.eps,
        })
    }
}

impl Op for LayerNorm {
    fn kind(&self) -> OpKind {
        OpKind::LayerNorm { eps: self.eps }
    }

    fn forward(&self, xs: &[&Tensor], save: &mut Saved) -> Result<Tensor> {
        let (x, gamma, beta) = (xs[0], xs[1], xs[2]);
        let p = self.params(x, gamma, beta)?;
        let cols = p.shape.cols;
        let ks = inkling_kernels::kernels();
        let mut y = Tensor::uninit(x.shape());
        let mut stats = vec![RowStats::default(); p.shape.rows];
        let task_rows = (TASK_ELEMS / cols).max(1);
        let (xd, gd, bd) = (x.data(), gamma.data(), beta.data());
        par::install(|| {
            y.data_mut()
                .par_chunks_mut(task_rows * cols)
                .zip(stats.par_chunks_mut(task_rows))
                .enumerate()
                .try_for_each(|(i, (yc, sc))| {
                    let at = i * task_rows * cols;
                    let q = LnParams {
                        shape: Rows::new(sc.len(), cols),
                        ..p
                    };
                    rows::layer_norm(ks, &q, &xd[at..at + yc.len()], gd, bd, yc, Some(sc))
                })
        })?;
        if save.recording() {
            let flat: Vec<f32> = stats.iter().flat_map(|s| [s.mean, s.rstd]).collect();
            save.push(x);
            save.push(gamma);
            save.push(&Tensor::new(&[p.shape.rows, 2], flat)?);
        }
        Ok(y)
    }

    fn backward(&self, gy: &Tensor, saved: Saved, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let mut s = saved.into_vec().into_iter();
        let (x, gamma, st) = (
            s.next().expect("saved x"),
            s.next().expect("saved gamma"),
            s.next().expect("saved stats"),
        );
        let p = self.params(&x, &gamma, &gamma)?;
        let cols = p.shape.cols;
        let ks = inkling_kernels::kernels();
        let stats: Vec<RowStats> = st
            .data()
            .chunks_exact(2)
            .map(|s| RowStats {
                mean: s[0],
                rstd: s[1],
            })
            .collect();
        let mut dx = needs[0].then(|| Tensor::uninit(x.shape()));
        let (xd, gd, dyd) = (x.data(), gamma.data(), gy.data());
        let sums = par::map_reduce_items(
            p.shape.rows,
            dx.as_mut().map(Tensor::data_mut),
            2 * cols,
            |r, out, acc| {
                let span = r.start * cols..r.end * cols;
                let mut scratch = Vec::new();
                let dx = match out {
                    Some(o) => o,
                    None => {
                        scratch.resize(span.len(), 0.0);
                        &mut scratch[..]
                    }
                };
                let (dgamma, dbeta) = acc.split_at_mut(cols);
                let q = LnParams {
                    shape: Rows::new(r.len(), cols),
                    ..p
                };
                let grads = LayerNormGrads { dx, dgamma, dbeta };
                rows::layer_norm_backward(
                    ks,
                    &q,
                    &xd[span.clone()],
                    gd,
                    &stats[r],
                    &dyd[span],
                    grads,
                )?;
                Ok(())
            },
        )?;
        let (dgamma, dbeta) = sums.split_at(cols);
        let param = |need: bool, v: &[f32]| -> Result<Option<Tensor>> {
            need.then(|| Tensor::from_slice(&[cols], v)).transpose()
        };
        Ok(vec![dx, param(needs[1], dgamma)?, param(needs[2], dbeta)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{gradcheck, rand_tensor, Tol};

    #[test]
    fn gradcheck_layer_norm() {
        let x = rand_tensor(&[2, 3, 6], 11);
        let g = rand_tensor(&[6], 12);
        let b = rand_tensor(&[6], 13);
        gradcheck(
            |xs| layer_norm(&xs[0], &xs[1], &xs[2], 1e-5),
            &[x, g, b],
            Tol::F32,
        );
    }

    #[test]
    fn layer_norm_matches_naive() {
        let (rows, d, eps) = (5, 7, 1e-3f32);
        let x = rand_tensor(&[rows, d], 14);
        let g = rand_tensor(&[d], 15);
        let b = rand_tensor(&[d], 16);
        let y = layer_norm(&x, &g, &b, eps).unwrap();
        for r in 0..rows {
            let row: Vec<f64> = x.data()[r * d..(r + 1) * d]
                .iter()
                .map(|&v| v as f64)
                .collect();
            let mean = row.iter().sum::<f64>() / d as f64;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
            for (c, &v) in row.iter().enumerate() {
                let want = (v - mean) / (var + eps as f64).sqrt() * g.data()[c] as f64
                    + b.data()[c] as f64;
                approx::assert_abs_diff_eq!(y.data()[r * d + c], want as f32, epsilon = 1e-5);
            }
        }
    }

    #[test]
    fn layer_norm_over_many_tasks_matches_rows_and_f64_dgamma() {
        // Enough rows for several forward tasks and every reduction chunk.
        let (rows, d) = (3000, 8);
        let x = rand_tensor(&[rows, d], 17).requires_grad();
        let g = rand_tensor(&[d], 18).requires_grad();
        let b = rand_tensor(&[d], 19);
        let y = layer_norm(&x, &g, &b, 1e-5).unwrap();
        let seed = rand_tensor(&[rows, d], 20);
        let grads = y.backward_with(seed.clone()).unwrap();
        let one = |r: usize| {
            let xr = Tensor::from_slice(&[1, d], &x.data()[r * d..(r + 1) * d]).unwrap();
            layer_norm(&xr, &g.detach(), &b, 1e-5).unwrap()
        };
        for r in [0, 1500, rows - 1] {
            assert_eq!(one(r).data(), &y.data()[r * d..(r + 1) * d]);
        }
        // dγ = Σ_rows dy·x̂, summed here in f64.
        let dg = grads.wrt(&g).unwrap();
        for c in 0..d {
            let mut want = 0.0f64;
            for r in 0..rows {
                let row = &x.data()[r * d..(r + 1) * d];
                let mean = row.iter().map(|&v| v as f64).sum::<f64>() / d as f64;
                let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / d as f64;
                let xhat = (row[c] as f64 - mean) / (var + 1e-5).sqrt();
                want += seed.data()[r * d + c] as f64 * xhat;
            }
            approx::assert_abs_diff_eq!(dg.data()[c] as f64, want, epsilon = 1e-2);
        }
    }

    #[test]
    fn layer_norm_rejects_bad_shapes() {
        let x = rand_tensor(&[2, 4], 1);
        let ok = rand_tensor(&[4], 2);
        let bad = rand_tensor(&[3], 3);
        for (g, b) in [(&bad, &ok), (&ok, &bad)] {
            assert!(matches!(
                layer_norm(&x, g, b, 1e-5),
                Err(Error::ShapeMismatch { op: OP, .. })
            ));
        }
        assert!(matches!(
            layer_norm(&x, &ok, &ok, f32::NAN),
            Err(Error::BadShape { op: OP, .. })
        ));
    }
}
