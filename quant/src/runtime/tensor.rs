//! Runtime tensors: a shape and typed elements.

use crate::graph::{ConstData, DType};

/// Elements of a runtime tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// float32.
    F32(Vec<f32>),
    /// int8.
    I8(Vec<i8>),
    /// int32.
    I32(Vec<i32>),
}

/// A tensor the runtime reads or writes.
#[derive(Clone, Debug, PartialEq)]
pub struct Buf {
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its elements (row-major).
    pub data: Data,
}

impl Buf {
    /// A float32 tensor.
    pub fn f32(shape: &[usize], data: Vec<f32>) -> Buf {
        Buf {
            shape: shape.to_vec(),
            data: Data::F32(data),
        }
    }

    /// An int8 tensor.
    pub fn i8(shape: &[usize], data: Vec<i8>) -> Buf {
        Buf {
            shape: shape.to_vec(),
            data: Data::I8(data),
        }
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        match self.data {
            Data::F32(_) => DType::F32,
            Data::I8(_) => DType::I8,
            Data::I32(_) => DType::I32,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            Data::F32(v) => v.len(),
            Data::I8(v) => v.len(),
            Data::I32(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The float32 elements, if that is the type.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            Data::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The int8 elements, if that is the type.
    pub fn as_i8(&self) -> Option<&[i8]> {
        match &self.data {
            Data::I8(v) => Some(v),
            _ => None,
        }
    }

    /// A constant's data as a runtime tensor.
    pub fn from_const(shape: &[usize], c: &ConstData) -> Buf {
        Buf {
            shape: shape.to_vec(),
            data: match c {
                ConstData::F32(v) => Data::F32(v.clone()),
                ConstData::I8(v) => Data::I8(v.clone()),
                ConstData::I32(v) => Data::I32(v.clone()),
                // int4 values are int8 values in [−8, 7]; kernels that take int4 pack their own copy.
                ConstData::I4(v) => Data::I8(v.clone()),
            },
        }
    }
}
