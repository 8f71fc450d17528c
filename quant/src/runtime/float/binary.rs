//! ADD, SUB, MUL, DIV, SQUARED_DIFFERENCE with numpy broadcasting: one IEEE rounding per op, as XNNPACK's
//! vadd/vsub/vmul/vdiv kernels; vsqrdiff rounds twice, `d = a - b` then `d * d`.

use super::ftz;
use super::shape::{broadcast_index, broadcast_shape, check_len};
use crate::Result;

/// An elementwise binary float op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    /// `(a - b)²`, the difference rounded before it is squared.
    SquaredDifference,
}

impl BinaryOp {
    fn apply(self, a: f32, b: f32) -> f32 {
        let (a, b) = (ftz(a), ftz(b));
        ftz(match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            BinaryOp::SquaredDifference => {
                let d = ftz(a - b);
                d * d
            }
        })
    }
}

/// `op(a, b)` broadcast numpy-style; returns the output and its shape.
pub fn binary(
    op: BinaryOp,
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
) -> Result<(Vec<f32>, Vec<usize>)> {
    binary_into(op, a, a_shape, b, b_shape, None)
}

/// [`binary`], writing into `reuse` when it is a float32 buffer of the output's size.
pub fn binary_into(
    op: BinaryOp,
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
    reuse: Option<crate::runtime::Data>,
) -> Result<(Vec<f32>, Vec<usize>)> {
    check_len("binary", a_shape, a.len())?;
    check_len("binary", b_shape, b.len())?;
    let out_shape = broadcast_shape(a_shape, b_shape)?;
    let n: usize = out_shape.iter().product();
    let mut out = crate::runtime::f32_out(reuse, n);
    match (layout(a_shape, &out_shape), layout(b_shape, &out_shape)) {
        // Contiguous fast paths for the layouts LayerNorm and attention produce.
        (Layout::Full, Layout::Full) => {
            for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                *o = op.apply(x, y);
            }
        }
        (Layout::Full, Layout::Cycle(m)) => {
            for (oc, ac) in out.chunks_mut(m).zip(a.chunks(m)) {
                for ((o, &x), &y) in oc.iter_mut().zip(ac).zip(b) {
                    *o = op.apply(x, y);
                }
            }
        }
        (Layout::Cycle(m), Layout::Full) => {
            for (oc, bc) in out.chunks_mut(m).zip(b.chunks(m)) {
                for ((o, &x), &y) in oc.iter_mut().zip(a).zip(bc) {
                    *o = op.apply(x, y);
                }
            }
        }
        (Layout::Full, Layout::Runs(r)) => {
            for ((oc, ac), &y) in out.chunks_mut(r).zip(a.chunks(r)).zip(b) {
                for (o, &x) in oc.iter_mut().zip(ac) {
                    *o = op.apply(x, y);
                }
            }
        }
        (Layout::Runs(r), Layout::Full) => {
            for ((oc, bc), &x) in out.chunks_mut(r).zip(b.chunks(r)).zip(a) {
                for (o, &y) in oc.iter_mut().zip(bc) {
                    *o = op.apply(x, y);
                }
            }
        }
        _ => {
            let ia = broadcast_index(a_shape, &out_shape);
            let ib = broadcast_index(b_shape, &out_shape);
            for ((o, &i), &j) in out.iter_mut().zip(&ia).zip(&ib) {
                *o = op.apply(a[i], b[j]);
            }
        }
    }
    Ok((out, out_shape))
}

/// How an operand's elements map to the broadcast output's.
#[derive(Clone, Copy)]
enum Layout {
    /// Same shape as the output.
    Full,
    /// Repeats a trailing block of this many elements (a vector over the last axes, or a scalar).
    Cycle(usize),
    /// One element per run of this many output elements (a `[.., 1]` over the trailing axes).
    Runs(usize),
    /// Anything else.
    General,
}

fn layout(shape: &[usize], out: &[usize]) -> Layout {
    let pad = out.len() - shape.len();
    let dims: Vec<usize> = std::iter::repeat_n(1, pad)
        .chain(shape.iter().copied())
        .collect();
    if dims == out {
        return Layout::Full;
    }
    let numel: usize = dims.iter().product();
    // Leading 1s, then the output's own trailing dims.
    let lead = dims.iter().take_while(|&&d| d == 1).count();
    if dims[lead..] == out[lead..] {
        return Layout::Cycle(numel.max(1));
    }
    // The output's leading dims, then trailing 1s.
    let kept = dims.len() - dims.iter().rev().take_while(|&&d| d == 1).count();
    if dims[..kept] == out[..kept] {
        return Layout::Runs(out[kept..].iter().product::<usize>().max(1));
    }
    Layout::General
}
