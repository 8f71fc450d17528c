//! NEON depthwise 3×3 kernels: 4 output columns per vector, stride 1 and 2 vectorized (stride 2 via
//! the de-interleaving `ld2`); other horizontal strides and the columns near the right edge go
//! through the scalar twin's per-output code.

#![allow(non_snake_case)] // kernel names are `family_tile__isa`

use core::arch::aarch64::*;

use super::scalar::{dw3x3_grad_one, dw3x3_one};
use super::{ConvKernels, DwPlane};

pub(super) const TABLE: ConvKernels = ConvKernels {
    name: "f32_dwconv3x3_x4__neon",
    dw3x3: f32_dwconv3x3_x4__neon,
    dw3x3_grad_w: f32_dwconv3x3_grad_w_x4__neon,
};

/// Elements past the first tap that the vector loads of one 4-column chunk read, per stride.
fn reach(sw: usize) -> usize {
    if sw == 1 {
        6
    } else {
        10
    }
}

/// The three horizontal taps `x[at + j·sw + kx]`, j < 4, kx < 3, for sw ∈ {1, 2}.
#[target_feature(enable = "neon")]
fn taps(x: &[f32], at: usize, sw: usize) -> [float32x4_t; 3] {
    assert!(at + reach(sw) <= x.len());
    let p = x.as_ptr();
    // SAFETY: every load below reads within x[at..at + reach(sw)], checked above.
    unsafe {
        if sw == 1 {
            [
                vld1q_f32(p.add(at)),
                vld1q_f32(p.add(at + 1)),
                vld1q_f32(p.add(at + 2)),
            ]
        } else {
            let ab = vld2q_f32(p.add(at));
            [ab.0, ab.1, vld2q_f32(p.add(at + 2)).0]
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
    while end + 4 <= p.ow && last_row + end * p.sw + reach(p.sw) <= x_len {
        end += 4;
    }
    end
}

#[target_feature(enable = "neon")]
fn dw3x3_impl(p: &DwPlane, x: &[f32], w: &[f32; 9], bias: f32, y: &mut [f32]) {
    p.assert_fits(x.len(), y.len());
    let wv = w.map(|v| vdupq_n_f32(v));
    for oy in 0..p.oh {
        let row = oy * p.sh * p.ldx;
        let end = vector_end(p, x.len(), oy);
        let yrow = &mut y[oy * p.ow..(oy + 1) * p.ow];
        for ox in (0..end).step_by(4) {
            // One accumulator per filter row keeps the FMA chains short.
            let mut acc = [vdupq_n_f32(bias), vdupq_n_f32(0.0), vdupq_n_f32(0.0)];
            for (ky, a) in acc.iter_mut().enumerate() {
                let t = taps(x, row + ky * p.ldx + ox * p.sw, p.sw);
                for kx in 0..3 {
                    *a = vfmaq_f32(*a, wv[3 * ky + kx], t[kx]);
                }
            }
            let out = vaddq_f32(vaddq_f32(acc[0], acc[1]), acc[2]);
            let dst = &mut yrow[ox..ox + 4];
            // SAFETY: `dst` holds exactly 4 f32.
            unsafe { vst1q_f32(dst.as_mut_ptr(), out) };
        }
        for (ox, out) in yrow.iter_mut().enumerate().skip(end) {
            *out = dw3x3_one(p, x, w, bias, oy, ox);
        }
    }
}

#[target_feature(enable = "neon")]
fn dw3x3_grad_w_impl(p: &DwPlane, x: &[f32], dy: &[f32]) -> [f32; 9] {
    p.assert_fits(x.len(), dy.len());
    let mut acc = [vdupq_n_f32(0.0); 9];
    let mut edge = [0.0f32; 9];
    for oy in 0..p.oh {
        let row = oy * p.sh * p.ldx;
        let end = vector_end(p, x.len(), oy);
        let drow = &dy[oy * p.ow..(oy + 1) * p.ow];
        for ox in (0..end).step_by(4) {
            let src = &drow[ox..ox + 4];
            // SAFETY: `src` holds exactly 4 f32.
            let d = unsafe { vld1q_f32(src.as_ptr()) };
            for ky in 0..3 {
                let t = taps(x, row + ky * p.ldx + ox * p.sw, p.sw);
                for kx in 0..3 {
                    acc[3 * ky + kx] = vfmaq_f32(acc[3 * ky + kx], d, t[kx]);
                }
            }
        }
        for (ox, &d) in drow.iter().enumerate().skip(end) {
            dw3x3_grad_one(p, x, d, oy, ox, &mut edge);
        }
    }
    let mut out = [0.0f32; 9];
    for k in 0..9 {
        out[k] = vaddvq_f32(acc[k]) + edge[k];
    }
    out
}

fn f32_dwconv3x3_x4__neon(p: &DwPlane, x: &[f32], w: &[f32; 9], bias: f32, y: &mut [f32]) {
    // SAFETY: this table is only built when the CPU has NEON (checked by `KernelSet::for_isa`).
    unsafe { dw3x3_impl(p, x, w, bias, y) }
}

fn f32_dwconv3x3_grad_w_x4__neon(p: &DwPlane, x: &[f32], dy: &[f32]) -> [f32; 9] {
    // SAFETY: as above.
    unsafe { dw3x3_grad_w_impl(p, x, dy) }
}
