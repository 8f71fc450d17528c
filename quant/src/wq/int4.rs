//! The int4 weight grid every 4-bit method shares: symmetric levels in [−8, 7] (zero point 0, as
//! XNNPACK's qc4w / qb4w kernels take them), one scale per output channel or per block of input
//! channels, and the graph value that holds the result.
//!
//! Scales are `max|w| / 7`, so round-to-nearest never needs −8; GPTQ's error feedback may still
//! land there, and the format allows it. Blockwise scales are rounded to float16 first (the file
//! stores them as FLOAT16 and XNNPACK requires positive normal values), so the values quantized here
//! are the values the file reproduces.

use crate::export::f16::round_to_f16;
use crate::graph::{ConstData, Quant, Value};

/// Smallest level and largest level of signed int4.
pub(crate) const QMIN: f32 = -8.0;
pub(crate) const QMAX: f32 = 7.0;
/// Levels on each side that `max|w|` maps to.
const LEVELS: f32 = 7.0;
/// Smallest per-channel scale (an all-zero channel).
const MIN_SCALE: f32 = 1e-8;
/// Smallest and largest positive normal float16 (XNNPACK's bounds for block scales).
const F16_MIN_NORMAL: f32 = 6.103_515_6e-5;
const F16_MAX: f32 = 65504.0;

/// The int4 level of `w` at scale `s` (round half to even, saturating to [−8, 7]).
pub(crate) fn level(w: f32, s: f32) -> f32 {
    (w / s).round_ties_even().clamp(QMIN, QMAX)
}

/// The scale of a group whose largest magnitude is `absmax`: per-channel scales are any f32,
/// block scales (`block = true`) the nearest positive normal float16.
pub(crate) fn scale_for(absmax: f32, block: bool) -> f32 {
    let s = absmax / LEVELS;
    if block {
        round_to_f16(s.clamp(F16_MIN_NORMAL, F16_MAX))
    } else {
        s.max(MIN_SCALE)
    }
}

/// int4 weights `[n, k]`: levels and scales, per channel (`block = None`) or per block of K.
#[derive(Clone, Debug, PartialEq)]
pub struct Int4Weights {
    /// Output channels.
    pub n: usize,
    /// Input channels.
    pub k: usize,
    /// Input channels per scale; `None` = one scale per output channel.
    pub block: Option<usize>,
    /// Levels in [−8, 7], row-major `[n, k]`.
    pub q: Vec<i8>,
    /// Scales `[n, groups]`, row-major (`groups` = 1 per channel, K / block blockwise).
    pub scales: Vec<f32>,
}

impl Int4Weights {
    /// Scales per output channel.
    pub fn groups(&self) -> usize {
        groups(self.k, self.block)
    }

    /// The scale of element `[c, j]`.
    pub fn scale(&self, c: usize, j: usize) -> f32 {
        self.scales[c * self.groups() + j / self.block.unwrap_or(self.k.max(1))]
    }

    /// The dequantized weights `q·scale`, row-major `[n, k]`.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.q.len()];
        for c in 0..self.n {
            for j in 0..self.k {
                out[c * self.k + j] = self.q[c * self.k + j] as f32 * self.scale(c, j);
            }
        }
        out
    }

    /// The graph constant holding these weights (dtype int4, per-channel axis 0 or blockwise).
    pub fn to_value(&self, name: &str) -> Value {
        let mut v = Value::constant(name, &[self.n, self.k], ConstData::I4(self.q.clone()));
        v.quant = Some(match self.block {
            None => Quant::PerChannel {
                scales: self.scales.clone(),
                axis: 0,
            },
            Some(b) => Quant::Blockwise {
                scales: self.scales.clone(),
                block_size: b,
            },
        });
        v
    }
}

/// Scales per output channel for `k` inputs.
pub(crate) fn groups(k: usize, block: Option<usize>) -> usize {
    block.map_or(1, |b| k.div_ceil(b.max(1)))
}

/// Round-to-nearest of `w` (`[n, k]`) with scales from each group's largest magnitude times
/// `clip[c·groups + g]` (1.0 = no clipping; `None` = all 1).
pub(crate) fn round_to_nearest(
    w: &[f32],
    (n, k): (usize, usize),
    block: Option<usize>,
    clip: Option<&[f32]>,
) -> Int4Weights {
    let gs = groups(k, block);
    let width = block.unwrap_or(k.max(1));
    let mut scales = vec![0f32; n * gs];
    for c in 0..n {
        for g in 0..gs {
            let cols = g * width..((g + 1) * width).min(k);
            let m = w[c * k..][cols].iter().fold(0f32, |m, v| m.max(v.abs()));
            let r = clip.map_or(1.0, |r| r[c * gs + g]);
            scales[c * gs + g] = scale_for(m * r, block.is_some());
        }
    }
    let q = (0..n * k)
        .map(|i| level(w[i], scales[(i / k.max(1)) * gs + (i % k.max(1)) / width]) as i8)
        .collect();
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
    use super::*;

    #[test]
    fn per_channel_levels_and_scales_are_exact_on_a_known_matrix() {
        // Row 0: max 7 → scale 1, levels = values (ties to even: 2.5 → 2, -0.5 → -0).
        // Row 1: max 3.5 → scale 0.5 (1.5 → 2, 0.5 → 0).
        let w = [7.0, 2.5, -0.5, -7.0, 3.5, -0.5, 0.75, 0.25];
        let q = round_to_nearest(&w, (2, 4), None, None);
        assert_eq!(q.scales, vec![1.0, 0.5]);
        assert_eq!(q.q, vec![7, 2, 0, -7, 7, -1, 2, 0]);
        assert_eq!(
            q.dequantize(),
            vec![7.0, 2.0, 0.0, -7.0, 3.5, -0.5, 1.0, 0.0]
        );
    }

    #[test]
    fn blockwise_scales_are_float16_and_clip_shrinks_them() {
        let w: Vec<f32> = (0..64).map(|i| (i as f32 - 31.5) * 0.013).collect();
        let q = round_to_nearest(&w, (1, 64), Some(32), None);
        assert_eq!(q.groups(), 2);
        for &s in &q.scales {
            assert_eq!(round_to_f16(s), s);
        }
        let half = round_to_nearest(&w, (1, 64), Some(32), Some(&[0.5, 0.5]));
        assert!(half.scales[0] < q.scales[0]);
        // Clipped values saturate at ±7 / -8.
        assert!(half.q.contains(&7) && half.q.iter().all(|&v| (-8..=7).contains(&v)));
    }
}
