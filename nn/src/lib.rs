//! Layers, models (ViT-Tiny, MobileViT, MobileNet), optimizers and the training loop (see DESIGN.md).

pub use inkling_autograd as autograd;

mod error;
pub mod metrics;
pub mod module;

pub use error::{Error, Result};
pub use module::{Ctx, Model, Module, ParamRole};
pub mod checkpoint;
pub mod clip;
pub mod distill;
pub mod layers;
pub mod models;
pub mod optim;
pub mod prune;
pub mod schedule;
#[cfg(test)]
mod testutil;
pub mod train;
