//! The graph IR, quantization passes, the int8 runtime and the `.tflite` / `.pte` exporters.

pub use inkling_nn as nn;

mod error;
pub mod export;
pub mod qparams;
pub mod runtime;

pub use error::{Error, Result};
pub use qparams::QParams;
