//! AVX2+FMA XNNPACK twins, 8 lanes: the `Avx2` order of the AVX/FMA3 kernels. Bit-identical to
//! `scalar.rs` (same operations in the same order; `vfmadd` and `mul_add` both round once).
//!
//! Tails go through an 8-element stack buffer padded with a value that the scalar twin would use or
//! that does not reach the result. The math helpers are safe `#[target_feature]` functions; the table
//! entries are plain functions that enter them after the table has checked the CPU.

#![allow(non_snake_case)] // kernel names are `family_tile__isa`

use core::arch::x86_64::*;

use super::scalar::{self, *};
use super::{assert_cols, SumOrder, XnnKernels};

pub(super) const TABLE: XnnKernels = XnnKernels {
    gelu: f32_vgelu_x8__avx2,
    softmax: f32_softmax_x8__avx2,
    mean: f32_rsum_mean_x32__avx2,
    mean_cols: f32_rdsum_mean_x8__avx2,
};

type V = __m256;
const W: usize = 8;

#[target_feature(enable = "avx2,fma")]
#[inline]
fn splat(v: f32) -> V {
    _mm256_set1_ps(v)
}

/// [`ftz`] on every lane: |v| below the smallest normal (and not NaN) keeps only its sign bit.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) fn ftz8(v: V) -> V {
    let sign = splat(-0.0);
    let tiny = _mm256_cmp_ps::<_CMP_LT_OQ>(_mm256_andnot_ps(sign, v), splat(f32::MIN_POSITIVE));
    _mm256_blendv_ps(v, _mm256_and_ps(v, sign), tiny)
}

/// [`ftz`] on the 4 lanes of an SSE vector.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn ftz4(v: __m128) -> __m128 {
    let sign = _mm_set1_ps(-0.0);
    let tiny = _mm_cmp_ps::<_CMP_LT_OQ>(_mm_andnot_ps(sign, v), _mm_set1_ps(f32::MIN_POSITIVE));
    _mm_blendv_ps(v, _mm_and_ps(v, sign), tiny)
}

/// `scalar::lane_tree_sum` of the 8 lanes: lane i + lane i + 4, then + 2, then + 1, each flushed.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) fn tree8(v: V) -> f32 {
    let s = ftz4(_mm_add_ps(
        _mm256_castps256_ps128(v),
        _mm256_extractf128_ps::<1>(v),
    ));
    let s = ftz4(_mm_add_ps(s, _mm_movehl_ps(s, s)));
    let s = ftz4(_mm_add_ss(s, _mm_movehdup_ps(s)));
    _mm_cvtss_f32(s)
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn load(c: &[f32]) -> V {
    assert!(c.len() >= W);
    // SAFETY: `c` holds at least 8 f32.
    unsafe { _mm256_loadu_ps(c.as_ptr()) }
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn store(c: &mut [f32], v: V) {
    assert!(c.len() >= W);
    // SAFETY: `c` holds at least 8 f32.
    unsafe { _mm256_storeu_ps(c.as_mut_ptr(), v) }
}

/// The (< 8) elements of `tail`, the other lanes `pad`.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn load_tail(tail: &[f32], pad: f32) -> V {
    let mut buf = [pad; W];
    buf[..tail.len()].copy_from_slice(tail);
    load(&buf)
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn store_tail(tail: &mut [f32], v: V) {
    let mut buf = [0.0; W];
    store(&mut buf, v);
    let n = tail.len();
    tail.copy_from_slice(&buf[..n]);
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn lanes(v: V) -> [f32; W] {
    let mut buf = [0.0; W];
    store(&mut buf, v);
    buf
}

/// `y = f(x)` over the slices, the tail through a buffer padded with 0.
macro_rules! map_x8 {
    ($x:expr, $y:expr, |$v:ident| $f:expr) => {{
        let (x, y): (&[f32], &mut [f32]) = ($x, $y);
        assert_eq!(x.len(), y.len(), "lengths");
        let mut xs = x.chunks_exact(W);
        let mut ys = y.chunks_exact_mut(W);
        for (cx, cy) in (&mut xs).zip(&mut ys) {
            let $v = load(cx);
            store(cy, $f);
        }
        let (rx, ry) = (xs.remainder(), ys.into_remainder());
        if !rx.is_empty() {
            let $v = load_tail(rx, 0.0);
            store_tail(ry, $f);
        }
    }};
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn gelu8(x: V) -> V {
    let x_orig = ftz8(x);
    // minps/maxps return the second operand for NaN: NaN clamps to MAX_ABS_X, as f32::min does.
    let x = _mm256_max_ps(_mm256_min_ps(x_orig, splat(MAX_ABS_X)), splat(-MAX_ABS_X));
    let x2 = ftz8(_mm256_mul_ps(x, x));
    let mut p = _mm256_fmadd_ps(x2, splat(ALPHA[5]), splat(ALPHA[4]));
    for &a in ALPHA[..4].iter().rev() {
        p = _mm256_fmadd_ps(x2, p, splat(a));
    }
    let p = ftz8(_mm256_mul_ps(x, p));
    let mut q = _mm256_fmadd_ps(x2, splat(BETA[4]), splat(BETA[3]));
    for &b in BETA[..3].iter().rev() {
        q = _mm256_fmadd_ps(x2, q, splat(b));
    }
    let q = _mm256_fmadd_ps(x2, q, splat(1.0));
    let erf = ftz8(_mm256_div_ps(p, q));
    let half = ftz8(_mm256_mul_ps(x_orig, splat(0.5)));
    ftz8(_mm256_mul_ps(half, _mm256_add_ps(erf, splat(1.0))))
}

#[target_feature(enable = "avx2,fma")]
fn gelu_impl(x: &[f32], y: &mut [f32]) {
    map_x8!(x, y, |v| gelu8(v));
}

/// exp(x) for x <= 0 ("rr2_p5"), the operations of `scalar::exp_rr2_p5`.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn exp8(x: V) -> V {
    let n = _mm256_fmadd_ps(x, splat(LOG2E), splat(MAGIC_BIAS));
    let s = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_castps_si256(n)));
    let n = _mm256_sub_ps(n, splat(MAGIC_BIAS));
    let t = _mm256_fmadd_ps(n, splat(MINUS_LN2_HI), x);
    let t = _mm256_fmadd_ps(n, splat(MINUS_LN2_LO), t);
    let p = _mm256_fmadd_ps(splat(C5), t, splat(C4));
    let p = _mm256_fmadd_ps(p, t, splat(C3));
    let p = _mm256_fmadd_ps(p, t, splat(C2));
    let p = _mm256_fmadd_ps(p, t, splat(C1));
    let ts = ftz8(_mm256_mul_ps(t, s));
    let f = ftz8(_mm256_fmadd_ps(ts, p, s));
    // `x < cutoff` is false for NaN, which passes through.
    _mm256_andnot_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(x, splat(DENORM_CUTOFF)), f)
}

/// `fold(x[0], f32::max)`: the largest non-NaN element, NaN when every element is NaN.
#[target_feature(enable = "avx2,fma")]
fn max_impl(x: &[f32]) -> f32 {
    let mut acc = splat(f32::NEG_INFINITY);
    let mut seen = _mm256_setzero_ps();
    let mut step = |v: V| {
        // maxps returns its second operand when one is NaN, so NaN elements leave `acc` unchanged.
        acc = _mm256_max_ps(v, acc);
        seen = _mm256_or_ps(seen, _mm256_cmp_ps::<_CMP_ORD_Q>(v, v));
    };
    let mut cs = x.chunks_exact(W);
    for c in &mut cs {
        step(load(c));
    }
    if !cs.remainder().is_empty() {
        step(load_tail(cs.remainder(), f32::NAN));
    }
    if _mm256_movemask_ps(seen) == 0 {
        return f32::NAN;
    }
    lanes(acc).into_iter().fold(f32::NEG_INFINITY, f32::max)
}

/// The Avx2 grouping of `scalar::exp_store_sum` over the stored exponentials `e`.
#[target_feature(enable = "avx2,fma")]
fn exp_sum(e: &[f32]) -> f32 {
    let add = |a: V, b: V| ftz8(_mm256_add_ps(a, b));
    let mut cs = e.chunks_exact(4 * W);
    let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    for c in &mut cs {
        acc0 = add(acc0, load(c));
        acc1 = add(acc1, load(&c[W..]));
        acc0 = add(acc0, load(&c[2 * W..]));
        acc1 = add(acc1, load(&c[3 * W..]));
    }
    let mut total = add(acc0, acc1);
    let mut rest = cs.remainder().chunks_exact(W);
    for c in &mut rest {
        total = add(total, load(c));
    }
    if !rest.remainder().is_empty() {
        total = add(total, load_tail(rest.remainder(), 0.0));
    }
    tree8(total)
}

#[target_feature(enable = "avx2,fma")]
fn softmax_impl(x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "softmax: x and y lengths");
    if x.is_empty() {
        return;
    }
    let max = splat(ftz(max_impl(x)));
    map_x8!(x, y, |v| exp8(ftz8(_mm256_sub_ps(ftz8(v), max))));
    let inv = splat(ftz(1.0 / exp_sum(y)));
    let mut ys = y.chunks_exact_mut(W);
    for c in &mut ys {
        let v = ftz8(_mm256_mul_ps(load(c), inv));
        store(c, v);
    }
    let r = ys.into_remainder();
    if !r.is_empty() {
        let v = ftz8(_mm256_mul_ps(load_tail(r, 0.0), inv));
        store_tail(r, v);
    }
}

/// The rsum sum of `xnn_f32_rsum_ukernel__avx_u32_acc4`: block k to accumulator k mod 4.
#[target_feature(enable = "avx2,fma")]
fn rsum(x: &[f32]) -> f32 {
    let add = |a: V, b: V| ftz8(_mm256_add_ps(a, ftz8(b)));
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut cs = x.chunks_exact(4 * W);
    for c in &mut cs {
        acc[0] = add(acc[0], load(c));
        acc[1] = add(acc[1], load(&c[W..]));
        acc[2] = add(acc[2], load(&c[2 * W..]));
        acc[3] = add(acc[3], load(&c[3 * W..]));
    }
    let mut rest = cs.remainder().chunks_exact(W);
    for (a, c) in acc.iter_mut().zip(&mut rest) {
        *a = add(*a, load(c));
    }
    let sum = |a: V, b: V| ftz8(_mm256_add_ps(a, b));
    let mut total = sum(sum(acc[3], acc[1]), sum(acc[0], acc[2]));
    if !rest.remainder().is_empty() {
        total = add(total, load_tail(rest.remainder(), 0.0));
    }
    tree8(total)
}

#[target_feature(enable = "avx2,fma")]
fn mean_impl(x: &[f32], scale: f32, order: SumOrder) -> f32 {
    match order {
        SumOrder::Avx2 => scale_sum(rsum(x), scale),
        SumOrder::Avx512f => (scalar::TABLE.mean)(x, scale, order),
    }
}

fn softmax_entry(x: &[f32], y: &mut [f32], order: SumOrder) {
    match order {
        // SAFETY: this table is only built when the CPU has AVX2 and FMA (`Isa::Avx2` or
        // `Isa::Avx512Vnni`, both checked by `KernelSet::for_isa`).
        SumOrder::Avx2 => unsafe { softmax_impl(x, y) },
        SumOrder::Avx512f => (scalar::TABLE.softmax)(x, y, order),
    }
}

/// The rdsum kernel: 8 columns at a time, each summed row after row.
#[target_feature(enable = "avx2,fma")]
fn mean_cols_impl(x: &[f32], scale: f32, out: &mut [f32]) {
    let inner = out.len();
    assert_cols(x.len(), inner);
    let full = inner / W * W;
    let vs = splat(scale);
    for i in (0..full).step_by(W) {
        let mut acc = _mm256_setzero_ps();
        for row in x.chunks_exact(inner) {
            acc = ftz8(_mm256_add_ps(acc, ftz8(load(&row[i..]))));
        }
        store(
            &mut out[i..],
            ftz8(_mm256_fmadd_ps(acc, vs, _mm256_setzero_ps())),
        );
    }
    for (i, o) in out.iter_mut().enumerate().skip(full) {
        *o = column_mean(x, inner, i, scale);
    }
}

/// Defines the table entry `$name`, which enters the AVX2 function `$imp`.
macro_rules! entry {
    ($name:ident => $imp:ident ( $($arg:ident : $ty:ty),* ) $(-> $ret:ty)?) => {
        pub(super) fn $name($($arg: $ty),*) $(-> $ret)? {
            // SAFETY: this table is only built when the CPU has AVX2 and FMA (`Isa::Avx2` or
            // `Isa::Avx512Vnni`, both checked by `KernelSet::for_isa`).
            unsafe { $imp($($arg),*) }
        }
    };
}

entry!(f32_vgelu_x8__avx2 => gelu_impl(x: &[f32], y: &mut [f32]));
entry!(f32_rsum_mean_x32__avx2 => mean_impl(x: &[f32], scale: f32, order: SumOrder) -> f32);
entry!(f32_rdsum_mean_x8__avx2 => mean_cols_impl(x: &[f32], scale: f32, out: &mut [f32]));

pub(super) fn f32_softmax_x8__avx2(x: &[f32], y: &mut [f32], order: SumOrder) {
    softmax_entry(x, y, order)
}
