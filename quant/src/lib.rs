//! The graph IR, quantization passes, the int8 runtime and the `.tflite` / `.pte` exporters.

pub use inkling_nn as nn;

mod error;
pub mod export;
pub mod graph;
pub mod kmeans;
pub mod passes;
pub mod ptq;
pub mod qat;
pub mod qparams;
pub mod runtime;
pub mod smooth;
mod trace;
pub mod wq;

pub use error::{Error, Result};
pub use qparams::QParams;
pub use trace::trace;
