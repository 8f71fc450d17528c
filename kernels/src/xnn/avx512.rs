//! AVX-512F XNNPACK twins, 16 lanes: the `Avx512f` order of the avx512f kernels. Bit-identical to
//! `scalar.rs` (same operations in the same order; `vfmadd` and `mul_add` both round once). The `Avx2`
//! order runs on the AVX2 twins, which this CPU also has.
//!
//! Tails go through a 16-element stack buffer, as in `avx2.rs`.

#![allow(non_snake_case)] // kernel names are `family_tile__isa`

use core::arch::x86_64::*;

use super::scalar::*;
use super::{assert_cols, avx2, SumOrder, XnnKernels};

pub(super) const TABLE: XnnKernels = XnnKernels {
    gelu: f32_vgelu_x16__avx512f,
    softmax: f32_softmax_x16__avx512f,
    mean: f32_rsum_mean_x32__avx512f,
    mean_cols: f32_rdsum_mean_x16__avx512f,
};

type V = __m512;
const W: usize = 16;

#[target_feature(enable = "avx2,fma,avx512f")]
#[inline]
fn splat(v: f32) -> V {
    _mm512_set1_ps(v)
}

/// [`ftz`] on every lane: |v| below the smallest normal (and not NaN) keeps only its sign bit.
#[target_feature(enable = "avx2,fma,avx512f")]
#[inline]
fn ftz16(v: V) -> V {
    let bits = _mm512_castps_si512(v);
    let abs = _mm512_castsi512_ps(_mm512_and_si512(bits, _mm512_set1_epi32(0x7fff_ffff)));
    let tiny = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(abs, splat(f32::MIN_POSITIVE));
    let sign = _mm512_set1_epi32(i32::MIN);
    _mm512_castsi512_ps(_mm512_mask_and_epi32(bits, tiny, bits, sign))
}

/// `scalar::lane_tree_sum` of the 16 lanes: the low half plus the high half, then the 8-lane tree.
#[target_feature(enable = "avx2,fma,avx512f")]
#[inline]
fn tree16(v: V) -> f32 {
    let lo = _mm512_castps512_ps256(v);
    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
    avx2::tree8(avx2::ftz8(_mm256_add_ps(lo, hi)))
}

#[target_feature(enable = "avx2,fma,avx512f")]
#[inline]
fn load(c: &[f32]) -> V {
    assert!(c.len() >= W);
    // SAFETY: `c` holds at least 16 f32.
    unsafe { _mm512_loadu_ps(c.as_ptr()) }
}

#[target_feature(enable = "avx2,fma,avx512f")]
#[inline]
fn store(c: &mut [f32], v: V) {
    assert!(c.len() >= W);
    // SAFETY: `c` holds at least 16 f32.
    unsafe { _mm512_storeu_ps(c.as_mut_ptr(), v) }
}

/// The (< 16) elements of `tail`, the other lanes `pad`.
#[target_feature(enable = "avx2,fma,avx512f")]
#[inline]
fn load_tail(tail: &[f32], pad: f32) -> V {
    let mut buf = [pad; W];
    buf[..tail.len()].copy_from_slice(tail);
    load(&buf)
}

#[target_feature(enable = "avx2,fma,avx512f")]
#[inline]
fn store_tail(tail: &mut [f32], v: V) {
    let mut buf = [0.0; W];
    store(&mut buf, v);
    let n = tail.len();
    tail.copy_from_slice(&buf[..n]);
}

#[target_feature(enable = "avx2,fma,avx512f")]
#[inline]
fn lanes(v: V) -> [f32; W] {
    let mut buf = [0.0; W];
    store(&mut buf, v);
    buf
}

/// `y = f(x)` over the slices, the tail through a buffer padded with 0.
macro_rules! map_x16 {
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

#[target_feature(enable = "avx2,fma,avx512f")]
#[inline]
fn gelu16(x: V) -> V {
    let x_orig = ftz16(x);
    // vminps/vmaxps return the second operand for NaN: NaN clamps to MAX_ABS_X, as f32::min does.
    let x = _mm512_max_ps(_mm512_min_ps(x_orig, splat(MAX_ABS_X)), splat(-MAX_ABS_X));
    let x2 = ftz16(_mm512_mul_ps(x, x));
    let mut p = _mm512_fmadd_ps(x2, splat(ALPHA[5]), splat(ALPHA[4]));
    for &a in ALPHA[..4].iter().rev() {
        p = _mm512_fmadd_ps(x2, p, splat(a));
    }
    let p = ftz16(_mm512_mul_ps(x, p));
    let mut q = _mm512_fmadd_ps(x2, splat(BETA[4]), splat(BETA[3]));
    for &b in BETA[..3].iter().rev() {
        q = _mm512_fmadd_ps(x2, q, splat(b));
    }
    let q = _mm512_fmadd_ps(x2, q, splat(1.0));
    let erf = ftz16(_mm512_div_ps(p, q));
    let half = ftz16(_mm512_mul_ps(x_orig, splat(0.5)));
    ftz16(_mm512_mul_ps(half, _mm512_add_ps(erf, splat(1.0))))
}

#[target_feature(enable = "avx2,fma,avx512f")]
fn gelu_impl(x: &[f32], y: &mut [f32]) {
    map_x16!(x, y, |v| gelu16(v));
}

/// exp(x) for x <= 0 ("rr2_p5"), the operations of `scalar::exp_rr2_p5`.
#[target_feature(enable = "avx2,fma,avx512f")]
#[inline]
fn exp16(x: V) -> V {
    let n = _mm512_fmadd_ps(x, splat(LOG2E), splat(MAGIC_BIAS));
    let s = _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_castps_si512(n)));
    let n = _mm512_sub_ps(n, splat(MAGIC_BIAS));
    let t = _mm512_fmadd_ps(n, splat(MINUS_LN2_HI), x);
    let t = _mm512_fmadd_ps(n, splat(MINUS_LN2_LO), t);
    let p = _mm512_fmadd_ps(splat(C5), t, splat(C4));
    let p = _mm512_fmadd_ps(p, t, splat(C3));
    let p = _mm512_fmadd_ps(p, t, splat(C2));
    let p = _mm512_fmadd_ps(p, t, splat(C1));
    let ts = ftz16(_mm512_mul_ps(t, s));
    let f = ftz16(_mm512_fmadd_ps(ts, p, s));
    // `x < cutoff` is false for NaN, which passes through.
    let below = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, splat(DENORM_CUTOFF));
    _mm512_mask_mov_ps(f, below, _mm512_setzero_ps())
}

/// `fold(x[0], f32::max)`: the largest non-NaN element, NaN when every element is NaN.
#[target_feature(enable = "avx2,fma,avx512f")]
fn max_impl(x: &[f32]) -> f32 {
    let mut acc = splat(f32::NEG_INFINITY);
    let mut seen: __mmask16 = 0;
    let mut step = |v: V| {
        // vmaxps returns its second operand when one is NaN, so NaN elements leave `acc` unchanged.
        acc = _mm512_max_ps(v, acc);
        seen |= _mm512_cmp_ps_mask::<_CMP_ORD_Q>(v, v);
    };
    let mut cs = x.chunks_exact(W);
    for c in &mut cs {
        step(load(c));
    }
    if !cs.remainder().is_empty() {
        step(load_tail(cs.remainder(), f32::NAN));
    }
    if seen == 0 {
        return f32::NAN;
    }
    lanes(acc).into_iter().fold(f32::NEG_INFINITY, f32::max)
}

/// The Avx512f grouping of `scalar::exp_store_sum` over the stored exponentials `e`.
#[target_feature(enable = "avx2,fma,avx512f")]
fn exp_sum(e: &[f32]) -> f32 {
    let add = |a: V, b: V| ftz16(_mm512_add_ps(a, b));
    let mut cs = e.chunks_exact(4 * W);
    let (mut acc0, mut acc1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
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
    tree16(total)
}

#[target_feature(enable = "avx2,fma,avx512f")]
fn softmax_impl(x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "softmax: x and y lengths");
    if x.is_empty() {
        return;
    }
    let max = splat(ftz(max_impl(x)));
    map_x16!(x, y, |v| exp16(ftz16(_mm512_sub_ps(ftz16(v), max))));
    let inv = splat(ftz(1.0 / exp_sum(y)));
    let mut ys = y.chunks_exact_mut(W);
    for c in &mut ys {
        let v = ftz16(_mm512_mul_ps(load(c), inv));
        store(c, v);
    }
    let r = ys.into_remainder();
    if !r.is_empty() {
        let v = ftz16(_mm512_mul_ps(load_tail(r, 0.0), inv));
        store_tail(r, v);
    }
}

/// The rsum sum of `xnn_f32_rsum_ukernel__avx512f_u32_acc2`: block k to accumulator k mod 2.
#[target_feature(enable = "avx2,fma,avx512f")]
fn rsum(x: &[f32]) -> f32 {
    let add = |a: V, b: V| ftz16(_mm512_add_ps(a, ftz16(b)));
    let (mut acc0, mut acc1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    let mut cs = x.chunks_exact(2 * W);
    for c in &mut cs {
        acc0 = add(acc0, load(c));
        acc1 = add(acc1, load(&c[W..]));
    }
    let mut rest = cs.remainder().chunks_exact(W);
    if let Some(c) = rest.next() {
        acc0 = add(acc0, load(c));
    }
    let mut total = ftz16(_mm512_add_ps(acc1, acc0));
    if !rest.remainder().is_empty() {
        total = add(total, load_tail(rest.remainder(), 0.0));
    }
    tree16(total)
}

#[target_feature(enable = "avx2,fma,avx512f")]
fn mean_impl(x: &[f32], scale: f32, order: SumOrder) -> f32 {
    match order {
        SumOrder::Avx512f => scale_sum(rsum(x), scale),
        SumOrder::Avx2 => (avx2::TABLE.mean)(x, scale, order),
    }
}

/// The rdsum kernel: 16 columns at a time, each summed row after row.
#[target_feature(enable = "avx2,fma,avx512f")]
fn mean_cols_impl(x: &[f32], scale: f32, out: &mut [f32]) {
    let inner = out.len();
    assert_cols(x.len(), inner);
    let full = inner / W * W;
    let vs = splat(scale);
    for i in (0..full).step_by(W) {
        let mut acc = _mm512_setzero_ps();
        for row in x.chunks_exact(inner) {
            acc = ftz16(_mm512_add_ps(acc, ftz16(load(&row[i..]))));
        }
        store(
            &mut out[i..],
            ftz16(_mm512_fmadd_ps(acc, vs, _mm512_setzero_ps())),
        );
    }
    for (i, o) in out.iter_mut().enumerate().skip(full) {
        *o = column_mean(x, inner, i, scale);
    }
}

/// Defines the table entry `$name`, which enters the AVX-512 function `$imp`.
macro_rules! entry {
    ($name:ident => $imp:ident ( $($arg:ident : $ty:ty),* ) $(-> $ret:ty)?) => {
        fn $name($($arg: $ty),*) $(-> $ret)? {
            // SAFETY: this table is only built when the CPU has AVX-512 F, AVX2 and FMA
            // (`Isa::Avx512Vnni`, checked by `KernelSet::for_isa`).
            unsafe { $imp($($arg),*) }
        }
    };
}

entry!(f32_vgelu_x16__avx512f => gelu_impl(x: &[f32], y: &mut [f32]));
entry!(f32_rsum_mean_x32__avx512f => mean_impl(x: &[f32], scale: f32, order: SumOrder) -> f32);
entry!(f32_rdsum_mean_x16__avx512f => mean_cols_impl(x: &[f32], scale: f32, out: &mut [f32]));

fn f32_softmax_x16__avx512f(x: &[f32], y: &mut [f32], order: SumOrder) {
    match order {
        // SAFETY: as in `entry!`.
        SumOrder::Avx512f => unsafe { softmax_impl(x, y) },
        SumOrder::Avx2 => (avx2::TABLE.softmax)(x, y, order),
    }
}
