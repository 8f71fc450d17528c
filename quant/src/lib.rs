//! The graph IR, quantization passes, the int8 runtime and the `.tflite` / `.pte` exporters.
//!
//! Filled by the int8/TFLite issue.

pub use inkling_nn as nn;
