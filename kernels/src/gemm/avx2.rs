//! AVX2 + FMA f32 GEMM micro-kernel: a 6×16 register tile (12 of the 16 ymm registers accumulate).

use core::arch::x86_64::*;

use super::epilogue::TileOut;

/// Rows of the register tile.
pub(crate) const MR: usize = 6;
/// Columns of the register tile.
pub(crate) const NR: usize = 16;

/// Prefetch distance along a row of A read in place, in elements (two cache lines).
const PF_A: usize = 32;

/// One K step: two B vectors, six broadcasts of A, twelve FMAs.
macro_rules! step {
    ($acc:ident, $ap:expr, $rs:expr, $bp:expr) => {{
        let b0 = _mm256_loadu_ps($bp);
        let b1 = _mm256_loadu_ps($bp.add(8));
        for i in 0..MR {
            let av = _mm256_broadcast_ss(&*$ap.add(i * $rs));
            $acc[i][0] = _mm256_fmadd_ps(av, b0, $acc[i][0]);
            $acc[i][1] = _mm256_fmadd_ps(av, b1, $acc[i][1]);
        }
    }};
}

/// The K loop, unrolled by four; `$rs`/`$cs` are constants for packed A, so addressing folds. With
/// `$pf`, each row of A is prefetched `PF_A` elements ahead: read in place, A is six streams that
/// the hardware prefetcher picks up too late for a short K.
macro_rules! k_loop {
    ($acc:ident, $kc:expr, $a:expr, $rs:expr, $cs:expr, $b:expr, $pf:expr) => {{
        let (mut ap, mut bp) = ($a, $b);
        let mut left = $kc;
        while left >= 4 {
            if $pf {
                for i in 0..MR {
                    _mm_prefetch::<_MM_HINT_T0>(ap.wrapping_add(i * $rs + PF_A * $cs).cast());
                }
            }
            step!($acc, ap, $rs, bp);
            step!($acc, ap.add($cs), $rs, bp.add(NR));
            step!($acc, ap.add(2 * $cs), $rs, bp.add(2 * NR));
            step!($acc, ap.add(3 * $cs), $rs, bp.add(3 * NR));
            ap = ap.add(4 * $cs);
            bp = bp.add(4 * NR);
            left -= 4;
        }
        while left > 0 {
            step!($acc, ap, $rs, bp);
            ap = ap.add($cs);
            bp = bp.add(NR);
            left -= 1;
        }
    }};
}

/// `C[0..6, 0..16] ← out(Σ_p A(i, p)·B(p, j))`; see [`super::F32GemmUkernel`].
///
/// # Safety
/// As [`super::F32GemmUkernel`] with `MR = 6`, `NR = 16`; the CPU has AVX2 and FMA.
#[allow(clippy::too_many_arguments, non_snake_case)]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn f32_gemm_6x16__avx2(
    kc: usize,
    a: *const f32,
    rs_a: usize,
    cs_a: usize,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    out: &TileOut,
) {
    for i in 0..MR {
        // SAFETY: prefetches never fault; the tile rows are about to be written.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(c.add(i * ldc).cast());
            _mm_prefetch::<_MM_HINT_T0>(c.add(i * ldc + NR - 1).cast());
        }
    }
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    // SAFETY: A(i, p) and the B panel are readable for p < kc per the contract.
    unsafe {
        if rs_a == 1 && cs_a == MR {
            k_loop!(acc, kc, a, 1, MR, b, false);
        } else {
            k_loop!(acc, kc, a, rs_a, cs_a, b, cs_a == 1);
        }
    }
    // SAFETY: the tile of C and the epilogue pointers are valid per the contract.
    unsafe { store(&acc, c, ldc, out) };
}

/// Writes the accumulators to C per `out`.
///
/// # Safety
/// As [`f32_gemm_6x16__avx2`] for `c`, `ldc` and `out`.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn store(acc: &[[__m256; 2]; MR], c: *mut f32, ldc: usize, out: &TileOut) {
    let alpha = _mm256_set1_ps(out.alpha);
    let beta = _mm256_set1_ps(out.beta);
    let zero = _mm256_setzero_ps();
    // SAFETY: bias holds NR floats when non-null.
    let bias = unsafe {
        if out.bias.is_null() {
            None
        } else {
            Some([_mm256_loadu_ps(out.bias), _mm256_loadu_ps(out.bias.add(8))])
        }
    };
    for (i, row) in acc.iter().enumerate() {
        for (h, &s) in row.iter().enumerate() {
            let at = i * ldc + 8 * h;
            // SAFETY: `at..at + 8` is inside the tile of C (and of the residual).
            unsafe {
                let cp = c.add(at);
                let mut v = _mm256_mul_ps(s, alpha);
                if out.beta != 0.0 {
                    v = _mm256_fmadd_ps(_mm256_loadu_ps(cp), beta, v);
                }
                if let Some(bias) = bias {
                    v = _mm256_add_ps(v, bias[h]);
                }
                if out.relu {
                    v = _mm256_max_ps(v, zero);
                }
                if !out.residual.is_null() {
                    v = _mm256_add_ps(v, _mm256_loadu_ps(out.residual.add(at)));
                }
                _mm256_storeu_ps(cp, v);
            }
        }
    }
}
