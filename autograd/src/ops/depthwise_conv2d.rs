//! `depthwise_conv2d`: one filter per channel (groups = C), NCHW, parallel over images.
//!
//! 3×3 filters go to the kernels' direct depthwise convolution (any stride and padding); other sizes
//! (MobileNetV3's 5×5) take a scalar path that walks each tap over the rows it reaches.

use inkling_kernels::conv::{
    dwconv3x3, dwconv3x3_backward_input, dwconv3x3_backward_weight, Conv2dGeometry,
};

use super::conv2d::{apply_conv, check_bias, conv_grads, kernel_size};
use super::{par, Conv2dSpec, Op, OpKind, Saved};
use crate::{Error, Result, Tensor};

/// Depthwise cross-correlation of x `[N, C, H, W]` with W `[C, 1, kh, kw]` plus bias `[C]`; `spec`
/// as for [`super::conv2d`], with `spec.groups` equal to C (as PyTorch writes a depthwise conv).
pub fn depthwise_conv2d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    spec: &Conv2dSpec,
) -> Result<Tensor> {
    let op = Depthwise {
        spec: *spec,
        kernel: kernel_size(w),
        bias: b.is_some(),
    };
    apply_conv(op, x, w, b)
}

#[derive(Debug)]
struct Depthwise {
    spec: Conv2dSpec,
    kernel: (usize, usize),
    bias: bool,
}

const OP: &str = "depthwise_conv2d";

/// Validated sizes of one depthwise convolution.
#[derive(Clone, Copy, Debug)]
struct Geo {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    stride: (usize, usize),
    pad: (usize, usize),
    geom: Conv2dGeometry,
}

impl Geo {
    fn new(spec: &Conv2dSpec, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Geo> {
        let (Ok([n, c, h, wd]), Ok([wc, one, kh, kw])) = (
            <[usize; 4]>::try_from(x.shape()),
            <[usize; 4]>::try_from(w.shape()),
        ) else {
            crate::bail_shape!(
                OP,
                "needs x [N, C, H, W] and W [C, 1, kh, kw], got {:?} and {:?}",
                x.shape(),
                w.shape()
            );
        };
        if wc != c || one != 1 {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: x.shape().to_vec(),
                rhs: w.shape().to_vec(),
            });
        }
        if spec.groups != c {
            crate::bail_shape!(
                OP,
                "groups must equal the {c} channels, got {}",
                spec.groups
            );
        }
        check_bias(OP, w, b, c)?;
        let geom = spec.geometry(c, h, wd, kh, kw);
        let (oh, ow) = geom.out_size()?;
        Ok(Geo {
            n,
            c,
            h,
            w: wd,
            kh,
            kw,
            oh,
            ow,
            stride: spec.stride,
            pad: spec.padding,
            geom,
        })
    }

    fn img(&self) -> usize {
        self.c * self.h * self.w
    }

    fn out_img(&self) -> usize {
        self.c * self.oh * self.ow
    }

    fn taps(&self) -> usize {
        self.kh * self.kw
    }

    fn is_3x3(&self) -> bool {
        (self.kh, self.kw) == (3, 3)
    }

    /// Calls `f(tap, oy, iy, ox_range, ix_first)` for every tap and output row it reaches: output
    /// columns `ox_range` read input columns `ix_first + (ox − ox_range.start)·sw` of input row `iy`.
    fn each_tap_row(&self, mut f: impl FnMut(usize, usize, usize, std::ops::Range<usize>, usize)) {
        let ((sh, sw), (ph, pw)) = (self.stride, self.pad);
        for ky in 0..self.kh {
            for kx in 0..self.kw {
                let lo = if kx >= pw { 0 } else { (pw - kx).div_ceil(sw) };
                let hi = (self.w + pw).saturating_sub(kx).div_ceil(sw).min(self.ow);
                if lo >= hi {
                    continue;
                }
                let ix0 = lo * sw + kx - pw;
                for oy in 0..self.oh {
                    let Some(iy) = (oy * sh + ky).checked_sub(ph).filter(|&iy| iy < self.h) else {
                        continue;
                    };
                    f(ky * self.kw + kx, oy, iy, lo..hi, ix0);
                }
            }
        }
    }

    /// One plane of the scalar forward: `y = bias + x ⋆ w`.
    fn plane_forward(&self, x: &[f32], w: &[f32], bias: f32, y: &mut [f32]) {
        y.fill(bias);
        let sw = self.stride.1;
        self.each_tap_row(|t, oy, iy, oxs, ix0| {
            let xr = &x[iy * self.w + ix0..(iy + 1) * self.w];
            let yr = &mut y[oy * self.ow + oxs.start..oy * self.ow + oxs.end];
            let wt = w[t];
            if sw == 1 {
                // Contiguous slices vectorize; `step_by` does not.
                for (o, &v) in yr.iter_mut().zip(xr) {
                    *o += wt * v;
                }
            } else {
                for (o, &v) in yr.iter_mut().zip(xr.iter().step_by(sw)) {
                    *o += wt * v;
                }
            }
        });
    }

    /// One plane of the scalar backward: `dx = Σ_taps w·dy` (when given) and `dw += dy ⋆ x`.
    fn plane_backward(
        &self,
        x: &[f32],
        w: &[f32],
        dy: &[f32],
        mut dx: Option<&mut [f32]>,
        dw: &mut [f32],
    ) {
        if let Some(dx) = dx.as_deref_mut() {
            dx.fill(0.0);
        }
        let sw = self.stride.1;
        self.each_tap_row(|t, oy, iy, oxs, ix0| {
            let dyr = &dy[oy * self.ow + oxs.start..oy * self.ow + oxs.end];
            let xr = &x[iy * self.w + ix0..(iy + 1) * self.w];
            let wt = w[t];
            if sw == 1 {
                dw[t] += dot(dyr, xr);
            } else {
                let xs = xr.iter().step_by(sw);
                dw[t] += dyr.iter().zip(xs).map(|(&g, &v)| g * v).sum::<f32>();
            }
            let Some(dx) = dx.as_deref_mut() else {
                return;
            };
            let dxr = &mut dx[iy * self.w + ix0..(iy + 1) * self.w];
            if sw == 1 {
                for (d, &g) in dxr.iter_mut().zip(dyr) {
                    *d += wt * g;
                }
            } else {
                for (d, &g) in dxr.iter_mut().step_by(sw).zip(dyr) {
                    *d += wt * g;
                }
            }
        });
    }
}

/// `Σ a·b` over the shorter length, in 8 lanes so that it vectorizes.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

impl Op for Depthwise {
    fn kind(&self) -> OpKind {
        OpKind::DepthwiseConv2d {
            kernel: self.kernel,
            stride: self.spec.stride,
            padding: self.spec.padding,
            bias: self.bias,
        }
    }

    fn forward(&self, xs: &[&Tensor], save: &mut Saved) -> Result<Tensor> {
        let (x, w, b) = (xs[0], xs[1], xs.get(2).copied());
        let d = Geo::new(&self.spec, x, w, b)?;
        let mut y = Tensor::uninit(&[d.n, d.c, d.oh, d.ow]);
        let ks = inkling_kernels::kernels();
        let (xd, wd, bd) = (x.data(), w.data(), b.map(Tensor::data));
        par::map_items(d.n, y.data_mut(), |imgs, yc| {
            let xc = &xd[imgs.start * d.img()..imgs.end * d.img()];
            if d.is_3x3() {
                dwconv3x3(ks, &d.geom, imgs.len(), xc, wd, bd, yc)?;
                return Ok(());
            }
            let (ip, op) = (d.h * d.w, d.oh * d.ow);
            for (i, yp) in yc.chunks_exact_mut(op.max(1)).enumerate() {
                let ch = i % d.c;
                let wc = &wd[ch * d.taps()..(ch + 1) * d.taps()];
                let bias = bd.map_or(0.0, |b| b[ch]);
                d.plane_forward(&xc[i * ip..(i + 1) * ip], wc, bias, yp);
            }
            Ok(())
        })?;
        save.push(x);
        save.push(w);
        Ok(y)
    }

    fn backward(&self, gy: &Tensor, saved: Saved, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let mut s = saved.into_vec().into_iter();
        let (x, w) = (s.next().expect("saved x"), s.next().expect("saved w"));
        let d = Geo::new(&self.spec, &x, &w, None)?;
        let ks = inkling_kernels::kernels();
        let (xd, wd, dy) = (x.data(), w.data(), gy.data());
        let need_db = needs.get(2).copied().unwrap_or(false);
        // The partials always hold dW: the scalar path accumulates it in the same tap walk as dx,
        // needed or not.
        let dw_len = w.numel();
        let mut dx = needs[0].then(|| Tensor::uninit(x.shape()));
        let sums = par::map_reduce_items(
            d.n,
            dx.as_mut().map(Tensor::data_mut),
            dw_len + d.c,
            |imgs, dxc, acc| {
                let (dwp, dbp) = acc.split_at_mut(dw_len);
                let xc = &xd[imgs.start * d.img()..imgs.end * d.img()];
                let dyc = &dy[imgs.start * d.out_img()..imgs.end * d.out_img()];
                let cnt = imgs.len();
                if d.is_3x3() {
                    if let Some(dxc) = dxc {
                        dwconv3x3_backward_input(ks, &d.geom, cnt, dyc, wd, dxc)?;
                    }
                    if needs[1] || need_db {
                        dwconv3x3_backward_weight(ks, &d.geom, cnt, xc, dyc, dwp, Some(dbp))?;
                    }
                    return Ok(());
                }
                let (ip, op) = (d.h * d.w, d.oh * d.ow);
                let mut dxc = dxc;
                for i in 0..cnt * d.c {
                    let ch = i % d.c;
                    let taps = ch * d.taps()..(ch + 1) * d.taps();
                    let dyp = &dyc[i * op..(i + 1) * op];
                    let dxp = dxc.as_deref_mut().map(|dx| &mut dx[i * ip..(i + 1) * ip]);
                    let xp = &xc[i * ip..(i + 1) * ip];
                    d.plane_backward(xp, &wd[taps.clone()], dyp, dxp, &mut dwp[taps]);
                    dbp[ch] += (ks.rows.sum)(dyp);
                }
                Ok(())
            },
        )?;
        let (dw_sum, db_sum) = sums.split_at(dw_len);
        conv_grads(dx, &w, dw_sum, db_sum, needs, self.bias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{gradcheck, rand_tensor, Tol};
    use crate::ops::conv2d;

    fn spec(stride: usize, pad: usize, groups: usize) -> Conv2dSpec {
        Conv2dSpec {
            stride: (stride, stride),
            padding: (pad, pad),
            groups,
        }
    }

    #[test]
    fn depthwise_matches_grouped_conv2d() {
        // 3×3 (kernel path) at strides 1 and 2, 5×5 and 3×2 (scalar path).
        let cases = [
            (3, 3, spec(1, 1, 3)),
            (3, 3, spec(2, 1, 3)),
            (3, 3, spec(2, 0, 3)),
            (5, 5, spec(1, 2, 3)),
            (5, 5, spec(2, 2, 3)),
            (3, 2, spec(2, 1, 3)),
        ];
        for (i, (kh, kw, s)) in cases.into_iter().enumerate() {
            let x = rand_tensor(&[2, 3, 7, 6], 80 + i as u64);
            let w = rand_tensor(&[3, 1, kh, kw], 90 + i as u64);
            let b = rand_tensor(&[3], 100 + i as u64);
            let y = depthwise_conv2d(&x, &w, Some(&b), &s).unwrap();
            let want = conv2d(&x, &w, Some(&b), &s).unwrap();
            assert_eq!(y.shape(), want.shape());
            for (a, e) in y.data().iter().zip(want.data()) {
                approx::assert_abs_diff_eq!(*a, *e, epsilon = 1e-5);
            }
        }
    }

    #[test]
    fn gradcheck_depthwise_conv2d() {
        for (k, s) in [
            (3, spec(1, 1, 2)),
            (3, spec(2, 1, 2)),
            (5, spec(1, 2, 2)),
            (5, spec(2, 1, 2)),
        ] {
            let x = rand_tensor(&[2, 2, 5, 6], 110);
            let w = rand_tensor(&[2, 1, k, k], 111);
            let b = rand_tensor(&[2], 112);
            gradcheck(
                |xs| depthwise_conv2d(&xs[0], &xs[1], Some(&xs[2]), &s),
                &[x.clone(), w.clone(), b],
                Tol::F32,
            );
            gradcheck(
                |xs| depthwise_conv2d(&xs[0], &xs[1], None, &s),
                &[x, w],
                Tol::F32,
            );
        }
    }

    #[test]
    fn depthwise_rejects_bad_input() {
        let x = rand_tensor(&[1, 3, 5, 5], 1);
        let w = rand_tensor(&[3, 1, 3, 3], 2);
        let s = spec(1, 1, 3);
        // groups other than C.
        assert!(matches!(
            depthwise_conv2d(&x, &w, None, &spec(1, 1, 1)),
            Err(Error::BadShape { op: OP, .. })
        ));
        // Channels of W differ from x's, and a multiplier > 1.
        for ws in [[2, 1, 3, 3], [3, 2, 3, 3]] {
            assert!(matches!(
                depthwise_conv2d(&x, &rand_tensor(&ws, 3), None, &s),
                Err(Error::ShapeMismatch { op: OP, .. })
            ));
        }
        assert!(matches!(
            depthwise_conv2d(&x, &w, Some(&rand_tensor(&[2], 4)), &s),
            Err(Error::ShapeMismatch { op: OP, .. })
        ));
        // Kernel larger than the padded input.
        let big = rand_tensor(&[3, 1, 9, 9], 5);
        assert!(matches!(
            depthwise_conv2d(&x, &big, None, &s),
            Err(Error::Kernel(_))
        ));
    }
}
