//! Portable int8 GEMM micro-kernel: the reference every SIMD kernel is tested against, and the fallback.

use super::{store_tile, ActLayout, QgemmKernels, Tile};

const MR: usize = 4;
const NR: usize = 4;
const KR: usize = 4;

/// The scalar table entry.
pub(super) const KERNELS: QgemmKernels = QgemmKernels {
    name: "qs8_gemm_4x4c4__scalar",
    tile: (MR, NR, KR),
    act: ActLayout::I8,
    w_bytes: 1,
    ukernel: qs8_gemm_4x4c4__scalar,
};

/// 4×4 tile, K in groups of 4: `acc[r][c] = Σ_k a[r][k]·w[c][k]` (wrapping), then [`store_tile`].
///
/// # Safety
/// See [`super::Qs8Ukernel`].
#[allow(non_snake_case)]
pub(super) unsafe fn qs8_gemm_4x4c4__scalar(
    kp: usize,
    a: *const u8,
    lda: usize,
    w: *const u8,
    t: &Tile,
) {
    let mut acc = [0i32; MR * NR];
    for g in 0..kp / KR {
        for r in 0..MR {
            for c in 0..NR {
                let mut s = 0i32;
                for u in 0..KR {
                    // SAFETY: r < MR rows of kp bytes at lda; the panel holds kp/KR groups of NR×KR.
                    let (x, wv) = unsafe {
                        (
                            *a.add(r * lda + g * KR + u) as i8,
                            *w.add((g * NR + c) * KR + u) as i8,
                        )
                    };
                    s = s.wrapping_add(x as i32 * wv as i32);
                }
                acc[r * NR + c] = acc[r * NR + c].wrapping_add(s);
            }
        }
    }
    // SAFETY: forwarded from the caller's contract.
    unsafe { store_tile(&acc, NR, t) }
}
