//! QUANTIZE (f32 → int8) and DEQUANTIZE (int8 → f32), XNNPACK's f32-qs8-vcvt and qs8-f32-vcvt.
//!
//! Both live in the kernels crate (`rows::quantize` / `rows::dequantize`, bit-exact on every ISA);
//! these wrappers add the quant crate's qparams checks and error type.

use super::requant::check_qparams;
use crate::{QParams, Result};

/// `y = clamp(rint_even(x·f32(1/s_y)), −128 − zp, 127 − zp) + zp`: XNNPACK multiplies by the f32
/// reciprocal of the scale (dividing instead differs on ~3 % of tie-adjacent inputs).
///
/// Errors when `out` and `x` differ in length or `y_q` is invalid.
pub fn quantize(x: &[f32], y_q: QParams, out: &mut [i8]) -> Result<()> {
    check_qparams("QUANTIZE", "output", y_q)?;
    let ks = inkling_kernels::init()?;
    inkling_kernels::rows::quantize(ks, x, y_q.scale, y_q.zero_point, out)?;
    Ok(())
}

/// `y = f32(x − zp)·s`, one rounding, exact to the bit.
///
/// Errors when `out` and `x` differ in length or `x_q` is invalid.
pub fn dequantize(x: &[i8], x_q: QParams, out: &mut [f32]) -> Result<()> {
    check_qparams("DEQUANTIZE", "input", x_q)?;
    let ks = inkling_kernels::init()?;
    inkling_kernels::rows::dequantize(ks, x, x_q.scale, x_q.zero_point, out)?;
    Ok(())
}
