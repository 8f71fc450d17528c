//! Convolution helpers: im2col / col2im for 2-D convolution as a GEMM, and direct depthwise 3×3
//! convolution forward and backward. Layout NCHW throughout.
//!
//! - [`Conv2dGeometry`] describes one convolution (channels, input size, kernel, stride, padding per
//!   side, dilation) and computes the output size with clear errors.
//! - [`im2col`] / [`col2im`] are portable data movement (the GEMM does the arithmetic).
//! - [`dwconv3x3`], [`dwconv3x3_backward_input`], [`dwconv3x3_backward_weight`] call per-ISA plane
//!   kernels from [`ConvKernels`] on a zero-padded copy of each plane.

#[cfg(target_arch = "x86_64")]
mod avx2;
mod depthwise;
mod im2col;
#[cfg(target_arch = "aarch64")]
mod neon;
mod scalar;
#[cfg(test)]
mod tests;

pub use depthwise::{dwconv3x3, dwconv3x3_backward_input, dwconv3x3_backward_weight};
pub use im2col::{col2im, im2col};

use crate::error::{Error, Result};
use crate::isa::Isa;

/// One depthwise 3×3 plane for the kernels: a *valid* correlation over an already padded input.
///
/// `y[oy·ow + ox] = bias + Σ_{ky,kx<3} w[3·ky + kx] · x[(oy·sh + ky)·ldx + ox·sw + kx]`.
/// The input slice must hold `((oh−1)·sh + 2)·ldx + (ow−1)·sw + 3` elements (when oh, ow > 0) and
/// `ldx ≥ (ow−1)·sw + 3`; the output `oh·ow`. Kernels panic when these do not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DwPlane {
    /// Output rows.
    pub oh: usize,
    /// Output columns.
    pub ow: usize,
    /// Vertical stride (≥ 1).
    pub sh: usize,
    /// Horizontal stride (≥ 1; the SIMD kernels vectorize 1 and 2, others run scalar).
    pub sw: usize,
    /// Row stride of the input.
    pub ldx: usize,
}

impl DwPlane {
    /// Asserts that `x_len` and `y_len` cover the plane (see the type doc).
    pub(crate) fn assert_fits(&self, x_len: usize, y_len: usize) {
        assert!(self.sh >= 1 && self.sw >= 1, "dwconv3x3: stride 0");
        assert!(y_len >= self.oh * self.ow, "dwconv3x3: output too short");
        if self.oh > 0 && self.ow > 0 {
            let row = (self.ow - 1) * self.sw + 3;
            assert!(self.ldx >= row, "dwconv3x3: ldx shorter than a row");
            let need = ((self.oh - 1) * self.sh + 2) * self.ldx + row;
            assert!(x_len >= need, "dwconv3x3: input too short");
        }
    }
}

/// The convolution entries of a [`crate::KernelSet`].
#[derive(Clone, Copy, Debug)]
pub struct ConvKernels {
    /// Name of the depthwise kernels, e.g. `f32_dwconv3x3_x8__avx2`.
    pub name: &'static str,
    /// Depthwise 3×3 forward of one plane, see [`DwPlane`]; also the input gradient (stride 1 on the
    /// upsampled, padded output gradient with the filter rotated by 180°).
    pub dw3x3: fn(p: &DwPlane, x: &[f32], w: &[f32; 9], bias: f32, y: &mut [f32]),
    /// Depthwise 3×3 weight gradient of one plane: returns `Σ_{oy,ox} dy[oy,ox]·x[…]` for each tap,
    /// with `dy` in the output layout of [`DwPlane`].
    pub dw3x3_grad_w: fn(p: &DwPlane, x: &[f32], dy: &[f32]) -> [f32; 9],
}

impl ConvKernels {
    pub(crate) fn for_isa(isa: Isa) -> ConvKernels {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 | Isa::Avx512Vnni => avx2::TABLE,
            #[cfg(target_arch = "aarch64")]
            Isa::Neon | Isa::NeonDotprod => neon::TABLE,
            _ => scalar::TABLE,
        }
    }
}

/// Output length of one convolution axis: `(input + pad_before + pad_after − dilation·(kernel−1) − 1)
/// / stride + 1`.
///
/// Errors on a zero input, kernel, stride or dilation, on overflow, and when the dilated kernel is
/// larger than the padded input.
pub fn conv_out_size(
    input: usize,
    kernel: usize,
    stride: usize,
    pad_before: usize,
    pad_after: usize,
    dilation: usize,
) -> Result<usize> {
    let bad = |what: String| Error::BadShape {
        op: "conv_out_size",
        what,
    };
    if input == 0 || kernel == 0 || stride == 0 || dilation == 0 {
        return Err(bad(format!(
            "input {input}, kernel {kernel}, stride {stride} and dilation {dilation} must all be ≥ 1"
        )));
    }
    let span = (kernel - 1)
        .checked_mul(dilation)
        .and_then(|s| s.checked_add(1))
        .ok_or_else(|| bad("dilated kernel size overflows".into()))?;
    let padded = input
        .checked_add(pad_before)
        .and_then(|s| s.checked_add(pad_after))
        .ok_or_else(|| bad("padded input size overflows".into()))?;
    if span > padded {
        return Err(bad(format!(
            "kernel spans {span} (kernel {kernel}, dilation {dilation}) but the padded input is \
             only {padded} ({input} + {pad_before} + {pad_after})"
        )));
    }
    Ok((padded - span) / stride + 1)
}

/// Geometry of one 2-D convolution over an NCHW image: channels, input size, kernel, stride,
/// padding per side and dilation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeometry {
    /// Input channels.
    pub channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Kernel (height, width).
    pub kernel: (usize, usize),
    /// Stride (vertical, horizontal).
    pub stride: (usize, usize),
    /// Zero padding (top, left, bottom, right).
    pub pad: [usize; 4],
    /// Dilation (vertical, horizontal).
    pub dilation: (usize, usize),
}

impl Conv2dGeometry {
    /// `kh × kw` kernel over `channels × height × width`, stride 1, no padding, no dilation.
    pub fn new(channels: usize, height: usize, width: usize, kh: usize, kw: usize) -> Self {
        Conv2dGeometry {
            channels,
            height,
            width,
            kernel: (kh, kw),
            stride: (1, 1),
            pad: [0; 4],
            dilation: (1, 1),
        }
    }
    /// Sets the stride (vertical, horizontal).
    pub fn stride(mut self, sh: usize, sw: usize) -> Self {
        self.stride = (sh, sw);
        self
    }
    /// Sets the same zero padding on all four sides.
    pub fn pad(mut self, p: usize) -> Self {
        self.pad = [p; 4];
        self
    }
    /// Sets the zero padding per side (TensorFlow "SAME" can need `bottom = top + 1`).
    pub fn pad_tlbr(mut self, top: usize, left: usize, bottom: usize, right: usize) -> Self {
        self.pad = [top, left, bottom, right];
        self
    }
    /// Sets the dilation (vertical, horizontal).
    pub fn dilation(mut self, dh: usize, dw: usize) -> Self {
        self.dilation = (dh, dw);
        self
    }

    /// Output (height, width); errors as [`conv_out_size`] does.
    pub fn out_size(&self) -> Result<(usize, usize)> {
        let [pt, pl, pb, pr] = self.pad;
        Ok((
            conv_out_size(
                self.height,
                self.kernel.0,
                self.stride.0,
                pt,
                pb,
                self.dilation.0,
            )?,
            conv_out_size(
                self.width,
                self.kernel.1,
                self.stride.1,
                pl,
                pr,
                self.dilation.1,
            )?,
        ))
    }

    /// Elements of one input image, `channels·height·width`.
    pub fn input_len(&self) -> Result<usize> {
        mul(&[self.channels, self.height, self.width])
    }

    /// Rows of the im2col matrix, `channels·kh·kw` (the GEMM's K).
    pub fn col_rows(&self) -> Result<usize> {
        mul(&[self.channels, self.kernel.0, self.kernel.1])
    }

    /// Elements of the im2col matrix, `channels·kh·kw · oh·ow`.
    pub fn col_len(&self) -> Result<usize> {
        let (oh, ow) = self.out_size()?;
        mul(&[self.col_rows()?, oh, ow])
    }
}

/// Product of dimensions, or an error on overflow.
pub(crate) fn mul(dims: &[usize]) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| Error::BadShape {
            op: "conv",
            what: format!("size {dims:?} overflows usize"),
        })
}

/// Errors unless `got == needed`.
pub(crate) fn check_exact(
    op: &'static str,
    what: &'static str,
    needed: usize,
    got: usize,
) -> Result<()> {
    if got != needed {
        return Err(Error::BadShape {
            op,
            what: format!("{what} has {got} elements, expected {needed}"),
        });
    }
    Ok(())
}
