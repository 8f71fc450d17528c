//! MEAN int8 over any set of axes (LiteRT's delegate sends the last axis or H,W of NHWC to XNNPACK).
//!
//! XNNPACK's qs8 mean (`operators/reduce-nd.c`, `subgraph/static-mean.c`): int32 sums of the raw
//! inputs, converted to f32 after subtracting `N·zp_x`, then f32→qs8 conversion with
//! `scale = f32(s_x/s_y) · f32(1/N)` (two f32 roundings, in that order) and round-half-even.

use super::requant::{check_qparams, output_bounds, quant_err, requant, Clamp};
use super::{check_len, numel, shape_err};
use crate::{QParams, Result};

const OP: &str = "MEAN";

/// Means of `x` (`shape`) over `axes`; `out` holds the kept dimensions in order (`keep_dims` only
/// changes the shape the executor records, not the data).
///
/// Errors on an axis out of range or repeated, wrong lengths, or invalid qparams.
pub fn mean(
    x: &[i8],
    shape: &[usize],
    axes: &[usize],
    x_q: QParams,
    y_q: QParams,
    out: &mut [i8],
) -> Result<()> {
    let mut reduced = vec![false; shape.len()];
    for &a in axes {
        if a >= shape.len() || reduced[a] {
            return Err(shape_err(
                OP,
                format!("axes {axes:?} for a rank-{} input", shape.len()),
            ));
        }
        reduced[a] = true;
    }
    check_qparams(OP, "input", x_q)?;
    let (lo, hi) = output_bounds(OP, y_q, Clamp::NONE)?;
    check_len(OP, "input", numel(OP, shape)?, x.len())?;
    let kept: Vec<usize> = shape
        .iter()
        .zip(&reduced)
        .filter(|(_, r)| !**r)
        .map(|(d, _)| *d)
        .collect();
    check_len(OP, "output", numel(OP, &kept)?, out.len())?;
    let n: usize = shape
        .iter()
        .zip(&reduced)
        .filter(|(_, r)| **r)
        .map(|(d, _)| *d)
        .product();
    if n == 0 {
        return Err(shape_err(OP, "a reduced axis is empty"));
    }
    let ratio = x_q.scale / y_q.scale;
    if !(ratio.is_normal() && ratio < 256.0) {
        return Err(quant_err(
            OP,
            format!("input/output scale ratio {ratio} is outside (0, 256)"),
        ));
    }
    let scale = ratio * (1.0 / n as f32);
    // Output stride of each input dimension (0 when reduced), walked with an odometer.
    let mut ost = vec![0usize; shape.len()];
    let mut acc = 1;
    for i in (0..shape.len()).rev() {
        if !reduced[i] {
            ost[i] = acc;
            acc *= shape[i];
        }
    }
    let mut sums = vec![0i32; out.len()];
    let mut idx = vec![0usize; shape.len()];
    let mut o = 0usize;
    for &v in x {
        sums[o] = sums[o].wrapping_add(v as i32);
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            o += ost[d];
            if idx[d] < shape[d] {
                break;
            }
            o -= ost[d] * shape[d];
            idx[d] = 0;
        }
    }
    let bias = (n as i32).wrapping_mul(x_q.zero_point);
    for (y, &s) in out.iter_mut().zip(&sums) {
        *y = requant(s.wrapping_sub(bias), scale, lo, hi, y_q.zero_point);
    }
    Ok(())
}
