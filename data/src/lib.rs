//! Quick, Draw! data for Inkling: the published formats, the stroke rasterizer, the built-in synthetic
//! doodles and the dataset pipeline (see DESIGN.md, Data).
//!
//! Every reader takes untrusted bytes: offsets and lengths are checked before use, and a bad file is
//! an [`Error`] naming the file, where in it, and what is wrong — never a panic and never silently
//! fewer samples.

mod atomic;
pub mod download;
mod error;
pub mod formats;
mod names;
pub mod pipeline;
pub mod raster;
#[cfg(test)]
mod scratch;
pub mod synth;
mod types;

pub use error::{Error, Result};
pub use types::{Bitmap, BitmapSource, Drawing, Stroke, IMAGE_PIXELS, IMAGE_SIDE};
