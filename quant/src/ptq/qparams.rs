//! Turning ranges into int8 parameters (TFLite's scheme).

use crate::QParams;

/// Smallest scale used for an all-zero range (XNNPACK rejects 0 and subnormal scales).
const MIN_SCALE: f32 = 1e-8;

/// Asymmetric int8 parameters covering [lo, hi] (lo ≤ 0 ≤ hi) with 0 exactly representable.
pub fn asymmetric(lo: f32, hi: f32) -> QParams {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let scale = ((hi - lo) / 255.0).max(MIN_SCALE);
    let zp = (-128.0 - lo / scale).round().clamp(-128.0, 127.0) as i32;
    QParams::new(scale, zp)
}

/// Symmetric int8 parameters (zero point 0) covering [−m, m] with m = max(|lo|, |hi|), levels
/// in [−127, 127].
pub fn symmetric(lo: f32, hi: f32) -> QParams {
    let m = lo.abs().max(hi.abs());
    QParams::new((m / 127.0).max(MIN_SCALE), 0)
}

/// Quantize then dequantize `v` (round half to even, saturating to int8).
pub fn fake_quant(v: f32, q: QParams) -> f32 {
    let x = (v / q.scale).round_ties_even() + q.zero_point as f32;
    (x.clamp(-128.0, 127.0) - q.zero_point as f32) * q.scale
}

/// Per-channel symmetric int8 weight scales `max|w_c|/127` (channel of element j: `channel(j)`).
pub fn weight_scales(w: &[f32], channels: usize, channel: impl Fn(usize) -> usize) -> Vec<f32> {
    let mut m = vec![0f32; channels];
    for (j, &v) in w.iter().enumerate() {
        let c = channel(j);
        m[c] = m[c].max(v.abs());
    }
    m.iter().map(|&m| (m / 127.0).max(MIN_SCALE)).collect()
}

/// Per-channel symmetric int8 weights: `w` split into `channels` along an axis where the channel of
/// element j is `channel(j)`; returns (int8 values, scales).
pub fn quantize_weights(
    w: &[f32],
    channels: usize,
    channel: impl Fn(usize) -> usize,
) -> (Vec<i8>, Vec<f32>) {
    let scales = weight_scales(w, channels, &channel);
    let q = w
        .iter()
        .enumerate()
        .map(|(j, &v)| {
            (v / scales[channel(j)])
                .round_ties_even()
                .clamp(-127.0, 127.0) as i8
        })
        .collect();
    (q, scales)
}

/// int32 bias at scale `s_in·s_w[c]` (saturating).
pub fn quantize_bias(b: &[f32], s_in: f32, s_w: &[f32]) -> Vec<i32> {
    b.iter()
        .zip(s_w)
        .map(|(&v, &sw)| {
            let s = s_in * sw;
            (v as f64 / s as f64)
                .round()
                .clamp(i32::MIN as f64, i32::MAX as f64) as i32
        })
        .collect()
}

/// Per-tensor int8 values of `x` at `q` (round half to even, saturating).
pub fn quantize_tensor(x: &[f32], q: QParams) -> Vec<i8> {
    x.iter()
        .map(|&v| {
            ((v / q.scale).round_ties_even() + q.zero_point as f32).clamp(-128.0, 127.0) as i8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_exact_and_range_is_covered() {
        let q = asymmetric(-1.0, 3.0);
        assert!((q.scale - 4.0 / 255.0).abs() < 1e-9);
        assert_eq!(fake_quant(0.0, q), 0.0);
        assert!((fake_quant(3.0, q) - 3.0).abs() <= q.scale);
        assert!((fake_quant(-1.0, q) + 1.0).abs() <= q.scale);
        let s = symmetric(-2.0, 1.0);
        assert_eq!(s.zero_point, 0);
        assert!((s.scale - 2.0 / 127.0).abs() < 1e-9);
        assert_eq!(asymmetric(0.0, 0.0).scale, MIN_SCALE);
    }

    #[test]
    fn weights_per_channel_and_bias_at_product_scale() {
        let w = [0.5, -1.0, 2.0, 0.25];
        let (q, s) = quantize_weights(&w, 2, |j| j / 2);
        assert_eq!(s, vec![1.0 / 127.0, 2.0 / 127.0]);
        assert_eq!(q, vec![64, -127, 127, 16]);
        assert_eq!(quantize_bias(&[1.0, -1.0], 0.5, &[0.25, 0.5]), vec![8, -4]);
    }
}
