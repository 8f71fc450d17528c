//! MEAN as XNNPACK's reduce operator computes it: a sum in the kernel's order, then `sum * (1/n)`.
//!
//! XNNPACK merges the reduced axes into one: a trailing block goes to the rsum kernel (lane-parallel
//! accumulators, then a halving tree), an inner block to the rdsum kernel (one running sum per output,
//! row after row). The rsum grouping depends on the ISA; rdsum's does not.

use inkling_kernels::rows::Rows;
use inkling_kernels::xnn;

use super::shape::{check_len, shape_err};
use super::{table, Isa};
use crate::{Error, Result};

/// Mean over `axes` (each in 0..rank, distinct, together one contiguous block) with kept dims of size 1.
///
/// The scale is `1 / n` rounded to f32 and applied with one rounding (the kernels' `fma(sum, scale, 0)`);
/// the sums are the kernels crate's `xnn` rsum (in `isa`'s order) and rdsum.
pub fn mean(
    x: &[f32],
    shape: &[usize],
    axes: &[usize],
    isa: Isa,
) -> Result<(Vec<f32>, Vec<usize>)> {
    check_len("mean", shape, x.len())?;
    let mut ax = axes.to_vec();
    ax.sort_unstable();
    ax.dedup();
    let (first, last) = match (ax.first(), ax.last()) {
        (Some(&f), Some(&l)) if l < shape.len() && l - f + 1 == ax.len() => (f, l),
        _ => {
            return Err(Error::Unsupported {
                node: "mean".into(),
                what: format!("axes {axes:?} of shape {shape:?} are not one contiguous block"),
            })
        }
    };
    let outer: usize = shape[..first].iter().product();
    let r: usize = shape[first..=last].iter().product();
    let inner: usize = shape[last + 1..].iter().product();
    if r == 0 {
        return Err(shape_err("mean", "empty reduction"));
    }
    let ks = table();
    let mut out = vec![0.0f32; outer * inner];
    if inner == 1 {
        xnn::mean_rows(&ks, Rows::new(outer, r), x, &mut out, isa.order())?;
    } else if inner > 0 {
        for (slab, o) in x.chunks_exact(r * inner).zip(out.chunks_exact_mut(inner)) {
            xnn::mean_cols(&ks, Rows::new(r, inner), slab, o)?;
        }
    }
    let out_shape = shape
        .iter()
        .enumerate()
        .map(|(d, &n)| if ax.contains(&d) { 1 } else { n })
        .collect();
    Ok((out, out_shape))
}
