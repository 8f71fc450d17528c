//! Scalar row kernels: the reference for every SIMD twin and the fallback on any CPU.
//!
//! Transcendentals and reductions are evaluated in f64 and rounded once, so these are accurate
//! references (≤ 2 ulp where the math is well conditioned), not just portable code.

#![allow(non_snake_case)] // kernel names are `family_tile__isa`

use super::{RowKernels, RowStats};

pub(super) const TABLE: RowKernels = RowKernels {
    exp: f32_exp__scalar,
    gelu: f32_gelu__scalar,
    gelu_tanh: f32_gelu_tanh__scalar,
    gelu_grad: f32_gelu_grad__scalar,
    gelu_tanh_grad: f32_gelu_tanh_grad__scalar,
    softmax: f32_softmax__scalar,
    softmax_backward: f32_softmax_backward__scalar,
    log_softmax: f32_log_softmax__scalar,
    log_softmax_backward: f32_log_softmax_backward__scalar,
    layer_norm: f32_layernorm__scalar,
    layer_norm_backward: f32_layernorm_backward__scalar,
    sum: f32_sum__scalar,
    sum_sq: f32_sum_sq__scalar,
    max: f32_max__scalar,
    quantize: f32_qs8_quantize__scalar,
    dequantize: qs8_f32_dequantize__scalar,
    rsqrt_estimate: f32_rsqrt_estimate__scalar,
};

/// `√(2/π)`, the scale inside the tanh-GELU.
pub(super) const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
/// `1/√(2π)`, the normal density at 0.
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// erfc(z) for z ≥ 0: Numerical Recipes `erfcc` (Chebyshev fit), relative error < 1.2e-7 for all z ≥ 0.
///
/// The SIMD twins evaluate the same polynomial in f32.
pub(super) fn erfc_nonneg(z: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let p = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    t * (p - z * z).exp()
}

/// Φ(x), the standard normal CDF, with relative accuracy in both tails.
pub(super) fn normal_cdf(x: f64) -> f64 {
    let z = x * std::f64::consts::FRAC_1_SQRT_2;
    if z >= 0.0 {
        1.0 - 0.5 * erfc_nonneg(z)
    } else {
        0.5 * erfc_nonneg(-z)
    }
}

/// (σ(2u), σ(2u)·(1 − σ(2u))) without overflow for any finite u.
fn sigmoid2(u: f64) -> (f64, f64) {
    let e = (-2.0 * u.abs()).exp(); // in (0, 1]
    let p = 1.0 / (1.0 + e);
    let s = if u >= 0.0 { p } else { e * p };
    (s, e * p * p)
}

fn gelu_tanh_u(x: f64) -> (f64, f64) {
    let u = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
    let du = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044_715 * x * x);
    (u, du)
}

fn f32_exp__scalar(x: &mut [f32]) {
    for v in x {
        *v = v.exp();
    }
}

fn f32_gelu__scalar(x: &mut [f32]) {
    for v in x {
        let xf = f64::from(*v);
        *v = (xf * normal_cdf(xf)) as f32;
    }
}

fn f32_gelu_tanh__scalar(x: &mut [f32]) {
    for v in x {
        let xf = f64::from(*v);
        *v = (xf * sigmoid2(gelu_tanh_u(xf).0).0) as f32;
    }
}

fn f32_gelu_grad__scalar(x: &[f32], g: &mut [f32]) {
    assert_eq!(x.len(), g.len(), "gelu_grad: x and g lengths");
    for (&xv, gv) in x.iter().zip(g) {
        let xf = f64::from(xv);
        let d = normal_cdf(xf) + xf * INV_SQRT_2PI * (-0.5 * xf * xf).exp();
        *gv = (f64::from(*gv) * d) as f32;
    }
}

fn f32_gelu_tanh_grad__scalar(x: &[f32], g: &mut [f32]) {
    assert_eq!(x.len(), g.len(), "gelu_tanh_grad: x and g lengths");
    for (&xv, gv) in x.iter().zip(g) {
        let xf = f64::from(xv);
        let (u, du) = gelu_tanh_u(xf);
        let (s, ds) = sigmoid2(u);
        let d = s + xf * 2.0 * du * ds;
        *gv = (f64::from(*gv) * d) as f32;
    }
}

fn f32_max__scalar(x: &[f32]) -> f32 {
    x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v))
}

fn f32_sum__scalar(x: &[f32]) -> f32 {
    x.iter().map(|&v| f64::from(v)).sum::<f64>() as f32
}

fn f32_sum_sq__scalar(x: &[f32]) -> f32 {
    x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() as f32
}

fn f32_softmax__scalar(x: &mut [f32]) {
    let max = f32_max__scalar(x);
    let mut sum = 0.0f64;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += f64::from(*v);
    }
    let inv = 1.0 / sum;
    for v in x {
        *v = (f64::from(*v) * inv) as f32;
    }
}

fn f32_softmax_backward__scalar(y: &[f32], g: &mut [f32]) {
    assert_eq!(y.len(), g.len(), "softmax_backward: y and g lengths");
    let dot: f64 = y
        .iter()
        .zip(g.iter())
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum();
    for (&yv, gv) in y.iter().zip(g) {
        *gv = (f64::from(yv) * (f64::from(*gv) - dot)) as f32;
    }
}

fn f32_log_softmax__scalar(x: &mut [f32]) {
    let max = f32_max__scalar(x);
    let sum: f64 = x.iter().map(|&v| f64::from(v - max).exp()).sum();
    let shift = f64::from(max) + sum.ln();
    for v in x {
        *v = (f64::from(*v) - shift) as f32;
    }
}

fn f32_log_softmax_backward__scalar(y: &[f32], g: &mut [f32]) {
    assert_eq!(y.len(), g.len(), "log_softmax_backward: y and g lengths");
    let total: f64 = g.iter().map(|&v| f64::from(v)).sum();
    for (&yv, gv) in y.iter().zip(g) {
        *gv = (f64::from(*gv) - f64::from(yv).exp() * total) as f32;
    }
}

fn f32_layernorm__scalar(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    y: &mut [f32],
) -> RowStats {
    let n = x.len();
    assert!(n > 0, "layer_norm: empty row");
    super::assert_row_lengths("layer_norm", n, &[gamma.len(), beta.len(), y.len()]);
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
    let var = x
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n as f64;
    let rstd = 1.0 / (var + f64::from(eps)).sqrt();
    for i in 0..n {
        let xhat = (f64::from(x[i]) - mean) * rstd;
        y[i] = (xhat * f64::from(gamma[i]) + f64::from(beta[i])) as f32;
    }
    RowStats {
        mean: mean as f32,
        rstd: rstd as f32,
    }
}

fn f32_layernorm_backward__scalar(
    x: &[f32],
    gamma: &[f32],
    stats: RowStats,
    dy: &[f32],
    dx: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) {
    let n = x.len();
    super::assert_row_lengths(
        "layer_norm_backward",
        n,
        &[gamma.len(), dy.len(), dx.len(), dgamma.len(), dbeta.len()],
    );
    let (mean, rstd) = (f64::from(stats.mean), f64::from(stats.rstd));
    let (mut sum_g, mut sum_gx) = (0.0f64, 0.0f64);
    for i in 0..n {
        let xhat = (f64::from(x[i]) - mean) * rstd;
        let g = f64::from(dy[i]) * f64::from(gamma[i]);
        sum_g += g;
        sum_gx += g * xhat;
        dgamma[i] = (f64::from(dgamma[i]) + f64::from(dy[i]) * xhat) as f32;
        dbeta[i] += dy[i];
    }
    let (mean_g, mean_gx) = (sum_g / n as f64, sum_gx / n as f64);
    for i in 0..n {
        let xhat = (f64::from(x[i]) - mean) * rstd;
        let g = f64::from(dy[i]) * f64::from(gamma[i]);
        dx[i] = (rstd * (g - mean_g - xhat * mean_gx)) as f32;
    }
}

/// The float-domain clamp bounds `[−128 − zp, 127 − zp]` of a quantization (exact in f32).
pub(super) fn quant_bounds(zero_point: i32) -> (f32, f32) {
    assert!(
        (-128..=127).contains(&zero_point),
        "quantize: zero point out of int8 range"
    );
    ((-128 - zero_point) as f32, (127 - zero_point) as f32)
}

/// One element of [`f32_qs8_quantize__scalar`]; clamping before rounding equals clamping after,
/// since rounding is monotone and the bounds are integers.
pub(super) fn quantize_one(x: f32, inv_scale: f32, zero_point: i32, lo: f32, hi: f32) -> i8 {
    let v = (x * inv_scale).max(lo).min(hi).round_ties_even();
    (v as i32 + zero_point) as i8
}

fn f32_qs8_quantize__scalar(x: &[f32], inv_scale: f32, zero_point: i32, q: &mut [i8]) {
    assert_eq!(x.len(), q.len(), "quantize: x and q lengths");
    let (lo, hi) = quant_bounds(zero_point);
    for (&v, o) in x.iter().zip(q) {
        *o = quantize_one(v, inv_scale, zero_point, lo, hi);
    }
}

fn qs8_f32_dequantize__scalar(q: &[i8], scale: f32, zero_point: i32, x: &mut [f32]) {
    assert_eq!(x.len(), q.len(), "dequantize: q and x lengths");
    for (&v, o) in q.iter().zip(x) {
        *o = (i32::from(v) - zero_point) as f32 * scale;
    }
}

/// The reference for the hardware estimates: 1/√x rounded once (f64 holds √x and its reciprocal to 53
/// bits, so the double rounding cannot change the f32 result).
fn f32_rsqrt_estimate__scalar(x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "rsqrt_estimate: x and out lengths");
    for (&v, o) in x.iter().zip(out) {
        *o = (1.0 / f64::from(v).sqrt()) as f32;
    }
}
