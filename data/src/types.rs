//! The two shapes a doodle takes (vector strokes and a 28×28 bitmap) and the source trait.

use crate::error::Result;

/// Side of a Quick, Draw! bitmap.
pub const IMAGE_SIDE: usize = 28;
/// Pixels of a Quick, Draw! bitmap.
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;

/// A 28×28 bitmap, row-major, 0 = background, 255 = ink (the numpy_bitmap convention).
pub type Bitmap = [u8; IMAGE_PIXELS];

/// One pen stroke: points in drawing order (canvas units: 0–255 for `simplified`, pixels for `raw`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stroke {
    /// x coordinates.
    pub x: Vec<f32>,
    /// y coordinates (down is positive).
    pub y: Vec<f32>,
    /// Milliseconds since the first point, when the format records it (`raw`).
    pub t: Option<Vec<f32>>,
}

/// One drawing with its metadata, as the ndjson and `.bin` formats carry it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Drawing {
    /// The class name, e.g. "cat" (empty for `.bin`, which stores it in the file name).
    pub word: String,
    /// Two-letter country code.
    pub countrycode: String,
    /// Seconds since the Unix epoch (ndjson stores a UTC string; `.bin` a u32).
    pub timestamp: u32,
    /// Whether the game recognized the drawing.
    pub recognized: bool,
    /// Unique id of the drawing.
    pub key_id: u64,
    /// The strokes.
    pub strokes: Vec<Stroke>,
}

/// A labelled collection of 28×28 bitmaps, readable by index from any thread (memory-mapped files,
/// in-memory sets and the synthetic generator all implement it, so the pipeline needs no copies).
pub trait BitmapSource: Send + Sync {
    /// Number of samples.
    fn len(&self) -> usize;
    /// Whether there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Class names; labels index into this.
    fn class_names(&self) -> &[String];
    /// Label of sample `i` (< `class_names().len()`), without reading its pixels.
    fn label(&self, i: usize) -> Result<u32>;
    /// Copies sample `i` into `out` and returns its label; errors when `i` is out of range or the
    /// underlying file turns out to be bad.
    fn read(&self, i: usize, out: &mut Bitmap) -> Result<u32>;
}
