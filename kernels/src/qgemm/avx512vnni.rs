//! AVX-512 VNNI int8 GEMM: `vpdpbusd` on zmm, activations shifted to u8 (x + 128).
//!
//! `vpdpbusd` multiplies unsigned by signed bytes, so the A buffer holds `x ^ 0x80 = x + 128` and the
//! driver subtracts `128·Σw[c]` through the effective bias (see the module doc of `qgemm`). Each lane
//! sums four u8×s8 products exactly in 32 bits and adds without saturation, so the result wraps exactly
//! like the scalar reference.

use core::arch::x86_64::*;

use super::{store_tile, ActLayout, QgemmKernels, Tile};

const MR: usize = 8;
const NR: usize = 32;
const KR: usize = 4;
const NV: usize = NR / 16;

/// The AVX-512 VNNI table entry.
pub(super) const KERNELS: QgemmKernels = QgemmKernels {
    name: "qs8_gemm_8x32c4__avx512vnni",
    tile: (MR, NR, KR),
    act: ActLayout::U8Shifted,
    w_bytes: 1,
    ukernel: qs8_gemm_8x32c4__avx512vnni,
};

/// 8×32 tile, K in groups of 4: two `vpdpbusd` per row and K group.
///
/// # Safety
/// See [`super::Qs8Ukernel`]; the CPU has AVX-512 F/BW/VL/VNNI.
#[allow(non_snake_case)]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn qs8_gemm_8x32c4__avx512vnni(
    kp: usize,
    a: *const u8,
    lda: usize,
    w: *const u8,
    t: &Tile,
) {
    let mut acc = [[_mm512_setzero_si512(); NV]; MR];
    let mut wp = w;
    for g in 0..kp / KR {
        // SAFETY: the panel holds kp/KR groups of NR×KR bytes; row r < MR has kp bytes at lda.
        unsafe {
            let wv: [__m512i; NV] =
                core::array::from_fn(|v| _mm512_loadu_si512(wp.add(64 * v) as *const __m512i));
            wp = wp.add(NR * KR);
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = _mm512_set1_epi32((a.add(r * lda + g * KR) as *const i32).read_unaligned());
                for v in 0..NV {
                    acc[v] = _mm512_dpbusd_epi32(acc[v], x, wv[v]);
                }
            }
        }
    }
    if t.rows < MR || t.cols < NR {
        let mut tmp = [0i32; MR * NR];
        for (r, acc) in acc.iter().enumerate() {
            for (v, acc) in acc.iter().enumerate() {
                // SAFETY: tmp holds MR rows of NR i32.
                unsafe {
                    _mm512_storeu_si512(tmp.as_mut_ptr().add(r * NR + 16 * v) as *mut __m512i, *acc)
                };
            }
        }
        // SAFETY: forwarded from the caller's contract.
        unsafe { store_tile(&tmp, NR, t) };
        return;
    }
    // SAFETY: a full tile: NR biases and scales, MR rows of NR outputs at t.ldo.
    unsafe {
        let b: [__m512i; NV] =
            core::array::from_fn(|v| _mm512_loadu_si512(t.bias.add(16 * v) as *const __m512i));
        match t.rq {
            None => {
                let out = t.out as *mut i32;
                for (r, acc) in acc.iter().enumerate() {
                    for v in 0..NV {
                        let o = out.add(r * t.ldo + 16 * v) as *mut __m512i;
                        _mm512_storeu_si512(o, _mm512_add_epi32(acc[v], b[v]));
                    }
                }
            }
            Some(rq) => {
                let s: [__m512; NV] =
                    core::array::from_fn(|v| _mm512_loadu_ps(rq.scale.add(16 * v)));
                let (lo, hi) = (_mm512_set1_ps(rq.lo), _mm512_set1_ps(rq.hi));
                let zp = _mm512_set1_epi32(rq.zp);
                let out = t.out as *mut i8;
                for (r, acc) in acc.iter().enumerate() {
                    for v in 0..NV {
                        let f =
                            _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(acc[v], b[v])), s[v]);
                        let f = _mm512_min_ps(_mm512_max_ps(f, lo), hi);
                        // Rounds to nearest-even under the default MXCSR, which Rust never changes.
                        let y = _mm512_add_epi32(_mm512_cvtps_epi32(f), zp);
                        let o = out.add(r * t.ldo + 16 * v) as *mut __m128i;
                        _mm_storeu_si128(o, _mm512_cvtepi32_epi8(y));
                    }
                }
            }
        }
    }
}
