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
    check_len("binary", a_shape, a.len())?;
    check_len("binary", b_shape, b.len())?;
    let out_shape = broadcast_shape(a_shape, b_shape)?;
    let ia = broadcast_index(a_shape, &out_shape);
    let ib = broadcast_index(b_shape, &out_shape);
    let out = ia
        .iter()
        .zip(&ib)
        .map(|(&i, &j)| op.apply(a[i], b[j]))
        .collect();
    Ok((out, out_shape))
}
