//! Peak loops with AVX2 + FMA instructions.

use std::arch::x86_64::*;
use std::hint::black_box;

/// `iters` × 12 independent `vfmadd` (ymm) chains; returns their sum.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn f32_fma_ymm(iters: u64) -> f64 {
    // c ← c·a + b converges to b/(1−a), so the values stay finite however long the loop runs.
    // black_box hides the constants: LLVM otherwise spots a chain that starts at the fixed point
    // b/(1−a) and drops it from the loop, which would overstate the peak by 12/11.
    let a = black_box(_mm256_set1_ps(0.999_9));
    let b = black_box(_mm256_set1_ps(1e-4));
    let mut c: [__m256; 12] = black_box(core::array::from_fn(|j| _mm256_set1_ps(j as f32)));
    for _ in 0..iters {
        for cj in c.iter_mut() {
            *cj = _mm256_fmadd_ps(*cj, a, b);
        }
    }
    let mut out = [0f32; 8];
    let s = c
        .iter()
        .fold(_mm256_setzero_ps(), |s, &cj| _mm256_add_ps(s, cj));
    _mm256_storeu_ps(out.as_mut_ptr(), s);
    out.iter().map(|&v| v as f64).sum()
}

/// `iters` × 12 chains of `vpmaddubsw` (u8×i8 → i16 pairs) + `vpmaddwd` by ones + `vpaddd`: the int8
/// dot product of an AVX2 kernel without VNNI, 32 MAC per step.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn qu8s8_maddubs_ymm(iters: u64) -> f64 {
    let ones = _mm256_set1_epi16(1);
    let step = _mm256_set1_epi8(1);
    // black_box: no constant may let LLVM simplify a chain (see `f32_fma_ymm`).
    let w: [__m256i; 12] = black_box(core::array::from_fn(|j| _mm256_set1_epi8(-(j as i8) - 1)));
    let mut x = black_box(_mm256_set1_epi8(3));
    let mut c = black_box([_mm256_setzero_si256(); 12]);
    for _ in 0..iters {
        // Changing x each iteration keeps the compiler from hoisting the products out of the loop;
        // it costs one extra instruction per 36.
        x = _mm256_add_epi8(x, step);
        for (cj, &wj) in c.iter_mut().zip(&w) {
            let p = _mm256_maddubs_epi16(x, wj);
            *cj = _mm256_add_epi32(*cj, _mm256_madd_epi16(p, ones));
        }
    }
    let s = c
        .iter()
        .fold(_mm256_setzero_si256(), |s, &cj| _mm256_add_epi32(s, cj));
    let mut out = [0i32; 8];
    _mm256_storeu_si256(out.as_mut_ptr().cast(), s);
    out.iter().map(|&v| v as f64).sum()
}
