//! The kernel table: chosen once per process, or built for a given ISA by tests and benchmarks.

use std::sync::OnceLock;

use crate::error::Result;
use crate::isa::Isa;
use crate::{conv, gemm, qgemm, rows, xnn};

/// Function pointers and tile sizes of every kernel family, for one ISA.
///
/// Ops see only this table, never the ISA. A family with no kernel for an ISA uses the best one it has
/// that the ISA implies (e.g. the `avx512vnni` table may use AVX2 f32 GEMM).
#[derive(Clone, Copy, Debug)]
pub struct KernelSet {
    /// The ISA this table was built for.
    pub isa: Isa,
    /// f32 GEMM micro-kernel and its tile.
    pub gemm: gemm::GemmKernels,
    /// int8 / int4 GEMM micro-kernels and their tiles.
    pub qgemm: qgemm::QgemmKernels,
    /// Depthwise convolution kernels.
    pub conv: conv::ConvKernels,
    /// Row kernels: exp, GELU, softmax, layer norm, quantize / dequantize.
    pub rows: rows::RowKernels,
    /// XNNPACK-exact f32 kernels (GELU, softmax, mean) for the float islands of int8 graphs.
    pub xnn: xnn::XnnKernels,
}

impl KernelSet {
    /// The table for `isa`, or `None` when this CPU cannot run it.
    pub fn for_isa(isa: Isa) -> Option<KernelSet> {
        if !isa.is_available() {
            return None;
        }
        Some(KernelSet {
            isa,
            gemm: gemm::GemmKernels::for_isa(isa),
            qgemm: qgemm::QgemmKernels::for_isa(isa),
            conv: conv::ConvKernels::for_isa(isa),
            rows: rows::RowKernels::for_isa(isa),
            xnn: xnn::XnnKernels::for_isa(isa),
        })
    }
}

static SET: OnceLock<Result<KernelSet>> = OnceLock::new();

fn choose() -> Result<KernelSet> {
    let isa = Isa::from_env_or_detect()?;
    Ok(KernelSet::for_isa(isa).expect("from_env_or_detect returns an available ISA"))
}

/// Chooses the process-wide table (honouring `INKLING_ISA`) and reports a bad override as an error.
///
/// Programs call this once at startup so that a wrong `INKLING_ISA` is a message, not a crash.
pub fn init() -> Result<&'static KernelSet> {
    match SET.get_or_init(choose) {
        Ok(set) => Ok(set),
        Err(_) => Err(choose().expect_err("the choice is deterministic")),
    }
}

/// The process-wide table.
///
/// # Panics
/// If `INKLING_ISA` is invalid for this CPU; call [`init`] first to get that as an error.
pub fn kernels() -> &'static KernelSet {
    match init() {
        Ok(set) => set,
        Err(e) => panic!("{e}"),
    }
}
