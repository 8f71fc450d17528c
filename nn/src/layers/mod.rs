//! Layers: each holds its parameters, implements [`crate::Module`] with PyTorch names, and runs its
//! forward pass as a few coarse autograd ops.

mod attention;
mod batch_norm;
mod block;
mod conv2d;
mod dropout;
mod gelu;
pub mod init;
mod layer_norm;
mod linear;
mod mlp;
mod patch_embed;
mod tokens;

#[cfg(test)]
pub(crate) mod testutil;

pub use attention::MultiHeadSelfAttention;
pub use batch_norm::BatchNorm2d;
pub use block::{BlockSpec, TransformerBlock};
pub use conv2d::{Conv2d, DepthwiseConv2d};
pub use dropout::{mix64, Dropout};
pub use gelu::Gelu;
pub use layer_norm::LayerNorm;
pub use linear::Linear;
pub use mlp::Mlp;
pub use patch_embed::PatchEmbed;
pub use tokens::{prepend_and_embed, ClassToken, PosEmbed};
