//! Renders a [`Scene`] into RGB pixels and encodes them as PNG: axis-aligned rectangles, thick
//! polylines and text in a 5×7 bitmap font, scaled by whole pixels. No anti-aliasing; the charts are
//! made of bars, cells and labels, which stay sharp without it.

use std::io;

use super::scene::{Anchor, Item, Label, Rgb, Scene, CHAR_WIDTH};

/// Glyph cell: 5 columns of ink plus one of spacing, 7 rows.
const GLYPH_W: usize = 5;
const GLYPH_H: usize = 7;
/// Font size that renders at scale 1 (advance 6 px = `CHAR_WIDTH` × 10).
const BASE_SIZE: f64 = 10.0;

/// An RGB image, row-major.
pub struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    /// A white canvas.
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            pixels: vec![255; width * height * 3],
        }
    }

    /// Sets a pixel; coordinates outside the canvas are ignored.
    fn put(&mut self, x: i64, y: i64, c: Rgb) {
        if x < 0 || y < 0 || x as usize >= self.width || y as usize >= self.height {
            return;
        }
        let i = (y as usize * self.width + x as usize) * 3;
        self.pixels[i..i + 3].copy_from_slice(&[c.0, c.1, c.2]);
    }

    /// Fills the pixels whose centres lie in `[x, x+w) × [y, y+h)`.
    fn fill(&mut self, x: f64, y: f64, w: f64, h: f64, c: Rgb) {
        let (x0, x1) = (x.round() as i64, (x + w).round() as i64);
        let (y0, y1) = (y.round() as i64, (y + h).round() as i64);
        let (w, h) = (self.width as i64, self.height as i64);
        for py in y0.clamp(0, h)..y1.clamp(0, h) {
            for px in x0.clamp(0, w)..x1.clamp(0, w) {
                self.put(px, py, c);
            }
        }
    }

    /// Draws a line of `width` pixels through `points` by stamping squares every half pixel.
    fn polyline(&mut self, points: &[(f64, f64)], width: f64, c: Rgb) {
        let side = width.round().max(1.0);
        let stamp = |canvas: &mut Self, x: f64, y: f64| {
            canvas.fill(x - side / 2.0, y - side / 2.0, side, side, c);
        };
        if let [(x, y)] = points {
            stamp(self, *x, *y);
        }
        for seg in points.windows(2) {
            let ((x0, y0), (x1, y1)) = (seg[0], seg[1]);
            let steps = ((x1 - x0).hypot(y1 - y0) * 2.0).ceil().clamp(1.0, 1e6) as usize;
            for i in 0..=steps {
                let t = i as f64 / steps as f64;
                stamp(self, x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
            }
        }
    }

    /// Draws text with its baseline at `y` (or, when `up`, reading upwards with its baseline on
    /// the vertical line through `x`).
    fn text(&mut self, label: &Label) {
        let Label {
            x,
            y,
            size,
            anchor,
            up,
            fill: c,
            ref text,
        } = *label;
        let scale = (size / BASE_SIZE).round().max(1.0) as i64;
        let n = text.chars().count() as f64;
        let len = n * CHAR_WIDTH * BASE_SIZE * scale as f64;
        let start = match anchor {
            Anchor::Start => 0.0,
            Anchor::Middle => -len / 2.0,
            Anchor::End => -len,
        };
        let (x, y) = (x.round() as i64, y.round() as i64);
        let start = start.round() as i64;
        let advance = (GLYPH_W as i64 + 1) * scale;
        for (k, ch) in text.chars().enumerate() {
            let (glyph, drop) = glyph(ch);
            for (r, bits) in glyph.iter().enumerate() {
                for col in 0..GLYPH_W {
                    if bits & (1 << (GLYPH_W - 1 - col)) == 0 {
                        continue;
                    }
                    // (u, v): along the text from the anchor, and down from the baseline.
                    let u0 = start + k as i64 * advance + col as i64 * scale;
                    let v0 = (r as i64 - GLYPH_H as i64 + drop) * scale;
                    for du in 0..scale {
                        for dv in 0..scale {
                            let (u, v) = (u0 + du, v0 + dv);
                            if up {
                                self.put(x + v, y - u, c);
                            } else {
                                self.put(x + u, y + v, c);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Renders every item of `scene` in order onto a white canvas of the scene's size.
    pub fn render(scene: &Scene) -> Self {
        let mut cv = Self::new(scene.width as usize, scene.height as usize);
        for item in &scene.items {
            match item {
                Item::Rect { x, y, w, h, fill } => cv.fill(*x, *y, *w, *h, *fill),
                Item::Text(label) => cv.text(label),
                Item::Polyline {
                    points,
                    stroke,
                    width,
                } => cv.polyline(points, *width, *stroke),
            }
        }
        cv
    }

    /// The image as an 8-bit RGB PNG file.
    pub fn to_png(&self) -> io::Result<Vec<u8>> {
        let dim = |v: usize| u32::try_from(v).map_err(io::Error::other);
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, dim(self.width)?, dim(self.height)?);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(io::Error::other)?;
        writer
            .write_image_data(&self.pixels)
            .map_err(io::Error::other)?;
        writer.finish().map_err(io::Error::other)?;
        Ok(out)
    }
}

/// The 5×7 bitmap of `ch` (rows top to bottom, bit 4 = leftmost column) and how many rows it sits
/// below the baseline; characters outside printable ASCII draw as a hollow box.
fn glyph(ch: char) -> ([u8; GLYPH_H], i64) {
    const BOX: [u8; GLYPH_H] = [0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F];
    match ch {
        // Five rows of x-height and two below the baseline.
        'g' | 'p' | 'q' | 'y' => (FONT[ch as usize - 0x20], 2),
        ' '..='~' => (FONT[ch as usize - 0x20], 0),
        _ => (BOX, 0),
    }
}

/// Printable ASCII, 0x20 (space) to 0x7E (tilde).
#[rustfmt::skip]
const FONT: [[u8; GLYPH_H]; 95] = [
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], // ' '
    [0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04], // !
    [0x0A, 0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00], // "
    [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A], // #
    [0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04], // $
    [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03], // %
    [0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D], // &
    [0x0C, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00], // '
    [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02], // (
    [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08], // )
    [0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00], // *
    [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00], // +
    [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08], // ,
    [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00], // -
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C], // .
    [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00], // /
    [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E], // 0
    [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E], // 1
    [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F], // 2
    [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E], // 3
    [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02], // 4
    [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E], // 5
    [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E], // 6
    [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08], // 7
    [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E], // 8
    [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C], // 9
    [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00], // :
    [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08], // ;
    [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02], // <
    [0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00], // =
    [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08], // >
    [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04], // ?
    [0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E], // @
    [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11], // A
    [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E], // B
    [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E], // C
    [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C], // D
    [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F], // E
    [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10], // F
    [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F], // G
    [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11], // H
    [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E], // I
    [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C], // J
    [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11], // K
    [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F], // L
    [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11], // M
    [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11], // N
    [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], // O
    [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10], // P
    [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D], // Q
    [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11], // R
    [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E], // S
    [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04], // T
    [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], // U
    [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04], // V
    [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A], // W
    [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11], // X
    [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04], // Y
    [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F], // Z
    [0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E], // [
    [0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00], // \
    [0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E], // ]
    [0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00], // ^
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F], // _
    [0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00], // `
    [0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F], // a
    [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E], // b
    [0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E], // c
    [0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F], // d
    [0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E], // e
    [0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08], // f
    [0x0F, 0x11, 0x11, 0x0F, 0x01, 0x11, 0x0E], // g (descends)
    [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11], // h
    [0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E], // i
    [0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C], // j
    [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12], // k
    [0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E], // l
    [0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11], // m
    [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11], // n
    [0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E], // o
    [0x1E, 0x11, 0x11, 0x11, 0x1E, 0x10, 0x10], // p (descends)
    [0x0F, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x01], // q (descends)
    [0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10], // r
    [0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E], // s
    [0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06], // t
    [0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D], // u
    [0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04], // v
    [0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A], // w
    [0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11], // x
    [0x11, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E], // y (descends)
    [0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F], // z
    [0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02], // {
    [0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04], // |
    [0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08], // }
    [0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00], // ~
];

#[cfg(test)]
mod tests {
    use super::*;

    fn ink(cv: &Canvas) -> Vec<(usize, usize)> {
        let mut v = Vec::new();
        for y in 0..cv.height {
            for x in 0..cv.width {
                if cv.pixels[(y * cv.width + x) * 3] != 255 {
                    v.push((x, y));
                }
            }
        }
        v
    }

    #[test]
    fn glyphs_land_on_the_baseline_and_rotate() {
        let mut s = Scene::new(20, 20);
        s.text(2.0, 10.0, 10.0, Anchor::Start, Rgb::BLACK, "L");
        let px = ink(&Canvas::render(&s));
        // 'L': column 0 on rows 0..7, then the bottom bar: 7 + 4 pixels, bottom row at y = 9.
        assert_eq!(px.len(), 11);
        assert_eq!(px.iter().map(|p| p.1).max(), Some(9));
        assert_eq!(px.iter().map(|p| p.1).min(), Some(3));
        assert_eq!(px.iter().map(|p| p.0).min(), Some(2));
        assert_eq!(px.iter().map(|p| p.0).max(), Some(6));

        // Rotated: the text runs upwards from y, the glyph's top points left of x.
        let mut s = Scene::new(20, 20);
        s.text_up(10.0, 15.0, 10.0, Anchor::Start, Rgb::BLACK, "L");
        let px = ink(&Canvas::render(&s));
        assert_eq!(px.len(), 11);
        // The stem (glyph column 0) is the pixel row y = 15, from x = 3 to 9.
        assert_eq!(px.iter().filter(|p| p.1 == 15).count(), 7);
        assert_eq!(px.iter().map(|p| p.0).max(), Some(9));
        assert_eq!(px.iter().map(|p| p.1).min(), Some(11));

        // Descenders reach two rows below the baseline.
        let mut s = Scene::new(20, 20);
        s.text(2.0, 10.0, 10.0, Anchor::Start, Rgb::BLACK, "p");
        let px = ink(&Canvas::render(&s));
        assert_eq!(px.iter().map(|p| p.1).max(), Some(11));
        assert_eq!(px.iter().map(|p| p.1).min(), Some(5));

        // Scale 2 quadruples the ink; End anchors the text's right edge at x.
        let mut s = Scene::new(40, 40);
        s.text(30.0, 30.0, 20.0, Anchor::End, Rgb::BLACK, "L");
        let px = ink(&Canvas::render(&s));
        assert_eq!(px.len(), 44);
        assert_eq!(px.iter().map(|p| p.0).min(), Some(18));
    }

    #[test]
    fn png_round_trip() {
        let mut s = Scene::new(7, 5);
        s.rect(1.0, 1.0, 2.0, 3.0, Rgb(10, 20, 30));
        s.polyline(vec![(5.0, 0.0), (5.0, 4.0)], Rgb::BLACK, 1.0);
        let bytes = Canvas::render(&s).to_png().unwrap();
        let dec = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (7, 5));
        assert_eq!(info.color_type, png::ColorType::Rgb);
        let at = |x: usize, y: usize| &buf[(y * 7 + x) * 3..][..3];
        assert_eq!(at(1, 1), &[10, 20, 30]);
        assert_eq!(at(2, 3), &[10, 20, 30]);
        assert_eq!(at(3, 1), &[255, 255, 255]);
        assert_eq!(at(1, 4), &[255, 255, 255]);
        assert_eq!(at(5, 2), &[0, 0, 0]);
    }
}
