//! SIMD micro-kernels for Inkling and their dispatch.
//!
//! Every kernel family has a scalar reference (also the fallback) and SIMD versions per ISA. The CPU is
//! detected once and a [`KernelSet`] of function pointers is chosen; `INKLING_ISA` forces one
//! (`scalar|avx2|avx512vnni|neon|neon-dotprod`). Callers pass slices and dimensions; the safe entry
//! points check every length and return [`Error`] instead of panicking. `unsafe` code lives only here.

pub mod conv;
mod dispatch;
mod error;
pub mod gemm;
mod isa;
pub mod peak;
pub mod qgemm;
pub mod rows;
pub mod threads;
pub mod xnn;

pub use dispatch::{init, kernels, KernelSet};
pub use error::{Error, Result};
pub use isa::{cpu_features, cpu_model, Isa};
