//! AVX2+FMA row kernels, 8 lanes per vector. Twins of `scalar.rs`.
//!
//! Tails go through an 8-element stack buffer padded with a neutral value, so every element takes the
//! same vector math as the body. The math helpers are safe `#[target_feature]` functions; the table
//! entries are plain functions that enter them after the table has checked the CPU.

#![allow(non_snake_case)] // kernel names are `family_tile__isa`

use core::arch::x86_64::*;

use super::scalar::{quant_bounds, SQRT_2_OVER_PI};
use super::{RowKernels, RowStats};

pub(super) const TABLE: RowKernels = RowKernels {
    exp: f32_exp_x8__avx2,
    gelu: f32_gelu_x8__avx2,
    gelu_tanh: f32_gelu_tanh_x8__avx2,
    gelu_grad: f32_gelu_grad_x8__avx2,
    gelu_tanh_grad: f32_gelu_tanh_grad_x8__avx2,
    softmax: f32_softmax_x8__avx2,
    softmax_backward: f32_softmax_backward_x8__avx2,
    log_softmax: f32_log_softmax_x8__avx2,
    log_softmax_backward: f32_log_softmax_backward_x8__avx2,
    layer_norm: f32_layernorm_x8__avx2,
    layer_norm_backward: f32_layernorm_backward_x8__avx2,
    sum: f32_sum_x32__avx2,
    sum_sq: f32_sum_sq_x32__avx2,
    max: f32_max_x32__avx2,
    quantize: f32_qs8_quantize_x32__avx2,
    dequantize: qs8_f32_dequantize_x8__avx2,
    rsqrt_estimate: f32_rsqrt_estimate_x8__avx2,
};

// exp: x = n·ln2 + r, |r| ≤ ln2/2; eʳ by the Cephes expf polynomial; 2ⁿ applied as two factors so
// that n ∈ [−150, 128] never leaves the exponent range of a single factor.
const EXP_LO: f32 = -104.0; // e^−104 rounds to 0
const EXP_HI: f32 = 89.0; // e^89 overflows to +∞
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
// erf-GELU lower tail: ½·erfcx(z) = ½·e^(z²)·erfc(z) ≈ t·Q(t), t = 1/(1 + z/2), z = |x|/√2 ∈ [0, 10.5]
// (beyond that Φ(−|x|)·|x| is below half the smallest subnormal). Q is a degree-8 fit to the relative
// error, made for this crate (Lawson-reweighted least squares in f64); highest power first. Measured
// relative error of t·Q(t) against mpmath: 4.3e-8 with these coefficients in f64, 5.5e-8 rounded to f32.
const ERFCX_Q: [f32; 9] = [
    -0.029_596_686,
    0.142_591_5,
    -0.244_230_64,
    0.139_756_52,
    -0.013_811_861,
    0.101_555_02,
    0.121_498_294,
    0.141_195_03,
    0.141_042_78,
];
/// 1/(2√2): t = 1/(1 + |x|/(2√2)).
const HALF_FRAC_1_SQRT_2: f32 = 0.353_553_4;
/// Beyond |x| = 14.6, |x|·Φ(−|x|) and |x|·φ(x) are below 2⁻¹⁵⁰ and round to 0 in f32; clamping keeps
/// e^(−x²/2)·2⁶⁴ normal.
const GELU_CLAMP: f32 = 14.6;
/// 2⁻⁶⁴, undoing the scale of `exp_neg_half_sq_scaled8` in the last product.
const TWO_M64: f32 = 5.421_011e-20;
/// 1.5·2²³: adding it rounds an f32 of magnitude < 2²² to an integer held in the low mantissa bits.
const SHIFTER: f32 = 12_582_912.0;
const INV_SQRT_2PI: f32 = 0.398_942_3;
const GELU_TANH_C: f32 = SQRT_2_OVER_PI as f32;

#[target_feature(enable = "avx2,fma")]
fn splat(v: f32) -> __m256 {
    _mm256_set1_ps(v)
}

#[target_feature(enable = "avx2,fma")]
fn exp8(x: __m256) -> __m256 {
    // max(lo, x) returns x when x is NaN, so NaN flows through to the result.
    let x = _mm256_min_ps(splat(EXP_HI), _mm256_max_ps(splat(EXP_LO), x));
    let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
        x,
        splat(LOG2E),
    ));
    let r = _mm256_fnmadd_ps(n, splat(LN2_HI), x);
    let r = _mm256_fnmadd_ps(n, splat(LN2_LO), r);
    let mut p = splat(EXP_P[0]);
    for &c in &EXP_P[1..] {
        p = _mm256_fmadd_ps(p, r, splat(c));
    }
    let p = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), splat(1.0));
    let ni = _mm256_cvtps_epi32(n);
    let n1 = _mm256_srai_epi32::<1>(ni);
    let n2 = _mm256_sub_epi32(ni, n1);
    let bias = _mm256_set1_epi32(127);
    let s1 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n1, bias)));
    let s2 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n2, bias)));
    _mm256_mul_ps(_mm256_mul_ps(p, s1), s2)
}

#[target_feature(enable = "avx2,fma")]
fn abs8(x: __m256) -> __m256 {
    _mm256_andnot_ps(splat(-0.0), x)
}

/// e^(−x²/2)·2⁶⁴ for |x| ≤ `GELU_CLAMP` (always a normal f32), with the relative accuracy of `exp8`.
///
/// x² is split exactly into hi + lo (FMA) and lo enters the reduced argument, so the tails do not
/// lose x²·ε. n = round(−hi/2·log₂e) comes from the shifter trick: adding 1.5·2²³ + 64 leaves n + 64
/// in the low mantissa bits, and shifting those into the exponent field gives the scale 2ⁿ⁺⁶⁴
/// directly. n ≥ −154 at the clamp, so the scaled result never leaves the normal range.
#[target_feature(enable = "avx2,fma")]
fn exp_neg_half_sq_scaled8(x: __m256) -> __m256 {
    let hi = _mm256_mul_ps(x, x);
    let lo = _mm256_fmsub_ps(x, x, hi);
    let shifter = splat(SHIFTER + 64.0);
    let nf = _mm256_fmadd_ps(hi, splat(-0.5 * LOG2E), shifter);
    let n = _mm256_sub_ps(nf, shifter);
    let r = _mm256_fnmadd_ps(n, splat(LN2_HI), _mm256_mul_ps(hi, splat(-0.5)));
    let r = _mm256_fnmadd_ps(n, splat(LN2_LO), r);
    let r = _mm256_fnmadd_ps(lo, splat(0.5), r);
    let mut p = splat(EXP_P[0]);
    for &c in &EXP_P[1..] {
        p = _mm256_fmadd_ps(p, r, splat(c));
    }
    let p = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), splat(1.0));
    let scale = _mm256_slli_epi32::<23>(_mm256_castps_si256(nf));
    _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), scale))
}

/// (2⁻⁶⁴·½erfcx(|x|/√2), e^(−x²/2)·2⁶⁴) for |x| ≤ `GELU_CLAMP`; NaN propagates through the first.
/// Their product is Φ(−|x|). The two depend only on x, so their dependency chains overlap.
#[target_feature(enable = "avx2,fma")]
fn lower_tail8(x: __m256) -> (__m256, __m256) {
    let e = exp_neg_half_sq_scaled8(x);
    let t = _mm256_div_ps(
        splat(1.0),
        _mm256_fmadd_ps(abs8(x), splat(HALF_FRAC_1_SQRT_2), splat(1.0)),
    );
    let mut q = splat(ERFCX_Q[0] * TWO_M64);
    for &c in &ERFCX_Q[1..] {
        q = _mm256_fmadd_ps(q, t, splat(c * TWO_M64));
    }
    (_mm256_mul_ps(t, q), e)
}

/// x clamped to ±`GELU_CLAMP`; NaN stays NaN (max/min return their second operand on NaN).
#[target_feature(enable = "avx2,fma")]
fn gelu_clamp8(x: __m256) -> __m256 {
    _mm256_min_ps(splat(GELU_CLAMP), _mm256_max_ps(splat(-GELU_CLAMP), x))
}

/// x·Φ(x) as m = x·Φ(−|x|) for x < 0 and x − m for x ≥ 0 (GELU(x) − GELU(−x) = x): the negative tail
/// keeps its relative accuracy (one rounding into the subnormals), and ±∞ give +∞ and −0.
#[target_feature(enable = "avx2,fma")]
fn gelu8(x: __m256) -> __m256 {
    let xc = gelu_clamp8(x);
    let (tq, e) = lower_tail8(xc);
    // x·e is normal for every x (also tiny or subnormal x): one rounding, in the last product.
    let m = _mm256_mul_ps(_mm256_mul_ps(xc, e), tq);
    // blendv picks its second operand where the sign bit of x is set.
    _mm256_blendv_ps(_mm256_sub_ps(x, m), m, x)
}

/// Φ(x) + x·φ(x), one exponential for both terms.
#[target_feature(enable = "avx2,fma")]
fn gelu_grad8(x: __m256) -> __m256 {
    let xc = gelu_clamp8(x);
    let (tq, e) = lower_tail8(xc);
    let p = _mm256_mul_ps(tq, e);
    let cdf = _mm256_blendv_ps(_mm256_sub_ps(splat(1.0), p), p, x);
    _mm256_fmadd_ps(_mm256_mul_ps(xc, e), splat(INV_SQRT_2PI * TWO_M64), cdf)
}

/// (u, e^(−2|u|), 1/(1 + e^(−2|u|))) of the tanh-GELU, finite for every finite x.
#[target_feature(enable = "avx2,fma")]
fn gelu_tanh_parts8(x: __m256) -> (__m256, __m256, __m256) {
    let x2 = _mm256_mul_ps(x, x);
    let u = _mm256_mul_ps(
        _mm256_mul_ps(x, splat(GELU_TANH_C)),
        _mm256_fmadd_ps(x2, splat(0.044_715), splat(1.0)),
    );
    let e = exp8(_mm256_mul_ps(abs8(u), splat(-2.0)));
    let p = _mm256_div_ps(splat(1.0), _mm256_add_ps(splat(1.0), e));
    (u, e, p)
}

#[target_feature(enable = "avx2,fma")]
fn gelu_tanh8(x: __m256) -> __m256 {
    let (u, e, p) = gelu_tanh_parts8(x);
    // σ(2u) = p for u ≥ 0, e·p for u < 0.
    let s = _mm256_blendv_ps(p, _mm256_mul_ps(e, p), u);
    _mm256_mul_ps(x, s)
}

#[target_feature(enable = "avx2,fma")]
fn gelu_tanh_grad8(x: __m256) -> __m256 {
    // Beyond |x| = 20 the derivative is exactly 1 or 0 in f32; clamping keeps x³ finite.
    let x = _mm256_min_ps(splat(20.0), _mm256_max_ps(splat(-20.0), x));
    let (u, e, p) = gelu_tanh_parts8(x);
    let s = _mm256_blendv_ps(p, _mm256_mul_ps(e, p), u);
    let ds = _mm256_mul_ps(e, _mm256_mul_ps(p, p)); // σ(2u)·(1 − σ(2u))
    let du = _mm256_mul_ps(
        splat(GELU_TANH_C),
        _mm256_fmadd_ps(_mm256_mul_ps(x, x), splat(3.0 * 0.044_715), splat(1.0)),
    );
    let two_x = _mm256_add_ps(x, x);
    _mm256_fmadd_ps(_mm256_mul_ps(two_x, du), ds, s)
}

#[target_feature(enable = "avx2,fma")]
fn hsum8(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

#[target_feature(enable = "avx2,fma")]
fn hmax8(v: __m256) -> f32 {
    let s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_max_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// `x ← f(x)` over 8-lane chunks, the tail through a padded buffer.
macro_rules! map_x8 {
    ($x:expr, |$v:ident| $body:expr) => {{
        let x: &mut [f32] = $x;
        let mut chunks = x.chunks_exact_mut(8);
        for c in &mut chunks {
            // SAFETY: `c` holds exactly 8 f32.
            let $v = unsafe { _mm256_loadu_ps(c.as_ptr()) };
            let r = $body;
            // SAFETY: as above.
            unsafe { _mm256_storeu_ps(c.as_mut_ptr(), r) };
        }
        let rem = chunks.into_remainder();
        if !rem.is_empty() {
            let mut buf = [0.0f32; 8];
            buf[..rem.len()].copy_from_slice(rem);
            // SAFETY: `buf` holds exactly 8 f32.
            let $v = unsafe { _mm256_loadu_ps(buf.as_ptr()) };
            let r = $body;
            // SAFETY: as above.
            unsafe { _mm256_storeu_ps(buf.as_mut_ptr(), r) };
            rem.copy_from_slice(&buf[..rem.len()]);
        }
    }};
}

/// `map_x8!` with four independent vectors per iteration, so that long dependency chains overlap.
macro_rules! map_x32 {
    ($x:expr, |$v:ident| $body:expr) => {{
        let x: &mut [f32] = $x;
        let mut chunks = x.chunks_exact_mut(32);
        for c in &mut chunks {
            let p = c.as_mut_ptr();
            // SAFETY: `c` holds exactly 32 f32, so p..p + 32 is in bounds.
            let [r0, r1, r2, r3] = [0, 8, 16, 24].map(|o| unsafe { _mm256_loadu_ps(p.add(o)) });
            let [r0, r1, r2, r3] = [
                {
                    let $v = r0;
                    $body
                },
                {
                    let $v = r1;
                    $body
                },
                {
                    let $v = r2;
                    $body
                },
                {
                    let $v = r3;
                    $body
                },
            ];
            // SAFETY: as above.
            unsafe {
                _mm256_storeu_ps(p, r0);
                _mm256_storeu_ps(p.add(8), r1);
                _mm256_storeu_ps(p.add(16), r2);
                _mm256_storeu_ps(p.add(24), r3);
            }
        }
        map_x8!(chunks.into_remainder(), |$v| $body);
    }};
}

/// `map2_x8!` with four independent vectors per iteration.
macro_rules! map2_x32 {
    ($a:expr, $g:expr, |$av:ident, $gv:ident| $body:expr) => {{
        let (a, g): (&[f32], &mut [f32]) = ($a, $g);
        assert_eq!(a.len(), g.len(), "row kernel: slice lengths differ");
        let mut gc = g.chunks_exact_mut(32);
        let mut ac = a.chunks_exact(32);
        for (ca, cg) in (&mut ac).zip(&mut gc) {
            let (pa, pg) = (ca.as_ptr(), cg.as_mut_ptr());
            // SAFETY: `ca` and `cg` hold exactly 32 f32 each.
            let [a0, a1, a2, a3] = [0, 8, 16, 24].map(|o| unsafe { _mm256_loadu_ps(pa.add(o)) });
            // SAFETY: as above.
            let [g0, g1, g2, g3] = [0, 8, 16, 24].map(|o| unsafe { _mm256_loadu_ps(pg.add(o)) });
            let [r0, r1, r2, r3] = [
                {
                    let ($av, $gv) = (a0, g0);
                    $body
                },
                {
                    let ($av, $gv) = (a1, g1);
                    $body
                },
                {
                    let ($av, $gv) = (a2, g2);
                    $body
                },
                {
                    let ($av, $gv) = (a3, g3);
                    $body
                },
            ];
            // SAFETY: as above.
            unsafe {
                _mm256_storeu_ps(pg, r0);
                _mm256_storeu_ps(pg.add(8), r1);
                _mm256_storeu_ps(pg.add(16), r2);
                _mm256_storeu_ps(pg.add(24), r3);
            }
        }
        map2_x8!(ac.remainder(), gc.into_remainder(), |$av, $gv| $body);
    }};
}

/// `g ← f(a, g)` over 8-lane chunks of two equal-length slices.
macro_rules! map2_x8 {
    ($a:expr, $g:expr, |$av:ident, $gv:ident| $body:expr) => {{
        let (a, g): (&[f32], &mut [f32]) = ($a, $g);
        assert_eq!(a.len(), g.len(), "row kernel: slice lengths differ");
        let mut gc = g.chunks_exact_mut(8);
        let mut ac = a.chunks_exact(8);
        for (ca, cg) in (&mut ac).zip(&mut gc) {
            // SAFETY: `ca` and `cg` hold exactly 8 f32 each.
            let ($av, $gv) =
                unsafe { (_mm256_loadu_ps(ca.as_ptr()), _mm256_loadu_ps(cg.as_ptr())) };
            let r = $body;
            // SAFETY: as above.
            unsafe { _mm256_storeu_ps(cg.as_mut_ptr(), r) };
        }
        let (ra, rg) = (ac.remainder(), gc.into_remainder());
        if !ra.is_empty() {
            let (mut ba, mut bg) = ([0.0f32; 8], [0.0f32; 8]);
            ba[..ra.len()].copy_from_slice(ra);
            bg[..rg.len()].copy_from_slice(rg);
            // SAFETY: the buffers hold exactly 8 f32 each.
            let ($av, $gv) =
                unsafe { (_mm256_loadu_ps(ba.as_ptr()), _mm256_loadu_ps(bg.as_ptr())) };
            let r = $body;
            // SAFETY: as above.
            unsafe { _mm256_storeu_ps(bg.as_mut_ptr(), r) };
            rg.copy_from_slice(&bg[..rg.len()]);
        }
    }};
}

/// Loads up to 8 elements of `x` starting at `i`, padding missing lanes with `pad`.
#[target_feature(enable = "avx2,fma")]
fn load_or(x: &[f32], i: usize, pad: f32) -> __m256 {
    if i + 8 <= x.len() {
        // SAFETY: x[i..i + 8] is in bounds.
        unsafe { _mm256_loadu_ps(x.as_ptr().add(i)) }
    } else {
        let mut buf = [pad; 8];
        let rest = &x[i.min(x.len())..];
        buf[..rest.len()].copy_from_slice(rest);
        // SAFETY: `buf` holds exactly 8 f32.
        unsafe { _mm256_loadu_ps(buf.as_ptr()) }
    }
}

#[target_feature(enable = "avx2,fma")]
fn max_impl(x: &[f32]) -> f32 {
    let mut acc = [splat(f32::NEG_INFINITY); 4];
    let mut i = 0;
    while i + 32 <= x.len() {
        for (k, a) in acc.iter_mut().enumerate() {
            *a = _mm256_max_ps(*a, load_or(x, i + 8 * k, f32::NEG_INFINITY));
        }
        i += 32;
    }
    while i < x.len() {
        acc[0] = _mm256_max_ps(acc[0], load_or(x, i, f32::NEG_INFINITY));
        i += 8;
    }
    let m = _mm256_max_ps(_mm256_max_ps(acc[0], acc[1]), _mm256_max_ps(acc[2], acc[3]));
    hmax8(m)
}

/// Σ f(x) over the slice with four 8-lane accumulators; padding lanes are 0 and f(0) must be 0.
macro_rules! sum_x32 {
    ($x:expr, |$v:ident| $f:expr) => {{
        let x: &[f32] = $x;
        let mut acc = [splat(0.0); 4];
        let mut i = 0;
        while i + 32 <= x.len() {
            for (k, a) in acc.iter_mut().enumerate() {
                let $v = load_or(x, i + 8 * k, 0.0);
                *a = _mm256_add_ps(*a, $f);
            }
            i += 32;
        }
        while i < x.len() {
            let $v = load_or(x, i, 0.0);
            acc[0] = _mm256_add_ps(acc[0], $f);
            i += 8;
        }
        hsum8(_mm256_add_ps(
            _mm256_add_ps(acc[0], acc[1]),
            _mm256_add_ps(acc[2], acc[3]),
        ))
    }};
}

#[target_feature(enable = "avx2,fma")]
fn sum_impl(x: &[f32]) -> f32 {
    sum_x32!(x, |v| v)
}

#[target_feature(enable = "avx2,fma")]
fn sum_sq_impl(x: &[f32]) -> f32 {
    sum_x32!(x, |v| _mm256_mul_ps(v, v))
}

#[target_feature(enable = "avx2,fma")]
fn dot_impl(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = splat(0.0);
    let mut i = 0;
    while i < a.len() {
        acc = _mm256_fmadd_ps(load_or(a, i, 0.0), load_or(b, i, 0.0), acc);
        i += 8;
    }
    hsum8(acc)
}

#[target_feature(enable = "avx2,fma")]
fn softmax_impl(x: &mut [f32]) {
    let max = splat(max_impl(x));
    let mut sum = splat(0.0);
    let mut chunks = x.chunks_exact_mut(8);
    for c in &mut chunks {
        // SAFETY: `c` holds exactly 8 f32.
        let v = unsafe { _mm256_loadu_ps(c.as_ptr()) };
        let e = exp8(_mm256_sub_ps(v, max));
        sum = _mm256_add_ps(sum, e);
        // SAFETY: as above.
        unsafe { _mm256_storeu_ps(c.as_mut_ptr(), e) };
    }
    let rem = chunks.into_remainder();
    if !rem.is_empty() {
        // −∞ padding: its exponential is exactly 0 and adds nothing to the sum.
        let v = load_or(rem, 0, f32::NEG_INFINITY);
        let e = exp8(_mm256_sub_ps(v, max));
        sum = _mm256_add_ps(sum, e);
        let mut buf = [0.0f32; 8];
        // SAFETY: `buf` holds exactly 8 f32.
        unsafe { _mm256_storeu_ps(buf.as_mut_ptr(), e) };
        rem.copy_from_slice(&buf[..rem.len()]);
    }
    let inv = splat(1.0 / hsum8(sum));
    map_x8!(x, |v| _mm256_mul_ps(v, inv));
}

#[target_feature(enable = "avx2,fma")]
fn log_softmax_impl(x: &mut [f32]) {
    let m = max_impl(x);
    let max = splat(m);
    let mut acc = splat(0.0);
    let mut i = 0;
    while i < x.len() {
        acc = _mm256_add_ps(
            acc,
            exp8(_mm256_sub_ps(load_or(x, i, f32::NEG_INFINITY), max)),
        );
        i += 8;
    }
    let shift = splat(m + hsum8(acc).ln());
    map_x8!(x, |v| _mm256_sub_ps(v, shift));
}

#[target_feature(enable = "avx2,fma")]
fn softmax_backward_impl(y: &[f32], g: &mut [f32]) {
    assert_eq!(y.len(), g.len(), "softmax_backward: y and g lengths");
    let dot = splat(dot_impl(y, g));
    map2_x8!(y, g, |yv, gv| _mm256_mul_ps(yv, _mm256_sub_ps(gv, dot)));
}

#[target_feature(enable = "avx2,fma")]
fn log_softmax_backward_impl(y: &[f32], g: &mut [f32]) {
    let total = splat(sum_impl(g));
    map2_x8!(y, g, |yv, gv| _mm256_fnmadd_ps(exp8(yv), total, gv));
}

#[target_feature(enable = "avx2,fma")]
fn layernorm_impl(x: &[f32], gamma: &[f32], beta: &[f32], eps: f32, y: &mut [f32]) -> RowStats {
    let n = x.len();
    assert!(n > 0, "layer_norm: empty row");
    super::assert_row_lengths("layer_norm", n, &[gamma.len(), beta.len(), y.len()]);
    let mean = sum_impl(x) / n as f32;
    let mv = splat(mean);
    // Two-pass variance: no cancellation when |mean| ≫ std. Padding lanes hold the mean itself.
    let mut acc = splat(0.0);
    let mut i = 0;
    while i < n {
        let d = _mm256_sub_ps(load_or(x, i, mean), mv);
        acc = _mm256_fmadd_ps(d, d, acc);
        i += 8;
    }
    let rstd = 1.0 / (hsum8(acc) / n as f32 + eps).sqrt();
    let rv = splat(rstd);
    let mut i = 0;
    while i < n {
        let xhat = _mm256_mul_ps(_mm256_sub_ps(load_or(x, i, 0.0), mv), rv);
        let out = _mm256_fmadd_ps(xhat, load_or(gamma, i, 0.0), load_or(beta, i, 0.0));
        store_n(y, i, out);
        i += 8;
    }
    RowStats { mean, rstd }
}

/// Stores the first `min(8, y.len() − i)` lanes of `v` at `y[i..]`.
#[target_feature(enable = "avx2,fma")]
fn store_n(y: &mut [f32], i: usize, v: __m256) {
    if i + 8 <= y.len() {
        // SAFETY: y[i..i + 8] is in bounds.
        unsafe { _mm256_storeu_ps(y.as_mut_ptr().add(i), v) };
    } else {
        let mut buf = [0.0f32; 8];
        // SAFETY: `buf` holds exactly 8 f32.
        unsafe { _mm256_storeu_ps(buf.as_mut_ptr(), v) };
        let rest = &mut y[i..];
        let len = rest.len();
        rest.copy_from_slice(&buf[..len]);
    }
}

#[target_feature(enable = "avx2,fma")]
fn layernorm_backward_impl(
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
        let xhat = _mm256_mul_ps(_mm256_sub_ps(load_or(x, i, 0.0), mv), rv);
        let d = load_or(dy, i, 0.0);
        let g = _mm256_mul_ps(d, load_or(gamma, i, 0.0));
        sum_g = _mm256_add_ps(sum_g, g);
        sum_gx = _mm256_fmadd_ps(g, xhat, sum_gx);
        let dg = _mm256_fmadd_ps(d, xhat, load_or(dgamma, i, 0.0));
        store_n(dgamma, i, dg);
        let db = _mm256_add_ps(d, load_or(dbeta, i, 0.0));
        store_n(dbeta, i, db);
        i += 8;
    }
    let inv_n = 1.0 / n as f32;
    let mean_g = splat(hsum8(sum_g) * inv_n);
    let mean_gx = splat(hsum8(sum_gx) * inv_n);
    let mut i = 0;
    while i < n {
        let xhat = _mm256_mul_ps(_mm256_sub_ps(load_or(x, i, 0.0), mv), rv);
        let g = _mm256_mul_ps(load_or(dy, i, 0.0), load_or(gamma, i, 0.0));
        let t = _mm256_fnmadd_ps(xhat, mean_gx, _mm256_sub_ps(g, mean_g));
        store_n(dx, i, _mm256_mul_ps(rv, t));
        i += 8;
    }
}

/// 32 floats → 32 int8 in order: scale, clamp to [lo, hi], round half to even, add the zero point.
#[target_feature(enable = "avx2,fma")]
fn quantize_block(v: [__m256; 4], s: __m256, lo: __m256, hi: __m256, zp: __m256i) -> __m256i {
    let mut q = [_mm256_setzero_si256(); 4];
    for (qi, vi) in q.iter_mut().zip(v) {
        // Clamp in float first: rounding is monotone and the bounds are integers, so this equals
        // clamping after rounding, and cvtps (round half to even under the default MXCSR) never sees
        // an out-of-range value. NaN becomes `lo` (maxps returns its second operand on NaN),
        // so it quantizes to −128 as in scalar.
        let c = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(vi, s), lo), hi);
        *qi = _mm256_add_epi32(_mm256_cvtps_epi32(c), zp);
    }
    // packs works within 128-bit lanes; the permutation restores element order.
    let p01 = _mm256_packs_epi32(q[0], q[1]);
    let p23 = _mm256_packs_epi32(q[2], q[3]);
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p01, p23), order)
}

#[target_feature(enable = "avx2,fma")]
fn quantize_impl(x: &[f32], inv_scale: f32, zero_point: i32, q: &mut [i8]) {
    assert_eq!(x.len(), q.len(), "quantize: x and q lengths");
    let (lo, hi) = quant_bounds(zero_point);
    let (s, lo, hi) = (splat(inv_scale), splat(lo), splat(hi));
    let zp = _mm256_set1_epi32(zero_point);
    let mut i = 0;
    while i < x.len() {
        let b = quantize_block(
            [
                load_or(x, i, 0.0),
                load_or(x, i + 8, 0.0),
                load_or(x, i + 16, 0.0),
                load_or(x, i + 24, 0.0),
            ],
            s,
            lo,
            hi,
            zp,
        );
        if i + 32 <= q.len() {
            // SAFETY: q[i..i + 32] is in bounds.
            unsafe { _mm256_storeu_si256(q.as_mut_ptr().add(i).cast(), b) };
        } else {
            let mut buf = [0i8; 32];
            // SAFETY: `buf` holds exactly 32 bytes.
            unsafe { _mm256_storeu_si256(buf.as_mut_ptr().cast(), b) };
            let rest = &mut q[i..];
            let len = rest.len();
            rest.copy_from_slice(&buf[..len]);
        }
        i += 32;
    }
}

#[target_feature(enable = "avx2,fma")]
fn dequantize_impl(q: &[i8], scale: f32, zero_point: i32, x: &mut [f32]) {
    assert_eq!(x.len(), q.len(), "dequantize: q and x lengths");
    let (s, zp) = (splat(scale), _mm256_set1_epi32(zero_point));
    let mut i = 0;
    while i < q.len() {
        let b = if i + 8 <= q.len() {
            // SAFETY: q[i..i + 8] is in bounds; the load reads exactly 8 bytes.
            unsafe { _mm_loadl_epi64(q.as_ptr().add(i).cast()) }
        } else {
            let mut buf = [0i8; 16];
            let rest = &q[i..];
            buf[..rest.len()].copy_from_slice(rest);
            // SAFETY: `buf` holds 16 bytes.
            unsafe { _mm_loadu_si128(buf.as_ptr().cast()) }
        };
        let w = _mm256_cvtepi8_epi32(b);
        // |q − zp| ≤ 255 converts exactly, so the only rounding is the multiply, as in scalar.
        let v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(w, zp)), s);
        store_n(x, i, v);
        i += 8;
    }
}

/// Defines the table entry `$name`, which enters the AVX2 function `$imp`.
macro_rules! entry {
    ($name:ident => $imp:ident ( $($arg:ident : $ty:ty),* ) $(-> $ret:ty)?) => {
        fn $name($($arg: $ty),*) $(-> $ret)? {
            // SAFETY: this table is only built when the CPU has AVX2 and FMA (`Isa::Avx2` or
            // `Isa::Avx512Vnni`, both checked by `KernelSet::for_isa`).
            unsafe { $imp($($arg),*) }
        }
    };
}

#[target_feature(enable = "avx2,fma")]
fn exp_impl(x: &mut [f32]) {
    map_x8!(x, |v| exp8(v));
}
#[target_feature(enable = "avx2,fma")]
fn gelu_impl(x: &mut [f32]) {
    map_x32!(x, |v| gelu8(v));
}
#[target_feature(enable = "avx2,fma")]
fn gelu_tanh_impl(x: &mut [f32]) {
    map_x8!(x, |v| gelu_tanh8(v));
}
#[target_feature(enable = "avx2,fma")]
fn gelu_grad_impl(x: &[f32], g: &mut [f32]) {
    map2_x32!(x, g, |xv, gv| _mm256_mul_ps(gv, gelu_grad8(xv)));
}
#[target_feature(enable = "avx2,fma")]
fn gelu_tanh_grad_impl(x: &[f32], g: &mut [f32]) {
    map2_x8!(x, g, |xv, gv| _mm256_mul_ps(gv, gelu_tanh_grad8(xv)));
}

/// `vrsqrtps` on every element; the tail's padding (0 → +∞) is discarded.
#[target_feature(enable = "avx2,fma")]
fn rsqrt_estimate_impl(x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "rsqrt_estimate: x and out lengths");
    out.copy_from_slice(x);
    map_x8!(out, |v| _mm256_rsqrt_ps(v));
}

entry!(f32_exp_x8__avx2 => exp_impl(x: &mut [f32]));
entry!(f32_gelu_x8__avx2 => gelu_impl(x: &mut [f32]));
entry!(f32_gelu_tanh_x8__avx2 => gelu_tanh_impl(x: &mut [f32]));
entry!(f32_gelu_grad_x8__avx2 => gelu_grad_impl(x: &[f32], g: &mut [f32]));
entry!(f32_gelu_tanh_grad_x8__avx2 => gelu_tanh_grad_impl(x: &[f32], g: &mut [f32]));
entry!(f32_softmax_x8__avx2 => softmax_impl(x: &mut [f32]));
entry!(f32_softmax_backward_x8__avx2 => softmax_backward_impl(y: &[f32], g: &mut [f32]));
entry!(f32_log_softmax_x8__avx2 => log_softmax_impl(x: &mut [f32]));
entry!(f32_log_softmax_backward_x8__avx2 => log_softmax_backward_impl(y: &[f32], g: &mut [f32]));
entry!(f32_layernorm_x8__avx2 => layernorm_impl(
    x: &[f32], gamma: &[f32], beta: &[f32], eps: f32, y: &mut [f32]) -> RowStats);
entry!(f32_layernorm_backward_x8__avx2 => layernorm_backward_impl(
    x: &[f32], gamma: &[f32], stats: RowStats, dy: &[f32], dx: &mut [f32], dgamma: &mut [f32],
    dbeta: &mut [f32]));
entry!(f32_sum_x32__avx2 => sum_impl(x: &[f32]) -> f32);
entry!(f32_sum_sq_x32__avx2 => sum_sq_impl(x: &[f32]) -> f32);
entry!(f32_max_x32__avx2 => max_impl(x: &[f32]) -> f32);
entry!(f32_qs8_quantize_x32__avx2 => quantize_impl(
    x: &[f32], inv_scale: f32, zero_point: i32, q: &mut [i8]));
entry!(qs8_f32_dequantize_x8__avx2 => dequantize_impl(
    q: &[i8], scale: f32, zero_point: i32, x: &mut [f32]));
entry!(f32_rsqrt_estimate_x8__avx2 => rsqrt_estimate_impl(x: &[f32], out: &mut [f32]));
