//! AWQ (Lin et al., 2023): activation-aware weight quantization. Input channels that carry large
//! activations matter most for the output, so their weight columns are scaled up by `s` before
//! rounding (finer relative steps for them) and the input is divided by `s`, which leaves the float
//! layer unchanged: `x Wᵀ = (x / s)(W diag s)ᵀ`.
//!
//! Scale search: `s = mean|x|^α` (llm-awq) and `s = mean|x|^α / mean|ŵ|^(1−α)` with ŵ the weights
//! of each row divided by the row's largest magnitude (AutoAWQ's "duo" scaling), each normalized
//! so that `max(s)·min(s) = 1`, for α on a grid in [0, 1); the candidate kept is the one whose
//! rounded weights give the smallest output error on the calibration activations, summed over the
//! layers that share the input (q, k and v share one `s`, as their
//! common input can carry only one scaling). The error is `tr(D H Dᵀ)` with `D = W − Q(W diag s)
//! diag(1/s)` and `H = XᵀX` ([`super::stats`]), i.e. exactly `Σ_rows ‖x Wᵀ − x Ŵᵀ‖²` over every
//! calibration token. α = 0 is plain round-to-nearest, so the search never does worse than RTN on
//! that objective.
//!
//! Clip search (optional, AWQ's `auto_clip`): per output channel and block, the largest magnitude
//! the scale is made from is shrunk by a ratio in {1, 0.95, …, 0.55}, keeping the ratio with the
//! smallest output error of that block (its block of H; the whole row per channel).
//!
//! Where the `1/s` goes (see [`super::fold`]): into the preceding LayerNorm's γ and β for q/k/v and
//! fc1, into the rows of the v projection for the attention output projection (softmax·V is linear
//! in V), and as an explicit float32 MUL after GELU for fc2 (GELU does not commute with scaling;
//! llm-awq does the same for GELU models with its `ScaledActivation`).

use super::int4::{groups, round_to_nearest, Int4Weights};
use super::stats::{row_errors, InputStats};
use crate::Result;

/// Clip ratios tried by the clip search (AWQ: grid 20, shrink at most by half).
const CLIP_STEPS: usize = 10;

/// The scales AWQ chose for one input and the objective it reached.
#[derive(Clone, Debug)]
pub struct AwqScales {
    /// Per input channel; weights are multiplied by these, the input divided.
    pub s: Vec<f32>,
    /// The exponent chosen.
    pub alpha: f32,
    /// Whether the weight-aware family won (`s = mean|x|^α / mean|ŵ|^(1−α)`).
    pub weight_aware: bool,
    /// Output error with these scales (round to nearest).
    pub loss: f64,
    /// Output error of plain round to nearest (α = 0).
    pub loss_rtn: f64,
}

/// `W diag(s)` for `w` `[n, k]`.
pub(crate) fn scale_columns(w: &[f32], k: usize, s: &[f32]) -> Vec<f32> {
    w.iter().enumerate().map(|(i, &v)| v * s[i % k]).collect()
}

/// Searches the input scales for `layers` (weights `[n, k]` each, all reading the input of `st`).
pub(crate) fn search_scales(
    layers: &[(&[f32], usize)],
    st: &InputStats,
    block: Option<usize>,
    grid: usize,
) -> Result<AwqScales> {
    let k = st.k;
    let h = st.h_f32();
    let loss_of = |s: &[f32]| -> Result<f64> {
        let mut total = 0.0;
        for &(w, n) in layers {
            let deq = round_to_nearest(&scale_columns(w, k, s), (n, k), block, None).dequantize();
            let d: Vec<f32> = w
                .iter()
                .zip(&deq)
                .enumerate()
                .map(|(i, (&a, &b))| a - b / s[i % k])
                .collect();
            total += st.row_errors(&h, &d, n)?.iter().sum::<f64>();
        }
        Ok(total)
    };
    let ones = vec![1f32; k];
    let loss_rtn = loss_of(&ones)?;
    let mut best = AwqScales {
        s: ones,
        alpha: 0.0,
        weight_aware: false,
        loss: loss_rtn,
        loss_rtn,
    };
    // Mean relative weight magnitude per input channel (rows normalized to max 1), for the
    // weight-aware family.
    let mut w_mean = vec![0f64; k];
    let mut rows = 0usize;
    for &(w, n) in layers {
        for row in w.chunks_exact(k).take(n) {
            let m = row
                .iter()
                .fold(0f32, |m, v| m.max(v.abs()))
                .max(f32::MIN_POSITIVE);
            for (a, v) in w_mean.iter_mut().zip(row) {
                *a += (v.abs() / m) as f64;
            }
            rows += 1;
        }
    }
    w_mean.iter_mut().for_each(|a| *a /= rows.max(1) as f64);
    for duo in [false, true] {
        for i in 1..grid.max(1) {
            let alpha = i as f32 / grid as f32;
            let mut s: Vec<f32> = st
                .abs_mean
                .iter()
                .zip(&w_mean)
                .map(|(&x, &w)| {
                    let v = (x as f32).powf(alpha);
                    let v = if duo {
                        v / ((w as f32).powf(1.0 - alpha) + 1e-4)
                    } else {
                        v
                    };
                    v.max(1e-4)
                })
                .collect();
            let (lo, hi) = s
                .iter()
                .fold((f32::INFINITY, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let norm = (lo * hi).sqrt();
            s.iter_mut().for_each(|v| *v /= norm);
            let loss = loss_of(&s)?;
            if loss < best.loss {
                best = AwqScales {
                    s,
                    alpha,
                    weight_aware: duo,
                    loss,
                    loss_rtn,
                };
            }
        }
    }
    Ok(best)
}

/// Rounds `w` (`[n, k]`, already scaled) with the clip ratio per channel and block that minimizes
/// that block's output error under `h` (the Gram matrix of the layer's actual input).
pub(crate) fn clip_search(
    w: &[f32],
    (n, k): (usize, usize),
    h: &[f32],
    block: Option<usize>,
) -> Result<Int4Weights> {
    let gs = groups(k, block);
    let width = block.unwrap_or(k.max(1));
    let mut best_err = vec![f64::INFINITY; n * gs];
    let mut best_ratio = vec![1f32; n * gs];
    for step in 0..CLIP_STEPS {
        let r = 1.0 - step as f32 / 20.0;
        let deq = round_to_nearest(w, (n, k), block, Some(&vec![r; n * gs])).dequantize();
        if block.is_none() {
            // One group per row: the whole row's error, all rows in one GEMM.
            let d: Vec<f32> = w.iter().zip(&deq).map(|(a, b)| a - b).collect();
            for (c, e) in row_errors(h, &d, n, k)?.into_iter().enumerate() {
                if e < best_err[c] {
                    best_err[c] = e;
                    best_ratio[c] = r;
                }
            }
            continue;
        }
        for c in 0..n {
            for g in 0..gs {
                let cols = g * width..((g + 1) * width).min(k);
                let d: Vec<f64> = cols
                    .clone()
                    .map(|j| (w[c * k + j] - deq[c * k + j]) as f64)
                    .collect();
                let mut e = 0.0;
                for (a, ja) in cols.clone().enumerate() {
                    let row = &h[ja * k..];
                    let hd: f64 = cols
                        .clone()
                        .enumerate()
                        .map(|(b, jb)| row[jb] as f64 * d[b])
                        .sum();
                    e += d[a] * hd;
                }
                if e < best_err[c * gs + g] {
                    best_err[c * gs + g] = e;
                    best_ratio[c * gs + g] = r;
                }
            }
        }
    }
    Ok(round_to_nearest(w, (n, k), block, Some(&best_ratio)))
}

#[cfg(test)]
mod tests {
    use super::super::stats::collect_rows;
    use super::*;

    #[test]
    fn awq_beats_round_to_nearest_when_one_channel_carries_outliers() {
        let (n, k, m) = (16, 64, 256);
        let rnd = |i: usize, s: usize| ((i * 2654435761 + s * 7919) % 2000) as f32 / 1000.0 - 1.0;
        let w: Vec<f32> = (0..n * k).map(|i| rnd(i, 1) * 0.2).collect();
        // Channel 5 is 40× larger than the rest, as outlier channels in transformers are.
        let x: Vec<f32> = (0..m * k)
            .map(|i| rnd(i, 2) * if i % k == 5 { 40.0 } else { 1.0 })
            .collect();
        let st = collect_rows(&x, k).unwrap();
        for block in [None, Some(32)] {
            let sc = search_scales(&[(&w, n)], &st, block, 20).unwrap();
            assert!(sc.alpha > 0.0, "{block:?}: α = 0");
            assert!(
                sc.loss < 0.8 * sc.loss_rtn,
                "{block:?}: {} vs {}",
                sc.loss,
                sc.loss_rtn
            );
            // Clipping on top never makes the scaled layer's error worse.
            let ws = scale_columns(&w, k, &sc.s);
            let hs = st.scaled(&sc.s).h_f32();
            let err = |q: &Int4Weights| -> f64 {
                let d: Vec<f32> = ws.iter().zip(q.dequantize()).map(|(a, b)| a - b).collect();
                row_errors(&hs, &d, n, k).unwrap().iter().sum()
            };
            let clipped = err(&clip_search(&ws, (n, k), &hs, block).unwrap());
            let plain = err(&round_to_nearest(&ws, (n, k), block, None));
            assert!(clipped <= plain * (1.0 + 1e-6), "{clipped} vs {plain}");
            assert!((plain - sc.loss).abs() < 1e-3 * plain);
        }
    }
}
