//! Layers, models (ViT-Tiny, MobileViT, MobileNet), optimizers and the training loop (see DESIGN.md).
//!
//! Filled by the training issue.

pub use inkling_autograd as autograd;
