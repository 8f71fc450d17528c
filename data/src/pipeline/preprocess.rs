//! Bitmap → model input, as the PyTorch reference does it: invert, scale to [0, 1], normalize,
//! resize; f32 CHW with one channel, written into the caller's buffer.

use crate::error::{Error, Result};
use crate::types::{Bitmap, IMAGE_SIDE};

/// Resampling filter used when the input size differs from 28.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Resize {
    /// Nearest neighbour, pixel-centre convention (PIL's NEAREST, torch's "nearest-exact"); for an
    /// integer upscale such as 28→224 it equals torch's "nearest" too.
    #[default]
    Nearest,
    /// Bilinear, half-pixel centres, edges clamped (torch `align_corners=False`, PIL for upscaling).
    /// No antialiasing when shrinking.
    Bilinear,
}

/// Largest output side accepted (a sanity bound on memory: 1024² f32 = 4 MiB per image).
pub const MAX_INPUT_SIDE: usize = 1024;

/// Preprocessing settings; the default is the reference's: invert on, mean 0.5, std 0.5, 28×28.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Preprocess {
    /// Black ink on white (x → 255 − x) before scaling; Quick, Draw! bitmaps are white on black.
    pub invert: bool,
    /// Subtracted after scaling to [0, 1] (0 with `std` 1 leaves x/255).
    pub mean: f32,
    /// Divided by after subtracting `mean`; must be finite and positive.
    pub std: f32,
    /// Output side (square), 1..=[`MAX_INPUT_SIDE`].
    pub size: usize,
    /// Filter when `size` is not 28.
    pub resize: Resize,
}

impl Default for Preprocess {
    fn default() -> Self {
        Preprocess {
            invert: true,
            mean: 0.5,
            std: 0.5,
            size: IMAGE_SIDE,
            resize: Resize::Nearest,
        }
    }
}

/// Source taps and weight of one output coordinate along an axis (bilinear).
#[derive(Clone, Copy, Debug)]
struct Tap {
    lo: usize,
    hi: usize,
    w: f32,
}

/// A [`Preprocess`] compiled into a lookup table and resampling maps (build once, apply per sample).
#[derive(Clone, Debug)]
pub struct Preprocessor {
    settings: Preprocess,
    lut: [f32; 256],
    nearest: Vec<usize>,
    taps: Vec<Tap>,
}

impl Preprocess {
    /// Validates the settings and precomputes what [`Preprocessor::apply`] needs.
    pub fn build(&self) -> Result<Preprocessor> {
        if !(self.std.is_finite() && self.std > 0.0 && self.mean.is_finite()) {
            return Err(Error::Invalid(format!(
                "normalize needs a finite mean and a finite positive std (got mean {}, std {})",
                self.mean, self.std
            )));
        }
        if !(1..=MAX_INPUT_SIDE).contains(&self.size) {
            return Err(Error::Invalid(format!(
                "input size {} is outside 1..={MAX_INPUT_SIDE}",
                self.size
            )));
        }
        let mut lut = [0f32; 256];
        for (v, out) in lut.iter_mut().enumerate() {
            let v = if self.invert { 255 - v } else { v };
            *out = (v as f32 / 255.0 - self.mean) / self.std;
        }
        let n = self.size;
        // Centre of output pixel d is at (d + 0.5)·28/n in source pixels; integer form is exact.
        let nearest = (0..n)
            .map(|d| ((2 * d + 1) * IMAGE_SIDE / (2 * n)).min(IMAGE_SIDE - 1))
            .collect();
        let scale = IMAGE_SIDE as f32 / n as f32;
        let taps = (0..n)
            .map(|d| {
                let src = ((d as f32 + 0.5) * scale - 0.5).max(0.0);
                let lo = (src.floor() as usize).min(IMAGE_SIDE - 1);
                let hi = (lo + 1).min(IMAGE_SIDE - 1);
                Tap {
                    lo,
                    hi,
                    w: src - lo as f32,
                }
            })
            .collect();
        Ok(Preprocessor {
            settings: *self,
            lut,
            nearest,
            taps,
        })
    }
}

impl Preprocessor {
    /// The settings this was built from.
    pub fn settings(&self) -> &Preprocess {
        &self.settings
    }

    /// Floats per image: `size²` (one channel).
    pub fn output_len(&self) -> usize {
        self.settings.size * self.settings.size
    }

    /// Writes the preprocessed `bitmap` into `out` (`size × size`, row-major); errors when `out`
    /// has another length. Values are mapped before resampling (the maps are affine, so this equals
    /// resampling first, without PIL's rounding to u8).
    pub fn apply(&self, bitmap: &Bitmap, out: &mut [f32]) -> Result<()> {
        if out.len() != self.output_len() {
            return Err(Error::Invalid(format!(
                "preprocess output buffer has {} floats, expected {}",
                out.len(),
                self.output_len()
            )));
        }
        let n = self.settings.size;
        if n == IMAGE_SIDE {
            for (o, &b) in out.iter_mut().zip(bitmap.iter()) {
                *o = self.lut[usize::from(b)];
            }
            return Ok(());
        }
        let mut img = [0f32; IMAGE_SIDE * IMAGE_SIDE];
        for (o, &b) in img.iter_mut().zip(bitmap.iter()) {
            *o = self.lut[usize::from(b)];
        }
        let rows = |r: usize| img.get(r * IMAGE_SIDE..(r + 1) * IMAGE_SIDE).unwrap_or(&[]);
        match self.settings.resize {
            Resize::Nearest => {
                let mut previous: Option<usize> = None;
                for (y, &sy) in self.nearest.iter().enumerate() {
                    // Upscaling repeats source rows: copy the output row already built for it.
                    if previous == Some(sy) && y > 0 {
                        out.copy_within((y - 1) * n..y * n, y * n);
                        continue;
                    }
                    previous = Some(sy);
                    let row = rows(sy);
                    if let Some(out_row) = out.get_mut(y * n..(y + 1) * n) {
                        for (o, &sx) in out_row.iter_mut().zip(&self.nearest) {
                            *o = row.get(sx).copied().unwrap_or(0.0);
                        }
                    }
                }
            }
            Resize::Bilinear => {
                // Horizontal pass on each source row, then a vertical blend of two of them.
                let mut horiz = vec![0f32; IMAGE_SIDE * n];
                for (h_row, r) in horiz.chunks_exact_mut(n).zip(0..IMAGE_SIDE) {
                    let row = rows(r);
                    for (h, t) in h_row.iter_mut().zip(&self.taps) {
                        let a = row.get(t.lo).copied().unwrap_or(0.0);
                        let b = row.get(t.hi).copied().unwrap_or(0.0);
                        *h = a + (b - a) * t.w;
                    }
                }
                for (out_row, t) in out.chunks_exact_mut(n).zip(&self.taps) {
                    let top = horiz.get(t.lo * n..(t.lo + 1) * n).unwrap_or(&[]);
                    let bottom = horiz.get(t.hi * n..(t.hi + 1) * n).unwrap_or(&[]);
                    for ((o, &a), &b) in out_row.iter_mut().zip(top).zip(bottom) {
                        *o = a + (b - a) * t.w;
                    }
                }
            }
        }
        Ok(())
    }
}
