//! Scalar depthwise 3×3 kernels: the reference for the SIMD twins and the fallback on any CPU.

#![allow(non_snake_case)] // kernel names are `family_tile__isa`

use super::{ConvKernels, DwPlane};

pub(super) const TABLE: ConvKernels = ConvKernels {
    name: "f32_dwconv3x3__scalar",
    dw3x3: f32_dwconv3x3__scalar,
    dw3x3_grad_w: f32_dwconv3x3_grad_w__scalar,
};

/// One output of the forward kernel; also the edge path of the SIMD kernels.
#[inline]
pub(super) fn dw3x3_one(
    p: &DwPlane,
    x: &[f32],
    w: &[f32; 9],
    bias: f32,
    oy: usize,
    ox: usize,
) -> f32 {
    let base = oy * p.sh * p.ldx + ox * p.sw;
    let mut acc = bias;
    for ky in 0..3 {
        let row = &x[base + ky * p.ldx..base + ky * p.ldx + 3];
        for kx in 0..3 {
            acc += w[3 * ky + kx] * row[kx];
        }
    }
    acc
}

/// Adds `d·x[tap]` for one output into the nine tap sums; the edge path of the SIMD kernels.
#[inline]
pub(super) fn dw3x3_grad_one(
    p: &DwPlane,
    x: &[f32],
    d: f32,
    oy: usize,
    ox: usize,
    acc: &mut [f32; 9],
) {
    let base = oy * p.sh * p.ldx + ox * p.sw;
    for ky in 0..3 {
        for kx in 0..3 {
            acc[3 * ky + kx] += d * x[base + ky * p.ldx + kx];
        }
    }
}

fn f32_dwconv3x3__scalar(p: &DwPlane, x: &[f32], w: &[f32; 9], bias: f32, y: &mut [f32]) {
    p.assert_fits(x.len(), y.len());
    for oy in 0..p.oh {
        for ox in 0..p.ow {
            y[oy * p.ow + ox] = dw3x3_one(p, x, w, bias, oy, ox);
        }
    }
}

fn f32_dwconv3x3_grad_w__scalar(p: &DwPlane, x: &[f32], dy: &[f32]) -> [f32; 9] {
    p.assert_fits(x.len(), dy.len());
    // Accumulate in f64: the reference should not lose digits over large planes.
    let mut acc = [0.0f64; 9];
    for oy in 0..p.oh {
        for ox in 0..p.ow {
            let d = f64::from(dy[oy * p.ow + ox]);
            let base = oy * p.sh * p.ldx + ox * p.sw;
            for ky in 0..3 {
                for kx in 0..3 {
                    acc[3 * ky + kx] += d * f64::from(x[base + ky * p.ldx + kx]);
                }
            }
        }
    }
    acc.map(|v| v as f32)
}
