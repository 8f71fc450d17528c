//! Post-training int8 quantization: observe activation ranges on calibration images, then convert.

mod calibrate;
mod convert;
mod observer;
pub mod qparams;
mod report;

pub use calibrate::Calibrator;
pub use convert::{convert, is_int8_node};
pub use observer::{Observer, ObserverKind};
pub use report::{layer_errors, LayerError};
