//! Scalar XNNPACK twins: the reference for every SIMD kernel of this family, the fallback on any CPU,
//! and the only kernels that compute both [`SumOrder`]s.
//!
//! `f32::mul_add` stands for the kernels' FMA (both round once), and [`ftz`] for the FTZ/DAZ CPU state
//! XNNPACK runs under, applied to the inputs and to each result that can be subnormal.

#![allow(non_snake_case)] // kernel names are `family_tile__isa`

use super::{SumOrder, XnnKernels};

pub(super) const TABLE: XnnKernels = XnnKernels {
    gelu: f32_vgelu__scalar,
    softmax: f32_softmax__scalar,
    mean: f32_rsum_mean__scalar,
    mean_cols: f32_rdsum_mean__scalar,
};

/// What LiteRT's XNNPACK path does with subnormals (measured: `1e-20 * 1e-20` and `3e-39 * 1` give 0):
/// the CPU runs with flush-to-zero and denormals-are-zero, so a subnormal becomes a signed zero.
#[inline]
pub fn ftz(x: f32) -> f32 {
    if x.is_subnormal() {
        0.0f32.copysign(x)
    } else {
        x
    }
}

// GELU: XNNPACK's vgelu "rational_12_10_div": erf(x/√2) by an odd degree-11 over an even degree-10
// rational function of the clamped input, Horner with FMA, one division, then `(x · 0.5) · (erf + 1)`.

/// 5.1638283730: beyond it the interpolant is ±1 (the value of the FMA kernels).
pub(super) const MAX_ABS_X: f32 = f32::from_bits(0x40a5_3e15);
/// Numerator coefficients of x, x³, …, x¹¹ (7.9788452387e-01 … 4.5835321316e-08).
pub(super) const ALPHA: [f32; 6] = [
    f32::from_bits(0x3f4c_4229),
    f32::from_bits(0x3d89_28b5),
    f32::from_bits(0x3c18_7a59),
    f32::from_bits(0x39ac_dfc4),
    f32::from_bits(0x3753_8e9c),
    f32::from_bits(0x3344_dc78),
];
/// Denominator coefficients of x², …, x¹⁰ (2.5060352683e-01 … 1.1988805682e-06); that of x⁰ is 1.
pub(super) const BETA: [f32; 5] = [
    f32::from_bits(0x3e80_4f1b),
    f32::from_bits(0x3ce8_ea2e),
    f32::from_bits(0x3af4_17e4),
    f32::from_bits(0x3897_8e67),
    f32::from_bits(0x35a0_e939),
];

/// GELU of one value.
pub(super) fn gelu1(x_orig: f32) -> f32 {
    let x_orig = ftz(x_orig);
    // Rust's min/max return the other operand for NaN, so NaN clamps to MAX_ABS_X here and only
    // `x_orig * 0.5` carries it to the result (the SIMD twins clamp the same way).
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

fn f32_vgelu__scalar(x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "gelu: x and y lengths");
    for (o, &v) in y.iter_mut().zip(x) {
        *o = gelu1(v);
    }
}

// SOFTMAX: `m = max(x)`, then the raddstoreexpminusmax kernel stores `e = exp(x - m)` and sums it, then
// `y = e * (1 / sum)`. exp is "rr2_p5": n = round(x·log2 e) by the magic-bias trick, a two-constant
// Cody-Waite reduction t = x - n·ln 2, a degree-5 polynomial, and s = 2ⁿ from the exponent bits.

pub(super) const LOG2E: f32 = f32::from_bits(0x3fb8_aa3b); // 0x1.715476p+0
/// 0x1.8000FEp23: rounds, and biases the exponent by 127.
pub(super) const MAGIC_BIAS: f32 = f32::from_bits(0x4b40_007f);
pub(super) const MINUS_LN2_HI: f32 = f32::from_bits(0xbf31_7200); // -0x1.62E400p-1
pub(super) const MINUS_LN2_LO: f32 = f32::from_bits(0xb5bf_be8e); // -0x1.7F7D1Cp-20
pub(super) const C5: f32 = f32::from_bits(0x3c07_cfce); // 0x1.0F9F9Cp-7
pub(super) const C4: f32 = f32::from_bits(0x3d2b_9d0d); // 0x1.573A1Ap-5
pub(super) const C3: f32 = f32::from_bits(0x3e2a_ad40); // 0x1.555A80p-3
pub(super) const C2: f32 = f32::from_bits(0x3eff_fee3); // 0x1.FFFDC6p-2
pub(super) const C1: f32 = f32::from_bits(0x3f7f_fffb); // 0x1.FFFFF6p-1
/// -0x1.5D589Ep6: below it exp() is flushed to +0.
pub(super) const DENORM_CUTOFF: f32 = f32::from_bits(0xc2ae_ac4f);

/// exp(x) for x <= 0, with the kernel's operations.
fn exp_rr2_p5(x: f32) -> f32 {
    let n = x.mul_add(LOG2E, MAGIC_BIAS);
    let s = f32::from_bits(n.to_bits() << 23);
    let n = n - MAGIC_BIAS;
    let t = n.mul_add(MINUS_LN2_HI, x);
    let t = n.mul_add(MINUS_LN2_LO, t);
    let p = C5.mul_add(t, C4);
    let p = p.mul_add(t, C3);
    let p = p.mul_add(t, C2);
    let p = p.mul_add(t, C1);
    let ts = ftz(t * s);
    // `x < cutoff` is false for NaN, which the kernel lets through.
    if x < DENORM_CUTOFF {
        0.0
    } else {
        ftz(ts.mul_add(p, s))
    }
}

/// The vector width of an order's kernels.
pub(super) fn lanes(order: SumOrder) -> usize {
    match order {
        SumOrder::Avx512f => 16,
        SumOrder::Avx2 => 8,
    }
}

/// Adds lanes pairwise, halving the width each step (lane i + lane i + w/2), as the kernels' final
/// extract/shuffle/add sequence does, and returns lane 0.
pub(super) fn lane_tree_sum(lanes: &mut [f32]) -> f32 {
    let mut w = lanes.len();
    while w > 1 {
        w /= 2;
        for i in 0..w {
            lanes[i] = ftz(lanes[i] + lanes[i + w]);
        }
    }
    lanes.first().copied().unwrap_or(0.0)
}

/// Adds the trailing `rem` elements lane-wise into `acc`; the kernels load them masked, so the other lanes
/// get `+ 0.0`.
fn add_tail(acc: &mut [f32], tail: &[f32]) {
    if tail.is_empty() {
        return;
    }
    for (l, a) in acc.iter_mut().enumerate() {
        *a = ftz(*a + tail.get(l).map_or(0.0, |&t| ftz(t)));
    }
}

/// Stores exp(x - max) into `out` and returns its sum grouped as the kernel groups it: 4 vectors per
/// main-loop step alternate between 2 accumulators, which are then added; the remaining whole vectors
/// and the masked tail go into that sum, lane by lane, and the lanes end in a halving tree.
fn exp_store_sum(x: &[f32], max: f32, out: &mut [f32], order: SumOrder) -> f32 {
    let w = lanes(order);
    for (o, &v) in out.iter_mut().zip(x) {
        *o = exp_rr2_p5(ftz(ftz(v) - max));
    }
    let main = x.len() / (4 * w) * 4;
    let mut acc = [vec![0.0f32; w], vec![0.0f32; w]];
    for (k, block) in out.chunks_exact(w).take(main).enumerate() {
        for (a, &v) in acc[k % 2].iter_mut().zip(block) {
            *a = ftz(*a + v);
        }
    }
    let mut total: Vec<f32> = acc[0]
        .iter()
        .zip(&acc[1])
        .map(|(a, b)| ftz(a + b))
        .collect();
    let whole = x.len() / w;
    for block in out[main * w..whole * w].chunks_exact(w) {
        for (a, &v) in total.iter_mut().zip(block) {
            *a = ftz(*a + v);
        }
    }
    add_tail(&mut total, &out[whole * w..]);
    lane_tree_sum(&mut total)
}

/// Softmax of one row in `order`.
pub(super) fn softmax_row(x: &[f32], y: &mut [f32], order: SumOrder) {
    assert_eq!(x.len(), y.len(), "softmax: x and y lengths");
    let Some(&first) = x.first() else {
        return;
    };
    // rmax starts from the first element; max is exact, so its order does not matter.
    let max = ftz(x.iter().copied().fold(first, f32::max));
    let sum = exp_store_sum(x, max, y, order);
    let inv = ftz(1.0 / sum);
    for v in y.iter_mut() {
        *v = ftz(*v * inv);
    }
}

fn f32_softmax__scalar(x: &[f32], y: &mut [f32], order: SumOrder) {
    softmax_row(x, y, order)
}

// MEAN: a sum in the kernel's order, then `fma(sum, 1/n, 0)`. A trailing block goes to the rsum kernel
// (lane-parallel accumulators, then a halving tree), an inner block to the rdsum kernel (one running
// sum per output, row after row).

/// Vector width and accumulator count of `xnn_f32_rsum_ukernel__avx512f_u32_acc2` / `__avx_u32_acc4`.
fn rsum_layout(order: SumOrder) -> (usize, usize) {
    match order {
        SumOrder::Avx512f => (16, 2),
        SumOrder::Avx2 => (8, 4),
    }
}

/// The row sum of the rsum kernel: block k of `w` elements goes to accumulator k mod `accs`.
fn rsum(x: &[f32], order: SumOrder) -> f32 {
    let (w, accs) = rsum_layout(order);
    let mut acc = vec![vec![0.0f32; w]; accs];
    let blocks = x.len() / w;
    for (k, block) in x.chunks_exact(w).enumerate() {
        for (a, &v) in acc[k % accs].iter_mut().zip(block) {
            *a = ftz(*a + ftz(v));
        }
    }
    let lanewise =
        |p: &[f32], q: &[f32]| -> Vec<f32> { p.iter().zip(q).map(|(a, b)| ftz(a + b)).collect() };
    let mut total = if accs == 2 {
        lanewise(&acc[1], &acc[0])
    } else {
        lanewise(&lanewise(&acc[3], &acc[1]), &lanewise(&acc[0], &acc[2]))
    };
    add_tail(&mut total, &x[blocks * w..]);
    lane_tree_sum(&mut total)
}

/// The scaling every MEAN kernel ends with: `fma(sum, scale, 0)`, one rounding.
#[inline]
pub(super) fn scale_sum(sum: f32, scale: f32) -> f32 {
    ftz(sum.mul_add(scale, 0.0))
}

fn f32_rsum_mean__scalar(x: &[f32], scale: f32, order: SumOrder) -> f32 {
    scale_sum(rsum(x, order), scale)
}

/// The rdsum kernel's mean of column `i` of the `x.len() / inner` rows of `inner` elements.
pub(super) fn column_mean(x: &[f32], inner: usize, i: usize, scale: f32) -> f32 {
    let sum = x
        .iter()
        .skip(i)
        .step_by(inner)
        .fold(0.0f32, |acc, &v| ftz(acc + ftz(v)));
    scale_sum(sum, scale)
}

fn f32_rdsum_mean__scalar(x: &[f32], scale: f32, out: &mut [f32]) {
    let inner = out.len();
    super::assert_cols(x.len(), inner);
    for (i, o) in out.iter_mut().enumerate() {
        *o = column_mean(x, inner, i, scale);
    }
}
