//! The dataset pipeline: subsets and per-class caps, stratified split, calibration sampling, counts
//! report, preprocessing, augmentation and the prefetching loader. Everything works against
//! [`BitmapSource`](crate::BitmapSource) and is deterministic for a seed whatever the thread count.

mod augment;
mod calibration;
mod loader;
mod preprocess;
mod rng;
mod source;
mod split;
mod stroke_jitter;

#[cfg(test)]
mod tests;

pub use augment::{Augment, Schedule};
pub use calibration::{calibration_indices, DEFAULT_CALIBRATION_SAMPLES};
pub use loader::{Augmentation, Batch, Epoch, Loader, LoaderConfig};
pub use preprocess::{Preprocess, Preprocessor, Resize, MAX_INPUT_SIDE};
pub use source::{cap_per_class, InMemory, Subset};
pub use split::{stratified_split, ClassCounts, Split, SplitFractions};
pub use stroke_jitter::StrokeJitter;
