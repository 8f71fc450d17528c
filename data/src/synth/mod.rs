//! The built-in synthetic doodles: procedural strokes for a dozen classes, distorted the way people
//! draw (rotation, aspect and shear, per-stroke offsets, low-frequency wobble, point jitter, stroke
//! splits, overshoot, the odd stray mark), normalised like the `simplified` set and rasterized with
//! [`crate::raster`]. Every sample is a pure function of `(seed, class, index within class)`, so any
//! thread, order or class subset gives the same drawing.
//!
//! Labels are interleaved: sample `i` is class `i % classes` (the `i / classes`-th of its class), so
//! every prefix of the set is class-balanced.
//!
//! Scale and translation are undone by the bounding-box normalisation (as in the real data), so the
//! variation that survives is in shape: aspect, shear, rotation, wobble, stroke structure. Whether this
//! is hard enough that a linear model does clearly worse than a small ViT is for the training issue to
//! measure.

mod shapes;

use std::cell::RefCell;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::{Error, Result};
use crate::raster::{RasterConfig, Rasterizer};
use crate::types::{Bitmap, BitmapSource, Drawing, Stroke};

pub use shapes::CLASS_NAMES;

/// Which synthetic classes a set holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClassSelection {
    /// All of [`CLASS_NAMES`].
    All,
    /// The first `n` of [`CLASS_NAMES`].
    First(usize),
    /// These classes, in this order (labels follow it).
    Names(Vec<String>),
}

/// The synthetic doodle set: `samples_per_class` drawings for each selected class.
#[derive(Clone, Debug)]
pub struct SyntheticDoodles {
    seed: u64,
    samples_per_class: usize,
    /// Indices into [`CLASS_NAMES`], in label order.
    classes: Vec<usize>,
    names: Vec<String>,
    len: usize,
}

impl SyntheticDoodles {
    /// A set of `samples_per_class` drawings per selected class; an unknown, repeated or out-of-range
    /// class selection is an error.
    pub fn new(seed: u64, samples_per_class: usize, classes: ClassSelection) -> Result<Self> {
        let n_all = CLASS_NAMES.len();
        let classes: Vec<usize> = match classes {
            ClassSelection::All => (0..n_all).collect(),
            ClassSelection::First(n) if n == 0 || n > n_all => {
                return Err(Error::Invalid(format!(
                    "asked for {n} synthetic classes; there are 1 to {n_all}"
                )))
            }
            ClassSelection::First(n) => (0..n).collect(),
            ClassSelection::Names(names) => {
                if names.is_empty() {
                    return Err(Error::Invalid("an empty list of synthetic classes".into()));
                }
                let mut out = Vec::with_capacity(names.len());
                for name in &names {
                    let idx = CLASS_NAMES.iter().position(|c| c == name).ok_or_else(|| {
                        Error::UnknownClass {
                            name: name.clone(),
                            hint: closest(name),
                        }
                    })?;
                    if out.contains(&idx) {
                        return Err(Error::Invalid(format!(
                            "synthetic class {name:?} listed twice"
                        )));
                    }
                    out.push(idx);
                }
                out
            }
        };
        let len = samples_per_class
            .checked_mul(classes.len())
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "{samples_per_class} samples × {} classes overflows",
                    classes.len()
                ))
            })?;
        Ok(SyntheticDoodles {
            seed,
            samples_per_class,
            names: classes
                .iter()
                .map(|&c| CLASS_NAMES[c].to_string())
                .collect(),
            classes,
            len,
        })
    }

    /// Drawings per class.
    pub fn samples_per_class(&self) -> usize {
        self.samples_per_class
    }

    /// Sample `i` as strokes in the `simplified` frame (top-left aligned, longest side 0–255,
    /// integer coordinates); errors when `i` is out of range.
    pub fn drawing(&self, i: usize) -> Result<Drawing> {
        let (label, class, k) = self.locate(i)?;
        let mut rng = StdRng::seed_from_u64(sample_seed(self.seed, class, k));
        let strokes = generate(class, &mut rng);
        Ok(Drawing {
            word: self.names[label].clone(),
            countrycode: "ZZ".into(),
            timestamp: 0,
            recognized: true,
            key_id: sample_seed(self.seed, class, k) >> 1,
            strokes,
        })
    }

    /// (label, index into CLASS_NAMES, index within the class) of sample `i`.
    fn locate(&self, i: usize) -> Result<(usize, usize, usize)> {
        if i >= self.len {
            return Err(Error::Invalid(format!(
                "synthetic sample {i} out of range (the set has {})",
                self.len
            )));
        }
        let n = self.classes.len();
        let label = i % n;
        Ok((label, self.classes[label], i / n))
    }
}

thread_local! {
    /// Rasterizer scratch per thread, so `read` allocates nothing.
    static RASTER: RefCell<Rasterizer> = RefCell::new(Rasterizer::new(RasterConfig::default()));
}

impl BitmapSource for SyntheticDoodles {
    fn len(&self) -> usize {
        self.len
    }

    fn class_names(&self) -> &[String] {
        &self.names
    }

    fn label(&self, i: usize) -> Result<u32> {
        let (label, _, _) = self.locate(i)?;
        Ok(label as u32)
    }

    fn read(&self, i: usize, out: &mut Bitmap) -> Result<u32> {
        let d = self.drawing(i)?;
        RASTER.with(|r| r.borrow_mut().draw(&d.strokes, out));
        self.label(i)
    }
}

/// The closest class name by edit distance, if it is close enough to be a likely typo.
fn closest(name: &str) -> Option<String> {
    CLASS_NAMES
        .iter()
        .map(|c| (edit_distance(name, c), c))
        .min()
        .filter(|(d, _)| *d <= 3)
        .map(|(_, c)| c.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// splitmix64: a well-mixed 64-bit hash step.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The RNG seed of one sample: depends on the class itself (not its label) so that subsets agree.
fn sample_seed(seed: u64, class: usize, k: usize) -> u64 {
    mix(mix(mix(seed) ^ class as u64) ^ k as u64)
}

/// One drawing of `class`, distorted and normalised to the simplified frame.
fn generate(class: usize, rng: &mut StdRng) -> Vec<Stroke> {
    let mut paths = shapes::draw(class, rng);
    if rng.gen_bool(0.08) {
        // A stray mark, as real doodles have.
        let (x, y) = (rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0));
        let (dx, dy) = (rng.gen_range(-0.3..0.3), rng.gen_range(-0.3..0.3));
        paths.push(vec![(x, y), (x + dx, y + dy)]);
    }
    // Affine: rotation, aspect, shear.
    let rot: f32 = rng.gen_range(-0.35..0.35);
    let (sx, sy): (f32, f32) = (rng.gen_range(0.75..1.3), rng.gen_range(0.75..1.3));
    let shear: f32 = rng.gen_range(-0.2..0.2);
    let (c, s) = (rot.cos(), rot.sin());
    let jitter: f32 = rng.gen_range(0.005..0.025);
    let wobble: f32 = rng.gen_range(0.01..0.06);
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let n = path.len().max(2) as f32;
        let (ox, oy) = (rng.gen_range(-0.05..0.05), rng.gen_range(-0.05..0.05));
        let (f1, f2): (f32, f32) = (rng.gen_range(0.3..2.0), rng.gen_range(0.3..2.0));
        let (p1, p2): (f32, f32) = (
            rng.gen_range(0.0..std::f32::consts::TAU),
            rng.gen_range(0.0..std::f32::consts::TAU),
        );
        let mut stroke = Stroke::default();
        for (j, &(x, y)) in path.iter().enumerate() {
            let u = j as f32 / (n - 1.0) * std::f32::consts::TAU;
            let x = x + wobble * (f1 * u + p1).sin() + rng.gen_range(-jitter..jitter) + ox;
            let y = y + wobble * (f2 * u + p2).sin() + rng.gen_range(-jitter..jitter) + oy;
            let (x, y) = (sx * (x + shear * y), sy * y);
            stroke.x.push(c * x - s * y);
            stroke.y.push(s * x + c * y);
        }
        // Now and then a long stroke is lifted and resumed.
        if stroke.x.len() > 12 && rng.gen_bool(0.1) {
            let cut = rng.gen_range(4..stroke.x.len() - 4);
            let tail = Stroke {
                x: stroke.x.split_off(cut),
                y: stroke.y.split_off(cut),
                t: None,
            };
            out.push(stroke);
            out.push(tail);
        } else {
            out.push(stroke);
        }
    }
    normalise(&mut out);
    out
}

/// Top-left align, scale the longest side to 0–255 and round, as Google's `simplified` set is.
fn normalise(strokes: &mut [Stroke]) {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for s in strokes.iter() {
        for (&x, &y) in s.x.iter().zip(&s.y) {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    let extent = (x1 - x0).max(y1 - y0);
    let scale = if extent > 0.0 { 255.0 / extent } else { 1.0 };
    for s in strokes.iter_mut() {
        s.x.iter_mut()
            .for_each(|x| *x = ((*x - x0) * scale).round().clamp(0.0, 255.0));
        s.y.iter_mut()
            .for_each(|y| *y = ((*y - y0) * scale).round().clamp(0.0, 255.0));
    }
}

#[cfg(test)]
mod tests;
