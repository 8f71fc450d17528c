//! Stroke-level augmentation on vector drawings (before rasterization): per-point jitter, a small
//! per-stroke offset and a global rotation/scale, all scaled by a strength in [0, 1] and deterministic
//! for (seed, epoch, index).

use super::rng;
use crate::error::{Error, Result};
use crate::types::Drawing;

/// Maximum displacements at strength 1, in canvas units (the `simplified` frame is 0–255).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StrokeJitter {
    /// Independent displacement of each point.
    pub point: f32,
    /// Displacement shared by all points of a stroke (strokes drift apart a little).
    pub stroke: f32,
    /// Rotation of the whole drawing about its centre, degrees.
    pub rotation_deg: f32,
    /// Relative scale change of the whole drawing.
    pub scale: f32,
}

impl Default for StrokeJitter {
    fn default() -> Self {
        StrokeJitter {
            point: 2.0,
            stroke: 6.0,
            rotation_deg: 10.0,
            scale: 0.1,
        }
    }
}

impl StrokeJitter {
    /// A jittered copy of `drawing` at `strength` (clamped to [0, 1]; 0 returns an exact copy).
    /// Errors on non-finite or negative settings.
    pub fn apply(
        &self,
        drawing: &Drawing,
        strength: f32,
        seed: u64,
        epoch: usize,
        index: usize,
    ) -> Result<Drawing> {
        let values = [self.point, self.stroke, self.rotation_deg, self.scale];
        if values.iter().any(|v| !v.is_finite() || *v < 0.0) || self.scale >= 1.0 {
            return Err(Error::Invalid(format!(
                "stroke jitter settings out of range: {self:?}"
            )));
        }
        let s = if strength.is_nan() {
            0.0
        } else {
            strength.clamp(0.0, 1.0)
        };
        let mut out = drawing.clone();
        if s == 0.0 {
            return Ok(out);
        }
        let mut r = rng::stream(seed, rng::STROKES, epoch as u64, index as u64);
        let (cx, cy) = centre(drawing);
        let angle = (r.symmetric() * self.rotation_deg * s).to_radians();
        let scale = 1.0 + r.symmetric() * self.scale * s;
        let (sin, cos) = angle.sin_cos();
        for stroke in &mut out.strokes {
            let (ox, oy) = (
                r.symmetric() * self.stroke * s,
                r.symmetric() * self.stroke * s,
            );
            for (x, y) in stroke.x.iter_mut().zip(stroke.y.iter_mut()) {
                let (dx, dy) = (*x - cx, *y - cy);
                let jx = r.symmetric() * self.point * s;
                let jy = r.symmetric() * self.point * s;
                *x = cx + scale * (cos * dx - sin * dy) + ox + jx;
                *y = cy + scale * (sin * dx + cos * dy) + oy + jy;
            }
        }
        Ok(out)
    }
}

/// Centre of the drawing's bounding box (0, 0 when it has no finite point).
fn centre(d: &Drawing) -> (f32, f32) {
    let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for s in &d.strokes {
        for (&x, &y) in s.x.iter().zip(&s.y) {
            if x.is_finite() && y.is_finite() {
                lo = [lo[0].min(x), lo[1].min(y)];
                hi = [hi[0].max(x), hi[1].max(y)];
            }
        }
    }
    if lo[0] > hi[0] {
        (0.0, 0.0)
    } else {
        ((lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Stroke;

    fn square() -> Drawing {
        Drawing {
            strokes: vec![
                Stroke {
                    x: vec![0.0, 255.0, 255.0],
                    y: vec![0.0, 0.0, 255.0],
                    t: None,
                },
                Stroke {
                    x: vec![255.0, 0.0, 0.0],
                    y: vec![255.0, 255.0, 0.0],
                    t: None,
                },
            ],
            ..Drawing::default()
        }
    }

    #[test]
    fn strength_zero_is_an_exact_copy() {
        let d = square();
        assert_eq!(StrokeJitter::default().apply(&d, 0.0, 1, 2, 3).unwrap(), d);
        assert_eq!(
            StrokeJitter::default()
                .apply(&d, f32::NAN, 1, 2, 3)
                .unwrap(),
            d
        );
    }

    #[test]
    fn deterministic_per_key_and_bounded() {
        let j = StrokeJitter::default();
        let d = square();
        let a = j.apply(&d, 1.0, 7, 0, 5).unwrap();
        assert_eq!(a, j.apply(&d, 1.0, 7, 0, 5).unwrap());
        assert_ne!(
            a,
            j.apply(&d, 1.0, 7, 1, 5).unwrap(),
            "epoch must change the jitter"
        );
        assert_ne!(
            a,
            j.apply(&d, 1.0, 8, 0, 5).unwrap(),
            "seed must change the jitter"
        );
        // Bound: rotation and scale move a corner of a 255 square by at most
        // r·(scale + rotation chord) from the centre; plus stroke and point offsets.
        let r = (2.0f32).sqrt() * 127.5;
        let bound = r * (j.scale + 2.0 * (j.rotation_deg.to_radians() / 2.0).sin()) * 1.01
            + (j.stroke + j.point) * 2.0f32.sqrt();
        let mut moved = 0.0f32;
        for (s0, s1) in d.strokes.iter().zip(&a.strokes) {
            assert_eq!(s0.x.len(), s1.x.len());
            for i in 0..s0.x.len() {
                let m = (s0.x[i] - s1.x[i]).hypot(s0.y[i] - s1.y[i]);
                assert!(m <= bound, "point moved {m} > {bound}");
                moved = moved.max(m);
            }
        }
        assert!(moved > 0.5, "strength 1 should move points (max {moved})");
        // Half strength moves less on the same key.
        let h = j.apply(&d, 0.5, 7, 0, 5).unwrap();
        let max_move = |x: &Drawing| {
            d.strokes
                .iter()
                .zip(&x.strokes)
                .flat_map(|(p, q)| {
                    (0..p.x.len()).map(move |i| (p.x[i] - q.x[i]).hypot(p.y[i] - q.y[i]))
                })
                .fold(0.0f32, f32::max)
        };
        assert!(max_move(&h) < max_move(&a));
    }

    #[test]
    fn bad_settings_are_errors() {
        let d = square();
        for bad in [
            StrokeJitter {
                point: -1.0,
                ..StrokeJitter::default()
            },
            StrokeJitter {
                rotation_deg: f32::NAN,
                ..StrokeJitter::default()
            },
            StrokeJitter {
                scale: 1.0,
                ..StrokeJitter::default()
            },
        ] {
            assert!(bad.apply(&d, 0.5, 0, 0, 0).is_err(), "{bad:?}");
        }
    }
}
