//! AVX2+FMA depthwise 3×3 kernels: 8 output columns per vector, stride 1 and 2 vectorized (other
//! horizontal strides and the columns near the right edge go through the scalar twin's per-output
//! code).

#![allow(non_snake_case)] // kernel names are `family_tile__isa`

use core::arch::x86_64::*;

use super::scalar::{dw3x3_grad_one, dw3x3_one};
use super::{ConvKernels, DwPlane};

pub(super) const TABLE: ConvKernels = ConvKernels {
    name: "f32_dwconv3x3_x8__avx2",
    dw3x3: f32_dwconv3x3_x8__avx2,
    dw3x3_grad_w: f32_dwconv3x3_grad_w_x8__avx2,
};

/// Elements past the first tap that the vector loads of one 8-column chunk read, per stride.
fn reach(sw: usize) -> usize {
    if sw == 1 {
        10
    } else {
        18
    }
}

/// Even lanes of the 16 floats `a ++ b`.
#[target_feature(enable = "avx2,fma")]
fn evens(a: __m256, b: __m256) -> __m256 {
    let t = _mm256_shuffle_ps::<0b10_00_10_00>(a, b);
    _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(t)))
}

/// Odd lanes of the 16 floats `a ++ b`.
#[target_feature(enable = "avx2,fma")]
fn odds(a: __m256, b: __m256) -> __m256 {
    let t = _mm256_shuffle_ps::<0b11_01_11_01>(a, b);
    _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(t)))
}

/// The three horizontal taps `x[at + j·sw + kx]`, j < 8, kx < 3, for sw ∈ {1, 2}.
#[target_feature(enable = "avx2,fma")]
fn taps(x: &[f32], at: usize, sw: usize) -> [__m256; 3] {
    assert!(at + reach(sw) <= x.len());
    let p = x.as_ptr();
    // SAFETY: every load below reads within x[at..at + reach(sw)], checked above.
    unsafe {
        if sw == 1 {
            [
                _mm256_loadu_ps(p.add(at)),
                _mm256_loadu_ps(p.add(at + 1)),
                _mm256_loadu_ps(p.add(at + 2)),
            ]
        } else {
            let (a, b) = (_mm256_loadu_ps(p.add(at)), _mm256_loadu_ps(p.add(at + 8)));
            let (c, d) = (
                _mm256_loadu_ps(p.add(at + 2)),
                _mm256_loadu_ps(p.add(at + 10)),
            );
            [evens(a, b), odds(a, b), evens(c, d)]
        }
    }
}

/// Columns `[0, end)` of output row `oy` that the vector loop may take (all loads in bounds).
fn vector_end(p: &DwPlane, x_len: usize, oy: usize) -> usize {
    if p.sw > 2 {
        return 0;
    }
    let last_row = (oy * p.sh + 2) * p.ldx;
    let mut end = 0;
    while end + 8 <= p.ow && last_row + end * p.sw + reach(p.sw) <= x_len {
        end += 8;
    }
    end
}

#[target_feature(enable = "avx2,fma")]
fn dw3x3_impl(p: &DwPlane, x: &[f32], w: &[f32; 9], bias: f32, y: &mut [f32]) {
    p.assert_fits(x.len(), y.len());
    let wv = w.map(|v| _mm256_set1_ps(v));
    for oy in 0..p.oh {
        let row = oy * p.sh * p.ldx;
        let end = vector_end(p, x.len(), oy);
        let yrow = &mut y[oy * p.ow..(oy + 1) * p.ow];
        for ox in (0..end).step_by(8) {
            // One accumulator per filter row keeps the FMA chains short.
            let mut acc = [
                _mm256_set1_ps(bias),
                _mm256_setzero_ps(),
                _mm256_setzero_ps(),
            ];
            for (ky, a) in acc.iter_mut().enumerate() {
                let t = taps(x, row + ky * p.ldx + ox * p.sw, p.sw);
                for kx in 0..3 {
                    *a = _mm256_fmadd_ps(wv[3 * ky + kx], t[kx], *a);
                }
            }
            let out = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), acc[2]);
            let dst = &mut yrow[ox..ox + 8];
            // SAFETY: `dst` holds exactly 8 f32.
            unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), out) };
        }
        for (ox, out) in yrow.iter_mut().enumerate().skip(end) {
            *out = dw3x3_one(p, x, w, bias, oy, ox);
        }
    }
}

#[target_feature(enable = "avx2,fma")]
fn hsum8(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

#[target_feature(enable = "avx2,fma")]
fn dw3x3_grad_w_impl(p: &DwPlane, x: &[f32], dy: &[f32]) -> [f32; 9] {
    p.assert_fits(x.len(), dy.len());
    let mut acc = [_mm256_setzero_ps(); 9];
    let mut edge = [0.0f32; 9];
    for oy in 0..p.oh {
        let row = oy * p.sh * p.ldx;
        let end = vector_end(p, x.len(), oy);
        let drow = &dy[oy * p.ow..(oy + 1) * p.ow];
        for ox in (0..end).step_by(8) {
            let src = &drow[ox..ox + 8];
            // SAFETY: `src` holds exactly 8 f32.
            let d = unsafe { _mm256_loadu_ps(src.as_ptr()) };
            for ky in 0..3 {
                let t = taps(x, row + ky * p.ldx + ox * p.sw, p.sw);
                for kx in 0..3 {
                    acc[3 * ky + kx] = _mm256_fmadd_ps(d, t[kx], acc[3 * ky + kx]);
                }
            }
        }
        for (ox, &d) in drow.iter().enumerate().skip(end) {
            dw3x3_grad_one(p, x, d, oy, ox, &mut edge);
        }
    }
    let mut out = [0.0f32; 9];
    for k in 0..9 {
        out[k] = hsum8(acc[k]) + edge[k];
    }
    out
}

fn f32_dwconv3x3_x8__avx2(p: &DwPlane, x: &[f32], w: &[f32; 9], bias: f32, y: &mut [f32]) {
    // SAFETY: this table is only built when the CPU has AVX2 and FMA (checked by
    // `KernelSet::for_isa`).
    unsafe { dw3x3_impl(p, x, w, bias, y) }
}

fn f32_dwconv3x3_grad_w_x8__avx2(p: &DwPlane, x: &[f32], dy: &[f32]) -> [f32; 9] {
    // SAFETY: as above.
    unsafe { dw3x3_grad_w_impl(p, x, dy) }
}
