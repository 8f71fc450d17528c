//! Depthwise 3×3 convolution (NCHW, one 3×3 filter per channel): the safe entry points.
//!
//! Each plane is copied into a zero-padded scratch plane once, so the per-ISA kernels only ever run a
//! valid correlation and need no border cases. The input gradient reuses the forward kernel: it is
//! the stride-1 correlation of the output gradient, spread onto the stride grid and padded by 2, with
//! the filter rotated by 180°.

use super::{check_exact, mul, Conv2dGeometry, DwPlane};
use crate::error::{Error, Result};
use crate::KernelSet;

/// Validated shape of a depthwise call.
struct Dw {
    c: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    sh: usize,
    sw: usize,
    pad: [usize; 4],
    /// Planes (batch·channels).
    planes: usize,
}

impl Dw {
    fn new(op: &'static str, g: &Conv2dGeometry, batch: usize) -> Result<Dw> {
        if g.kernel != (3, 3) || g.dilation != (1, 1) {
            return Err(Error::BadShape {
                op,
                what: format!(
                    "depthwise kernel must be 3×3 without dilation, got {:?} dilation {:?}",
                    g.kernel, g.dilation
                ),
            });
        }
        let (oh, ow) = g.out_size()?;
        let planes = mul(&[batch, g.channels])?;
        // Every buffer and index below stays within these products; check them once.
        let [pt, pl, pb, pr] = g.pad;
        let add = |a: usize, b: usize, c: usize| a.checked_add(b).and_then(|v| v.checked_add(c));
        let (ph, pw) = (add(g.height, pt, pb), add(g.width, pl, pr));
        let (vh, vw) = (add(g.height, pt, 2), add(g.width, pl, 2));
        for (a, b) in [(ph, pw), (vh, vw)] {
            let (Some(a), Some(b)) = (a, b) else {
                return Err(Error::BadShape {
                    op,
                    what: format!("padding {:?} overflows", g.pad),
                });
            };
            mul(&[a, b])?;
        }
        mul(&[planes, g.height, g.width])?;
        mul(&[planes, oh, ow])?;
        mul(&[g.channels, 9])?;
        Ok(Dw {
            c: g.channels,
            h: g.height,
            w: g.width,
            oh,
            ow,
            sh: g.stride.0,
            sw: g.stride.1,
            pad: g.pad,
            planes,
        })
    }

    fn in_plane(&self) -> usize {
        self.h * self.w
    }

    fn out_plane(&self) -> usize {
        self.oh * self.ow
    }
}

/// A zero-padded copy of one input plane, reused across planes (the border stays zero).
struct Padded {
    buf: Vec<f32>,
    ldx: usize,
    copy: bool,
}

impl Padded {
    fn new(d: &Dw) -> Padded {
        let [pt, pl, pb, pr] = d.pad;
        let copy = d.pad != [0; 4];
        let ldx = d.w + pl + pr;
        let len = if copy { (d.h + pt + pb) * ldx } else { 0 };
        Padded {
            buf: vec![0.0; len],
            ldx,
            copy,
        }
    }

    /// The forward geometry of one plane over this padded input (output size, strides, row stride).
    fn output_plane(&self, d: &Dw) -> DwPlane {
        DwPlane {
            oh: d.oh,
            ow: d.ow,
            sh: d.sh,
            sw: d.sw,
            ldx: self.ldx,
        }
    }

    /// The padded plane for input plane `x` (the plane itself when there is no padding).
    fn plane<'a>(&'a mut self, d: &Dw, x: &'a [f32]) -> &'a [f32] {
        if !self.copy {
            return x;
        }
        let (pt, pl) = (d.pad[0], d.pad[1]);
        for (r, src) in x.chunks_exact(d.w).enumerate() {
            let at = (pt + r) * self.ldx + pl;
            self.buf[at..at + d.w].copy_from_slice(src);
        }
        &self.buf
    }
}

/// Depthwise 3×3 forward over `batch` NCHW images: `y[n,c] = bias[c] + x[n,c] ⋆ w[c]`.
///
/// `g` must have a 3×3 kernel and dilation 1; any stride ≥ 1 and any padding per side. `x` is
/// batch·C·H·W, `w` is C·9 (`w[c, ky, kx]`), `bias` C, `y` batch·C·OH·OW (overwritten). Errors on a
/// bad geometry or any length that does not match exactly.
pub fn dwconv3x3(
    ks: &KernelSet,
    g: &Conv2dGeometry,
    batch: usize,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) -> Result<()> {
    const OP: &str = "dwconv3x3";
    let d = Dw::new(OP, g, batch)?;
    check_exact(OP, "x", d.planes * d.in_plane(), x.len())?;
    check_exact(OP, "w", d.c * 9, w.len())?;
    check_exact(OP, "y", d.planes * d.out_plane(), y.len())?;
    if let Some(b) = bias {
        check_exact(OP, "bias", d.c, b.len())?;
    }
    if d.planes == 0 || d.out_plane() == 0 {
        return Ok(());
    }
    let mut pad = Padded::new(&d);
    let plane = pad.output_plane(&d);
    let xs = x.chunks_exact(d.in_plane());
    for (i, (xp, yp)) in xs.zip(y.chunks_exact_mut(d.out_plane())).enumerate() {
        let c = i % d.c;
        let wc: &[f32; 9] = w[9 * c..9 * c + 9].try_into().expect("9 taps");
        let b = bias.map_or(0.0, |b| b[c]);
        (ks.conv.dw3x3)(&plane, pad.plane(&d, xp), wc, b, yp);
    }
    Ok(())
}

/// Depthwise 3×3 input gradient: `dx = ∂L/∂x` from `dy = ∂L/∂y` (dx overwritten).
///
/// Shapes as [`dwconv3x3`]: `dy` batch·C·OH·OW, `w` C·9, `dx` batch·C·H·W.
pub fn dwconv3x3_backward_input(
    ks: &KernelSet,
    g: &Conv2dGeometry,
    batch: usize,
    dy: &[f32],
    w: &[f32],
    dx: &mut [f32],
) -> Result<()> {
    const OP: &str = "dwconv3x3_backward_input";
    let d = Dw::new(OP, g, batch)?;
    check_exact(OP, "dy", d.planes * d.out_plane(), dy.len())?;
    check_exact(OP, "w", d.c * 9, w.len())?;
    check_exact(OP, "dx", d.planes * d.in_plane(), dx.len())?;
    if d.planes == 0 || d.in_plane() == 0 {
        return Ok(());
    }
    // dx[iy, ix] = Σ w[2−a, 2−b]·V[iy + pt + a, ix + pl + b], where V holds dy[oy, ox] at
    // (2 + oy·sh, 2 + ox·sw) and zeros elsewhere. Entries of dy beyond V only reach rows or columns
    // past the end of dx, so they are dropped.
    let (pt, pl) = (d.pad[0], d.pad[1]);
    let (vh, vw) = (d.h + pt + 2, d.w + pl + 2);
    let mut v = vec![0.0f32; vh * vw];
    let plane = DwPlane {
        oh: d.h,
        ow: d.w,
        sh: 1,
        sw: 1,
        ldx: vw,
    };
    let rows = (0..d.oh).map(|oy| 2 + oy * d.sh).take_while(|&r| r < vh);
    let cols: Vec<usize> = (0..d.ow)
        .map(|ox| 2 + ox * d.sw)
        .take_while(|&c| c < vw)
        .collect();
    let rows: Vec<usize> = rows.collect();
    let dys = dy.chunks_exact(d.out_plane());
    for (i, (dyp, dxp)) in dys.zip(dx.chunks_exact_mut(d.in_plane())).enumerate() {
        let c = i % d.c;
        let mut rot = [0.0f32; 9];
        for (k, r) in rot.iter_mut().enumerate() {
            *r = w[9 * c + 8 - k];
        }
        for (oy, &r) in rows.iter().enumerate() {
            for (ox, &col) in cols.iter().enumerate() {
                v[r * vw + col] = dyp[oy * d.ow + ox];
            }
        }
        (ks.conv.dw3x3)(&plane, &v[pt * vw + pl..], &rot, 0.0, dxp);
    }
    Ok(())
}

/// Depthwise 3×3 weight and bias gradients, accumulated over the batch: `dw[c] += Σ dy ⋆ x`,
/// `dbias[c] += Σ dy`.
///
/// Shapes as [`dwconv3x3`]: `x` batch·C·H·W, `dy` batch·C·OH·OW, `dw` C·9, `dbias` C.
pub fn dwconv3x3_backward_weight(
    ks: &KernelSet,
    g: &Conv2dGeometry,
    batch: usize,
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    dbias: Option<&mut [f32]>,
) -> Result<()> {
    const OP: &str = "dwconv3x3_backward_weight";
    let d = Dw::new(OP, g, batch)?;
    check_exact(OP, "x", d.planes * d.in_plane(), x.len())?;
    check_exact(OP, "dy", d.planes * d.out_plane(), dy.len())?;
    check_exact(OP, "dw", d.c * 9, dw.len())?;
    if let Some(db) = &dbias {
        check_exact(OP, "dbias", d.c, db.len())?;
    }
    if d.planes == 0 || d.out_plane() == 0 {
        return Ok(());
    }
    let mut pad = Padded::new(&d);
    let plane = pad.output_plane(&d);
    let xs = x.chunks_exact(d.in_plane());
    for (i, (xp, dyp)) in xs.zip(dy.chunks_exact(d.out_plane())).enumerate() {
        let c = i % d.c;
        let taps = (ks.conv.dw3x3_grad_w)(&plane, pad.plane(&d, xp), dyp);
        for (acc, t) in dw[9 * c..9 * c + 9].iter_mut().zip(taps) {
            *acc += t;
        }
    }
    if let Some(db) = dbias {
        for (i, dyp) in dy.chunks_exact(d.out_plane()).enumerate() {
            db[i % d.c] += (ks.rows.sum)(dyp);
        }
    }
    Ok(())
}
