//! HARD_SWISH as XNNPACK's vhswish kernels (avx512f, fma3): `x · min(max(fma(x, 1/6, 0.5), 0), 1)`.

use super::ftz;

const SIXTH: f32 = f32::from_bits(0x3e2a_aaab); // 1/6 rounded to f32

/// Elementwise hard-swish.
pub fn hard_swish(x: &[f32]) -> Vec<f32> {
    x.iter()
        .map(|&v| {
            let v = ftz(v);
            ftz(v * ftz(v.mul_add(SIXTH, 0.5)).clamp(0.0, 1.0))
        })
        .collect()
}
