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
            jitter_stroke(&mut warped, stroke);
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
    let last = IMAGE_SIDE as i64 - 1;
    let (a, b, c, d) = if (0..last).contains(&x0) && (0..last).contains(&y0) {
        // All four taps inside: the common case, read them directly.
        let i = y0 as usize * IMAGE_SIDE + x0 as usize;
        let at = |k: usize| img.get(k).map_or(0.0, |&v| f32::from(v));
        (at(i), at(i + 1), at(i + IMAGE_SIDE), at(i + IMAGE_SIDE + 1))
    } else {
        (
            pixel(img, x0, y0),
            pixel(img, x0 + 1, y0),
            pixel(img, x0, y0 + 1),
            pixel(img, x0 + 1, y0 + 1),
        )
    };
    let top = a + (b - a) * fx;
    let bottom = c + (d - c) * fx;
    top + (bottom - top) * fy
}

/// Side of the image padded by one pixel on each side.
const PADDED: usize = IMAGE_SIDE + 2;

/// Stroke-width jitter: blends each pixel towards the max (`amount > 0`, thicker strokes) or the min
/// (`amount < 0`, thinner) of its in-bounds 3×3 neighbourhood, by `|amount|`.
fn jitter_stroke(img: &mut [f32; IMAGE_PIXELS], amount: f32) {
    let grow = amount > 0.0;
    let t = amount.abs();
    // Pad with the neutral element so border pixels only see in-bounds neighbours.
    let neutral = if grow { f32::MIN } else { f32::MAX };
    let mut padded = [neutral; PADDED * PADDED];
    for (dst, src) in padded
        .chunks_exact_mut(PADDED)
        .skip(1)
        .zip(img.chunks_exact(IMAGE_SIDE))
    {
        if let Some(inner) = dst.get_mut(1..=IMAGE_SIDE) {
            inner.copy_from_slice(src);
        }
    }
    let pick = |a: f32, b: f32| if grow { a.max(b) } else { a.min(b) };
    for y in 0..IMAGE_SIDE {
        // Vertical extremum of padded rows y..y+3, then horizontal over three columns.
        let mut column = [neutral; PADDED];
        for (x, c) in column.iter_mut().enumerate() {
            let v = |r: usize| padded.get(r * PADDED + x).copied().unwrap_or(neutral);
            *c = pick(pick(v(y), v(y + 1)), v(y + 2));
        }
        if let Some(out_row) = img.get_mut(y * IMAGE_SIDE..(y + 1) * IMAGE_SIDE) {
            for (o, w) in out_row.iter_mut().zip(column.windows(3)) {
                let m = w.iter().copied().fold(neutral, pick);
                *o += (m - *o) * t;
            }
        }
    }
}
