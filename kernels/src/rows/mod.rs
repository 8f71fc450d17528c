//! Row kernels used by layers: exp, GELU, softmax, layer norm, sums, quantize / dequantize.
//!
//! SKELETON: filled by the rows work.

use crate::isa::Isa;

/// The row-kernel entries of a [`crate::KernelSet`].
#[derive(Clone, Copy, Debug)]
pub struct RowKernels {
    /// Name of the exp kernel.
    pub name: &'static str,
}

impl RowKernels {
    pub(crate) fn for_isa(_isa: Isa) -> RowKernels {
        RowKernels {
            name: "f32_rows_naive",
        }
    }
}
