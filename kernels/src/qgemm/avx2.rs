//! AVX2 int8 GEMM without VNNI: activations and weights widened to i16, `vpmaddwd` + `vpaddd`.
//!
//! Why not `vpmaddubsw`: its u8×s8 pairs saturate at 16 bits (2·255·127 > 32767). Widening to i16 at
//! pack time makes each `vpmaddwd` lane `x₀w₀ + x₁w₁` with |x| ≤ 128 and |w| ≤ 127, at most
//! 2·128·127 = 32512 in magnitude and computed in 32 bits anyway: it cannot saturate, and the i32 sums
//! wrap exactly like the scalar reference. `vpmaddubsw(|x|, sign(w, x))` (pairs ≤ 2·128·127, also
//! safe) needs sign + maddubs + maddwd + add per 32 MACs: the same two multiplies and four vector ops
//! as two maddwd + two add, so it cannot be faster, and measured slower (122 against 127 GOP/s, same
//! loop, same noisy run).
//!
//! Measured on Zen 4 (EPYC family 25 model 17), 1 thread, kernel alone on L1/L2-resident panels:
//! 182–187 GOP/s for this 6×16 tile, and the same for a hand-scheduled 4×24 (`asm!`, 4 broadcasts
//! per 12 multiplies instead of 6), for pre-broadcast A (plain loads instead of `vpbroadcastd`) and
//! for `vbroadcasti128`; 5×16, 4×16, 7×16 and compiler-allocated 4×24/3×32/2×48 were slower. So the
//! ceiling is the op mix (2 multiplies + 2 adds per 32 MACs, about 82 % of the two-multiplies-a-cycle
//! bound that `vpmaddubsw`+`vpmaddwd`+`vpaddd` reaches), not loads or broadcasts; the GEMM around it
//! reaches about 92 % of the kernel alone.

use core::arch::x86_64::*;

use super::{store_tile, ActLayout, QgemmKernels, Tile};

const MR: usize = 6;
const NR: usize = 16;
const KR: usize = 2;

/// The AVX2 table entry.
pub(super) const KERNELS: QgemmKernels = QgemmKernels {
    name: "qs8_gemm_6x16c2__avx2",
    tile: (MR, NR, KR),
    act: ActLayout::I16,
    w_bytes: 2,
    ukernel: qs8_gemm_6x16c2__avx2,
};

/// `dst[i] = src[i]` as i16 for i < min(len), 16 at a time with `vpmovsxbw` (A packing).
///
/// # Safety
/// The CPU has AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn widen_i16(src: &[i8], dst: &mut [i16]) {
    let n = src.len().min(dst.len());
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 ≤ n, so 16 i8 are read from src and 16 i16 written to dst.
        unsafe {
            let v = _mm_loadu_si128(src.as_ptr().add(i) as *const __m128i);
            _mm256_storeu_si256(
                dst.as_mut_ptr().add(i) as *mut __m256i,
                _mm256_cvtepi8_epi16(v),
            );
        }
        i += 16;
    }
    for (d, &s) in dst[i..n].iter_mut().zip(&src[i..n]) {
        *d = s as i16;
    }
}

/// 6×16 tile, K in i16 pairs: two `vpmaddwd` per row and K pair.
///
/// # Safety
/// See [`super::Qs8Ukernel`]; the CPU has AVX2 and FMA.
#[allow(non_snake_case)]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn qs8_gemm_6x16c2__avx2(
    kp: usize,
    a: *const u8,
    lda: usize,
    w: *const u8,
    t: &Tile,
) {
    let full = t.rows == MR && t.cols == NR;
    // A full tile starts from the bias, which saves 12 adds in the epilogue; partial tiles add it in
    // `store_tile`.
    let init = if full {
        // SAFETY: a full tile has NR biases.
        unsafe { [0, 8].map(|c| _mm256_loadu_si256(t.bias.add(c) as *const __m256i)) }
    } else {
        [_mm256_setzero_si256(); 2]
    };
    let mut acc = [init; MR];
    // Fixed row pointers and one shared byte offset let every broadcast use base+index addressing;
    // per-row pointer arithmetic would add integer uops to a loop that is already close to Zen's
    // 6 macro-ops a cycle (32 vector ones per K pair). black_box keeps LLVM from rematerialising
    // them as `a + r·lda` inside the loop.
    let rows: [*const u8; MR] =
        core::hint::black_box(core::array::from_fn(|r| a.wrapping_add(r * lda)));
    let step = |acc: &mut [[__m256i; 2]; MR], wp: *const u8, off: usize| {
        // SAFETY: the panel holds kp/KR groups of NR×KR i16 (64 bytes) and wp points at one; row
        // r < MR has kp i16 (4·kp/KR bytes) at rows[r] and off < 4·kp/KR.
        unsafe {
            let w0 = _mm256_loadu_si256(wp as *const __m256i);
            let w1 = _mm256_loadu_si256(wp.add(32) as *const __m256i);
            for (acc, row) in acc.iter_mut().zip(rows) {
                let x = _mm256_set1_epi32((row.add(off) as *const i32).read_unaligned());
                acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(x, w0));
                acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(x, w1));
            }
        }
    };
    let groups = kp / KR;
    let mut wp = w;
    let mut off = 0;
    // Two K pairs per iteration halve the loop overhead.
    for _ in 0..groups / 2 {
        step(&mut acc, wp, off);
        step(&mut acc, wp.wrapping_add(64), off + 4);
        wp = wp.wrapping_add(128);
        off += 8;
    }
    if groups % 2 == 1 {
        step(&mut acc, wp, off);
    }
    if !full {
        let mut tmp = [0i32; MR * NR];
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: tmp holds MR rows of NR i32.
            unsafe {
                _mm256_storeu_si256(tmp.as_mut_ptr().add(r * NR) as *mut __m256i, acc[0]);
                _mm256_storeu_si256(tmp.as_mut_ptr().add(r * NR + 8) as *mut __m256i, acc[1]);
            }
        }
        // SAFETY: forwarded from the caller's contract.
        unsafe { store_tile(&tmp, NR, t) };
        return;
    }
    // SAFETY: a full tile: NR scales, MR rows of NR outputs at t.ldo.
    unsafe {
        match t.rq {
            None => {
                let out = t.out as *mut i32;
                for (r, acc) in acc.iter().enumerate() {
                    let o = out.add(r * t.ldo);
                    _mm256_storeu_si256(o as *mut __m256i, acc[0]);
                    _mm256_storeu_si256(o.add(8) as *mut __m256i, acc[1]);
                }
            }
            Some(rq) => {
                let s0 = _mm256_loadu_ps(rq.scale);
                let s1 = _mm256_loadu_ps(rq.scale.add(8));
                let hi = _mm256_set1_ps(rq.hi);
                let zp = _mm256_set1_epi16(rq.zp as i16);
                let qmin = _mm256_set1_epi8((rq.lo as i32 + rq.zp) as i8);
                // Only the upper bound is applied in float (it keeps cvtps2dq in range; below, an
                // overflow gives i32::MIN, which is negative too). Then, as XNNPACK does: cvtps2dq
                // rounds to nearest-even under the default MXCSR (Rust never changes it); the
                // value is ≤ hi = qmax − zp ≤ 255, so packs to i16 saturate only from below; the
                // saturating i16 add of zp stays ≤ qmax and only saturates from below; packs to
                // i8 likewise; the i8 max with qmin then applies the lower bound exactly (every
                // value that saturated was already below qmin).
                let q = |v0: __m256i, v1: __m256i| {
                    let f0 = _mm256_min_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(v0), s0), hi);
                    let f1 = _mm256_min_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(v1), s1), hi);
                    let p = _mm256_packs_epi32(_mm256_cvtps_epi32(f0), _mm256_cvtps_epi32(f1));
                    _mm256_adds_epi16(p, zp)
                };
                // Two rows share one i8 pack; packs interleave 128-bit lanes, and this puts the
                // 4-byte groups back in order: row r's 16 columns, then row r+1's.
                let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
                let out = t.out as *mut i8;
                for r in (0..MR).step_by(2) {
                    let p0 = q(acc[r][0], acc[r][1]);
                    let p1 = q(acc[r + 1][0], acc[r + 1][1]);
                    let p = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p0, p1), order);
                    let p = _mm256_max_epi8(p, qmin);
                    _mm_storeu_si128(
                        out.add(r * t.ldo) as *mut __m128i,
                        _mm256_castsi256_si128(p),
                    );
                    _mm_storeu_si128(
                        out.add((r + 1) * t.ldo) as *mut __m128i,
                        _mm256_extracti128_si256(p, 1),
                    );
                }
            }
        }
    }
}
