//! `.tflite` (LiteRT) files: a plain-data model of the schema subset we emit, its writer and a
//! checked reader. Mapping Inkling's graph onto [`ModelDef`] lives elsewhere.

mod read;
mod schema;
mod validate;
mod write;

#[cfg(test)]
mod tests;

pub use read::read_model;
pub use schema::{
    ActivationFn, Blockwise, BuiltinOp, BuiltinOptions, ModelDef, OperatorCode, OperatorDef,
    Padding, Quantization, SignatureDef, SubGraphDef, TensorDef, TensorType,
};
pub use write::{write_model, BUFFER_ALIGN, FILE_IDENTIFIER};
