//! XNNPACK's fp32 requantization, output clamps, and the scale limits XNNPACK imposes.
//!
//! The limits are the ones XNNPACK's parameter initialisers assert and LiteRT's delegate checks
//! before it takes an op; a graph outside them would run on LiteRT's builtin kernels (other rounding)
//! or not at all, so the exporter rejects it and the runtime refuses to pretend it matches.

use crate::{Error, QParams, Result};

/// Output bounds in the quantized domain, from a fused activation (XNNPACK's `output_min/max`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clamp {
    /// Smallest output value.
    pub min: i8,
    /// Largest output value.
    pub max: i8,
}

impl Clamp {
    /// No activation: the whole int8 range.
    pub const NONE: Clamp = Clamp {
        min: i8::MIN,
        max: i8::MAX,
    };

    /// Fused ReLU: outputs below the quantized 0 (the zero point) are raised to it.
    pub fn relu(y_q: QParams) -> Clamp {
        Clamp {
            min: y_q.zero_point.clamp(-128, 127) as i8,
            max: i8::MAX,
        }
    }

    /// The float bounds `[min − zp, max − zp]` the scaled accumulator is clamped to (exact in f32).
    pub(crate) fn bounds(self, zp: i32) -> (f32, f32) {
        ((self.min as i32 - zp) as f32, (self.max as i32 - zp) as f32)
    }

    fn check(self, op: &str) -> Result<()> {
        if self.min > self.max {
            return Err(quant_err(
                op,
                format!("clamp min {} > max {}", self.min, self.max),
            ));
        }
        Ok(())
    }
}

/// XNNPACK's fp32 requantization of one value already multiplied out:
/// `clamp(rint_even(v), lo, hi) + zp`. The bounds are integers, so clamping before rounding equals
/// clamping after, and clamping first keeps the float→int conversion in range (NaN gives `lo`).
#[inline]
pub(crate) fn round_store(v: f32, lo: f32, hi: f32, zp: i32) -> i8 {
    (v.max(lo).min(hi).round_ties_even() as i32 + zp) as i8
}

/// `clamp(rint_even(f32(acc)·scale)) + zp`: the requantization of XNNPACK's qs8 GEMM, MUL and MEAN.
#[inline]
pub(crate) fn requant(acc: i32, scale: f32, lo: f32, hi: f32, zp: i32) -> i8 {
    round_store(acc as f32 * scale, lo, hi, zp)
}

pub(crate) fn quant_err(node: &str, what: impl Into<String>) -> Error {
    Error::Quant {
        node: node.to_string(),
        what: what.into(),
    }
}

/// Errors unless `q` is a valid int8 activation quantization: scale positive, finite and normal
/// (XNNPACK rejects subnormal scales), zero point in [−128, 127].
pub fn check_qparams(node: &str, what: &str, q: QParams) -> Result<()> {
    if !(q.scale.is_normal() && q.scale > 0.0) {
        return Err(quant_err(
            node,
            format!("{what} scale {} is not a positive normal float", q.scale),
        ));
    }
    if !(-128..=127).contains(&q.zero_point) {
        return Err(quant_err(
            node,
            format!("{what} zero point {} is outside [-128, 127]", q.zero_point),
        ));
    }
    Ok(())
}

/// The per-channel requantization scales of FC / CONV / DW / BMM, `f32(f32(s_x·s_w[c]) / s_y)`,
/// checked against XNNPACK's limit `0 < scale < 256` (qs8-qc8w `init` asserts it).
pub fn check_conv_scales(node: &str, s_x: f32, s_w: &[f32], s_y: f32) -> Result<Vec<f32>> {
    s_w.iter()
        .enumerate()
        .map(|(c, &sw)| {
            let s = (s_x * sw) / s_y;
            if !(s.is_finite() && s > 0.0 && s < 256.0) {
                return Err(quant_err(
                    node,
                    format!(
                        "requantization scale s_x·s_w[{c}]/s_y = {s} is outside (0, 256) \
                         (XNNPACK qs8 GEMM limit)"
                    ),
                ));
            }
            Ok(s)
        })
        .collect()
}

/// Checks XNNPACK's ADD/SUB limit: each of `s_a/s_y` and `s_b/s_y` (f32) in [2⁻¹⁰, 2⁸).
pub fn check_add_scales(node: &str, s_a: f32, s_b: f32, s_y: f32) -> Result<()> {
    for (name, s) in [("a", s_a), ("b", s_b)] {
        let r = s / s_y;
        if !(1.0 / 1024.0..256.0).contains(&r) {
            return Err(quant_err(
                node,
                format!("input {name} scale / output scale = {r} is outside [2^-10, 2^8) (XNNPACK ADD/SUB limit)"),
            ));
        }
    }
    Ok(())
}

/// Checks XNNPACK's MUL limit: `f32(s_a·s_b)/s_y` in [2⁻¹⁶, 2⁸); returns that scale.
pub fn check_mul_scales(node: &str, s_a: f32, s_b: f32, s_y: f32) -> Result<f32> {
    let r = (s_a * s_b) / s_y;
    if !(1.0 / 65536.0..256.0).contains(&r) {
        return Err(quant_err(
            node,
            format!("input scale product / output scale = {r} is outside [2^-16, 2^8) (XNNPACK MUL limit)"),
        ));
    }
    Ok(r)
}

/// Per-channel weight scales: N given, or one per-tensor scale repeated N times (as the delegate
/// does); each must be a positive normal float.
pub(crate) fn channel_scales(op: &str, w_scales: &[f32], n: usize) -> Result<Vec<f32>> {
    let scales = match w_scales.len() {
        1 => vec![w_scales[0]; n],
        l if l == n => w_scales.to_vec(),
        l => {
            return Err(super::shape_err(
                op,
                format!("{l} weight scales for {n} channels"),
            ))
        }
    };
    if let Some(c) = scales.iter().position(|s| !(s.is_normal() && *s > 0.0)) {
        return Err(quant_err(
            op,
            format!(
                "weight scale[{c}] = {} is not a positive normal float",
                scales[c]
            ),
        ));
    }
    Ok(scales)
}

/// Validates the output quantization and clamp together and returns the f32 clamp bounds.
pub(crate) fn output_bounds(op: &str, y_q: QParams, clamp: Clamp) -> Result<(f32, f32)> {
    check_qparams(op, "output", y_q)?;
    clamp.check(op)?;
    Ok(clamp.bounds(y_q.zero_point))
}
