//! AVX2 int8 GEMM without VNNI: activations and weights widened to i16, `vpmaddwd` + `vpaddd`.
//!
//! Why not `vpmaddubsw`: its u8×s8 pairs saturate at 16 bits (2·255·127 > 32767). Widening to i16 at
//! pack time makes each `vpmaddwd` lane `x₀w₀ + x₁w₁` with |x| ≤ 128 and |w| ≤ 127, at most
//! 2·128·127 = 32512 in magnitude and computed in 32 bits anyway: it cannot saturate, and the i32 sums
//! wrap exactly like the scalar reference. It is also faster: `vpmaddubsw(|x|, sign(w, x))` (pairs
//! ≤ 2·128·127, also safe) needs sign + maddubs + maddwd + add per 32 MACs against maddwd + add per
//! 16; its prototype measured 121 GOP/s against 166 for this kernel (Zen 4, 1 thread, M=3200 K=768
//! N=192, int32 out; the prototype stored through the scalar epilogue, worth about 15 % there). A 4×24
//! tile (fewer broadcasts per MAC, same prototype store) measured 107, so 6×16 it is.

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
    let mut acc = [[_mm256_setzero_si256(); 2]; MR];
    let mut wp = w;
    for g in 0..kp / KR {
        // SAFETY: the panel holds kp/KR groups of NR×KR i16 (64 bytes); row r < MR has kp i16 at lda.
        unsafe {
            let w0 = _mm256_loadu_si256(wp as *const __m256i);
            let w1 = _mm256_loadu_si256(wp.add(32) as *const __m256i);
            wp = wp.add(64);
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = _mm256_set1_epi32((a.add(r * lda + g * 4) as *const i32).read_unaligned());
                acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(x, w0));
                acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(x, w1));
            }
        }
    }
    if t.rows < MR || t.cols < NR {
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
    // SAFETY: a full tile: NR biases and scales, MR rows of NR outputs at t.ldo.
    unsafe {
        let b0 = _mm256_loadu_si256(t.bias as *const __m256i);
        let b1 = _mm256_loadu_si256(t.bias.add(8) as *const __m256i);
        match t.rq {
            None => {
                let out = t.out as *mut i32;
                for (r, acc) in acc.iter().enumerate() {
                    let o = out.add(r * t.ldo);
                    _mm256_storeu_si256(o as *mut __m256i, _mm256_add_epi32(acc[0], b0));
                    _mm256_storeu_si256(o.add(8) as *mut __m256i, _mm256_add_epi32(acc[1], b1));
                }
            }
            Some(rq) => {
                let s0 = _mm256_loadu_ps(rq.scale);
                let s1 = _mm256_loadu_ps(rq.scale.add(8));
                let (lo, hi) = (_mm256_set1_ps(rq.lo), _mm256_set1_ps(rq.hi));
                let zp = _mm256_set1_epi32(rq.zp);
                // cvtps2dq rounds to nearest-even under the default MXCSR, which Rust never changes.
                let q = |v: __m256i, s: __m256| {
                    let f = _mm256_mul_ps(_mm256_cvtepi32_ps(v), s);
                    let f = _mm256_min_ps(_mm256_max_ps(f, lo), hi);
                    _mm256_add_epi32(_mm256_cvtps_epi32(f), zp)
                };
                // packs interleave 128-bit lanes; this puts the 4-byte groups back in column order.
                let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
                let out = t.out as *mut i8;
                for (r, acc) in acc.iter().enumerate() {
                    let v0 = q(_mm256_add_epi32(acc[0], b0), s0);
                    let v1 = q(_mm256_add_epi32(acc[1], b1), s1);
                    let p = _mm256_packs_epi32(v0, v1);
                    let p = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p, p), order);
                    _mm_storeu_si128(
                        out.add(r * t.ldo) as *mut __m128i,
                        _mm256_castsi256_si128(p),
                    );
                }
            }
        }
    }
}
