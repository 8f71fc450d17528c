//! Portable f32 GEMM micro-kernel: the reference for the SIMD kernels and the fallback on any CPU.

use super::epilogue::{store_tile, TileOut};

/// Rows of the register tile.
pub(crate) const MR: usize = 4;
/// Columns of the register tile.
pub(crate) const NR: usize = 8;

/// `C[0..4, 0..8] ← out(Σ_p A(i, p)·B(p, j))`; see [`super::F32GemmUkernel`].
///
/// # Safety
/// As [`super::F32GemmUkernel`] with `MR = 4`, `NR = 8`.
#[allow(clippy::too_many_arguments, non_snake_case)]
pub(crate) unsafe fn f32_gemm_4x8__scalar(
    kc: usize,
    a: *const f32,
    rs_a: usize,
    cs_a: usize,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    out: &TileOut,
) {
    let mut acc = [[0.0f32; NR]; MR];
    for p in 0..kc {
        // SAFETY: B(p, 0..NR) is inside the packed panel.
        let bp: [f32; NR] = unsafe { std::ptr::read_unaligned(b.add(p * NR).cast()) };
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: A(i, p) with i < MR, p < kc is readable.
            let av = unsafe { *a.add(i * rs_a + p * cs_a) };
            for (r, bv) in row.iter_mut().zip(bp) {
                *r += av * bv;
            }
        }
    }
    // SAFETY: the tile of C and the epilogue pointers are valid per the contract.
    unsafe { store_tile(acc.as_ptr().cast(), NR, c, ldc, MR, NR, out) };
}
