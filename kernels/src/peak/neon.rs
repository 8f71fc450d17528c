//! Peak loops with plain NEON instructions.

use std::arch::aarch64::*;
use std::hint::black_box;

/// `iters` × 12 independent `fmla` (4 × f32) chains; returns their sum.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub(super) unsafe fn f32_fma_q(iters: u64) -> f64 {
    // c ← c + a·b with a·b tiny and c bounded: the values stay finite however long the loop runs.
    // black_box hides the constants so that LLVM cannot simplify any chain.
    let a = black_box(vdupq_n_f32(1e-4));
    let b = black_box(vdupq_n_f32(1e-4));
    let mut c: [float32x4_t; 12] = black_box(core::array::from_fn(|j| vdupq_n_f32(j as f32)));
    for _ in 0..iters {
        for cj in c.iter_mut() {
            *cj = vfmaq_f32(*cj, a, b);
        }
    }
    c.iter().map(|&cj| vaddvq_f32(cj) as f64).sum()
}

/// `iters` × 12 chains of `smull` + `smlal2` (i8×i8 → i16) + `sadalp` (pairs → i32): the int8 dot
/// product of a NEON kernel without dotprod, 16 MAC per step.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub(super) unsafe fn qs8_smlal_q(iters: u64) -> f64 {
    let step = vdupq_n_s8(1);
    let w: [int8x16_t; 12] = black_box(core::array::from_fn(|j| vdupq_n_s8(-(j as i8) - 1)));
    let mut x = black_box(vdupq_n_s8(3));
    let mut c = black_box([vdupq_n_s32(0); 12]);
    for _ in 0..iters {
        // Changing x each iteration keeps the compiler from hoisting the products out of the loop.
        x = vaddq_s8(x, step);
        for (cj, &wj) in c.iter_mut().zip(&w) {
            let p = vmull_s8(vget_low_s8(x), vget_low_s8(wj));
            let p = vmlal_high_s8(p, x, wj);
            *cj = vpadalq_s16(*cj, p);
        }
    }
    c.iter().map(|&cj| vaddvq_s32(cj) as f64).sum()
}
