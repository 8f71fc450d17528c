//! Row kernels used by layers: exp, GELU, softmax, layer norm, sums, quantize / dequantize.
//!
//! SKELETON: filled by the rows work. The GEMM epilogue calls `gelu` / `gelu_tanh` through the table.

use crate::isa::Isa;

/// The row-kernel entries of a [`crate::KernelSet`].
#[derive(Clone, Copy, Debug)]
pub struct RowKernels {
    /// In place `x ← x·Φ(x)` (exact, erf form).
    pub gelu: fn(&mut [f32]),
    /// In place `x ← 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
    pub gelu_tanh: fn(&mut [f32]),
}

impl RowKernels {
    pub(crate) fn for_isa(_isa: Isa) -> RowKernels {
        RowKernels {
            gelu: gelu_scalar,
            gelu_tanh: gelu_tanh_scalar,
        }
    }
}

fn erf_scalar(x: f32) -> f32 {
    // Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), evaluated in f64.
    let x = x as f64;
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let y = 1.0 - poly * (-x * x).exp();
    (if x < 0.0 { -y } else { y }) as f32
}

fn gelu_scalar(x: &mut [f32]) {
    for v in x {
        *v = 0.5 * *v * (1.0 + erf_scalar(*v * std::f32::consts::FRAC_1_SQRT_2));
    }
}

fn gelu_tanh_scalar(x: &mut [f32]) {
    const C: f32 = 0.797_884_6; // sqrt(2/pi)
    for v in x {
        *v = 0.5 * *v * (1.0 + (C * (*v + 0.044_715 * *v * *v * *v)).tanh());
    }
}
