//! AVX-512 row kernels: the AVX2 table, except the entries whose bits are the instruction's own.
//!
//! XNNPACK's AVX-512 RSQRT / SQRT start from `vrsqrt14ps`, whose estimate differs from the AVX
//! `vrsqrtps`, so this table needs its own `rsqrt_estimate`; everything else stays AVX2.

#![allow(non_snake_case)] // kernel names are `family_tile__isa`

use core::arch::x86_64::*;

use super::RowKernels;

pub(super) const TABLE: RowKernels = RowKernels {
    rsqrt_estimate: f32_rsqrt_estimate_x16__avx512f,
    ..super::avx2::TABLE
};

/// `vrsqrt14ps` on every element; the tail goes through a 16-element buffer padded with 1.0, so it
/// takes the same instruction.
#[target_feature(enable = "avx2,fma,avx512f")]
fn rsqrt_estimate_impl(x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "rsqrt_estimate: x and out lengths");
    let mut xs = x.chunks_exact(16);
    let mut os = out.chunks_exact_mut(16);
    for (cx, co) in (&mut xs).zip(&mut os) {
        // SAFETY: `cx` and `co` hold exactly 16 f32 each.
        unsafe {
            _mm512_storeu_ps(
                co.as_mut_ptr(),
                _mm512_rsqrt14_ps(_mm512_loadu_ps(cx.as_ptr())),
            )
        };
    }
    let (rx, ro) = (xs.remainder(), os.into_remainder());
    if !rx.is_empty() {
        let mut buf = [1.0f32; 16];
        buf[..rx.len()].copy_from_slice(rx);
        // SAFETY: `buf` holds exactly 16 f32.
        unsafe {
            _mm512_storeu_ps(
                buf.as_mut_ptr(),
                _mm512_rsqrt14_ps(_mm512_loadu_ps(buf.as_ptr())),
            )
        };
        ro.copy_from_slice(&buf[..rx.len()]);
    }
}

fn f32_rsqrt_estimate_x16__avx512f(x: &[f32], out: &mut [f32]) {
    // SAFETY: this table is only built when the CPU has AVX-512 F (`Isa::Avx512Vnni`, checked by
    // `KernelSet::for_isa`).
    unsafe { rsqrt_estimate_impl(x, out) }
}
