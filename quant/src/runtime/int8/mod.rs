//! int8 ops of the runtime with XNNPACK's requantization, bit for bit.
//!
//! Each op is a pure function (or a struct holding packed constants) over slices, with shapes passed
//! explicitly and [`crate::QParams`] per tensor; it checks lengths and quantization parameters and
//! returns [`crate::Result`]. The arithmetic copies what LiteRT's XNNPACK delegate runs, and
//! `quant/tests/int8_golden.rs` replays fixtures recorded from LiteRT 2.3.0 to prove it:
//!
//! - FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D, BATCH_MATMUL, MUL, MEAN, QUANTIZE: int32 accumulator,
//!   then fp32 requantization `clamp(rint_even(f32(acc)·scale)) + zp` ([`requant`]);
//! - ADD / SUB: 20-bit fixed-point multipliers and an arithmetic shift ([`binary`]);
//! - LOGISTIC: a 256-entry table computed in float ([`logistic`]).
//!
//! RESHAPE, TRANSPOSE, CONCATENATION and SLICE share their qparams and move bytes only, so the
//! executor does them without help from here.

pub mod binary;
pub mod conv;
pub mod convert;
pub mod linear;
pub mod logistic;
pub mod matmul;
pub mod mean;
pub mod requant;

pub use binary::{add, broadcast_shape, mul, sub, Operand};
pub use conv::{Int8Conv2d, Int8DepthwiseConv2d, Padding, Window};
pub use convert::{dequantize, quantize};
pub use linear::Int8Linear;
pub use logistic::LogisticTable;
pub use matmul::{batch_matmul, BatchMatmulShape};
pub use mean::mean;
pub use requant::{check_add_scales, check_conv_scales, check_mul_scales, check_qparams, Clamp};

/// A [`crate::Error::Graph`] for an op whose operands do not fit (wrong length, bad shape).
fn shape_err(op: &str, what: impl Into<String>) -> crate::Error {
    crate::Error::Graph {
        node: op.to_string(),
        what: what.into(),
    }
}

/// Errors unless `len` is exactly `want` (the element count the shape implies).
fn check_len(op: &str, what: &str, want: usize, len: usize) -> crate::Result<()> {
    if want != len {
        return Err(shape_err(
            op,
            format!("{what} has {len} elements, the shape needs {want}"),
        ));
    }
    Ok(())
}

/// The product of `dims`, or an error when it overflows usize.
fn numel(op: &str, dims: &[usize]) -> crate::Result<usize> {
    dims.iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| shape_err(op, format!("shape {dims:?} overflows")))
}

#[cfg(test)]
mod tests;
