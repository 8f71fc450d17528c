//! GPTQ (Frantar et al., 2022): quantize a layer's input columns one at a time and push each
//! column's rounding error onto the columns not yet quantized, weighted by the inverse Hessian of
//! the layer's output error, so later roundings compensate earlier ones.
//!
//! With `H = XᵀX` from calibration activations (the factor 2 of the loss cancels), damping
//! `λ = damp·mean(diag H)` on the diagonal and `U` the upper Cholesky factor of `H⁻¹`, column i is
//! rounded and its error `e = (w_i − q_i)/U[i,i]` is subtracted as `e·U[i, j]` from every later
//! column j. Updates within a batch of 128 columns are applied at once, the rest lazily after the
//! batch ("lazy batch updates"). With act-order, columns are visited by descending `H[i,i]` (the
//! most active inputs first, while many columns are left to absorb their error) and the result is
//! put back in the original order.
//!
//! Block scales are computed when the sweep first reaches a column of the block, from the block's
//! current (error-updated) weights; without act-order that is GPTQ's own group rule. The blocks stay
//! contiguous in the original column order, as TFLite's blockwise format requires, so act-order
//! never needs a column index table.

use super::int4::{groups, level, scale_for, Int4Weights};
use super::linalg::inverse_upper_factor;
use crate::{Error, Result};

/// Columns quantized between lazy updates of the rest.
const BATCH: usize = 128;

/// The factorized, permuted Hessian of one input, shared by the layers that read it.
pub(crate) struct Factor {
    /// Visiting order: `perm[i]` is the original column quantized at step i.
    perm: Vec<usize>,
    /// Upper Cholesky factor of the damped `H⁻¹`, in visiting order, `[k, k]`.
    u: Vec<f64>,
    /// Columns whose input was always zero (their weights are zeroed: they never matter).
    dead: Vec<bool>,
}

/// Factorizes `h` (`[k, k]`, `XᵀX`) for GPTQ; `layer` names the layer in errors.
pub(crate) fn factor(
    layer: &str,
    h: &[f64],
    k: usize,
    damp: f32,
    act_order: bool,
) -> Result<Factor> {
    let mut h = h.to_vec();
    let dead: Vec<bool> = (0..k).map(|i| h[i * k + i] == 0.0).collect();
    for i in (0..k).filter(|&i| dead[i]) {
        h[i * k + i] = 1.0;
    }
    let mut perm: Vec<usize> = (0..k).collect();
    if act_order {
        // Stable sort: equal activity keeps the original order.
        perm.sort_by(|&a, &b| h[b * k + b].total_cmp(&h[a * k + a]));
    }
    let mean_diag = (0..k).map(|i| h[i * k + i]).sum::<f64>() / k.max(1) as f64;
    let mut lambda = damp as f64 * mean_diag;
    // A Hessian that is singular in floating point gets more damping, as the reference code
    // advises; a few tenfold steps are always enough for XᵀX + λI.
    for _ in 0..6 {
        let mut hp = vec![0f64; k * k];
        for (i, &pi) in perm.iter().enumerate() {
            for (j, &pj) in perm.iter().enumerate() {
                hp[i * k + j] = h[pi * k + pj];
            }
            hp[i * k + i] += lambda;
        }
        if let Some(u) = inverse_upper_factor(&hp, k) {
            return Ok(Factor { perm, u, dead });
        }
        lambda = (lambda * 10.0).max(1e-8 * mean_diag.max(1e-12));
    }
    Err(Error::Quant {
        node: layer.to_string(),
        what: "GPTQ: the calibration Hessian stays singular after damping".into(),
    })
}

/// GPTQ of weights `w` (`[n, k]`) with a [`factor`] of their input's Hessian.
pub(crate) fn gptq(
    w: &[f32],
    (n, k): (usize, usize),
    f: &Factor,
    block: Option<usize>,
) -> Int4Weights {
    let gs = groups(k, block);
    let width = block.unwrap_or(k.max(1));
    // wt[i] = column perm[i] (length n), so updates run over contiguous memory.
    let mut wt: Vec<Vec<f64>> = f
        .perm
        .iter()
        .map(|&j| {
            (0..n)
                .map(|c| if f.dead[j] { 0.0 } else { w[c * k + j] as f64 })
                .collect()
        })
        .collect();
    let pos: Vec<usize> = {
        let mut p = vec![0; k];
        for (i, &j) in f.perm.iter().enumerate() {
            p[j] = i;
        }
        p
    };
    let mut scales = vec![0f32; n * gs];
    let mut ready = vec![false; gs];
    if block.is_none() {
        // Per-channel: scales from the original rows, before any feedback.
        for c in 0..n {
            let m = (0..k).fold(0f32, |m, j| m.max(w[c * k + j].abs()));
            scales[c] = scale_for(m, false);
        }
        ready[0] = true;
    }
    let mut q = vec![0i8; n * k];
    let u = |i: usize, j: usize| f.u[i * k + j];
    for b0 in (0..k).step_by(BATCH) {
        let b1 = (b0 + BATCH).min(k);
        let mut errs: Vec<Vec<f64>> = Vec::with_capacity(b1 - b0);
        for i in b0..b1 {
            let col = f.perm[i];
            let g = col / width;
            if !ready[g] {
                // The block's columns as they stand now: those past this batch still owe the
                // batch's pending updates.
                let mut m = vec![0f64; n];
                for &p in &pos[g * width..((g + 1) * width).min(k)] {
                    for (c, mc) in m.iter_mut().enumerate() {
                        let mut v = wt[p][c];
                        if p >= b1 {
                            for (t, e) in errs.iter().enumerate() {
                                v -= e[c] * u(b0 + t, p);
                            }
                        }
                        *mc = mc.max(v.abs());
                    }
                }
                for c in 0..n {
                    scales[c * gs + g] = scale_for(m[c] as f32, true);
                }
                ready[g] = true;
            }
            let d = u(i, i);
            let mut e = vec![0f64; n];
            for c in 0..n {
                let s = scales[c * gs + g];
                let wv = wt[i][c];
                let lv = level(wv as f32, s);
                q[c * k + col] = lv as i8;
                e[c] = (wv - lv as f64 * s as f64) / d;
            }
            for (j, col) in wt.iter_mut().enumerate().take(b1).skip(i + 1) {
                let f_ij = u(i, j);
                if f_ij != 0.0 {
                    for (w, &ec) in col.iter_mut().zip(&e) {
                        *w -= ec * f_ij;
                    }
                }
            }
            errs.push(e);
        }
        for (j, col) in wt.iter_mut().enumerate().skip(b1) {
            for (t, e) in errs.iter().enumerate() {
                let f_ij = u(b0 + t, j);
                if f_ij != 0.0 {
                    for (w, &ec) in col.iter_mut().zip(e) {
                        *w -= ec * f_ij;
                    }
                }
            }
        }
    }
    Int4Weights {
        n,
        k,
        block,
        q,
        scales,
    }
}

#[cfg(test)]
mod tests {
    use super::super::int4::round_to_nearest;
    use super::super::stats::row_errors;
    use super::*;

    /// A deterministic pseudo-random value in [-1, 1).
    fn rnd(i: usize, seed: usize) -> f32 {
        (((i * 2654435761 + seed * 97) ^ (seed * 40503)) % 2000) as f32 / 1000.0 - 1.0
    }

    fn weights(n: usize, k: usize) -> Vec<f32> {
        (0..n * k).map(|i| rnd(i, 3) * 0.3).collect()
    }

    #[test]
    fn with_a_diagonal_hessian_gptq_is_round_to_nearest() {
        let (n, k) = (8, 64);
        let w = weights(n, k);
        let mut h = vec![0f64; k * k];
        for i in 0..k {
            h[i * k + i] = 1.0 + (i % 5) as f64;
        }
        for block in [None, Some(32)] {
            for act_order in [false, true] {
                let f = factor("t", &h, k, 0.01, act_order).unwrap();
                let g = gptq(&w, (n, k), &f, block);
                assert_eq!(
                    g,
                    round_to_nearest(&w, (n, k), block, None),
                    "{block:?} {act_order}"
                );
            }
        }
    }

    #[test]
    fn with_correlated_inputs_gptq_beats_round_to_nearest() {
        let (n, k, m) = (16, 64, 512);
        let w = weights(n, k);
        // Rows built from 8 shared factors: strongly correlated channels.
        let x: Vec<f32> = (0..m * k)
            .map(|i| {
                let (r, j) = (i / k, i % k);
                rnd(r * 8 + j % 8, 11) * 2.0 + 0.1 * rnd(i, 5)
            })
            .collect();
        let mut h = vec![0f64; k * k];
        for r in 0..m {
            for a in 0..k {
                for b in 0..k {
                    h[a * k + b] += x[r * k + a] as f64 * x[r * k + b] as f64;
                }
            }
        }
        let h32: Vec<f32> = h.iter().map(|&v| v as f32).collect();
        let err = |q: &Int4Weights| -> f64 {
            let d: Vec<f32> = w.iter().zip(q.dequantize()).map(|(a, b)| a - b).collect();
            row_errors(&h32, &d, n, k).unwrap().iter().sum()
        };
        for block in [None, Some(32)] {
            let rtn = err(&round_to_nearest(&w, (n, k), block, None));
            for act_order in [false, true] {
                let f = factor("t", &h, k, 0.01, act_order).unwrap();
                let g = err(&gptq(&w, (n, k), &f, block));
                assert!(
                    g < 0.7 * rtn,
                    "{block:?} act_order {act_order}: GPTQ {g} vs RTN {rtn}"
                );
            }
        }
    }
}
