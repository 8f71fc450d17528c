//! ADD, SUB and MUL int8 with numpy broadcasting.
//!
//! ADD/SUB follow XNNPACK's `xnn_init_qs8_add_minmax_scalar_params` (SUB is ADD with B's scale
//! negated): `r_a = f32(s_a/s_y)`, `r_b = ±f32(s_b/s_y)`, `shift = 20 − exponent(max(|r_a|, |r_b|))`,
//! `m = rint_even(r·2^shift)`, `acc = 2^(shift−1) − m_a·zp_a − m_b·zp_b + a·m_a + b·m_b` (int32,
//! wrapping), `y = clamp((acc >> shift) + zp_y)` with an arithmetic shift.
//! MUL follows `xnn_init_qs8_mul_minmax_scalar_params`: `acc = (a − zp_a)·(b − zp_b)`, then fp32
//! requantization with `scale = f32(f32(s_a·s_b) / s_y)`.
//! Which operand XNNPACK treats as the broadcast scalar does not matter: the integer sums are the same.

use super::requant::{
    check_add_scales, check_mul_scales, check_qparams, output_bounds, requant, Clamp,
};
pub use crate::runtime::broadcast::broadcast_shape;

use super::{check_len, numel};
use crate::{QParams, Result};

/// An int8 tensor operand: data, shape and quantization.
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a> {
    /// Elements in row-major order.
    pub data: &'a [i8],
    /// Dimensions (empty for a scalar).
    pub shape: &'a [usize],
    /// Quantization parameters.
    pub q: QParams,
}

impl<'a> Operand<'a> {
    /// An operand from its parts.
    pub fn new(data: &'a [i8], shape: &'a [usize], q: QParams) -> Operand<'a> {
        Operand { data, shape, q }
    }
}

/// Calls `f(a, b)` for every output element of the broadcast of `a` and `b`, in row-major order.
fn broadcast_map(
    op: &str,
    a: &Operand,
    b: &Operand,
    out: &mut [i8],
    f: impl Fn(i8, i8) -> i8,
) -> Result<()> {
    check_len(op, "input A", numel(op, a.shape)?, a.data.len())?;
    check_len(op, "input B", numel(op, b.shape)?, b.data.len())?;
    let shape = broadcast_shape(a.shape, b.shape)?;
    check_len(op, "output", numel(op, &shape)?, out.len())?;
    crate::runtime::broadcast::broadcast_map((a.data, a.shape), (b.data, b.shape), &shape, out, f);
    Ok(())
}

/// XNNPACK's fixed-point ADD parameters: multipliers, bias and shift.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AddParams {
    m_a: i32,
    m_b: i32,
    bias: i32,
    shift: u32,
}

impl AddParams {
    /// Parameters for `a + sign·b`; the scale limits are checked first.
    fn new(op: &str, a: QParams, b: QParams, y: QParams, sign: i32) -> Result<AddParams> {
        check_add_scales(op, a.scale, b.scale, y.scale)?;
        let (r_a, r_b) = (a.scale / y.scale, b.scale / y.scale);
        // Unbiased exponent of the larger ratio, read from the bits as XNNPACK does.
        let exp = (r_a.max(r_b).to_bits() >> 23) as i32 - 127;
        let shift = (20 - exp) as u32; // in [13, 30] given the limits
                                       // r·2^shift is exact in f32 (an exponent change), then rounded half to even like lrintf.
        let mult = |r: f32| (r * (shift as f32).exp2()).round_ties_even() as i32;
        let (m_a, m_b) = (mult(r_a), sign * mult(r_b));
        let bias = (1i32 << (shift - 1))
            .wrapping_sub(m_a.wrapping_mul(a.zero_point))
            .wrapping_sub(m_b.wrapping_mul(b.zero_point));
        Ok(AddParams {
            m_a,
            m_b,
            bias,
            shift,
        })
    }

    #[inline]
    fn apply(&self, a: i8, b: i8) -> i32 {
        let acc = self
            .bias
            .wrapping_add((a as i32).wrapping_mul(self.m_a))
            .wrapping_add((b as i32).wrapping_mul(self.m_b));
        acc >> self.shift
    }
}

fn add_sub(
    op: &str,
    a: Operand,
    b: Operand,
    y_q: QParams,
    clamp: Clamp,
    sign: i32,
    out: &mut [i8],
) -> Result<()> {
    check_qparams(op, "input A", a.q)?;
    check_qparams(op, "input B", b.q)?;
    output_bounds(op, y_q, clamp)?;
    let p = AddParams::new(op, a.q, b.q, y_q, sign)?;
    let (lo, hi, zp) = (
        clamp.min as i32 - y_q.zero_point,
        clamp.max as i32 - y_q.zero_point,
        y_q.zero_point,
    );
    broadcast_map(op, &a, &b, out, |x, y| {
        (p.apply(x, y).clamp(lo, hi) + zp) as i8
    })
}

/// ADD int8: `y = a + b` (broadcast), XNNPACK's 20-bit fixed point; output shape [`broadcast_shape`].
///
/// Errors on lengths that do not match the shapes, shapes that do not broadcast, invalid qparams, or
/// an input/output scale ratio outside [2⁻¹⁰, 2⁸).
pub fn add(a: Operand, b: Operand, y_q: QParams, clamp: Clamp, out: &mut [i8]) -> Result<()> {
    add_sub("ADD", a, b, y_q, clamp, 1, out)
}

/// SUB int8: `y = a − b` (broadcast); as [`add`] with B's multiplier negated.
pub fn sub(a: Operand, b: Operand, y_q: QParams, clamp: Clamp, out: &mut [i8]) -> Result<()> {
    add_sub("SUB", a, b, y_q, clamp, -1, out)
}

/// MUL int8: `y = a·b` (broadcast), fp32 requantization of `(a − zp_a)·(b − zp_b)`.
///
/// Errors as [`add`] does, with the limit `s_a·s_b/s_y` in [2⁻¹⁶, 2⁸).
pub fn mul(a: Operand, b: Operand, y_q: QParams, clamp: Clamp, out: &mut [i8]) -> Result<()> {
    const OP: &str = "MUL";
    check_qparams(OP, "input A", a.q)?;
    check_qparams(OP, "input B", b.q)?;
    let (lo, hi) = output_bounds(OP, y_q, clamp)?;
    let scale = check_mul_scales(OP, a.q.scale, b.q.scale, y_q.scale)?;
    let (za, zb, zy) = (a.q.zero_point, b.q.zero_point, y_q.zero_point);
    broadcast_map(OP, &a, &b, out, |x, y| {
        requant((x as i32 - za) * (y as i32 - zb), scale, lo, hi, zy)
    })
}
