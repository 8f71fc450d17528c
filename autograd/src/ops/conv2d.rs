//! `conv2d`: NCHW convolution as im2col + one GEMM per image and group, parallel over images.
//!
//! Forward: `Y_g[Og, OH·OW] = W_g[Og, Cg·kh·kw] · cols_g[Cg·kh·kw, OH·OW]`. Backward: `dW_g += dY_g ·
//! cols_gᵀ` (per-chunk partials summed in order) and `dx_g = col2im(W_gᵀ · dY_g)`. The columns are
//! rebuilt in backward rather than saved (im2col is cheap next to keeping 9× the input). A 1×1
//! kernel with stride 1 and no padding multiplies the image itself.

use inkling_kernels::conv::{col2im, im2col, Conv2dGeometry};
use inkling_kernels::gemm::{self, Epilogue, GemmParams};
use inkling_kernels::KernelSet;

use super::{apply, par, Op, OpKind, Saved};
use crate::{Error, Result, Tensor};

/// Stride, symmetric zero padding and channel groups of a 2-D convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dSpec {
    /// (vertical, horizontal).
    pub stride: (usize, usize),
    /// Zero rows added on top and bottom, zero columns on left and right.
    pub padding: (usize, usize),
    /// Channel groups: input and output channels are split into this many independent groups.
    pub groups: usize,
}

impl Default for Conv2dSpec {
    /// Stride 1, no padding, one group.
    fn default() -> Self {
        Conv2dSpec {
            stride: (1, 1),
            padding: (0, 0),
            groups: 1,
        }
    }
}

impl Conv2dSpec {
    /// The kernels' geometry of one `channels × h × w` image under a `kh × kw` kernel.
    pub(crate) fn geometry(
        &self,
        channels: usize,
        h: usize,
        w: usize,
        kh: usize,
        kw: usize,
    ) -> Conv2dGeometry {
        let (ph, pw) = self.padding;
        Conv2dGeometry::new(channels, h, w, kh, kw)
            .stride(self.stride.0, self.stride.1)
            .pad_tlbr(ph, pw, ph, pw)
    }
}

/// Runs a convolution op on x, W and the bias when there is one.
pub(crate) fn apply_conv(
    op: impl Op,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
) -> Result<Tensor> {
    match b {
        Some(b) => apply(op, &[x, w, b]),
        None => apply(op, &[x, w]),
    }
}

/// Errors unless the bias (if any) is `[out]`.
pub(crate) fn check_bias(
    op: &'static str,
    w: &Tensor,
    b: Option<&Tensor>,
    out: usize,
) -> Result<()> {
    match b {
        Some(b) if b.shape() != [out] => Err(Error::ShapeMismatch {
            op,
            lhs: w.shape().to_vec(),
            rhs: b.shape().to_vec(),
        }),
        _ => Ok(()),
    }
}

/// The gradients `[dx, dW, (db)]` of a convolution from dx and the summed `dW` and `db` partials;
/// `dW` and `db` become tensors only where `needs` asks (db only when the op has a bias).
pub(crate) fn conv_grads(
    dx: Option<Tensor>,
    w: &Tensor,
    dw: &[f32],
    db: &[f32],
    needs: &[bool],
    bias: bool,
) -> Result<Vec<Option<Tensor>>> {
    let dw = needs[1]
        .then(|| Tensor::from_slice(w.shape(), dw))
        .transpose()?;
    let mut grads = vec![dx, dw];
    if bias {
        let db = needs[2]
            .then(|| Tensor::from_slice(&[db.len()], db))
            .transpose()?;
        grads.push(db);
    }
    Ok(grads)
}

/// Cross-correlation of x `[N, C, H, W]` with W `[O, C/groups, kh, kw]` plus bias `[O]`, giving
/// `[N, O, OH, OW]` with `OH = (H + 2·ph − kh)/sh + 1` (likewise OW), as PyTorch's `conv2d`.
pub fn conv2d(x: &Tensor, w: &Tensor, b: Option<&Tensor>, spec: &Conv2dSpec) -> Result<Tensor> {
    let op = Conv2d {
        spec: *spec,
        kernel: kernel_size(w),
        bias: b.is_some(),
    };
    apply_conv(op, x, w, b)
}

/// (kh, kw) of a weight `[.., kh, kw]` ((0, 0) for a rank the op rejects anyway).
pub(crate) fn kernel_size(w: &Tensor) -> (usize, usize) {
    match *w.shape() {
        [_, _, kh, kw] => (kh, kw),
        _ => (0, 0),
    }
}

#[derive(Debug)]
struct Conv2d {
    spec: Conv2dSpec,
    kernel: (usize, usize),
    bias: bool,
}

const OP: &str = "conv2d";

/// Validated sizes of one convolution.
#[derive(Clone, Copy, Debug)]
struct Geo {
    n: usize,
    groups: usize,
    /// Output channels per group.
    og: usize,
    /// Elements of one input image (all groups), and of one group's channels.
    img: usize,
    img_g: usize,
    /// Output size.
    oh: usize,
    ow: usize,
    /// GEMM depth `Cg·kh·kw` and output plane `OH·OW`.
    k: usize,
    ohw: usize,
    /// im2col geometry of one group of one image.
    geom: Conv2dGeometry,
    /// 1×1, stride 1, no padding: the image is its own column matrix.
    pointwise: bool,
}

impl Geo {
    fn new(spec: &Conv2dSpec, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Geo> {
        if x.rank() != 4 || w.rank() != 4 {
            crate::bail_shape!(
                OP,
                "needs x [N, C, H, W] and W [O, C/groups, kh, kw], got {:?} and {:?}",
                x.shape(),
                w.shape()
            );
        }
        let [n, c, h, wd] = x.shape().try_into().expect("rank 4");
        let [o, cg, kh, kw] = w.shape().try_into().expect("rank 4");
        let groups = spec.groups;
        if groups == 0 || o % groups != 0 || cg * groups != c {
            crate::bail_shape!(
                OP,
                "groups {groups} must divide output channels and match input channels: x {:?}, W {:?}",
                x.shape(),
                w.shape()
            );
        }
        check_bias(OP, w, b, o)?;
        let geom = spec.geometry(cg, h, wd, kh, kw);
        let (oh, ow) = geom.out_size()?;
        Ok(Geo {
            n,
            groups,
            og: o / groups,
            img: c * h * wd,
            img_g: cg * h * wd,
            oh,
            ow,
            k: cg * kh * kw,
            ohw: oh * ow,
            geom,
            pointwise: (kh, kw) == (1, 1) && spec.stride == (1, 1) && spec.padding == (0, 0),
        })
    }

    /// Output elements per image.
    fn out_img(&self) -> usize {
        self.groups * self.og * self.ohw
    }

    /// Weight elements per group.
    fn w_group(&self) -> usize {
        self.og * self.k
    }

    /// Columns of group `g` of image `xi` in `cols` (or the image itself when pointwise).
    fn columns<'a>(&self, xi: &'a [f32], g: usize, cols: &'a mut [f32]) -> Result<&'a [f32]> {
        let xg = &xi[g * self.img_g..(g + 1) * self.img_g];
        if self.pointwise {
            return Ok(xg);
        }
        im2col(&self.geom, xg, cols)?;
        Ok(cols)
    }
}

/// `C = op(A)·op(B)` (β = 0) or `C += op(A)·op(B)` (`accumulate`), contiguous operands.
fn gemm_into(
    ks: &KernelSet,
    p: GemmParams,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    acc: bool,
) -> Result<()> {
    let p = if acc { p.scale(1.0, 1.0) } else { p };
    gemm::sgemm(ks, &p, a, b, c, &Epilogue::default())?;
    Ok(())
}

impl Op for Conv2d {
    fn kind(&self) -> OpKind {
        OpKind::Conv2d {
            kernel: self.kernel,
            stride: self.spec.stride,
            padding: self.spec.padding,
            groups: self.spec.groups,
            bias: self.bias,
        }
    }

    fn forward(&self, xs: &[&Tensor], save: &mut Saved) -> Result<Tensor> {
        let (x, w, b) = (xs[0], xs[1], xs.get(2).copied());
        let d = Geo::new(&self.spec, x, w, b)?;
        let mut y = Tensor::uninit(&[d.n, d.groups * d.og, d.oh, d.ow]);
        let ks = inkling_kernels::kernels();
        let (xd, wd) = (x.data(), w.data());
        let cols_len = if d.pointwise { 0 } else { d.k * d.ohw };
        par::map_items(d.n, y.data_mut(), |imgs, yc| {
            par::with_scratch(cols_len, |cols| {
                for (j, i) in imgs.enumerate() {
                    let xi = &xd[i * d.img..(i + 1) * d.img];
                    let yi = &mut yc[j * d.out_img()..(j + 1) * d.out_img()];
                    for g in 0..d.groups {
                        let cm = d.columns(xi, g, cols)?;
                        let wg = &wd[g * d.w_group()..(g + 1) * d.w_group()];
                        let yg = &mut yi[g * d.og * d.ohw..(g + 1) * d.og * d.ohw];
                        gemm_into(ks, GemmParams::new(d.og, d.ohw, d.k), wg, cm, yg, false)?;
                    }
                    if let Some(b) = b {
                        for (row, &bv) in yi.chunks_exact_mut(d.ohw.max(1)).zip(b.data()) {
                            row.iter_mut().for_each(|v| *v += bv);
                        }
                    }
                }
                Ok(())
            })
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
        let dw_len = if needs[1] { w.numel() } else { 0 };
        let db_len = if need_db { d.groups * d.og } else { 0 };
        let mut dx = needs[0].then(|| Tensor::uninit(x.shape()));
        // cols for dW, dcols for dx.
        let cols_len = if d.pointwise { 0 } else { d.k * d.ohw };
        let sums = par::map_reduce_items(
            d.n,
            dx.as_mut().map(Tensor::data_mut),
            dw_len + db_len,
            |imgs, mut dxc, acc| {
                let (dwp, dbp) = acc.split_at_mut(dw_len);
                par::with_scratch(2 * cols_len, |scratch| {
                    let (cols, dcols) = scratch.split_at_mut(cols_len);
                    for (j, i) in imgs.enumerate() {
                        let xi = &xd[i * d.img..(i + 1) * d.img];
                        let dyi = &dy[i * d.out_img()..(i + 1) * d.out_img()];
                        for g in 0..d.groups {
                            let dyg = &dyi[g * d.og * d.ohw..(g + 1) * d.og * d.ohw];
                            let wg = &wd[g * d.w_group()..(g + 1) * d.w_group()];
                            if let Some(dxc) = dxc.as_deref_mut() {
                                let dxg = &mut dxc[j * d.img..(j + 1) * d.img]
                                    [g * d.img_g..(g + 1) * d.img_g];
                                // dcols = W_gᵀ · dY_g, folded back onto the image.
                                let p = GemmParams::new(d.k, d.ohw, d.og).trans_a();
                                if d.pointwise {
                                    gemm_into(ks, p, wg, dyg, dxg, false)?;
                                } else {
                                    gemm_into(ks, p, wg, dyg, dcols, false)?;
                                    dxg.fill(0.0);
                                    col2im(&d.geom, dcols, dxg)?;
                                }
                            }
                            if dw_len > 0 {
                                let cm = d.columns(xi, g, cols)?;
                                let dwg = &mut dwp[g * d.w_group()..(g + 1) * d.w_group()];
                                let p = GemmParams::new(d.og, d.k, d.ohw).trans_b();
                                gemm_into(ks, p, dyg, cm, dwg, true)?;
                            }
                        }
                        if db_len > 0 {
                            for (acc, row) in dbp.iter_mut().zip(dyi.chunks_exact(d.ohw.max(1))) {
                                *acc += (ks.rows.sum)(row);
                            }
                        }
                    }
                    Ok(())
                })
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

    /// Direct nested-loop convolution (f64 sums).
    pub(crate) fn naive_conv(
        x: &Tensor,
        w: &Tensor,
        b: Option<&Tensor>,
        s: &Conv2dSpec,
    ) -> Vec<f32> {
        let [n, c, h, wd] = x.shape().try_into().unwrap();
        let [o, cg, kh, kw] = w.shape().try_into().unwrap();
        let og = o / s.groups;
        let oh = (h + 2 * s.padding.0 - kh) / s.stride.0 + 1;
        let ow = (wd + 2 * s.padding.1 - kw) / s.stride.1 + 1;
        let mut y = vec![0.0; n * o * oh * ow];
        for i in 0..n {
            for oc in 0..o {
                let g = oc / og;
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = b.map_or(0.0, |b| b.data()[oc] as f64);
                        for ci in 0..cg {
                            let ic = g * cg + ci;
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let iy = (oy * s.stride.0 + ky) as isize - s.padding.0 as isize;
                                    let ix = (ox * s.stride.1 + kx) as isize - s.padding.1 as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                        continue;
                                    }
                                    let xv = x.data()
                                        [((i * c + ic) * h + iy as usize) * wd + ix as usize];
                                    let wv = w.data()[((oc * cg + ci) * kh + ky) * kw + kx];
                                    acc += xv as f64 * wv as f64;
                                }
                            }
                        }
                        y[((i * o + oc) * oh + oy) * ow + ox] = acc as f32;
                    }
                }
            }
        }
        y
    }

    fn spec(stride: (usize, usize), padding: (usize, usize), groups: usize) -> Conv2dSpec {
        Conv2dSpec {
            stride,
            padding,
            groups,
        }
    }

    #[test]
    fn conv2d_matches_direct_loops() {
        // (x shape, W shape, spec): 3×3 stride 2 pad 1, groups 2, non-square kernel and stride,
        // and the 1×1 shortcut.
        let cases = [
            ([2, 4, 7, 6], [6, 4, 3, 3], spec((2, 2), (1, 1), 1)),
            ([2, 4, 7, 6], [6, 2, 3, 3], spec((2, 2), (1, 1), 2)),
            ([1, 3, 5, 6], [4, 3, 3, 2], spec((2, 1), (1, 0), 1)),
            ([3, 4, 3, 5], [5, 4, 1, 1], spec((1, 1), (0, 0), 1)),
            ([2, 4, 3, 3], [4, 1, 1, 1], spec((1, 1), (0, 0), 4)),
        ];
        for (i, (xs, ws, s)) in cases.into_iter().enumerate() {
            let x = rand_tensor(&xs, 40 + i as u64);
            let w = rand_tensor(&ws, 50 + i as u64);
            let b = rand_tensor(&[ws[0]], 60 + i as u64);
            for bias in [None, Some(&b)] {
                let y = conv2d(&x, &w, bias, &s).unwrap();
                let want = naive_conv(&x, &w, bias, &s);
                assert_eq!(y.numel(), want.len());
                for (a, e) in y.data().iter().zip(&want) {
                    approx::assert_abs_diff_eq!(*a, *e, epsilon = 1e-5);
                }
            }
        }
    }

    #[test]
    fn gradcheck_conv2d() {
        for (groups, ws) in [(1, [4, 2, 3, 3]), (2, [4, 1, 3, 3])] {
            let x = rand_tensor(&[2, 2, 5, 4], 70);
            let w = rand_tensor(&ws, 71);
            let b = rand_tensor(&[4], 72);
            let s = spec((2, 2), (1, 1), groups);
            gradcheck(
                |xs| conv2d(&xs[0], &xs[1], Some(&xs[2]), &s),
                &[x.clone(), w.clone(), b],
                Tol::F32,
            );
            gradcheck(|xs| conv2d(&xs[0], &xs[1], None, &s), &[x, w], Tol::F32);
        }
        // The 1×1 shortcut.
        let s = Conv2dSpec::default();
        gradcheck(
            |xs| conv2d(&xs[0], &xs[1], None, &s),
            &[
                rand_tensor(&[2, 3, 2, 3], 73),
                rand_tensor(&[2, 3, 1, 1], 74),
            ],
            Tol::F32,
        );
    }

    #[test]
    fn conv2d_rejects_bad_shapes() {
        let x = rand_tensor(&[1, 4, 5, 5], 1);
        let s = Conv2dSpec::default();
        let bad = |r: Result<Tensor>| {
            assert!(
                matches!(
                    r,
                    Err(Error::BadShape { op: OP, .. })
                        | Err(Error::ShapeMismatch { op: OP, .. })
                        | Err(Error::Kernel(_))
                ),
                "{r:?}"
            )
        };
        // Input channels differ from W's.
        bad(conv2d(&x, &rand_tensor(&[2, 3, 3, 3], 2), None, &s));
        // Groups that do not divide the output channels, and zero groups.
        bad(conv2d(
            &x,
            &rand_tensor(&[3, 2, 3, 3], 3),
            None,
            &spec((1, 1), (0, 0), 2),
        ));
        bad(conv2d(
            &x,
            &rand_tensor(&[2, 4, 3, 3], 4),
            None,
            &spec((1, 1), (0, 0), 0),
        ));
        // Bias of the wrong length.
        let w = rand_tensor(&[2, 4, 3, 3], 5);
        bad(conv2d(&x, &w, Some(&rand_tensor(&[3], 6)), &s));
        // Kernel larger than the padded input, and stride 0.
        bad(conv2d(&x, &rand_tensor(&[2, 4, 7, 7], 7), None, &s));
        bad(conv2d(&x, &w, None, &spec((0, 1), (0, 0), 1)));
        // Rank.
        bad(conv2d(&rand_tensor(&[4, 5, 5], 8), &w, None, &s));
    }
}
