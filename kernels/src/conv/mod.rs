//! Convolution helpers: im2col / col2im and direct depthwise 3×3 convolution.
//!
//! SKELETON: filled by the conv work.

use crate::isa::Isa;

/// The convolution entries of a [`crate::KernelSet`].
#[derive(Clone, Copy, Debug)]
pub struct ConvKernels {
    /// Name of the depthwise kernel.
    pub name: &'static str,
}

impl ConvKernels {
    pub(crate) fn for_isa(_isa: Isa) -> ConvKernels {
        ConvKernels {
            name: "f32_dwconv3x3_naive",
        }
    }
}
