//! Row kernels used by layers: exp, GELU, softmax, log-softmax, layer norm, sums, quantize / dequantize.
//!
//! The table entries work on one row (one slice) at a time; the safe functions below check the shapes
//! and loop over rows. Every table kernel requires its slices to have the lengths its doc states and
//! panics otherwise (a misuse of the raw table is a bug, like an out-of-bounds index); the safe
//! functions check first and return [`Error`] instead.
//!
//! Accuracy (f32; ε = 2⁻²³):
//! - `exp`: scalar uses `f32::exp`; SIMD uses Cody–Waite reduction + a degree-5 polynomial, ≤ 2 ulp on
//!   normal results, +∞ above ≈ 88.72, 0 below ≈ −103.9, NaN propagates.
//! - erf-GELU: Φ(x) through erfc, so the negative tail keeps its relative accuracy. Scalar evaluates
//!   Numerical Recipes `erfcc` (relative error < 1.2·10⁻⁷) in f64 (≤ 2 ulp); NEON the same polynomial
//!   in f32, with a relative error of a few ulp times (1 + x²), the conditioning of GELU in the tail.
//!   AVX2 computes Φ(−|x|) = e^(−x²/2)·½erfcx(|x|/√2), x² split exactly with an FMA and erfcx by a
//!   degree-8 polynomial in 1/(1 + |x|/(2√2)); GELU then is x·Φ(−|x|) or x − x·Φ(−|x|), and GELU′ =
//!   Φ(x) + xφ(x) reuses the one exponential. Measured on [−10, 10] against f64: GELU within 3.3 ulp,
//!   GELU′ within 2.6 ulp of |Φ| + |xφ|.
//! - tanh-GELU: `x·σ(2u)`, `u = √(2/π)(x + 0.044715x³)`, stable for every finite x.
//! - Sums, softmax and layer norm: the scalar versions accumulate in f64; SIMD in f32 lanes.
//! - `quantize` / `dequantize`: bit-exact between every ISA (see [`quantize`]).
//! - `rsqrt_estimate`: the CPU's own reciprocal-square-root estimate, deliberately not refined, so that
//!   callers can repeat a runtime (XNNPACK) that starts from it. Relative error: AVX-512 `vrsqrt14ps`
//!   < 2⁻¹⁴, AVX2 `vrsqrtps` ≤ 1.5·2⁻¹² (bits differ between Intel and AMD), NEON `frsqrte` < 2⁻⁸;
//!   scalar is 1/√x correctly rounded.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "aarch64")]
mod neon;
mod scalar;
#[cfg(test)]
mod tests;

use crate::error::{Error, Result};
use crate::isa::Isa;
use crate::KernelSet;

/// Mean and reciprocal standard deviation `1/√(var + eps)` of one layer-norm row, kept for backward.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RowStats {
    /// Mean of the row.
    pub mean: f32,
    /// `1/√(var + eps)` with the biased (1/n) variance.
    pub rstd: f32,
}

/// Layer norm of one row: `(x, γ, β, eps, y) → stats`, see [`RowKernels::layer_norm`].
pub type LayerNormRowFn =
    fn(x: &[f32], gamma: &[f32], beta: &[f32], eps: f32, y: &mut [f32]) -> RowStats;

/// Layer-norm backward of one row: `(x, γ, stats, dy, dx, dγ, dβ)`, see
/// [`RowKernels::layer_norm_backward`].
pub type LayerNormBackwardRowFn = fn(
    x: &[f32],
    gamma: &[f32],
    stats: RowStats,
    dy: &[f32],
    dx: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
);

/// The guard every layer-norm row kernel runs before touching memory: the table entries are callable
/// directly, so a length mismatch must panic rather than read or write out of bounds.
fn assert_row_lengths(op: &str, n: usize, lens: &[usize]) {
    assert!(lens.iter().all(|&l| l == n), "{op}: lengths");
}

/// The row-kernel entries of a [`crate::KernelSet`]. Each works on one row; see the module doc.
#[derive(Clone, Copy, Debug)]
pub struct RowKernels {
    /// In place `x ← eˣ`.
    pub exp: fn(&mut [f32]),
    /// In place `x ← x·Φ(x)` (exact, erf form).
    pub gelu: fn(&mut [f32]),
    /// In place `x ← 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
    pub gelu_tanh: fn(&mut [f32]),
    /// `g ← g·GELU′(x)` (erf form), `GELU′(x) = Φ(x) + x·φ(x)`; lengths equal.
    pub gelu_grad: fn(x: &[f32], g: &mut [f32]),
    /// `g ← g·d/dx GELU_tanh(x)`; lengths equal.
    pub gelu_tanh_grad: fn(x: &[f32], g: &mut [f32]),
    /// In place softmax of one row, max-subtracted: `x ← e^(x−max) / Σ e^(x−max)`.
    pub softmax: fn(&mut [f32]),
    /// Softmax backward from its output y: `g ← y ⊙ (g − ⟨g, y⟩)`; lengths equal.
    pub softmax_backward: fn(y: &[f32], g: &mut [f32]),
    /// In place log-softmax of one row: `x ← x − max − ln Σ e^(x−max)`.
    pub log_softmax: fn(&mut [f32]),
    /// Log-softmax backward from its output y: `g ← g − e^y·Σg`; lengths equal.
    pub log_softmax_backward: fn(y: &[f32], g: &mut [f32]),
    /// Layer norm of one row: `y = (x − mean)·rstd·γ + β`, returns the row's stats; all lengths equal
    /// and non-zero.
    pub layer_norm: LayerNormRowFn,
    /// Layer-norm backward of one row: overwrites `dx`, accumulates `dγ += dy·x̂` and `dβ += dy`;
    /// all lengths equal.
    pub layer_norm_backward: LayerNormBackwardRowFn,
    /// Σx (0 when empty).
    pub sum: fn(&[f32]) -> f32,
    /// Σx² (0 when empty).
    pub sum_sq: fn(&[f32]) -> f32,
    /// max x (−∞ when empty; unspecified if x holds NaN).
    pub max: fn(&[f32]) -> f32,
    /// `q = clamp(round_half_even(x·inv_scale) + zp, −128, 127)`, NaN → −128; lengths equal, zp in
    /// [−128, 127].
    pub quantize: fn(x: &[f32], inv_scale: f32, zero_point: i32, q: &mut [i8]),
    /// `x = f32(q − zp)·scale` (one rounding); lengths equal, zp in [−128, 127].
    pub dequantize: fn(q: &[i8], scale: f32, zero_point: i32, x: &mut [f32]),
    /// `out = ` the hardware estimate of `1/√x` (see the module doc); lengths equal.
    pub rsqrt_estimate: fn(x: &[f32], out: &mut [f32]),
}

impl RowKernels {
    pub(crate) fn for_isa(isa: Isa) -> RowKernels {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => avx2::TABLE,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => avx512::TABLE,
            #[cfg(target_arch = "aarch64")]
            Isa::Neon | Isa::NeonDotprod => neon::TABLE,
            _ => scalar::TABLE,
        }
    }
}

/// The shape of a row-wise operation: `rows` rows of `cols` contiguous elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rows {
    /// Number of rows.
    pub rows: usize,
    /// Elements per row.
    pub cols: usize,
}

impl Rows {
    /// `rows × cols`.
    pub fn new(rows: usize, cols: usize) -> Rows {
        Rows { rows, cols }
    }

    /// rows·cols, or an error on overflow.
    fn len(self, op: &'static str) -> Result<usize> {
        self.rows.checked_mul(self.cols).ok_or(Error::BadShape {
            op,
            what: format!("{} × {} elements overflow usize", self.rows, self.cols),
        })
    }
}

/// Errors unless `got == needed`.
fn check_exact(op: &'static str, what: &'static str, needed: usize, got: usize) -> Result<()> {
    if got != needed {
        return Err(Error::BadShape {
            op,
            what: format!("{what} has {got} elements, expected {needed}"),
        });
    }
    Ok(())
}

/// In place `x ← eˣ` over the whole slice.
pub fn exp(ks: &KernelSet, x: &mut [f32]) {
    (ks.rows.exp)(x)
}

/// In place GELU, exact erf form: `x ← x·Φ(x)`.
pub fn gelu(ks: &KernelSet, x: &mut [f32]) {
    (ks.rows.gelu)(x)
}

/// In place GELU, tanh form: `x ← 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
pub fn gelu_tanh(ks: &KernelSet, x: &mut [f32]) {
    (ks.rows.gelu_tanh)(x)
}

/// GELU (erf form) backward: `g ← g·GELU′(x)`. Errors unless `x` and `g` have the same length.
pub fn gelu_backward(ks: &KernelSet, x: &[f32], g: &mut [f32]) -> Result<()> {
    check_exact("gelu_backward", "g", x.len(), g.len())?;
    (ks.rows.gelu_grad)(x, g);
    Ok(())
}

/// GELU (tanh form) backward: `g ← g·GELU_tanh′(x)`. Errors unless the lengths match.
pub fn gelu_tanh_backward(ks: &KernelSet, x: &[f32], g: &mut [f32]) -> Result<()> {
    check_exact("gelu_tanh_backward", "g", x.len(), g.len())?;
    (ks.rows.gelu_tanh_grad)(x, g);
    Ok(())
}

/// Applies a one-slice row kernel to every row of `x` (`x.len()` must be rows·cols).
fn each_row(op: &'static str, shape: Rows, x: &mut [f32], f: fn(&mut [f32])) -> Result<()> {
    check_exact(op, "x", shape.len(op)?, x.len())?;
    if shape.cols > 0 {
        x.chunks_exact_mut(shape.cols).for_each(f);
    }
    Ok(())
}

/// Applies a (y, g) row kernel to every row; both slices must be rows·cols.
fn each_row2(
    op: &'static str,
    shape: Rows,
    y: &[f32],
    g: &mut [f32],
    f: fn(&[f32], &mut [f32]),
) -> Result<()> {
    let n = shape.len(op)?;
    check_exact(op, "y", n, y.len())?;
    check_exact(op, "g", n, g.len())?;
    if shape.cols > 0 {
        for (yr, gr) in y
            .chunks_exact(shape.cols)
            .zip(g.chunks_exact_mut(shape.cols))
        {
            f(yr, gr);
        }
    }
    Ok(())
}

/// In place softmax of each row (max-subtracted, so large inputs do not overflow).
///
/// A row whose entries are all −∞ becomes NaN, as in PyTorch.
pub fn softmax(ks: &KernelSet, shape: Rows, x: &mut [f32]) -> Result<()> {
    each_row("softmax", shape, x, ks.rows.softmax)
}

/// Softmax backward per row from the forward output `y`: `g ← y ⊙ (g − ⟨g, y⟩)`.
pub fn softmax_backward(ks: &KernelSet, shape: Rows, y: &[f32], g: &mut [f32]) -> Result<()> {
    each_row2("softmax_backward", shape, y, g, ks.rows.softmax_backward)
}

/// In place log-softmax of each row: `x ← x − max − ln Σ e^(x−max)`.
pub fn log_softmax(ks: &KernelSet, shape: Rows, x: &mut [f32]) -> Result<()> {
    each_row("log_softmax", shape, x, ks.rows.log_softmax)
}

/// Log-softmax backward per row from the forward output `y`: `g ← g − e^y·Σg`.
pub fn log_softmax_backward(ks: &KernelSet, shape: Rows, y: &[f32], g: &mut [f32]) -> Result<()> {
    each_row2(
        "log_softmax_backward",
        shape,
        y,
        g,
        ks.rows.log_softmax_backward,
    )
}

/// Layer norm over the last dimension: `rows × cols` input, per-column γ and β, variance epsilon.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerNorm {
    /// Rows (tokens) and columns (normalised features, > 0).
    pub shape: Rows,
    /// Added to the variance before the square root (finite, ≥ 0).
    pub eps: f32,
}

impl LayerNorm {
    fn check(&self, op: &'static str) -> Result<usize> {
        if self.shape.cols == 0 {
            return Err(Error::BadShape {
                op,
                what: "layer norm over 0 features".into(),
            });
        }
        if !(self.eps.is_finite() && self.eps >= 0.0) {
            return Err(Error::BadShape {
                op,
                what: format!("eps must be finite and ≥ 0, got {}", self.eps),
            });
        }
        self.shape.len(op)
    }
}

/// Layer norm forward: `y = (x − mean)·rstd·γ + β` per row; fills `stats` (one per row) when given.
pub fn layer_norm(
    ks: &KernelSet,
    p: &LayerNorm,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    y: &mut [f32],
    stats: Option<&mut [RowStats]>,
) -> Result<()> {
    const OP: &str = "layer_norm";
    let n = p.check(OP)?;
    let cols = p.shape.cols;
    check_exact(OP, "x", n, x.len())?;
    check_exact(OP, "y", n, y.len())?;
    check_exact(OP, "gamma", cols, gamma.len())?;
    check_exact(OP, "beta", cols, beta.len())?;
    let rows = x.chunks_exact(cols).zip(y.chunks_exact_mut(cols));
    match stats {
        Some(stats) => {
            check_exact(OP, "stats", p.shape.rows, stats.len())?;
            for ((xr, yr), s) in rows.zip(stats.iter_mut()) {
                *s = (ks.rows.layer_norm)(xr, gamma, beta, p.eps, yr);
            }
        }
        None => {
            for (xr, yr) in rows {
                (ks.rows.layer_norm)(xr, gamma, beta, p.eps, yr);
            }
        }
    }
    Ok(())
}

/// Gradients written by [`layer_norm_backward`].
#[derive(Debug)]
pub struct LayerNormGrads<'a> {
    /// ∂L/∂x, rows·cols, overwritten.
    pub dx: &'a mut [f32],
    /// ∂L/∂γ, cols, accumulated (`+=`).
    pub dgamma: &'a mut [f32],
    /// ∂L/∂β, cols, accumulated (`+=`).
    pub dbeta: &'a mut [f32],
}

/// Layer norm backward from the forward input, γ, the saved stats and ∂L/∂y.
///
/// With `x̂ = (x − mean)·rstd` and `ĝ = dy·γ`: `dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))`,
/// `dγ += Σ_rows dy·x̂`, `dβ += Σ_rows dy`.
pub fn layer_norm_backward(
    ks: &KernelSet,
    p: &LayerNorm,
    x: &[f32],
    gamma: &[f32],
    stats: &[RowStats],
    dy: &[f32],
    grads: LayerNormGrads,
) -> Result<()> {
    const OP: &str = "layer_norm_backward";
    let n = p.check(OP)?;
    let cols = p.shape.cols;
    check_exact(OP, "x", n, x.len())?;
    check_exact(OP, "dy", n, dy.len())?;
    check_exact(OP, "dx", n, grads.dx.len())?;
    check_exact(OP, "gamma", cols, gamma.len())?;
    check_exact(OP, "dgamma", cols, grads.dgamma.len())?;
    check_exact(OP, "dbeta", cols, grads.dbeta.len())?;
    check_exact(OP, "stats", p.shape.rows, stats.len())?;
    let rows = x
        .chunks_exact(cols)
        .zip(dy.chunks_exact(cols))
        .zip(grads.dx.chunks_exact_mut(cols))
        .zip(stats);
    for (((xr, dyr), dxr), s) in rows {
        (ks.rows.layer_norm_backward)(xr, gamma, *s, dyr, dxr, grads.dgamma, grads.dbeta);
    }
    Ok(())
}

/// Applies a reduction to every row of `x`, writing one value per row into `out`.
fn reduce_rows(
    op: &'static str,
    shape: Rows,
    x: &[f32],
    out: &mut [f32],
    f: fn(&[f32]) -> f32,
) -> Result<()> {
    check_exact(op, "x", shape.len(op)?, x.len())?;
    check_exact(op, "out", shape.rows, out.len())?;
    if shape.cols == 0 {
        out.fill(f(&[]));
    } else {
        for (xr, o) in x.chunks_exact(shape.cols).zip(out.iter_mut()) {
            *o = f(xr);
        }
    }
    Ok(())
}

/// `out[r] = Σ_c x[r, c]` (0 for empty rows).
pub fn row_sums(ks: &KernelSet, shape: Rows, x: &[f32], out: &mut [f32]) -> Result<()> {
    reduce_rows("row_sums", shape, x, out, ks.rows.sum)
}

/// `out[r] = Σ_c x[r, c]²` (0 for empty rows).
pub fn row_sums_sq(ks: &KernelSet, shape: Rows, x: &[f32], out: &mut [f32]) -> Result<()> {
    reduce_rows("row_sums_sq", shape, x, out, ks.rows.sum_sq)
}

/// `out[r] = max_c x[r, c]` (−∞ for empty rows; unspecified for rows holding NaN).
pub fn row_max(ks: &KernelSet, shape: Rows, x: &[f32], out: &mut [f32]) -> Result<()> {
    reduce_rows("row_max", shape, x, out, ks.rows.max)
}

fn check_quant(op: &'static str, scale: f32, zero_point: i32) -> Result<()> {
    if !(scale.is_finite() && scale > 0.0 && (1.0 / scale).is_finite()) {
        return Err(Error::BadShape {
            op,
            what: format!("scale must be finite and > 0 with a finite inverse, got {scale}"),
        });
    }
    if !(-128..=127).contains(&zero_point) {
        return Err(Error::BadShape {
            op,
            what: format!("int8 zero point must be in [-128, 127], got {zero_point}"),
        });
    }
    Ok(())
}

/// Quantizes f32 to int8: `q = clamp(round_half_even(x·(1/scale)) + zp, −128, 127)`.
///
/// Like XNNPACK's f32→qs8 convert (and TFLite's optimized QUANTIZE) this multiplies by the f32
/// reciprocal `1/scale` (computed once, rounded to f32) rather than dividing by `scale`; the two differ
/// by one step for a few inputs that sit at a rounding tie. Bit-exact across every ISA; NaN gives −128. Errors when the lengths differ, `scale` is not a positive finite
/// number with a finite inverse, or `zero_point` is outside [−128, 127].
pub fn quantize(
    ks: &KernelSet,
    x: &[f32],
    scale: f32,
    zero_point: i32,
    q: &mut [i8],
) -> Result<()> {
    check_quant("quantize", scale, zero_point)?;
    check_exact("quantize", "q", x.len(), q.len())?;
    (ks.rows.quantize)(x, 1.0 / scale, zero_point, q);
    Ok(())
}

/// Dequantizes int8 to f32: `x = f32(q − zp)·scale`, bit-exact across every ISA.
///
/// Errors when the lengths differ, `scale` is not positive and finite, or `zero_point` is outside
/// [−128, 127].
pub fn dequantize(
    ks: &KernelSet,
    q: &[i8],
    scale: f32,
    zero_point: i32,
    x: &mut [f32],
) -> Result<()> {
    check_quant("dequantize", scale, zero_point)?;
    check_exact("dequantize", "x", q.len(), x.len())?;
    (ks.rows.dequantize)(q, scale, zero_point, x);
    Ok(())
}

/// `out[i]` = the table's reciprocal-square-root estimate of `x[i]`: the raw `vrsqrt14ps` (AVX-512),
/// `vrsqrtps` (AVX2) or `frsqrte` (NEON) result, 1/√x correctly rounded on scalar. 0 gives +∞ (−0 gives
/// −∞), +∞ gives +0, negative inputs and NaN give NaN. Errors unless the lengths match.
pub fn rsqrt_estimate(ks: &KernelSet, x: &[f32], out: &mut [f32]) -> Result<()> {
    check_exact("rsqrt_estimate", "out", x.len(), out.len())?;
    (ks.rows.rsqrt_estimate)(x, out);
    Ok(())
}
