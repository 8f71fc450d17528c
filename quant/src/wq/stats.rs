//! What the 4-bit methods know about a linear layer's inputs: over every row (token) of every
//! calibration input, the Gram matrix `H = XᵀX` (f64), the mean |x| and the sum of x per input
//! channel. From them every method's objective follows without re-running the model: the output
//! error of weights Ŵ is `Σ_rows ‖x(W − Ŵ)ᵀ‖² = tr(D H Dᵀ)` with `D = W − Ŵ`.
//!
//! All statistics come from one pass of the float graph (not layer by layer through already
//! quantized layers, as the original GPTQ does): one pass serves every layer and every method.

use std::collections::HashMap;

use inkling_kernels::gemm::{sgemm, Epilogue, GemmParams};
use rayon::prelude::*;

use crate::graph::{Graph, ValueId};
use crate::runtime::{Buf, Session};
use crate::{Error, Result};

/// Calibration inputs run together before their rows are folded into the f64 sums (an f32 GEMM
/// over at most this many inputs' rows, then one f64 add per entry of H).
const CHUNK: usize = 32;

/// Statistics of one layer input over the calibration set.
#[derive(Clone, Debug)]
pub struct InputStats {
    /// Input channels K.
    pub k: usize,
    /// Rows seen (tokens over all inputs).
    pub rows: usize,
    /// `XᵀX`, `[K, K]` row-major.
    pub h: Vec<f64>,
    /// Mean |x| per channel.
    pub abs_mean: Vec<f64>,
    /// Σ x per channel.
    pub sum: Vec<f64>,
}

impl InputStats {
    fn new(k: usize) -> InputStats {
        InputStats {
            k,
            rows: 0,
            h: vec![0.0; k * k],
            abs_mean: vec![0.0; k],
            sum: vec![0.0; k],
        }
    }

    /// The statistics of `x / s` (AWQ's scaled input): `H / (s_i s_j)`, `mean|x| / s`, `Σx / s`.
    pub fn scaled(&self, s: &[f32]) -> InputStats {
        let k = self.k;
        InputStats {
            k,
            rows: self.rows,
            h: (0..k * k)
                .map(|i| self.h[i] / (s[i / k] as f64 * s[i % k] as f64))
                .collect(),
            abs_mean: self
                .abs_mean
                .iter()
                .zip(s)
                .map(|(a, &v)| a / v as f64)
                .collect(),
            sum: self.sum.iter().zip(s).map(|(a, &v)| a / v as f64).collect(),
        }
    }

    /// `H` as f32, for f32 GEMMs in the searches.
    pub fn h_f32(&self) -> Vec<f32> {
        self.h.iter().map(|&v| v as f32).collect()
    }

    /// Output error `Σ_rows ‖x dᵀ‖²` per output channel of a weight difference `d` (`[n, K]`),
    /// with `h` = [`InputStats::h_f32`].
    pub fn row_errors(&self, h: &[f32], d: &[f32], n: usize) -> Result<Vec<f64>> {
        row_errors(h, d, n, self.k)
    }

    /// Output energy `Σ_rows ‖x Wᵀ + b‖²` of a layer with weights `w` (`[n, K]`) and bias `b`.
    pub fn output_power(&self, h: &[f32], w: &[f32], n: usize, b: Option<&[f32]>) -> Result<f64> {
        let k = self.k;
        let mut p: f64 = self.row_errors(h, w, n)?.iter().sum();
        if let Some(b) = b {
            for (c, &bc) in b.iter().enumerate() {
                let wx: f64 = (0..k).map(|j| w[c * k + j] as f64 * self.sum[j]).sum();
                p += 2.0 * bc as f64 * wx + self.rows as f64 * (bc as f64) * (bc as f64);
            }
        }
        Ok(p)
    }

    fn add_rows(&mut self, x: &[f32]) -> Result<()> {
        let k = self.k;
        let m = x.len() / k;
        let mut g = vec![0f32; k * k];
        sgemm(
            inkling_kernels::init()?,
            &GemmParams::new(k, k, m).trans_a(),
            x,
            x,
            &mut g,
            &Epilogue::default(),
        )?;
        for (h, &v) in self.h.iter_mut().zip(&g) {
            *h += v as f64;
        }
        for row in x.chunks_exact(k) {
            for ((a, s), &v) in self.abs_mean.iter_mut().zip(&mut self.sum).zip(row) {
                *a += v.abs() as f64;
                *s += v as f64;
            }
        }
        self.rows += m;
        Ok(())
    }
}

/// The statistics of the rows of `x` (`[m, k]`), as [`collect`] gathers them (tests, callers
/// with activations at hand).
/// Errors when `x` is not whole rows of `k`.
pub fn collect_rows(x: &[f32], k: usize) -> Result<InputStats> {
    if k == 0 || !x.len().is_multiple_of(k) {
        return Err(Error::Quant {
            node: "4-bit".into(),
            what: format!("{} values are not rows of {k}", x.len()),
        });
    }
    let mut st = InputStats::new(k);
    st.add_rows(x)?;
    let rows = st.rows.max(1) as f64;
    st.abs_mean.iter_mut().for_each(|a| *a /= rows);
    Ok(st)
}

/// `d_c H d_cᵀ` for each row `d_c` of `d` (`[n, k]`), `h` `[k, k]` (f32 GEMM, f64 sums).
pub(crate) fn row_errors(h: &[f32], d: &[f32], n: usize, k: usize) -> Result<Vec<f64>> {
    let mut dh = vec![0f32; n * k];
    sgemm(
        inkling_kernels::init()?,
        &GemmParams::new(n, k, k),
        d,
        h,
        &mut dh,
        &Epilogue::default(),
    )?;
    Ok(dh
        .chunks_exact(k.max(1))
        .zip(d.chunks_exact(k.max(1)))
        .map(|(a, b)| a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum())
        .collect())
}

/// Runs `g` on every calibration input and gathers [`InputStats`] of each value in `inputs` (whose
/// last axis is the channel axis). `progress(done)` is called after each chunk of inputs.
pub fn collect(
    g: &Graph,
    cal: &[Buf],
    inputs: &[ValueId],
    progress: &(dyn Fn(usize) + Sync),
) -> Result<HashMap<ValueId, InputStats>> {
    if cal.is_empty() {
        return Err(Error::Quant {
            node: "4-bit".into(),
            what: "calibration needs at least one input".into(),
        });
    }
    let session = Session::new(g)?;
    let slot: HashMap<ValueId, usize> = inputs.iter().enumerate().map(|(i, &v)| (v, i)).collect();
    let mut stats: Vec<InputStats> = inputs
        .iter()
        .map(|&v| InputStats::new(g.value(v).shape.last().copied().unwrap_or(1)))
        .collect();
    let mut done = 0;
    for chunk in cal.chunks(CHUNK) {
        // One input per worker, kernels single-threaded meanwhile (as the CLI's image loops do).
        let threads = inkling_kernels::threads::num_threads();
        inkling_kernels::threads::set_num_threads(1);
        let per: Result<Vec<Vec<Vec<f32>>>> = chunk
            .par_iter()
            .map(|x| {
                let mut got = vec![Vec::new(); inputs.len()];
                if let Some(&i) = slot.get(&g.inputs[0]) {
                    got[i] = x.as_f32().unwrap_or_default().to_vec();
                }
                session.run_observed(vec![x.clone()], &mut |id, b| {
                    if let (Some(&i), Some(v)) = (slot.get(&id), b.as_f32()) {
                        got[i] = v.to_vec();
                    }
                })?;
                Ok(got)
            })
            .collect();
        inkling_kernels::threads::set_num_threads(threads);
        let per = per?;
        for (i, st) in stats.iter_mut().enumerate() {
            let rows: Vec<f32> = per.iter().flat_map(|p| p[i].iter().copied()).collect();
            if rows.is_empty() || !rows.len().is_multiple_of(st.k) {
                return Err(Error::Quant {
                    node: g.value(inputs[i]).name.clone(),
                    what: "was not computed as float32 on a calibration input".into(),
                });
            }
            st.add_rows(&rows)?;
        }
        done += chunk.len();
        progress(done);
    }
    for st in &mut stats {
        let rows = st.rows.max(1) as f64;
        st.abs_mean.iter_mut().for_each(|a| *a /= rows);
    }
    Ok(inputs.iter().copied().zip(stats).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gram_matrix_and_errors_match_direct_sums() {
        let x: Vec<f32> = (0..5 * 3)
            .map(|i| ((i * 7 % 11) as f32 - 5.0) / 3.0)
            .collect();
        let mut st = InputStats::new(3);
        st.add_rows(&x).unwrap();
        for a in 0..3 {
            for b in 0..3 {
                let want: f64 = (0..5).map(|r| (x[r * 3 + a] * x[r * 3 + b]) as f64).sum();
                assert!((st.h[a * 3 + b] - want).abs() < 1e-4, "{a},{b}");
            }
        }
        // Output error of d = one row [1, -1, 2] equals Σ_rows (x·d)².
        let d = [1.0f32, -1.0, 2.0];
        let want: f64 = (0..5)
            .map(|r| {
                let y: f32 = (0..3).map(|j| x[r * 3 + j] * d[j]).sum();
                (y * y) as f64
            })
            .sum();
        let got = st.row_errors(&st.h_f32(), &d, 1).unwrap()[0];
        assert!((got - want).abs() < 1e-3 * want, "{got} vs {want}");
        // With a bias, the power is Σ (x·w + b)².
        let b = [0.5f32];
        let want_b: f64 = (0..5)
            .map(|r| {
                let y: f32 = (0..3).map(|j| x[r * 3 + j] * d[j]).sum::<f32>() + 0.5;
                (y * y) as f64
            })
            .sum();
        let p = st.output_power(&st.h_f32(), &d, 1, Some(&b)).unwrap();
        assert!((p - want_b).abs() < 1e-3 * want_b);
    }
}
