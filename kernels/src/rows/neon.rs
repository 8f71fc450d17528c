//! NEON row kernels, 4 lanes per vector. Twins of `scalar.rs` (same algorithms as `avx2.rs`).
//!
//! Tails go through a 4-element stack buffer padded with a neutral value, so every element takes the
//! same vector math as the body. The math helpers are safe `#[target_feature]` functions; the table
//! entries are plain functions that enter them after the table has checked the CPU.

#![allow(non_snake_case)] // kernel names are `family_tile__isa`

use core::arch::aarch64::*;

use super::scalar::{quant_bounds, SQRT_2_OVER_PI};
use super::{RowKernels, RowStats};

pub(super) const TABLE: RowKernels = RowKernels {
    exp: f32_exp_x4__neon,
    gelu: f32_gelu_x4__neon,
    gelu_tanh: f32_gelu_tanh_x4__neon,
    gelu_grad: f32_gelu_grad_x4__neon,
    gelu_tanh_grad: f32_gelu_tanh_grad_x4__neon,
    softmax: f32_softmax_x4__neon,
    softmax_backward: f32_softmax_backward_x4__neon,
    log_softmax: f32_log_softmax_x4__neon,
    log_softmax_backward: f32_log_softmax_backward_x4__neon,
    layer_norm: f32_layernorm_x4__neon,
    layer_norm_backward: f32_layernorm_backward_x4__neon,
    sum: f32_sum_x16__neon,
    sum_sq: f32_sum_sq_x16__neon,
    max: f32_max_x16__neon,
    quantize: f32_qs8_quantize_x16__neon,
    dequantize: qs8_f32_dequantize_x8__neon,
    rsqrt_estimate: f32_rsqrt_estimate_x4__neon,
};

// The constants and algorithms are those of avx2.rs; see the comments there.
const EXP_LO: f32 = -104.0;
const EXP_HI: f32 = 89.0;
const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
const EXP_P: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    0.5,
];
const ERFC_P: [f32; 10] = [
    0.170_872_77,
    -0.822_152_23,
    1.488_515_9,
    -1.135_204,
    0.278_868_07,
    -0.186_288_06,
    0.096_784_18,
    0.374_091_96,
    1.000_023_7,
    -1.265_512_2,
];
const INV_SQRT_2PI: f32 = 0.398_942_3;
const GELU_TANH_C: f32 = SQRT_2_OVER_PI as f32;

type V = float32x4_t;

#[target_feature(enable = "neon")]
#[inline]
fn splat(v: f32) -> V {
    vdupq_n_f32(v)
}

/// `a + b·c`, fused.
#[target_feature(enable = "neon")]
#[inline]
fn fma(a: V, b: V, c: V) -> V {
    vfmaq_f32(a, b, c)
}

/// Lanes of `neg` where the sign bit of `sel` is set, else lanes of `pos`.
#[target_feature(enable = "neon")]
#[inline]
fn select_sign(sel: V, neg: V, pos: V) -> V {
    let mask = vreinterpretq_u32_s32(vshrq_n_s32::<31>(vreinterpretq_s32_f32(sel)));
    vbslq_f32(mask, neg, pos)
}

#[target_feature(enable = "neon")]
#[inline]
fn exp4(x: V) -> V {
    // FMAX propagates NaN, so NaN flows through to the result.
    let x = vminq_f32(splat(EXP_HI), vmaxq_f32(splat(EXP_LO), x));
    let n = vrndnq_f32(vmulq_f32(x, splat(LOG2E)));
    let r = vfmsq_f32(x, n, splat(LN2_HI));
    let r = vfmsq_f32(r, n, splat(LN2_LO));
    let mut p = splat(EXP_P[0]);
    for &c in &EXP_P[1..] {
        p = fma(splat(c), p, r);
    }
    let p = vaddq_f32(fma(r, p, vmulq_f32(r, r)), splat(1.0));
    let ni = vcvtq_s32_f32(n);
    let n1 = vshrq_n_s32::<1>(ni);
    let n2 = vsubq_s32(ni, n1);
    let bias = vdupq_n_s32(127);
    let s1 = vreinterpretq_f32_s32(vshlq_n_s32::<23>(vaddq_s32(n1, bias)));
    let s2 = vreinterpretq_f32_s32(vshlq_n_s32::<23>(vaddq_s32(n2, bias)));
    vmulq_f32(vmulq_f32(p, s1), s2)
}

/// erfc(z) for z ≥ 0.
#[target_feature(enable = "neon")]
#[inline]
fn erfc4(z: V) -> V {
    let t = vdivq_f32(splat(1.0), fma(splat(1.0), z, splat(0.5)));
    let mut p = splat(ERFC_P[0]);
    for &c in &ERFC_P[1..] {
        p = fma(splat(c), p, t);
    }
    vmulq_f32(t, exp4(vfmsq_f32(p, z, z)))
}

#[target_feature(enable = "neon")]
#[inline]
fn normal_cdf4(x: V) -> V {
    let z = vmulq_f32(vabsq_f32(x), splat(std::f32::consts::FRAC_1_SQRT_2));
    let e = vmulq_f32(erfc4(z), splat(0.5));
    select_sign(x, e, vsubq_f32(splat(1.0), e))
}

#[target_feature(enable = "neon")]
#[inline]
fn gelu4(x: V) -> V {
    vmulq_f32(x, normal_cdf4(x))
}

#[target_feature(enable = "neon")]
#[inline]
fn gelu_grad4(x: V) -> V {
    let pdf = vmulq_f32(
        exp4(vmulq_f32(vmulq_f32(x, x), splat(-0.5))),
        splat(INV_SQRT_2PI),
    );
    fma(normal_cdf4(x), x, pdf)
}

#[target_feature(enable = "neon")]
#[inline]
fn gelu_tanh_parts4(x: V) -> (V, V, V) {
    let x2 = vmulq_f32(x, x);
    let u = vmulq_f32(
        vmulq_f32(x, splat(GELU_TANH_C)),
        fma(splat(1.0), x2, splat(0.044_715)),
    );
    let e = exp4(vmulq_f32(vabsq_f32(u), splat(-2.0)));
    let p = vdivq_f32(splat(1.0), vaddq_f32(splat(1.0), e));
    (u, e, p)
}

#[target_feature(enable = "neon")]
#[inline]
fn gelu_tanh4(x: V) -> V {
    let (u, e, p) = gelu_tanh_parts4(x);
    vmulq_f32(x, select_sign(u, vmulq_f32(e, p), p))
}

#[target_feature(enable = "neon")]
#[inline]
fn gelu_tanh_grad4(x: V) -> V {
    let x = vminq_f32(splat(20.0), vmaxq_f32(splat(-20.0), x));
    let (u, e, p) = gelu_tanh_parts4(x);
    let s = select_sign(u, vmulq_f32(e, p), p);
    let ds = vmulq_f32(e, vmulq_f32(p, p));
    let du = vmulq_f32(
        splat(GELU_TANH_C),
        fma(splat(1.0), vmulq_f32(x, x), splat(3.0 * 0.044_715)),
    );
    let two_x = vaddq_f32(x, x);
    fma(s, vmulq_f32(two_x, du), ds)
}

/// `x ← f(x)` over 4-lane chunks, the tail through a padded buffer.
macro_rules! map_x4 {
    ($x:expr, |$v:ident| $body:expr) => {{
        let x: &mut [f32] = $x;
        let mut chunks = x.chunks_exact_mut(4);
        for c in &mut chunks {
            // SAFETY: `c` holds exactly 4 f32.
            let $v = unsafe { vld1q_f32(c.as_ptr()) };
            let r = $body;
            // SAFETY: as above.
            unsafe { vst1q_f32(c.as_mut_ptr(), r) };
        }
        let rem = chunks.into_remainder();
        if !rem.is_empty() {
            let $v = load_or(rem, 0, 0.0);
            let r = $body;
            store_n(rem, 0, r);
        }
    }};
}

/// `g ← f(a, g)` over 4-lane chunks of two equal-length slices.
macro_rules! map2_x4 {
    ($a:expr, $g:expr, |$av:ident, $gv:ident| $body:expr) => {{
        let (a, g): (&[f32], &mut [f32]) = ($a, $g);
        assert_eq!(a.len(), g.len(), "row kernel: slice lengths differ");
        let mut i = 0;
        while i < a.len() {
            let ($av, $gv) = (load_or(a, i, 0.0), load_or(g, i, 0.0));
            let r = $body;
            store_n(g, i, r);
            i += 4;
        }
    }};
}

/// Loads up to 4 elements of `x` starting at `i`, padding missing lanes with `pad`.
#[target_feature(enable = "neon")]
#[inline]
fn load_or(x: &[f32], i: usize, pad: f32) -> V {
    if i + 4 <= x.len() {
        // SAFETY: x[i..i + 4] is in bounds.
        unsafe { vld1q_f32(x.as_ptr().add(i)) }
    } else {
        let mut buf = [pad; 4];
        let rest = &x[i.min(x.len())..];
        buf[..rest.len()].copy_from_slice(rest);
        // SAFETY: `buf` holds exactly 4 f32.
        unsafe { vld1q_f32(buf.as_ptr()) }
    }
}

/// Stores the first `min(4, y.len() − i)` lanes of `v` at `y[i..]`.
#[target_feature(enable = "neon")]
#[inline]
fn store_n(y: &mut [f32], i: usize, v: V) {
    if i + 4 <= y.len() {
        // SAFETY: y[i..i + 4] is in bounds.
        unsafe { vst1q_f32(y.as_mut_ptr().add(i), v) };
    } else {
        let mut buf = [0.0f32; 4];
        // SAFETY: `buf` holds exactly 4 f32.
        unsafe { vst1q_f32(buf.as_mut_ptr(), v) };
        let start = i.min(y.len());
        let rest = &mut y[start..];
        let len = rest.len();
        rest.copy_from_slice(&buf[..len]);
    }
}

#[target_feature(enable = "neon")]
fn f32_max_x16__neon_impl(x: &[f32]) -> f32 {
    let mut acc = [splat(f32::NEG_INFINITY); 4];
    let mut i = 0;
    while i + 16 <= x.len() {
        for (k, a) in acc.iter_mut().enumerate() {
            *a = vmaxq_f32(*a, load_or(x, i + 4 * k, f32::NEG_INFINITY));
        }
        i += 16;
    }
    while i < x.len() {
        acc[0] = vmaxq_f32(acc[0], load_or(x, i, f32::NEG_INFINITY));
        i += 4;
    }
    vmaxvq_f32(vmaxq_f32(
        vmaxq_f32(acc[0], acc[1]),
        vmaxq_f32(acc[2], acc[3]),
    ))
}

/// Σ f(x) over the slice with four 4-lane accumulators; padding lanes are 0 and f(0) must be 0.
macro_rules! sum_x16 {
    ($x:expr, |$v:ident| $f:expr) => {{
        let x: &[f32] = $x;
        let mut acc = [splat(0.0); 4];
        let mut i = 0;
        while i + 16 <= x.len() {
            for (k, a) in acc.iter_mut().enumerate() {
                let $v = load_or(x, i + 4 * k, 0.0);
                *a = vaddq_f32(*a, $f);
            }
            i += 16;
        }
        while i < x.len() {
            let $v = load_or(x, i, 0.0);
            acc[0] = vaddq_f32(acc[0], $f);
            i += 4;
        }
        vaddvq_f32(vaddq_f32(
            vaddq_f32(acc[0], acc[1]),
            vaddq_f32(acc[2], acc[3]),
        ))
    }};
}

#[target_feature(enable = "neon")]
fn f32_sum_x16__neon_impl(x: &[f32]) -> f32 {
    sum_x16!(x, |v| v)
}

#[target_feature(enable = "neon")]
fn f32_sum_sq_x16__neon_impl(x: &[f32]) -> f32 {
    sum_x16!(x, |v| vmulq_f32(v, v))
}

#[target_feature(enable = "neon")]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = splat(0.0);
    let mut i = 0;
    while i < a.len() {
        acc = fma(acc, load_or(a, i, 0.0), load_or(b, i, 0.0));
        i += 4;
    }
    vaddvq_f32(acc)
}

#[target_feature(enable = "neon")]
fn f32_exp_x4__neon_impl(x: &mut [f32]) {
    map_x4!(x, |v| exp4(v));
}

#[target_feature(enable = "neon")]
fn f32_gelu_x4__neon_impl(x: &mut [f32]) {
    map_x4!(x, |v| gelu4(v));
}

#[target_feature(enable = "neon")]
fn f32_gelu_tanh_x4__neon_impl(x: &mut [f32]) {
    map_x4!(x, |v| gelu_tanh4(v));
}

#[target_feature(enable = "neon")]
fn f32_gelu_grad_x4__neon_impl(x: &[f32], g: &mut [f32]) {
    map2_x4!(x, g, |xv, gv| vmulq_f32(gv, gelu_grad4(xv)));
}

#[target_feature(enable = "neon")]
fn f32_gelu_tanh_grad_x4__neon_impl(x: &[f32], g: &mut [f32]) {
    map2_x4!(x, g, |xv, gv| vmulq_f32(gv, gelu_tanh_grad4(xv)));
}

#[target_feature(enable = "neon")]
fn f32_softmax_x4__neon_impl(x: &mut [f32]) {
    let max = splat(f32_max_x16__neon_impl(x));
    let mut sum = splat(0.0);
    let mut i = 0;
    while i < x.len() {
        // −∞ padding: its exponential is exactly 0 and adds nothing to the sum.
        let e = exp4(vsubq_f32(load_or(x, i, f32::NEG_INFINITY), max));
        sum = vaddq_f32(sum, e);
        store_n(x, i, e);
        i += 4;
    }
    let inv = splat(1.0 / vaddvq_f32(sum));
    map_x4!(x, |v| vmulq_f32(v, inv));
}

#[target_feature(enable = "neon")]
fn f32_log_softmax_x4__neon_impl(x: &mut [f32]) {
    let m = f32_max_x16__neon_impl(x);
    let max = splat(m);
    let mut acc = splat(0.0);
    let mut i = 0;
    while i < x.len() {
        acc = vaddq_f32(acc, exp4(vsubq_f32(load_or(x, i, f32::NEG_INFINITY), max)));
        i += 4;
    }
    let shift = splat(m + vaddvq_f32(acc).ln());
    map_x4!(x, |v| vsubq_f32(v, shift));
}

#[target_feature(enable = "neon")]
fn f32_softmax_backward_x4__neon_impl(y: &[f32], g: &mut [f32]) {
    assert_eq!(y.len(), g.len(), "softmax_backward: y and g lengths");
    let d = splat(dot(y, g));
    map2_x4!(y, g, |yv, gv| vmulq_f32(yv, vsubq_f32(gv, d)));
}

#[target_feature(enable = "neon")]
fn f32_log_softmax_backward_x4__neon_impl(y: &[f32], g: &mut [f32]) {
    let total = splat(f32_sum_x16__neon_impl(g));
    map2_x4!(y, g, |yv, gv| vfmsq_f32(gv, exp4(yv), total));
}

#[target_feature(enable = "neon")]
fn f32_layernorm_x4__neon_impl(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    y: &mut [f32],
) -> RowStats {
    let n = x.len();
    assert!(n > 0, "layer_norm: empty row");
    super::assert_row_lengths("layer_norm", n, &[gamma.len(), beta.len(), y.len()]);
    let mean = f32_sum_x16__neon_impl(x) / n as f32;
    let mv = splat(mean);
    let mut acc = splat(0.0);
    let mut i = 0;
    while i < n {
        let d = vsubq_f32(load_or(x, i, mean), mv);
        acc = fma(acc, d, d);
        i += 4;
    }
    let rstd = 1.0 / (vaddvq_f32(acc) / n as f32 + eps).sqrt();
    let rv = splat(rstd);
    let mut i = 0;
    while i < n {
        let xhat = vmulq_f32(vsubq_f32(load_or(x, i, 0.0), mv), rv);
        let out = fma(load_or(beta, i, 0.0), xhat, load_or(gamma, i, 0.0));
        store_n(y, i, out);
        i += 4;
    }
    RowStats { mean, rstd }
}

#[target_feature(enable = "neon")]
fn f32_layernorm_backward_x4__neon_impl(
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
    let (mv, rv) = (splat(stats.mean), splat(stats.rstd));
    let (mut sum_g, mut sum_gx) = (splat(0.0), splat(0.0));
    let mut i = 0;
    while i < n {
        let xhat = vmulq_f32(vsubq_f32(load_or(x, i, 0.0), mv), rv);
        let d = load_or(dy, i, 0.0);
        let g = vmulq_f32(d, load_or(gamma, i, 0.0));
        sum_g = vaddq_f32(sum_g, g);
        sum_gx = fma(sum_gx, g, xhat);
        store_n(dgamma, i, fma(load_or(dgamma, i, 0.0), d, xhat));
        store_n(dbeta, i, vaddq_f32(d, load_or(dbeta, i, 0.0)));
        i += 4;
    }
    let inv_n = 1.0 / n as f32;
    let mean_g = splat(vaddvq_f32(sum_g) * inv_n);
    let mean_gx = splat(vaddvq_f32(sum_gx) * inv_n);
    let mut i = 0;
    while i < n {
        let xhat = vmulq_f32(vsubq_f32(load_or(x, i, 0.0), mv), rv);
        let g = vmulq_f32(load_or(dy, i, 0.0), load_or(gamma, i, 0.0));
        let t = vfmsq_f32(vsubq_f32(g, mean_g), xhat, mean_gx);
        store_n(dx, i, vmulq_f32(rv, t));
        i += 4;
    }
}

/// 4 floats → 4 int32 in [−128, 127]: scale, clamp, round half to even (FCVTNS), add the zero point.
#[target_feature(enable = "neon")]
#[inline]
fn quantize4(v: V, s: V, lo: V, hi: V, zp: int32x4_t) -> int32x4_t {
    // FMAXNM returns the number when one operand is NaN: NaN becomes `lo` (−128), as in scalar.
    let c = vminnmq_f32(vmaxnmq_f32(vmulq_f32(v, s), lo), hi);
    vaddq_s32(vcvtnq_s32_f32(c), zp)
}

#[target_feature(enable = "neon")]
fn f32_qs8_quantize_x16__neon_impl(x: &[f32], inv_scale: f32, zero_point: i32, q: &mut [i8]) {
    assert_eq!(x.len(), q.len(), "quantize: x and q lengths");
    let (lo, hi) = quant_bounds(zero_point);
    let (s, lo, hi) = (splat(inv_scale), splat(lo), splat(hi));
    let zp = vdupq_n_s32(zero_point);
    let mut i = 0;
    while i < x.len() {
        let w = [
            quantize4(load_or(x, i, 0.0), s, lo, hi, zp),
            quantize4(load_or(x, i + 4, 0.0), s, lo, hi, zp),
            quantize4(load_or(x, i + 8, 0.0), s, lo, hi, zp),
            quantize4(load_or(x, i + 12, 0.0), s, lo, hi, zp),
        ];
        // Values are already in int8 range, so the saturating narrows are exact.
        let h0 = vcombine_s16(vqmovn_s32(w[0]), vqmovn_s32(w[1]));
        let h1 = vcombine_s16(vqmovn_s32(w[2]), vqmovn_s32(w[3]));
        let b = vcombine_s8(vqmovn_s16(h0), vqmovn_s16(h1));
        if i + 16 <= q.len() {
            // SAFETY: q[i..i + 16] is in bounds.
            unsafe { vst1q_s8(q.as_mut_ptr().add(i), b) };
        } else {
            let mut buf = [0i8; 16];
            // SAFETY: `buf` holds exactly 16 bytes.
            unsafe { vst1q_s8(buf.as_mut_ptr(), b) };
            let rest = &mut q[i..];
            let len = rest.len();
            rest.copy_from_slice(&buf[..len]);
        }
        i += 16;
    }
}

#[target_feature(enable = "neon")]
fn qs8_f32_dequantize_x8__neon_impl(q: &[i8], scale: f32, zero_point: i32, x: &mut [f32]) {
    assert_eq!(x.len(), q.len(), "dequantize: q and x lengths");
    let (s, zp) = (splat(scale), vdupq_n_s32(zero_point));
    let mut i = 0;
    while i < q.len() {
        let b = if i + 8 <= q.len() {
            // SAFETY: q[i..i + 8] is in bounds.
            unsafe { vld1_s8(q.as_ptr().add(i)) }
        } else {
            let mut buf = [0i8; 8];
            let rest = &q[i..];
            buf[..rest.len()].copy_from_slice(rest);
            // SAFETY: `buf` holds exactly 8 bytes.
            unsafe { vld1_s8(buf.as_ptr()) }
        };
        let h = vmovl_s8(b);
        // |q − zp| ≤ 255 converts exactly, so the only rounding is the multiply, as in scalar.
        let lo = vmulq_f32(vcvtq_f32_s32(vsubq_s32(vmovl_s16(vget_low_s16(h)), zp)), s);
        let hi = vmulq_f32(vcvtq_f32_s32(vsubq_s32(vmovl_high_s16(h), zp)), s);
        store_n(x, i, lo);
        store_n(x, i + 4, hi);
        i += 8;
    }
}

/// `frsqrte` on every element; the tail is padded with 1.0 and its lanes discarded.
#[target_feature(enable = "neon")]
fn f32_rsqrt_estimate_x4__neon_impl(x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "rsqrt_estimate: x and out lengths");
    let mut i = 0;
    while i < x.len() {
        store_n(out, i, vrsqrteq_f32(load_or(x, i, 1.0)));
        i += 4;
    }
}

/// Defines the table entry `$name`, which enters the NEON function `$imp`.
macro_rules! entry {
    ($name:ident => $imp:ident ( $($arg:ident : $ty:ty),* ) $(-> $ret:ty)?) => {
        fn $name($($arg: $ty),*) $(-> $ret)? {
            // SAFETY: this table is only built when the CPU has NEON (`Isa::Neon` or
            // `Isa::NeonDotprod`, checked by `KernelSet::for_isa`).
            unsafe { $imp($($arg),*) }
        }
    };
}

entry!(f32_max_x16__neon => f32_max_x16__neon_impl(x: &[f32]) -> f32);
entry!(f32_sum_x16__neon => f32_sum_x16__neon_impl(x: &[f32]) -> f32);
entry!(f32_sum_sq_x16__neon => f32_sum_sq_x16__neon_impl(x: &[f32]) -> f32);
entry!(f32_exp_x4__neon => f32_exp_x4__neon_impl(x: &mut [f32]));
entry!(f32_gelu_x4__neon => f32_gelu_x4__neon_impl(x: &mut [f32]));
entry!(f32_gelu_tanh_x4__neon => f32_gelu_tanh_x4__neon_impl(x: &mut [f32]));
entry!(f32_gelu_grad_x4__neon => f32_gelu_grad_x4__neon_impl(x: &[f32], g: &mut [f32]));
entry!(f32_gelu_tanh_grad_x4__neon => f32_gelu_tanh_grad_x4__neon_impl(x: &[f32], g: &mut [f32]));
entry!(f32_softmax_x4__neon => f32_softmax_x4__neon_impl(x: &mut [f32]));
entry!(f32_log_softmax_x4__neon => f32_log_softmax_x4__neon_impl(x: &mut [f32]));
entry!(f32_softmax_backward_x4__neon => f32_softmax_backward_x4__neon_impl(y: &[f32], g: &mut [f32]));
entry!(f32_log_softmax_backward_x4__neon => f32_log_softmax_backward_x4__neon_impl(y: &[f32], g: &mut [f32]));
entry!(f32_layernorm_x4__neon => f32_layernorm_x4__neon_impl(x: &[f32], gamma: &[f32], beta: &[f32], eps: f32, y: &mut [f32]) -> RowStats);
entry!(f32_layernorm_backward_x4__neon => f32_layernorm_backward_x4__neon_impl(x: &[f32], gamma: &[f32], stats: RowStats, dy: &[f32], dx: &mut [f32], dgamma: &mut [f32], dbeta: &mut [f32]));
entry!(f32_qs8_quantize_x16__neon => f32_qs8_quantize_x16__neon_impl(x: &[f32], inv_scale: f32, zero_point: i32, q: &mut [i8]));
entry!(qs8_f32_dequantize_x8__neon => qs8_f32_dequantize_x8__neon_impl(q: &[i8], scale: f32, zero_point: i32, x: &mut [f32]));
entry!(f32_rsqrt_estimate_x4__neon => f32_rsqrt_estimate_x4__neon_impl(x: &[f32], out: &mut [f32]));
