//! NEON f32 GEMM micro-kernel: an 8×12 register tile (24 of the 32 q registers accumulate).

use core::arch::aarch64::*;

use super::epilogue::TileOut;

/// Rows of the register tile.
pub(crate) const MR: usize = 8;
/// Columns of the register tile.
pub(crate) const NR: usize = 12;

/// One K step: `acc[i][j] += a[i]·b[j]` with A in two vectors and B in three, by lane.
macro_rules! fma_rows {
    ($acc:ident, $a0:expr, $a1:expr, $b:expr) => {{
        for j in 0..3 {
            $acc[0][j] = vfmaq_laneq_f32::<0>($acc[0][j], $b[j], $a0);
            $acc[1][j] = vfmaq_laneq_f32::<1>($acc[1][j], $b[j], $a0);
            $acc[2][j] = vfmaq_laneq_f32::<2>($acc[2][j], $b[j], $a0);
            $acc[3][j] = vfmaq_laneq_f32::<3>($acc[3][j], $b[j], $a0);
            $acc[4][j] = vfmaq_laneq_f32::<0>($acc[4][j], $b[j], $a1);
            $acc[5][j] = vfmaq_laneq_f32::<1>($acc[5][j], $b[j], $a1);
            $acc[6][j] = vfmaq_laneq_f32::<2>($acc[6][j], $b[j], $a1);
            $acc[7][j] = vfmaq_laneq_f32::<3>($acc[7][j], $b[j], $a1);
        }
    }};
}

/// `C[0..8, 0..12] ← out(Σ_p A(i, p)·B(p, j))`; see [`super::F32GemmUkernel`].
///
/// # Safety
/// As [`super::F32GemmUkernel`] with `MR = 8`, `NR = 12`; the CPU has NEON.
#[allow(clippy::too_many_arguments, non_snake_case)]
#[target_feature(enable = "neon")]
pub(crate) unsafe fn f32_gemm_8x12__neon(
    kc: usize,
    a: *const f32,
    rs_a: usize,
    cs_a: usize,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    out: &TileOut,
) {
    let mut acc = [[vdupq_n_f32(0.0); 3]; MR];
    // SAFETY: A(i, p) and the B panel are readable for p < kc per the contract.
    unsafe {
        if rs_a == 1 && cs_a == MR {
            for p in 0..kc {
                let (ap, bp) = (a.add(p * MR), b.add(p * NR));
                let bv = [vld1q_f32(bp), vld1q_f32(bp.add(4)), vld1q_f32(bp.add(8))];
                fma_rows!(acc, vld1q_f32(ap), vld1q_f32(ap.add(4)), bv);
            }
        } else {
            for p in 0..kc {
                let (ap, bp) = (a.add(p * cs_a), b.add(p * NR));
                let mut t = [0.0f32; MR];
                for (i, v) in t.iter_mut().enumerate() {
                    *v = *ap.add(i * rs_a);
                }
                let bv = [vld1q_f32(bp), vld1q_f32(bp.add(4)), vld1q_f32(bp.add(8))];
                fma_rows!(acc, vld1q_f32(t.as_ptr()), vld1q_f32(t.as_ptr().add(4)), bv);
            }
        }
    }
    let alpha = vdupq_n_f32(out.alpha);
    let beta = vdupq_n_f32(out.beta);
    let zero = vdupq_n_f32(0.0);
    for (i, row) in acc.iter().enumerate() {
        for (h, &s) in row.iter().enumerate() {
            let at = i * ldc + 4 * h;
            // SAFETY: `at..at + 4` is inside the tile of C (and of the residual); bias holds NR floats.
            unsafe {
                let cp = c.add(at);
                let mut v = vmulq_f32(s, alpha);
                if out.beta != 0.0 {
                    v = vfmaq_f32(v, vld1q_f32(cp), beta);
                }
                if !out.bias.is_null() {
                    v = vaddq_f32(v, vld1q_f32(out.bias.add(4 * h)));
                }
                if out.relu {
                    v = vmaxq_f32(v, zero);
                }
                if !out.residual.is_null() {
                    v = vaddq_f32(v, vld1q_f32(out.residual.add(at)));
                }
                vst1q_f32(cp, v);
            }
        }
    }
}
