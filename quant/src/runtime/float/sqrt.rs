//! RSQRT and SQRT as XNNPACK's default x86 kernels compute them: a hardware reciprocal-square-root
//! estimate `r0` (vrsqrt14ps on AVX-512, vrsqrtps on AVX) refined by one Newton-Raphson step in plain
//! (non-FMA) f32 operations. Neither op is correctly rounded. The estimate comes from the kernel table's
//! `rsqrt_estimate` (the same instruction where the table's ISA matches XNNPACK's choice; see
//! [`inkling_kernels::rows::rsqrt_estimate`]), the Newton step is repeated here.

use inkling_kernels::KernelSet;

use super::ftz;

/// The inputs after DAZ (subnormals read as signed zeros) and the table's estimates of their 1/√x.
fn estimates(ks: &KernelSet, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let v: Vec<f32> = x.iter().map(|&v| ftz(v)).collect();
    let mut r0 = vec![0.0; v.len()];
    // Both slices have v.len() elements, the only requirement of the table entry.
    (ks.rows.rsqrt_estimate)(&v, &mut r0);
    (v, r0)
}

/// `x · r0² − 1` with the product flushed to zero as the FTZ CPU does.
fn residual(v: f32, r0: f32) -> f32 {
    ftz(v * ftz(r0 * r0)) + -1.0
}

/// RSQRT with the estimates of `ks`: `r = r0 - (r0 · 0.5) · (x · (r0 · r0) - 1)`, and `+0` for
/// `x = +∞` (`xnn_f32_vrsqrt_ukernel__avx512f_rsqrt_u32`, `__avx_rsqrt_u16`).
pub fn rsqrt_with(ks: &KernelSet, x: &[f32]) -> Vec<f32> {
    let (v, r0) = estimates(ks, x);
    v.iter()
        .zip(r0)
        .map(|(&v, r0)| {
            if v == f32::INFINITY {
                return 0.0;
            }
            r0 - (r0 * 0.5) * residual(v, r0)
        })
        .collect()
}

/// SQRT with the estimates of `ks`: `x · (r0 + (r0 · -0.5) · (x · (r0 · r0) - 1))` with the bracket
/// forced to `+0` for `x = 0`, and `+∞` for `x = +∞` (`xnn_f32_vsqrt_ukernel__avx512f_rsqrt_u16`,
/// `__avx_rsqrt_u16`).
pub fn sqrt_with(ks: &KernelSet, x: &[f32]) -> Vec<f32> {
    let (v, r0) = estimates(ks, x);
    v.iter()
        .zip(r0)
        .map(|(&v, r0)| {
            if v == f32::INFINITY {
                return v;
            }
            let r = if v == 0.0 {
                0.0
            } else {
                r0 + (r0 * -0.5) * residual(v, r0)
            };
            v * r
        })
        .collect()
}

/// RSQRT with the process-wide kernel table (errors only on a bad `INKLING_ISA`).
pub fn rsqrt(x: &[f32]) -> crate::Result<Vec<f32>> {
    Ok(rsqrt_with(inkling_kernels::init()?, x))
}

/// SQRT with the process-wide kernel table (errors only on a bad `INKLING_ISA`).
pub fn sqrt(x: &[f32]) -> crate::Result<Vec<f32>> {
    Ok(sqrt_with(inkling_kernels::init()?, x))
}
