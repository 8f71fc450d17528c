//! Strokes → 28×28 bitmap, the way Google made the numpy_bitmap set.
//!
//! Google's notes (and the cairo script in the quickdraw-dataset issues): the simplified strokes are
//! aligned to the top-left and scaled to 0–255; the bitmaps are centred on a 256×256 canvas, padded by
//! a margin plus the line width, drawn with a round-capped anti-aliased line and downsampled to 28×28.
//! Here every segment is drawn by distance-to-segment coverage on a supersampled grid (the padded
//! canvas seen at `28 × supersample` pixels) and averaged down to 28×28 by area.

use std::cmp::Ordering;

use crate::types::{Bitmap, Drawing, Stroke, IMAGE_PIXELS, IMAGE_SIDE};

/// Side of the canvas the drawing is centred on (Google's `original_side`).
pub const CANVAS: f32 = 256.0;

/// How strokes are drawn; the default matches the published numpy_bitmap rows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RasterConfig {
    /// Line width in canvas units (the canvas is 256 wide before padding).
    pub line_width: f32,
    /// Empty margin on each side of the canvas, in canvas units (the line width is added on top).
    pub padding: f32,
    /// Subpixels per output pixel side (1 = no supersampling); coverage is averaged over them.
    pub supersample: usize,
}

impl Default for RasterConfig {
    /// Tuned against the shared bitmaps (see the `matches_published_bitmaps` test).
    fn default() -> Self {
        RasterConfig {
            line_width: 16.0,
            padding: 16.0,
            supersample: 4,
        }
    }
}

/// Reusable scratch for rasterizing many drawings without allocating.
#[derive(Clone, Debug, Default)]
pub struct Rasterizer {
    config: RasterConfig,
    grid: Vec<f32>,
    pts: Vec<(f32, f32)>,
}

impl Rasterizer {
    /// A rasterizer for `config` (`supersample` is clamped to 1–16).
    pub fn new(config: RasterConfig) -> Self {
        let config = RasterConfig {
            supersample: config.supersample.clamp(1, 16),
            line_width: if config.line_width.is_finite() {
                config.line_width.max(0.0)
            } else {
                RasterConfig::default().line_width
            },
            padding: if config.padding.is_finite() {
                config.padding.max(0.0)
            } else {
                RasterConfig::default().padding
            },
        };
        let side = IMAGE_SIDE * config.supersample;
        Rasterizer {
            config,
            grid: vec![0.0; side * side],
            pts: Vec::new(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> RasterConfig {
        self.config
    }

    /// Draws `drawing` into `out` (0 = background, 255 = ink). Any coordinates work: the bounding box
    /// is scaled to 0–255 keeping the aspect ratio (a no-op for `simplified` drawings) and centred.
    /// Non-finite points are skipped; a drawing without points gives a blank bitmap.
    pub fn draw(&mut self, strokes: &[Stroke], out: &mut Bitmap) {
        let k = self.config.supersample;
        let side = IMAGE_SIDE * k;
        self.grid.clear();
        self.grid.resize(side * side, 0.0);

        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for s in strokes {
            for (&x, &y) in s.x.iter().zip(&s.y) {
                if x.is_finite() && y.is_finite() {
                    x0 = x0.min(x);
                    x1 = x1.max(x);
                    y0 = y0.min(y);
                    y1 = y1.max(y);
                }
            }
        }
        if x0 > x1 {
            out.fill(0);
            return;
        }
        // f64: the extent of finite f32 coordinates may overflow f32.
        let (x0, y0) = (f64::from(x0), f64::from(y0));
        let (w, h) = (f64::from(x1) - x0, f64::from(y1) - y0);
        let extent = w.max(h);
        // A single point stays a dot of the line width.
        let scale = if extent > 0.0 { 255.0 / extent } else { 1.0 };
        let canvas = f64::from(CANVAS);
        // Centre: Google offsets the top-left aligned drawing by (256 - max) / 2.
        let off_x = (canvas - w * scale) / 2.0;
        let off_y = (canvas - h * scale) / 2.0;
        let total_pad = 2.0 * f64::from(self.config.padding) + f64::from(self.config.line_width);
        // Canvas units → subpixels.
        let to_sub = side as f64 / (canvas + total_pad);
        let half = total_pad / 2.0;
        let radius = (f64::from(self.config.line_width) / 2.0 * to_sub) as f32;

        for s in strokes {
            self.pts.clear();
            for (&x, &y) in s.x.iter().zip(&s.y) {
                if x.is_finite() && y.is_finite() {
                    let px = ((f64::from(x) - x0) * scale + off_x + half) * to_sub;
                    let py = ((f64::from(y) - y0) * scale + off_y + half) * to_sub;
                    self.pts.push((px as f32, py as f32));
                }
            }
            match self.pts.len() {
                0 => {}
                1 => {
                    let p = self.pts[0];
                    segment(&mut self.grid, side, p, p, radius);
                }
                _ => {
                    for w in self.pts.windows(2) {
                        segment(&mut self.grid, side, w[0], w[1], radius);
                    }
                }
            }
        }

        let norm = 255.0 / (k * k) as f32;
        for (i, o) in out.iter_mut().enumerate() {
            let (r, c) = (i / IMAGE_SIDE, i % IMAGE_SIDE);
            let mut sum = 0.0;
            for sr in 0..k {
                let row = (r * k + sr) * side + c * k;
                sum += self.grid[row..row + k].iter().sum::<f32>();
            }
            *o = (sum * norm).round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// Coverage of a round-capped segment of `radius` subpixels: 1 inside, a one-subpixel linear ramp at
/// the edge (the anti-aliasing), combined with what is there by max so that joints do not double ink.
/// Each row visits only the pixels whose centres fall in the capsule (found from its boundary: the two
/// end discs and the two offset sides), not the whole bounding box.
fn segment(grid: &mut [f32], side: usize, a: (f32, f32), b: (f32, f32), radius: f32) {
    let reach = radius + 0.5;
    let lo_y = (a.1.min(b.1) - reach - 0.5).ceil().max(0.0);
    let hi_y = (a.1.max(b.1) + reach - 0.5).floor().min(side as f32 - 1.0);
    // Not `lo <= hi` covers an empty range and NaN alike.
    if !matches!(
        lo_y.partial_cmp(&hi_y),
        Some(Ordering::Less | Ordering::Equal)
    ) {
        return;
    }
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let inv = if len2 > 0.0 { 1.0 / len2 } else { 0.0 };
    let len = len2.sqrt();
    // Offsets of the two sides: the unit normal times reach.
    let (nx, ny) = if len > 0.0 {
        (-dy / len * reach, dx / len * reach)
    } else {
        (0.0, 0.0)
    };
    let max_x = side as f32 - 1.0;
    for py in lo_y as usize..=hi_y as usize {
        let y = py as f32 + 0.5;
        let (mut xl, mut xr) = (f32::MAX, f32::MIN);
        for p in [a, b] {
            let d = y - p.1;
            if d.abs() <= reach {
                let w = (reach * reach - d * d).sqrt();
                xl = xl.min(p.0 - w);
                xr = xr.max(p.0 + w);
            }
        }
        if dy != 0.0 {
            for s in [1.0, -1.0] {
                let t = (y - (a.1 + s * ny)) / dy;
                if (0.0..=1.0).contains(&t) {
                    let x = a.0 + s * nx + t * dx;
                    xl = xl.min(x);
                    xr = xr.max(x);
                }
            }
        }
        // Pixels whose centre px + 0.5 lies in [xl, xr].
        let lo_x = (xl - 0.5).ceil().max(0.0);
        let hi_x = (xr - 0.5).floor().min(max_x);
        if !matches!(
            lo_x.partial_cmp(&hi_x),
            Some(Ordering::Less | Ordering::Equal)
        ) {
            continue;
        }
        let cy = y - a.1;
        let row = &mut grid[py * side..(py + 1) * side];
        for (px, cell) in row
            .iter_mut()
            .enumerate()
            .take(hi_x as usize + 1)
            .skip(lo_x as usize)
        {
            let cx = px as f32 + 0.5 - a.0;
            let t = ((cx * dx + cy * dy) * inv).clamp(0.0, 1.0);
            let (ex, ey) = (cx - t * dx, cy - t * dy);
            let d = (ex * ex + ey * ey).sqrt();
            let cov = (reach - d).clamp(0.0, 1.0);
            if cov > *cell {
                *cell = cov;
            }
        }
    }
}

/// Rasterizes one drawing with the default configuration (allocates scratch; use [`Rasterizer`] for
/// many drawings).
pub fn rasterize(drawing: &Drawing) -> Bitmap {
    let mut out = [0u8; IMAGE_PIXELS];
    Rasterizer::new(RasterConfig::default()).draw(&drawing.strokes, &mut out);
    out
}

/// The shared Quick, Draw! slice for tests: `$INKLING_QUICKDRAW` or `../shared/data/quickdraw`
/// relative to the repository root, when present.
#[cfg(test)]
pub(crate) fn quickdraw_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("INKLING_QUICKDRAW")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/quickdraw").into()
        });
    dir.is_dir().then_some(dir)
}

#[cfg(test)]
mod tests;
