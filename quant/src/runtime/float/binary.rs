//! ADD, SUB, MUL, DIV, SQUARED_DIFFERENCE with numpy broadcasting: one IEEE rounding per op, as XNNPACK's
//! vadd/vsub/vmul/vdiv kernels; vsqrdiff rounds twice, `d = a - b` then `d * d`.

use super::ftz;
use super::shape::check_len;
use crate::runtime::broadcast::{broadcast_map, broadcast_shape};
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
    broadcast_map((a, a_shape), (b, b_shape), &out_shape, &mut out, |x, y| {
        op.apply(x, y)
    });
    Ok((out, out_shape))
}
