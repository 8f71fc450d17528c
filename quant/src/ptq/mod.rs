//! Post-training int8 quantization: observe activation ranges on calibration images, then convert.

mod calibrate;
mod convert;
mod observer;
mod plan;
pub mod qparams;
mod report;

pub use calibrate::Calibrator;
pub use convert::{convert, is_int8_node};
pub use observer::{Observer, ObserverKind};
pub use plan::{const_range, data_range, is_weighted, quant_plan, weight_axis, QuantPlan};
pub use report::{layer_errors, LayerError};
