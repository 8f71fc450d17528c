//! SOFTMAX over the last axis as XNNPACK's softmax operator: `m = max(x)`, then the raddstoreexpminusmax
//! kernel stores `e = exp(x - m)` and sums it, then `y = e * (1 / sum)`.
//!
//! exp is the kernels' "rr2_p5" (magic-bias rounding, two-constant Cody-Waite reduction, degree-5
//! polynomial, all FMA); the values are the same on AVX2 and AVX-512, the sum's grouping is not (see
//! [`Isa`]). The arithmetic is the kernels crate's `xnn` softmax.

use inkling_kernels::rows::Rows;
use inkling_kernels::xnn;

use super::shape::{check_len, shape_err};
use super::{table, Isa};
use crate::Result;

/// Softmax (beta = 1) over the last axis of `x` (shape `shape`).
pub fn softmax(x: &[f32], shape: &[usize], isa: Isa) -> Result<Vec<f32>> {
    check_len("softmax", shape, x.len())?;
    let n = *shape
        .last()
        .ok_or_else(|| shape_err("softmax", "needs rank >= 1"))?;
    let mut out = vec![0.0f32; x.len()];
    if n == 0 {
        return Ok(out);
    }
    xnn::softmax(
        &table(),
        Rows::new(x.len() / n, n),
        x,
        &mut out,
        isa.order(),
    )?;
    Ok(out)
}
