//! RSQRT and SQRT as XNNPACK's default x86 kernels compute them: a hardware reciprocal-square-root
//! estimate `r0` (vrsqrt14ps on AVX-512, vrsqrtps on AVX) refined by one Newton-Raphson step in plain
//! (non-FMA) f32 operations. Neither op is correctly rounded, and the estimate is an instruction whose
//! exact bits cannot be computed here without `unsafe` (vrsqrtps even differs between Intel and AMD), so
//! these functions take the estimate as a parameter; [`correctly_rounded_rsqrt`] is the portable stand-in.

use super::ftz;

/// A reciprocal-square-root estimate for the Newton step (the hardware instruction's result, or a model).
pub type RsqrtEstimate = fn(f32) -> f32;

/// 1/√x correctly rounded to f32 (through f64, whose 53 bits make the double rounding harmless here).
pub fn correctly_rounded_rsqrt(x: f32) -> f32 {
    (1.0 / f64::from(x).sqrt()) as f32
}

/// RSQRT: `r = r0 - (r0 · 0.5) · (x · (r0 · r0) - 1)`, and `+0` for `x = +∞`
/// (`xnn_f32_vrsqrt_ukernel__avx512f_rsqrt_u32`, `__avx_rsqrt_u16`).
pub fn rsqrt(x: &[f32], estimate: RsqrtEstimate) -> Vec<f32> {
    x.iter()
        .map(|&v| {
            let v = ftz(v);
            if v == f32::INFINITY {
                return 0.0;
            }
            let r0 = estimate(v);
            let t = ftz(v * ftz(r0 * r0)) + -1.0;
            r0 - (r0 * 0.5) * t
        })
        .collect()
}

/// SQRT: `x · (r0 + (r0 · -0.5) · (x · (r0 · r0) - 1))` with the bracket forced to `+0` for `x = 0`, and
/// `+∞` for `x = +∞` (`xnn_f32_vsqrt_ukernel__avx512f_rsqrt_u16`, `__avx_rsqrt_u16`).
pub fn sqrt(x: &[f32], estimate: RsqrtEstimate) -> Vec<f32> {
    x.iter()
        .map(|&v| {
            let v = ftz(v);
            if v == f32::INFINITY {
                return v;
            }
            let r0 = estimate(v);
            let t = ftz(v * ftz(r0 * r0)) + -1.0;
            let r = if v == 0.0 { 0.0 } else { r0 + (r0 * -0.5) * t };
            v * r
        })
        .collect()
}
