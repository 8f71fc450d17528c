//! SOFTMAX over the last axis as XNNPACK's softmax operator: `m = max(x)`, then the raddstoreexpminusmax
//! kernel stores `e = exp(x - m)` and sums it, then `y = e * (1 / sum)`.
//!
//! exp is the kernels' "rr2_p5": n = round(x·log2 e) by the magic-bias trick, a two-constant Cody-Waite
//! reduction t = x - n·ln 2, a degree-5 polynomial, and s = 2ⁿ built from the exponent bits, all FMA.
//! The values are the same on AVX2 and AVX-512; the sum's grouping is not (see [`Isa`]).

use super::reduce::{add_tail, lane_tree_sum};
use super::shape::{check_len, shape_err};
use super::{ftz, Isa};
use crate::Result;

const LOG2E: f32 = f32::from_bits(0x3fb8_aa3b); // 0x1.715476p+0
const MAGIC_BIAS: f32 = f32::from_bits(0x4b40_007f); // 0x1.8000FEp23: rounds, and biases the exponent by 127
const MINUS_LN2_HI: f32 = f32::from_bits(0xbf31_7200); // -0x1.62E400p-1
const MINUS_LN2_LO: f32 = f32::from_bits(0xb5bf_be8e); // -0x1.7F7D1Cp-20
const C5: f32 = f32::from_bits(0x3c07_cfce); // 0x1.0F9F9Cp-7
const C4: f32 = f32::from_bits(0x3d2b_9d0d); // 0x1.573A1Ap-5
const C3: f32 = f32::from_bits(0x3e2a_ad40); // 0x1.555A80p-3
const C2: f32 = f32::from_bits(0x3eff_fee3); // 0x1.FFFDC6p-2
const C1: f32 = f32::from_bits(0x3f7f_fffb); // 0x1.FFFFF6p-1
const DENORM_CUTOFF: f32 = f32::from_bits(0xc2ae_ac4f); // -0x1.5D589Ep6: below it exp() is flushed to +0

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

/// Stores exp(x - max) into `out` and returns its sum grouped as the kernel groups it: 4 vectors per
/// main-loop step alternate between 2 accumulators, which are then added; the remaining whole vectors
/// and the masked tail go into that sum, lane by lane, and the lanes end in a halving tree.
fn exp_store_sum(x: &[f32], max: f32, out: &mut [f32], isa: Isa) -> f32 {
    let w = match isa {
        Isa::Avx512f => 16,
        Isa::Avx2 => 8,
    };
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
    lane_tree_sum(total)
}

/// Softmax (beta = 1) over the last axis of `x` (shape `shape`).
pub fn softmax(x: &[f32], shape: &[usize], isa: Isa) -> Result<Vec<f32>> {
    check_len("softmax", shape, x.len())?;
    let n = *shape
        .last()
        .ok_or_else(|| shape_err("softmax", "needs rank >= 1"))?;
    let mut out = vec![0.0f32; x.len()];
    if n == 0 {
        return Ok(out);
    }
    for (row, y) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        // rmax starts from the first element; max is exact, so its order does not matter.
        let max = ftz(row.iter().copied().fold(row[0], f32::max));
        let sum = exp_store_sum(row, max, y, isa);
        let inv = ftz(1.0 / sum);
        for v in y.iter_mut() {
            *v = ftz(*v * inv);
        }
    }
    Ok(out)
}
