//! Writers (and readers) of model files: FlatBuffers, `.tflite`.

pub mod flatbuf;
mod flatread;
pub mod tflite;
mod to_tflite;
pub use to_tflite::{to_tflite, write_file, ModelInfo, METADATA_NAME};
pub mod npy;
