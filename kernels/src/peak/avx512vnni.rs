//! Peak loops with AVX-512 (F, VL, VNNI) instructions.

use std::arch::x86_64::*;
use std::hint::black_box;

/// `iters` × 12 independent `vfmadd` (zmm) chains; returns their sum.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn f32_fma_zmm(iters: u64) -> f64 {
    // c ← c·a + b converges to b/(1−a); black_box keeps LLVM from dropping a chain that starts at
    // that fixed point (see `avx2::f32_fma_ymm`).
    let a = black_box(_mm512_set1_ps(0.999_9));
    let b = black_box(_mm512_set1_ps(1e-4));
    let mut c: [__m512; 12] = black_box(core::array::from_fn(|j| _mm512_set1_ps(j as f32)));
    for _ in 0..iters {
        for cj in c.iter_mut() {
            *cj = _mm512_fmadd_ps(*cj, a, b);
        }
    }
    let s = c
        .iter()
        .fold(_mm512_setzero_ps(), |s, &cj| _mm512_add_ps(s, cj));
    _mm512_reduce_add_ps(s) as f64
}

/// `iters` × 12 independent `vpdpbusd` (ymm, u8×i8 → i32, 32 MAC) chains.
///
/// # Safety
/// The CPU must support AVX-512 VNNI and VL.
#[target_feature(enable = "avx512f,avx512vl,avx512vnni")]
pub(super) unsafe fn qu8s8_dpbusd_ymm(iters: u64) -> f64 {
    let x = black_box(_mm256_set1_epi8(3));
    let w = black_box(_mm256_set1_epi8(-2));
    let mut c = black_box([_mm256_setzero_si256(); 12]);
    for _ in 0..iters {
        for cj in c.iter_mut() {
            *cj = _mm256_dpbusd_epi32(*cj, x, w);
        }
    }
    let s = c
        .iter()
        .fold(_mm256_setzero_si256(), |s, &cj| _mm256_add_epi32(s, cj));
    let mut out = [0i32; 8];
    _mm256_storeu_si256(out.as_mut_ptr().cast(), s);
    out.iter().map(|&v| v as f64).sum()
}

/// `iters` × 12 independent `vpdpbusd` (zmm, 64 MAC) chains.
///
/// # Safety
/// The CPU must support AVX-512 VNNI.
#[target_feature(enable = "avx512f,avx512vnni")]
pub(super) unsafe fn qu8s8_dpbusd_zmm(iters: u64) -> f64 {
    let x = black_box(_mm512_set1_epi8(3));
    let w = black_box(_mm512_set1_epi8(-2));
    let mut c = black_box([_mm512_setzero_si512(); 12]);
    for _ in 0..iters {
        for cj in c.iter_mut() {
            *cj = _mm512_dpbusd_epi32(*cj, x, w);
        }
    }
    let s = c
        .iter()
        .fold(_mm512_setzero_si512(), |s, &cj| _mm512_add_epi32(s, cj));
    _mm512_reduce_add_epi32(s) as f64
}
