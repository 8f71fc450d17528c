//! Writers (and readers) of model files: FlatBuffers, `.tflite`.

pub mod f16;
pub mod flatbuf;
mod flatread;
mod from_tflite;
pub mod tflite;
mod to_tflite;
pub use from_tflite::from_tflite;
pub use to_tflite::{to_tflite, write_file, ModelInfo, METADATA_NAME};
pub mod npy;
