//! Models: classifiers from images `[N, C, H, W]` to logits, built from [`crate::layers`].

pub mod vit;

pub use vit::{Vit, VitConfig};
