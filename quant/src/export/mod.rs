//! Writers (and readers) of model files: FlatBuffers, `.tflite`.

pub mod flatbuf;
mod flatread;
pub mod tflite;
