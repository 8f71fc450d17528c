//! im2col and its adjoint col2im for one NCHW image.
//!
//! Layout of the column matrix (row-major, `K × N` with `K = C·kh·kw`, `N = OH·OW`):
//!
//! `cols[(c·kh + ky)·kw + kx, oy·OW + ox] = x[c, oy·sh + ky·dh − pt, ox·sw + kx·dw − pl]`, or 0 where
//! that position falls in the padding. Rows follow the PyTorch weight layout `W[Cout, Cin, kh, kw]`,
//! so the convolution is the GEMM `out[Cout, OH·OW] = W[Cout, Cin·kh·kw] · cols[Cin·kh·kw, OH·OW]`,
//! and the input gradient is `col2im(Wᵀ · dout)`.

use super::{check_exact, mul, Conv2dGeometry};
use crate::error::Result;

/// For tap offset `off = kx·dw`: the output columns `[lo, hi)` whose input column
/// `ox·sw + off − pl` lies inside `[0, width)`.
fn valid_cols(g: &Conv2dGeometry, ow: usize, off: usize) -> (usize, usize) {
    let (sw, pl) = (g.stride.1, g.pad[1]);
    let lo = if off >= pl {
        0
    } else {
        (pl - off).div_ceil(sw)
    };
    let hi = (g.width + pl).saturating_sub(off).div_ceil(sw).min(ow);
    (lo.min(hi), hi)
}

/// The input row `oy·sh + ky·dh − pt`, if it lies inside the image.
fn input_row(g: &Conv2dGeometry, oy: usize, ky: usize) -> Option<usize> {
    (oy * g.stride.0 + ky * g.dilation.0)
        .checked_sub(g.pad[0])
        .filter(|&iy| iy < g.height)
}

/// Checks the geometry and both lengths; returns (ow, H·W, OH·OW), whose products are checked too
/// (with zero channels the lengths alone would not bound them).
fn check(
    op: &'static str,
    g: &Conv2dGeometry,
    x: usize,
    cols: usize,
) -> Result<(usize, usize, usize)> {
    let (oh, ow) = g.out_size()?;
    check_exact(op, "x", g.input_len()?, x)?;
    check_exact(op, "cols", g.col_len()?, cols)?;
    Ok((ow, mul(&[g.height, g.width])?, mul(&[oh, ow])?))
}

/// Unfolds one image `x[C, H, W]` into `cols[C·kh·kw, OH·OW]` (layout in the module doc); padding
/// becomes 0.
///
/// Errors when the geometry is invalid (see [`super::conv_out_size`]) or a length is not exactly
/// what the geometry needs.
pub fn im2col(g: &Conv2dGeometry, x: &[f32], cols: &mut [f32]) -> Result<()> {
    let (ow, hw, ohw) = check("im2col", g, x.len(), cols.len())?;
    let (kh, kw) = g.kernel;
    if ohw == 0 {
        return Ok(());
    }
    let mut rows = cols.chunks_exact_mut(ohw);
    for c in 0..g.channels {
        let plane = &x[c * hw..(c + 1) * hw];
        for ky in 0..kh {
            for kx in 0..kw {
                let off = kx * g.dilation.1;
                let (lo, hi) = valid_cols(g, ow, off);
                let out = rows.next().expect("cols length checked");
                for (oy, orow) in out.chunks_exact_mut(ow).enumerate() {
                    let Some(iy) = input_row(g, oy, ky) else {
                        orow.fill(0.0);
                        continue;
                    };
                    let xrow = &plane[iy * g.width..(iy + 1) * g.width];
                    orow[..lo].fill(0.0);
                    orow[hi..].fill(0.0);
                    if lo < hi {
                        let start = lo * g.stride.1 + off - g.pad[1];
                        if g.stride.1 == 1 {
                            orow[lo..hi].copy_from_slice(&xrow[start..start + (hi - lo)]);
                        } else {
                            let src = xrow[start..].iter().step_by(g.stride.1);
                            for (o, &v) in orow[lo..hi].iter_mut().zip(src) {
                                *o = v;
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Folds `cols[C·kh·kw, OH·OW]` back onto the image, accumulating: `x += col2im(cols)`.
///
/// The adjoint of [`im2col`] (⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩); padding entries are dropped. Errors
/// as [`im2col`] does.
pub fn col2im(g: &Conv2dGeometry, cols: &[f32], x: &mut [f32]) -> Result<()> {
    let (ow, hw, ohw) = check("col2im", g, x.len(), cols.len())?;
    let (kh, kw) = g.kernel;
    if ohw == 0 {
        return Ok(());
    }
    let mut rows = cols.chunks_exact(ohw);
    for c in 0..g.channels {
        let plane = &mut x[c * hw..(c + 1) * hw];
        for ky in 0..kh {
            for kx in 0..kw {
                let off = kx * g.dilation.1;
                let (lo, hi) = valid_cols(g, ow, off);
                let src = rows.next().expect("cols length checked");
                if lo == hi {
                    continue;
                }
                for (oy, srow) in src.chunks_exact(ow).enumerate() {
                    let Some(iy) = input_row(g, oy, ky) else {
                        continue;
                    };
                    let xrow = &mut plane[iy * g.width..(iy + 1) * g.width];
                    let start = lo * g.stride.1 + off - g.pad[1];
                    if g.stride.1 == 1 {
                        // Contiguous slices vectorize; `step_by` does not.
                        let dst = &mut xrow[start..start + (hi - lo)];
                        for (d, &v) in dst.iter_mut().zip(&srow[lo..hi]) {
                            *d += v;
                        }
                    } else {
                        let dst = xrow[start..].iter_mut().step_by(g.stride.1);
                        for (d, &v) in dst.zip(&srow[lo..hi]) {
                            *d += v;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
