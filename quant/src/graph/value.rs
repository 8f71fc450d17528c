//! Values of a graph: activations and constants, with dtype and quantization.

use crate::QParams;

/// Index of a value in [`super::Graph::values`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub usize);

/// Element type of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    /// float32.
    F32,
    /// int8 (affine quantized).
    I8,
    /// int32 (biases, shape operands).
    I32,
    /// int4, two per byte (weights only).
    I4,
}

/// How a quantized value maps to reals: `real = (q − zero_point)·scale`.
#[derive(Clone, Debug, PartialEq)]
pub enum Quant {
    /// One scale and zero point for the whole tensor.
    PerTensor(QParams),
    /// One symmetric scale per index of `axis` (zero points all 0).
    PerChannel {
        /// Scales, one per channel.
        scales: Vec<f32>,
        /// The channel axis.
        axis: usize,
    },
    /// int4 weights `[N, K]` with one symmetric scale per output channel and block of `block_size`
    /// consecutive input channels (TFLite `BlockwiseQuantization`, quantized dimension 0, zero points
    /// all 0). Every scale is exactly representable in float16, as the file stores it.
    Blockwise {
        /// Scales `[N, K / block_size]`, row-major.
        scales: Vec<f32>,
        /// Input channels per block (XNNPACK: a multiple of 32 that divides K).
        block_size: usize,
    },
}

/// Constant data of a value.
#[derive(Clone, Debug, PartialEq)]
pub enum ConstData {
    /// float32 elements.
    F32(Vec<f32>),
    /// int8 elements.
    I8(Vec<i8>),
    /// int32 elements.
    I32(Vec<i32>),
    /// int4 elements, one per `i8` in [−8, 7] (packed two per byte only in files and kernels).
    I4(Vec<i8>),
}

impl ConstData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            ConstData::F32(v) => v.len(),
            ConstData::I8(v) => v.len(),
            ConstData::I32(v) => v.len(),
            ConstData::I4(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The float32 elements, if that is the type.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match self {
            ConstData::F32(v) => Some(v),
            _ => None,
        }
    }
}

/// A tensor of the graph: an activation (no data) or a constant (with data).
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// A readable name.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    /// Quantization (for int8/int32/int4 values).
    pub quant: Option<Quant>,
    /// Constant data, when this value is a constant.
    pub data: Option<ConstData>,
}

impl Value {
    /// An activation of `dtype`.
    pub fn activation(name: &str, shape: &[usize], dtype: DType) -> Value {
        Value {
            name: name.to_string(),
            shape: shape.to_vec(),
            dtype,
            quant: None,
            data: None,
        }
    }

    /// A constant holding `data`.
    pub fn constant(name: &str, shape: &[usize], data: ConstData) -> Value {
        let dtype = match data {
            ConstData::F32(_) => DType::F32,
            ConstData::I8(_) => DType::I8,
            ConstData::I32(_) => DType::I32,
            ConstData::I4(_) => DType::I4,
        };
        Value {
            name: name.to_string(),
            shape: shape.to_vec(),
            dtype,
            quant: None,
            data: Some(data),
        }
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The per-tensor parameters, if quantized per tensor.
    pub fn qparams(&self) -> Option<QParams> {
        match self.quant {
            Some(Quant::PerTensor(q)) => Some(q),
            _ => None,
        }
    }
}
