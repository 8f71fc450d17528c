//! CONV_2D (im2col + the int8 GEMM) and DEPTHWISE_CONV_2D (a direct loop), NHWC, per-channel weights.
//!
//! XNNPACK pads with the input zero point, so padded taps add `(zp_x − zp_x)·w = 0`; both ops then
//! requantize like FULLY_CONNECTED with `scale_c = f32(f32(s_x·s_w[c]) / s_y)`.

use super::linear::Int8Linear;
use super::requant::{
    channel_scales, check_conv_scales, check_qparams, output_bounds, requant, Clamp,
};
use super::{check_len, numel, shape_err};
pub use crate::graph::Padding;
use crate::{QParams, Result};

/// A 2-D sliding window over an NHWC input: sizes, stride and explicit pads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Input `[N, H, W, C]`.
    pub input: [usize; 4],
    /// Kernel height and width.
    pub kernel: (usize, usize),
    /// Vertical and horizontal stride.
    pub stride: (usize, usize),
    /// Pads `[top, bottom, left, right]`.
    pub pads: [usize; 4],
}

impl Window {
    /// The window TFLite uses for `padding` (dilation 1).
    ///
    /// Errors on a zero kernel or stride, or (VALID) a kernel larger than the input.
    pub fn new(
        input: [usize; 4],
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: Padding,
    ) -> Result<Window> {
        let (kh, kw) = kernel;
        let (sh, sw) = stride;
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 {
            return Err(shape_err(
                "CONV_2D",
                format!("kernel {kernel:?} / stride {stride:?} has a zero"),
            ));
        }
        let (t, b) = padding.pads(input[1], kh, sh);
        let (l, r) = padding.pads(input[2], kw, sw);
        let pads = [t, b, l, r];
        let win = Window {
            input,
            kernel,
            stride,
            pads,
        };
        win.out_hw()?;
        Ok(win)
    }

    /// Output height and width; errors when the kernel does not fit the padded input.
    pub fn out_hw(&self) -> Result<(usize, usize)> {
        let [_, h, w, _] = self.input;
        let [t, b, l, r] = self.pads;
        let (kh, kw) = self.kernel;
        let (sh, sw) = self.stride;
        let (ph, pw) = (h + t + b, w + l + r);
        if ph < kh || pw < kw || sh == 0 || sw == 0 {
            return Err(shape_err(
                "CONV_2D",
                format!(
                    "kernel {:?} does not fit the padded input {ph}×{pw}",
                    self.kernel
                ),
            ));
        }
        Ok(((ph - kh) / sh + 1, (pw - kw) / sw + 1))
    }

    /// Output element count `[N, OH, OW, oc]`.
    fn out_len(&self, op: &str, oc: usize) -> Result<usize> {
        let (oh, ow) = self.out_hw()?;
        numel(op, &[self.input[0], oh, ow, oc])
    }

    /// Input row/column of tap `i` for output index `o`, or None inside the padding.
    fn tap(o: usize, i: usize, stride: usize, pad: usize, size: usize) -> Option<usize> {
        (o * stride + i).checked_sub(pad).filter(|&v| v < size)
    }
}

/// Output pixels per im2col block: about 64 KiB of patches, so the buffer stays in L2.
fn block_pixels(k: usize) -> usize {
    (64 * 1024 / k.max(1)).max(1)
}

/// CONV_2D int8: filter OHWI `[oc, kh, kw, c]` packed once as a `[oc, kh·kw·c]` GEMM operand.
#[derive(Clone, Debug)]
pub struct Int8Conv2d {
    lin: Int8Linear,
    kernel: (usize, usize),
    c: usize,
}

impl Int8Conv2d {
    /// Packs an OHWI filter with N per-channel (or one per-tensor) scales and an optional bias.
    ///
    /// Errors as [`Int8Linear::new`] does, with K = kh·kw·c.
    pub fn new(
        filter: &[i8],
        oc: usize,
        kernel: (usize, usize),
        c: usize,
        bias: Option<&[i32]>,
        w_scales: &[f32],
    ) -> Result<Int8Conv2d> {
        let k = numel("CONV_2D", &[kernel.0, kernel.1, c])?;
        Ok(Int8Conv2d {
            lin: Int8Linear::new(filter, oc, k, bias, w_scales)?,
            kernel,
            c,
        })
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.lin.n()
    }

    /// Runs over `x` (`win.input`, NHWC) into `out` (`[N, OH, OW, oc]`).
    ///
    /// Errors when the window's kernel or channels differ from the filter's, on wrong lengths, or
    /// on invalid qparams.
    pub fn run(
        &self,
        x: &[i8],
        win: &Window,
        x_q: QParams,
        y_q: QParams,
        clamp: Clamp,
        out: &mut [i8],
    ) -> Result<()> {
        const OP: &str = "CONV_2D";
        let [n, h, w, c] = win.input;
        if win.kernel != self.kernel || c != self.c {
            return Err(shape_err(
                OP,
                format!(
                    "window kernel {:?} × {c} channels, filter {:?} × {}",
                    win.kernel, self.kernel, self.c
                ),
            ));
        }
        check_qparams(OP, "input", x_q)?;
        check_len(OP, "input", numel(OP, &win.input)?, x.len())?;
        let oc = self.out_channels();
        check_len(OP, "output", win.out_len(OP, oc)?, out.len())?;
        let (oh, ow) = win.out_hw()?;
        let (kh, kw) = self.kernel;
        // A 1×1, stride-1, unpadded convolution is a GEMM on the input as it is.
        if kh == 1 && kw == 1 && win.stride == (1, 1) && win.pads == [0; 4] {
            return self.lin.run(x, n * h * w, x_q, y_q, clamp, out);
        }
        let k = self.lin.k();
        let pixels = n * oh * ow;
        let block = block_pixels(k);
        let mut cols = vec![0i8; block.min(pixels) * k];
        let zp = x_q.zero_point as i8;
        let ((sh, sw), [pt, _, pl, _]) = (win.stride, win.pads);
        for p0 in (0..pixels).step_by(block) {
            let rows = block.min(pixels - p0);
            for (r, col) in cols.chunks_exact_mut(k).take(rows).enumerate() {
                let p = p0 + r;
                let (b, oy, ox) = (p / (oh * ow), p / ow % oh, p % ow);
                for (i, row) in col.chunks_exact_mut(kw * c).enumerate() {
                    let iy = Window::tap(oy, i, sh, pt, h);
                    for (j, dst) in row.chunks_exact_mut(c).enumerate() {
                        match (iy, Window::tap(ox, j, sw, pl, w)) {
                            (Some(iy), Some(ix)) => {
                                let at = ((b * h + iy) * w + ix) * c;
                                dst.copy_from_slice(&x[at..at + c]);
                            }
                            _ => dst.fill(zp),
                        }
                    }
                }
            }
            let dst = &mut out[p0 * oc..(p0 + rows) * oc];
            self.lin
                .run(&cols[..rows * k], rows, x_q, y_q, clamp, dst)?;
        }
        Ok(())
    }
}

/// DEPTHWISE_CONV_2D int8: filter `[1, kh, kw, oc]` with `oc = c·multiplier`, per-channel scales.
#[derive(Clone, Debug)]
pub struct Int8DepthwiseConv2d {
    filter: Vec<i8>,
    oc: usize,
    kernel: (usize, usize),
    bias: Option<Vec<i32>>,
    w_scales: Vec<f32>,
}

impl Int8DepthwiseConv2d {
    /// Keeps a `[1, kh, kw, oc]` filter with N per-channel (or one per-tensor) scales.
    ///
    /// Errors on lengths that do not match or non-positive scales.
    pub fn new(
        filter: &[i8],
        oc: usize,
        kernel: (usize, usize),
        bias: Option<&[i32]>,
        w_scales: &[f32],
    ) -> Result<Int8DepthwiseConv2d> {
        const OP: &str = "DEPTHWISE_CONV_2D";
        check_len(
            OP,
            "filter",
            numel(OP, &[kernel.0, kernel.1, oc])?,
            filter.len(),
        )?;
        if let Some(b) = bias {
            check_len(OP, "bias", oc, b.len())?;
        }
        let w_scales = channel_scales(OP, w_scales, oc)?;
        Ok(Int8DepthwiseConv2d {
            filter: filter.to_vec(),
            oc,
            kernel,
            bias: bias.map(<[i32]>::to_vec),
            w_scales,
        })
    }

    /// Runs over `x` (`win.input`, NHWC) into `out` (`[N, OH, OW, oc]`).
    ///
    /// Errors when oc is not a multiple of the input channels, on wrong lengths or invalid qparams.
    pub fn run(
        &self,
        x: &[i8],
        win: &Window,
        x_q: QParams,
        y_q: QParams,
        clamp: Clamp,
        out: &mut [i8],
    ) -> Result<()> {
        const OP: &str = "DEPTHWISE_CONV_2D";
        let [_, h, w, c] = win.input;
        let oc = self.oc;
        if win.kernel != self.kernel || c == 0 || !oc.is_multiple_of(c) {
            return Err(shape_err(
                OP,
                format!(
                    "window kernel {:?} × {c} channels, filter {:?} × {oc}",
                    win.kernel, self.kernel
                ),
            ));
        }
        check_qparams(OP, "input", x_q)?;
        check_len(OP, "input", numel(OP, &win.input)?, x.len())?;
        check_len(OP, "output", win.out_len(OP, oc)?, out.len())?;
        let scales = check_conv_scales(OP, x_q.scale, &self.w_scales, y_q.scale)?;
        let (lo, hi) = output_bounds(OP, y_q, clamp)?;
        let (oh, ow) = win.out_hw()?;
        let (kh, kw) = self.kernel;
        let ((sh, sw), [pt, _, pl, _]) = (win.stride, win.pads);
        let (mult, zx, zy) = (oc / c, x_q.zero_point, y_q.zero_point);
        let mut acc = vec![0i32; oc];
        for (p, y) in out.chunks_exact_mut(oc).enumerate() {
            let (b, oy, ox) = (p / (oh * ow), p / ow % oh, p % ow);
            match &self.bias {
                Some(bias) => acc.copy_from_slice(bias),
                None => acc.fill(0),
            }
            for i in 0..kh {
                let Some(iy) = Window::tap(oy, i, sh, pt, h) else {
                    continue;
                };
                for j in 0..kw {
                    let Some(ix) = Window::tap(ox, j, sw, pl, w) else {
                        continue;
                    };
                    let xs = &x[((b * h + iy) * w + ix) * c..][..c];
                    let ws = &self.filter[(i * kw + j) * oc..][..oc];
                    for (o, (a, &wv)) in acc.iter_mut().zip(ws).enumerate() {
                        let xv = xs[o / mult] as i32 - zx;
                        *a = a.wrapping_add(xv * wv as i32);
                    }
                }
            }
            for ((dst, &a), &s) in y.iter_mut().zip(&acc).zip(&scales) {
                *dst = requant(a, s, lo, hi, zy);
            }
        }
        Ok(())
    }
}
