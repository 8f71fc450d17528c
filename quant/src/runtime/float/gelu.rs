//! GELU (approximate = false) as XNNPACK's f32 vgelu "rational_12_10_div" kernels: erf(x/√2) by an odd
//! degree-11 over even degree-10 rational function of the clamped input, Horner with FMA, one division,
//! then `(x · 0.5) · (erf + 1)`. The FMA kernels (fma3 on AVX2, avx512f) compute the same values; the
//! arithmetic is the kernels crate's `xnn` GELU.

/// Elementwise GELU (erf form).
pub fn gelu(x: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    // The lengths match, the entry's only requirement.
    (super::table().xnn.gelu)(x, &mut y);
    y
}
