//! Float32 ops of the runtime, computed as XNNPACK computes them (the float islands of an int8 graph).
//!
//! Each op repeats the f32 operations of the XNNPACK micro-kernel that LiteRT 2.3's delegate picks, in the
//! same order, with `f32::mul_add` where the kernel uses FMA, so that the following QUANTIZE rounds the
//! same values. Where XNNPACK's result depends on the CPU (summation order, hardware estimates), the op
//! takes an [`Isa`]. Measured agreement with LiteRT: `quant/tests/float_golden.rs`.

mod binary;
mod gelu;
mod reduce;
mod shape;
mod softmax;
mod sqrt;
mod unary;

pub use binary::{binary, BinaryOp};
pub use gelu::gelu;
pub use reduce::mean;
pub use shape::broadcast_shape;
pub use softmax::softmax;
pub use sqrt::{rsqrt, rsqrt_with, sqrt, sqrt_with};
pub use unary::hard_swish;

/// The x86 kernel family whose arithmetic an op reproduces: XNNPACK picks kernels per CPU, and sums
/// (MEAN, SOFTMAX) group their terms by vector width and accumulator count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F kernels (e.g. Zen 4): 16 lanes.
    Avx512f,
    /// AVX / AVX2+FMA kernels (e.g. Zen 3): 8 lanes.
    Avx2,
}

/// What LiteRT's XNNPACK path does with subnormals (measured: `1e-20 * 1e-20` and `3e-39 * 1` give 0):
/// the CPU runs with flush-to-zero and denormals-are-zero, so every subnormal input or result is a
/// signed zero. The ops apply this to their inputs and to each result that can be subnormal.
#[inline]
pub(crate) fn ftz(x: f32) -> f32 {
    if x.is_subnormal() {
        0.0f32.copysign(x)
    } else {
        x
    }
}
