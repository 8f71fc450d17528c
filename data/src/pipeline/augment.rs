//! Bitmap augmentation: one affine warp (rotation, translation, scale, shear; bilinear sampling)
//! then stroke-width jitter, scaled by a strength in [0, 1] that a [`Schedule`] sets per epoch.

use crate::error::{Error, Result};
use crate::types::{Bitmap, IMAGE_PIXELS, IMAGE_SIDE};

use super::rng;

/// Ranges at strength 1; each parameter is drawn uniformly in ±(range × strength).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augment {
    /// Rotation, degrees.
    pub rotation_deg: f32,
    /// Translation, fraction of the image side.
    pub translate: f32,
    /// Scale change, fraction (0.15 → ×0.85..×1.15).
    pub scale: f32,
    /// Shear, degrees.
    pub shear_deg: f32,
    /// Stroke-width change: blend fraction towards the 3×3 max (thicker) or min (thinner).
    pub stroke: f32,
}

impl Default for Augment {
    /// The strong end of the reference's progressive schedule.
    fn default() -> Self {
        Augment {
            rotation_deg: 15.0,
            translate: 0.1,
            scale: 0.15,
            shear_deg: 10.0,
            stroke: 0.5,
        }
    }
}

/// Augmentation strength as a function of the epoch ("progressive augmentation").
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// The same strength every epoch.
    Constant(f32),
    /// `from` at epoch 0 rising linearly to `to` at epoch `epochs`, then `to`.
    Linear { from: f32, to: f32, epochs: usize },
}

impl Schedule {
    /// Strength for `epoch`, clamped to [0, 1].
    pub fn strength(&self, epoch: usize) -> f32 {
        let s = match *self {
            Schedule::Constant(s) => s,
            Schedule::Linear { from, to, epochs } => {
                if epoch >= epochs {
                    to
                } else {
                    from + (to - from) * (epoch as f32 / epochs as f32)
                }
            }
        };
        if s.is_nan() {
            0.0
        } else {
            s.clamp(0.0, 1.0)
        }
    }
}

impl Augment {
    /// Errors unless every range is finite and non-negative (and the scale range below 1).
    pub fn validate(&self) -> Result<()> {
        let ranges = [
            self.rotation_deg,
            self.translate,
            self.scale,
            self.shear_deg,
            self.stroke,
        ];
        if ranges.iter().any(|r| !r.is_finite() || *r < 0.0) || self.scale >= 1.0 {
            return Err(Error::Invalid(format!(
                "augmentation ranges must be finite and non-negative, scale below 1: {self:?}"
            )));
        }
        Ok(())
    }

    /// Augments `input` into `out` with `strength` (clamped to [0, 1]); the random draws are keyed by
    /// (`seed`, `epoch`, `index`), so the result depends on nothing else. Strength 0 copies exactly.
    pub fn apply(
        &self,
        strength: f32,
        seed: u64,
        epoch: usize,
        index: usize,
        input: &Bitmap,
        out: &mut Bitmap,
    ) {
        let s = if strength.is_nan() {
            0.0
        } else {
            strength.clamp(0.0, 1.0)
        };
        if s == 0.0 {
            out.copy_from_slice(input);
            return;
        }
        let mut r = rng::stream(seed, rng::AUGMENT, epoch as u64, index as u64);
        // Always draw all six in this order so each parameter's stream is fixed.
        let angle = (self.rotation_deg * s * r.symmetric()).to_radians();
        let shear = (self.shear_deg * s * r.symmetric()).to_radians();
        let scale = 1.0 + self.scale * s * r.symmetric();
        let side = IMAGE_SIDE as f32;
        let tx = self.translate * s * side * r.symmetric();
        let ty = self.translate * s * side * r.symmetric();
        let stroke = self.stroke * s * r.symmetric();

        // Forward map: dst = scale·R(angle)·Shear(shear)·(src − c) + c + t. Sample by its inverse.
        let (sin, cos) = angle.sin_cos();
        let k = shear.tan();
        // M = scale · [[cos, cos·k − sin], [sin, sin·k + cos]], det M = scale².
        let m = [
            [scale * cos, scale * (cos * k - sin)],
            [scale * sin, scale * (sin * k + cos)],
        ];
        let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        let inv = [
            [m[1][1] / det, -m[0][1] / det],
            [-m[1][0] / det, m[0][0] / det],
        ];
        let c = side / 2.0;
        let mut warped = [0f32; IMAGE_PIXELS];
        for (y, row) in warped.chunks_exact_mut(IMAGE_SIDE).enumerate() {
            let dy = y as f32 + 0.5 - c - ty;
            for (x, o) in row.iter_mut().enumerate() {
                let dx = x as f32 + 0.5 - c - tx;
                // Source position in pixel-index coordinates (pixel i is centred at i + 0.5).
                let sx = inv[0][0] * dx + inv[0][1] * dy + c - 0.5;
                let sy = inv[1][0] * dx + inv[1][1] * dy + c - 0.5;
                *o = bilinear(input, sx, sy);
            }
        }
        if stroke != 0.0 {
            let grow = stroke > 0.0;
            let t = stroke.abs();
            let base = warped;
            for y in 0..IMAGE_SIDE {
                for x in 0..IMAGE_SIDE {
                    let m = extremum(&base, x, y, grow);
                    if let Some(o) = warped.get_mut(y * IMAGE_SIDE + x) {
                        *o += (m - *o) * t;
                    }
                }
            }
        }
        for (o, &v) in out.iter_mut().zip(warped.iter()) {
            *o = (v + 0.5).clamp(0.0, 255.0) as u8;
        }
    }
}

/// Pixel (x, y) of `img` as f32, 0 outside.
fn pixel(img: &Bitmap, x: i64, y: i64) -> f32 {
    if (0..IMAGE_SIDE as i64).contains(&x) && (0..IMAGE_SIDE as i64).contains(&y) {
        img.get(y as usize * IMAGE_SIDE + x as usize)
            .map_or(0.0, |&v| f32::from(v))
    } else {
        0.0
    }
}

/// Bilinear sample at pixel-index coordinates (sx, sy), background outside.
fn bilinear(img: &Bitmap, sx: f32, sy: f32) -> f32 {
    if !(sx > -1.0 && sy > -1.0 && sx < IMAGE_SIDE as f32 && sy < IMAGE_SIDE as f32) {
        return 0.0;
    }
    let x0 = sx.floor();
    let y0 = sy.floor();
    let (fx, fy) = (sx - x0, sy - y0);
    let (x0, y0) = (x0 as i64, y0 as i64);
    let top = pixel(img, x0, y0) * (1.0 - fx) + pixel(img, x0 + 1, y0) * fx;
    let bottom = pixel(img, x0, y0 + 1) * (1.0 - fx) + pixel(img, x0 + 1, y0 + 1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Max (`grow`) or min of the in-bounds 3×3 neighbourhood of (x, y).
fn extremum(img: &[f32; IMAGE_PIXELS], x: usize, y: usize, grow: bool) -> f32 {
    let mut m = if grow { f32::MIN } else { f32::MAX };
    for ny in y.saturating_sub(1)..=(y + 1).min(IMAGE_SIDE - 1) {
        for nx in x.saturating_sub(1)..=(x + 1).min(IMAGE_SIDE - 1) {
            if let Some(&v) = img.get(ny * IMAGE_SIDE + nx) {
                m = if grow { m.max(v) } else { m.min(v) };
            }
        }
    }
    m
}
