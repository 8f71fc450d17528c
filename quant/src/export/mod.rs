//! Writers (and readers) of model files: FlatBuffers, `.tflite`.
