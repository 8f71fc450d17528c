//! f32 kernels that repeat XNNPACK's arithmetic bit for bit: GELU, SOFTMAX and MEAN, the float islands
//! of an int8 graph that LiteRT runs through XNNPACK.
//!
//! Each kernel performs the f32 operations of the XNNPACK micro-kernel that LiteRT 2.3 picks, in the
//! same order, with FMA where that kernel uses FMA, and flushes subnormals as XNNPACK's FTZ/DAZ CPU
//! state does (explicitly, see [`ftz`]: the MXCSR is left alone). Values therefore do not depend on
//! the table, except the grouping of sums, which XNNPACK ties to its vector width: that is the
//! [`SumOrder`] argument. Every table computes both orders with identical bits; the AVX2 table runs
//! the `Avx2` order in SIMD, the AVX-512 table both, and an order a table has no SIMD kernel for runs
//! on the scalar twin. NEON uses the scalar twins (aarch64 has FMA in its base ISA, so they are
//! exact and reasonably fast there).

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod scalar;
#[cfg(test)]
mod tests;

pub use scalar::ftz;

use crate::error::{Error, Result};
use crate::isa::Isa;
use crate::rows::Rows;
use crate::KernelSet;

/// The XNNPACK kernel family whose summation order a sum follows (SOFTMAX, MEAN).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SumOrder {
    /// AVX-512F kernels (e.g. Zen 4): 16 lanes; rsum with 2 accumulators.
    Avx512f,
    /// AVX / AVX2+FMA kernels (e.g. Zen 3): 8 lanes; rsum with 4 accumulators.
    Avx2,
}

/// The XNNPACK-exact entries of a [`KernelSet`]. Each panics on lengths other than those stated.
#[derive(Clone, Copy, Debug)]
pub struct XnnKernels {
    /// `y = GELU(x)` (erf form) as `xnn_f32_vgelu_ukernel__*_rational_12_10_div`; lengths equal.
    pub gelu: fn(x: &[f32], y: &mut [f32]),
    /// Softmax of one row, `y = exp(x - max) · (1 / Σ)`, the sum grouped in `order`; lengths equal.
    pub softmax: fn(x: &[f32], y: &mut [f32], order: SumOrder),
    /// `fma(Σx, scale, 0)` of one row, the sum grouped as the rsum kernel of `order` groups it.
    pub mean: fn(x: &[f32], scale: f32, order: SumOrder) -> f32,
    /// Column means of `x.len() / out.len()` rows of `out.len()` elements, each column summed row after
    /// row (the rdsum kernel), then `fma(Σ, scale, 0)`; `x.len()` a multiple of `out.len()`.
    pub mean_cols: fn(x: &[f32], scale: f32, out: &mut [f32]),
}

impl XnnKernels {
    pub(crate) fn for_isa(isa: Isa) -> XnnKernels {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => avx2::TABLE,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => avx512::TABLE,
            _ => scalar::TABLE,
        }
    }
}

/// The guard of `mean_cols`: the table entries are callable directly, so a bad length must panic
/// rather than read out of bounds.
fn assert_cols(x_len: usize, cols: usize) {
    assert!(
        if cols == 0 {
            x_len == 0
        } else {
            x_len.is_multiple_of(cols)
        },
        "mean_cols: {x_len} elements are not whole rows of {cols}"
    );
}

fn check_len(op: &'static str, what: &'static str, needed: usize, got: usize) -> Result<()> {
    if got != needed {
        return Err(Error::BadShape {
            op,
            what: format!("{what} has {got} elements, expected {needed}"),
        });
    }
    Ok(())
}

fn elements(op: &'static str, shape: Rows) -> Result<usize> {
    shape.rows.checked_mul(shape.cols).ok_or(Error::BadShape {
        op,
        what: format!("{} × {} elements overflow usize", shape.rows, shape.cols),
    })
}

/// `1/n` rounded to f32, the scale of a mean over `n > 0` elements.
fn inverse(op: &'static str, n: usize) -> Result<f32> {
    if n == 0 {
        return Err(Error::BadShape {
            op,
            what: "mean over 0 elements".into(),
        });
    }
    Ok(1.0 / n as f32)
}

/// `y = GELU(x)` elementwise; errors unless the lengths match.
pub fn gelu(ks: &KernelSet, x: &[f32], y: &mut [f32]) -> Result<()> {
    check_len("xnn_gelu", "y", x.len(), y.len())?;
    (ks.xnn.gelu)(x, y);
    Ok(())
}

/// Softmax of each row of `x` into `y`, sums grouped in `order`.
pub fn softmax(
    ks: &KernelSet,
    shape: Rows,
    x: &[f32],
    y: &mut [f32],
    order: SumOrder,
) -> Result<()> {
    let n = elements("xnn_softmax", shape)?;
    check_len("xnn_softmax", "x", n, x.len())?;
    check_len("xnn_softmax", "y", n, y.len())?;
    if shape.cols > 0 {
        for (xr, yr) in x
            .chunks_exact(shape.cols)
            .zip(y.chunks_exact_mut(shape.cols))
        {
            (ks.xnn.softmax)(xr, yr, order);
        }
    }
    Ok(())
}

/// `out[r]` = mean of row r (`cols > 0`), the sum grouped in `order`.
pub fn mean_rows(
    ks: &KernelSet,
    shape: Rows,
    x: &[f32],
    out: &mut [f32],
    order: SumOrder,
) -> Result<()> {
    let scale = inverse("xnn_mean_rows", shape.cols)?;
    check_len(
        "xnn_mean_rows",
        "x",
        elements("xnn_mean_rows", shape)?,
        x.len(),
    )?;
    check_len("xnn_mean_rows", "out", shape.rows, out.len())?;
    for (xr, o) in x.chunks_exact(shape.cols).zip(out.iter_mut()) {
        *o = (ks.xnn.mean)(xr, scale, order);
    }
    Ok(())
}

/// `out[c]` = mean of column c over the rows (`rows > 0`); the order does not depend on the ISA.
pub fn mean_cols(ks: &KernelSet, shape: Rows, x: &[f32], out: &mut [f32]) -> Result<()> {
    let scale = inverse("xnn_mean_cols", shape.rows)?;
    check_len(
        "xnn_mean_cols",
        "x",
        elements("xnn_mean_cols", shape)?,
        x.len(),
    )?;
    check_len("xnn_mean_cols", "out", shape.cols, out.len())?;
    (ks.xnn.mean_cols)(x, scale, out);
    Ok(())
}
