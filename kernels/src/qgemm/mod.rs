//! int8 and int4 GEMM for inference with XNNPACK's requantization.
//!
//! SKELETON: filled by the qgemm work.

use crate::isa::Isa;

/// The int8/int4 GEMM entries of a [`crate::KernelSet`].
#[derive(Clone, Copy, Debug)]
pub struct QgemmKernels {
    /// Name of the micro-kernel.
    pub name: &'static str,
}

impl QgemmKernels {
    pub(crate) fn for_isa(_isa: Isa) -> QgemmKernels {
        QgemmKernels {
            name: "qs8_gemm_naive",
        }
    }
}
