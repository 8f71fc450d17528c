//! Peak loop with the NEON dot-product extension (`sdot`).

use std::arch::aarch64::*;
use std::arch::asm;

/// `iters` × 12 independent `sdot` (16 MAC) chains.
///
/// # Safety
/// The CPU must support NEON and dotprod.
#[target_feature(enable = "neon,dotprod")]
pub(super) unsafe fn qs8_sdot_q(iters: u64) -> f64 {
    let x = vdupq_n_s8(3);
    let w = vdupq_n_s8(-2);
    let mut c = [vdupq_n_s32(0); 12];
    for _ in 0..iters {
        // `vdotq_s32` is not stable in Rust 1.95, hence the asm; one block keeps all 12 chains in
        // registers across the loop.
        // SAFETY: register-only instructions; the caller guarantees dotprod.
        unsafe {
            asm!(
                "sdot {c0:v}.4s, {x:v}.16b, {w:v}.16b",
                "sdot {c1:v}.4s, {x:v}.16b, {w:v}.16b",
                "sdot {c2:v}.4s, {x:v}.16b, {w:v}.16b",
                "sdot {c3:v}.4s, {x:v}.16b, {w:v}.16b",
                "sdot {c4:v}.4s, {x:v}.16b, {w:v}.16b",
                "sdot {c5:v}.4s, {x:v}.16b, {w:v}.16b",
                "sdot {c6:v}.4s, {x:v}.16b, {w:v}.16b",
                "sdot {c7:v}.4s, {x:v}.16b, {w:v}.16b",
                "sdot {c8:v}.4s, {x:v}.16b, {w:v}.16b",
                "sdot {c9:v}.4s, {x:v}.16b, {w:v}.16b",
                "sdot {c10:v}.4s, {x:v}.16b, {w:v}.16b",
                "sdot {c11:v}.4s, {x:v}.16b, {w:v}.16b",
                c0 = inout(vreg) c[0],
                c1 = inout(vreg) c[1],
                c2 = inout(vreg) c[2],
                c3 = inout(vreg) c[3],
                c4 = inout(vreg) c[4],
                c5 = inout(vreg) c[5],
                c6 = inout(vreg) c[6],
                c7 = inout(vreg) c[7],
                c8 = inout(vreg) c[8],
                c9 = inout(vreg) c[9],
                c10 = inout(vreg) c[10],
                c11 = inout(vreg) c[11],
                x = in(vreg) x,
                w = in(vreg) w,
                options(pure, nomem, nostack),
            );
        }
    }
    c.iter().map(|&cj| vaddvq_s32(cj) as f64).sum()
}
