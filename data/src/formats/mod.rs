//! Readers and writers for the Quick, Draw! file formats, one module per format.

pub mod bin;
pub mod class_dir;
pub mod ndjson;
pub mod npy;
pub mod parquet;
