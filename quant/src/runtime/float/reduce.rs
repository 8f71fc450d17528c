//! MEAN as XNNPACK's reduce operator computes it: a sum in the kernel's order, then `sum * (1/n)`.
//!
//! XNNPACK merges the reduced axes into one: a trailing block goes to the rsum kernel (lane-parallel
//! accumulators, then a halving tree), an inner block to the rdsum kernel (one running sum per output,
//! row after row). The rsum grouping depends on the ISA; rdsum's does not.

use super::shape::{check_len, shape_err};
use super::{ftz, Isa};
use crate::{Error, Result};

/// Vector width and accumulator count of `xnn_f32_rsum_ukernel__avx512f_u32_acc2` / `__avx_u32_acc4`.
fn rsum_layout(isa: Isa) -> (usize, usize) {
    match isa {
        Isa::Avx512f => (16, 2),
        Isa::Avx2 => (8, 4),
    }
}

/// Adds lanes pairwise, halving the width each step (lane i + lane i + w/2), as the kernels' final
/// extract/shuffle/add sequence does, and returns lane 0.
pub(super) fn lane_tree_sum(mut lanes: Vec<f32>) -> f32 {
    let mut w = lanes.len();
    while w > 1 {
        w /= 2;
        for i in 0..w {
            lanes[i] = ftz(lanes[i] + lanes[i + w]);
        }
    }
    lanes.first().copied().unwrap_or(0.0)
}

/// Adds the trailing `rem` elements lane-wise into `acc`; the kernels load them masked, so the other lanes
/// get `+ 0.0`.
pub(super) fn add_tail(acc: &mut [f32], tail: &[f32]) {
    if tail.is_empty() {
        return;
    }
    for (l, a) in acc.iter_mut().enumerate() {
        *a = ftz(*a + tail.get(l).map_or(0.0, |&t| ftz(t)));
    }
}

/// The row sum of the rsum kernel: block k of `w` elements goes to accumulator k mod `accs`.
fn rsum(x: &[f32], isa: Isa) -> f32 {
    let (w, accs) = rsum_layout(isa);
    let mut acc = vec![vec![0.0f32; w]; accs];
    let blocks = x.len() / w;
    for (k, block) in x.chunks_exact(w).enumerate() {
        for (a, &v) in acc[k % accs].iter_mut().zip(block) {
            *a = ftz(*a + ftz(v));
        }
    }
    let lanewise =
        |p: &[f32], q: &[f32]| -> Vec<f32> { p.iter().zip(q).map(|(a, b)| ftz(a + b)).collect() };
    let mut total = if accs == 2 {
        lanewise(&acc[1], &acc[0])
    } else {
        lanewise(&lanewise(&acc[3], &acc[1]), &lanewise(&acc[0], &acc[2]))
    };
    add_tail(&mut total, &x[blocks * w..]);
    lane_tree_sum(total)
}

/// Mean over `axes` (each in 0..rank, distinct, together one contiguous block) with kept dims of size 1.
///
/// The scale is `1 / n` rounded to f32 and applied with one rounding (the kernels' `fma(sum, scale, 0)`).
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
    let scale = 1.0f32 / r as f32;
    let mut out = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        let slab = &x[o * r * inner..(o + 1) * r * inner];
        if inner == 1 {
            out.push(ftz(rsum(slab, isa).mul_add(scale, 0.0)));
        } else {
            for i in 0..inner {
                let sum = (0..r).fold(0.0f32, |acc, k| ftz(acc + ftz(slab[k * inner + i])));
                out.push(ftz(sum.mul_add(scale, 0.0)));
            }
        }
    }
    let out_shape = shape
        .iter()
        .enumerate()
        .map(|(d, &n)| if ax.contains(&d) { 1 } else { n })
        .collect();
    Ok((out, out_shape))
}
