//! The graph IR, quantization passes, the int8 runtime and the `.tflite` / `.pte` exporters.

pub use inkling_nn as nn;

mod error;
pub mod export;
pub mod graph;
pub mod passes;
pub mod ptq;
pub mod qparams;
pub mod runtime;
mod trace;
pub mod wq;

pub use error::{Error, Result};
pub use qparams::QParams;
pub use trace::trace;
