//! GELU (approximate = false) as XNNPACK's f32 vgelu "rational_12_10_div" kernels: erf(x/√2) by an odd
//! degree-11 over even degree-10 rational function of the clamped input, Horner with FMA, one division,
//! then `(x · 0.5) · (erf + 1)`. The FMA kernels (fma3 on AVX2, avx512f) compute the same values.

use super::ftz;

/// 5.1638283730: beyond it the interpolant is ±1 (the value of the FMA kernels).
const MAX_ABS_X: f32 = f32::from_bits(0x40a5_3e15);
/// Numerator coefficients of x, x³, …, x¹¹ (7.9788452387e-01 … 4.5835321316e-08).
const ALPHA: [f32; 6] = [
    f32::from_bits(0x3f4c_4229),
    f32::from_bits(0x3d89_28b5),
    f32::from_bits(0x3c18_7a59),
    f32::from_bits(0x39ac_dfc4),
    f32::from_bits(0x3753_8e9c),
    f32::from_bits(0x3344_dc78),
];
/// Denominator coefficients of x², …, x¹⁰ (2.5060352683e-01 … 1.1988805682e-06); that of x⁰ is 1.
const BETA: [f32; 5] = [
    f32::from_bits(0x3e80_4f1b),
    f32::from_bits(0x3ce8_ea2e),
    f32::from_bits(0x3af4_17e4),
    f32::from_bits(0x3897_8e67),
    f32::from_bits(0x35a0_e939),
];

/// GELU of one value.
fn gelu1(x_orig: f32) -> f32 {
    let x_orig = ftz(x_orig);
    // min then max, as the kernel clamps; NaN falls through to the polynomials.
    let x = MAX_ABS_X.min(x_orig).max(-MAX_ABS_X);
    let x2 = ftz(x * x);
    let mut p = x2.mul_add(ALPHA[5], ALPHA[4]);
    for &a in ALPHA[..4].iter().rev() {
        p = x2.mul_add(p, a);
    }
    let p = ftz(x * p);
    let mut q = x2.mul_add(BETA[4], BETA[3]);
    for &b in BETA[..3].iter().rev() {
        q = x2.mul_add(q, b);
    }
    let q = x2.mul_add(q, 1.0);
    let erf = ftz(p / q);
    ftz(ftz(x_orig * 0.5) * (erf + 1.0))
}

/// Elementwise GELU (erf form).
pub fn gelu(x: &[f32]) -> Vec<f32> {
    x.iter().map(|&v| gelu1(v)).collect()
}
