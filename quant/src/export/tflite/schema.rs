//! A plain-data mirror of the subset of the TFLite schema (`schema.fbs`, LiteRT copy) we write.
//!
//! Names and numbers follow the schema; indices are the schema's own (tensor indices `i32` with
//! -1 for an omitted optional input, buffer and opcode indices `u32`). Nothing here knows about
//! Inkling's graph. Codes and union ids were checked against the flatc-generated
//! `schema_py_generated.py` shipped in `ai-edge-litert` 2.3.0.

/// `TensorType`: the element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TensorType {
    /// FLOAT32 (0).
    F32,
    /// FLOAT16 (1).
    F16,
    /// INT32 (2).
    I32,
    /// UINT8 (3).
    U8,
    /// INT64 (4).
    I64,
    /// INT16 (7).
    I16,
    /// INT8 (9).
    I8,
    /// INT4 (17): two values per byte, element 2i in the low nibble.
    I4,
}

impl TensorType {
    /// Every type we model.
    pub const ALL: [TensorType; 8] = [
        TensorType::F32,
        TensorType::F16,
        TensorType::I32,
        TensorType::U8,
        TensorType::I64,
        TensorType::I16,
        TensorType::I8,
        TensorType::I4,
    ];

    /// The schema's enum value.
    pub fn code(self) -> i8 {
        match self {
            TensorType::F32 => 0,
            TensorType::F16 => 1,
            TensorType::I32 => 2,
            TensorType::U8 => 3,
            TensorType::I64 => 4,
            TensorType::I16 => 7,
            TensorType::I8 => 9,
            TensorType::I4 => 17,
        }
    }

    /// The type with schema value `code`, if we model it.
    pub fn from_code(code: i8) -> Option<TensorType> {
        TensorType::ALL.into_iter().find(|t| t.code() == code)
    }

    /// Bytes a constant buffer of `numel` elements takes (INT4 packs two per byte).
    pub fn buffer_len(self, numel: usize) -> Option<usize> {
        match self {
            TensorType::I4 => Some(numel.div_ceil(2)),
            TensorType::U8 | TensorType::I8 => Some(numel),
            TensorType::F16 | TensorType::I16 => numel.checked_mul(2),
            TensorType::F32 | TensorType::I32 => numel.checked_mul(4),
            TensorType::I64 => numel.checked_mul(8),
        }
    }
}

/// `BlockwiseQuantization` (the `QuantizationDetails` union, type 2): per-block scales held in a
/// separate tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Blockwise {
    /// Index of the scale tensor (FLOAT16, `[N, K / block_size]`).
    pub scales: i32,
    /// Index of the zero-point tensor, or -1 for none.
    pub zero_points: i32,
    /// Elements per block along the input dimension.
    pub block_size: i32,
}

/// `QuantizationParameters`: real = (q - zero_point) · scale, per tensor or per axis.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Quantization {
    /// One scale per tensor, or one per slice along `quantized_dimension`.
    pub scale: Vec<f32>,
    /// Same length as `scale`.
    pub zero_point: Vec<i64>,
    /// The axis of per-axis quantization.
    pub quantized_dimension: i32,
    /// Blockwise (4-bit) details, when present.
    pub blockwise: Option<Blockwise>,
}

/// `Tensor`.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorDef {
    /// Name (shown by LiteRT, used by signatures).
    pub name: String,
    /// Dimensions; all must be ≥ 0.
    pub shape: Vec<i32>,
    /// Element type.
    pub dtype: TensorType,
    /// Index into `ModelDef::buffers`; 0 (the empty sentinel) for activations.
    pub buffer: u32,
    /// Quantization parameters, if any.
    pub quant: Option<Quantization>,
}

impl TensorDef {
    /// A tensor without quantization parameters.
    pub fn new(
        name: impl Into<String>,
        shape: &[i32],
        dtype: TensorType,
        buffer: u32,
    ) -> TensorDef {
        TensorDef {
            name: name.into(),
            shape: shape.to_vec(),
            dtype,
            buffer,
            quant: None,
        }
    }
}

/// `BuiltinOperator` codes used by the exporter.
pub struct BuiltinOp;

#[allow(missing_docs)]
impl BuiltinOp {
    pub const ADD: i32 = 0;
    pub const AVERAGE_POOL_2D: i32 = 1;
    pub const CONCATENATION: i32 = 2;
    pub const CONV_2D: i32 = 3;
    pub const DEPTHWISE_CONV_2D: i32 = 4;
    pub const DEQUANTIZE: i32 = 6;
    pub const FULLY_CONNECTED: i32 = 9;
    pub const LOGISTIC: i32 = 14;
    pub const MUL: i32 = 18;
    pub const RESHAPE: i32 = 22;
    pub const SOFTMAX: i32 = 25;
    pub const TRANSPOSE: i32 = 39;
    pub const MEAN: i32 = 40;
    pub const SUB: i32 = 41;
    pub const STRIDED_SLICE: i32 = 45;
    pub const RSQRT: i32 = 76;
    pub const SQUARED_DIFFERENCE: i32 = 99;
    pub const QUANTIZE: i32 = 114;
    pub const HARD_SWISH: i32 = 117;
    pub const BATCH_MATMUL: i32 = 126;
    pub const GELU: i32 = 150;

    /// The schema name of a builtin code we model, for messages.
    pub fn name(code: i32) -> Option<&'static str> {
        Some(match code {
            0 => "ADD",
            1 => "AVERAGE_POOL_2D",
            2 => "CONCATENATION",
            3 => "CONV_2D",
            4 => "DEPTHWISE_CONV_2D",
            6 => "DEQUANTIZE",
            9 => "FULLY_CONNECTED",
            14 => "LOGISTIC",
            18 => "MUL",
            22 => "RESHAPE",
            25 => "SOFTMAX",
            39 => "TRANSPOSE",
            40 => "MEAN",
            41 => "SUB",
            45 => "STRIDED_SLICE",
            76 => "RSQRT",
            99 => "SQUARED_DIFFERENCE",
            114 => "QUANTIZE",
            117 => "HARD_SWISH",
            126 => "BATCH_MATMUL",
            150 => "GELU",
            _ => return None,
        })
    }
}

/// `OperatorCode`: which builtin op, and the op version the converter would assign.
#[derive(Clone, Debug, PartialEq)]
pub struct OperatorCode {
    /// Builtin code; written as both `builtin_code` and `deprecated_builtin_code = min(code, 127)`.
    pub code: i32,
    /// Op version (see tflite.md section 2).
    pub version: i32,
}

/// `ActivationFunctionType`, fused into an op's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ActivationFn {
    /// NONE (0).
    #[default]
    None,
    /// RELU (1).
    Relu,
    /// RELU_N1_TO_1 (2).
    ReluN1To1,
    /// RELU6 (3).
    Relu6,
    /// TANH (4).
    Tanh,
    /// SIGN_BIT (5).
    SignBit,
}

impl ActivationFn {
    /// The schema's enum value.
    pub fn code(self) -> i8 {
        match self {
            ActivationFn::None => 0,
            ActivationFn::Relu => 1,
            ActivationFn::ReluN1To1 => 2,
            ActivationFn::Relu6 => 3,
            ActivationFn::Tanh => 4,
            ActivationFn::SignBit => 5,
        }
    }

    /// The activation with schema value `code`.
    pub fn from_code(code: i8) -> Option<ActivationFn> {
        use ActivationFn::*;
        [None, Relu, ReluN1To1, Relu6, Tanh, SignBit]
            .into_iter()
            .find(|a| a.code() == code)
    }
}

/// `Padding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Padding {
    /// SAME (0).
    #[default]
    Same,
    /// VALID (1).
    Valid,
}

impl Padding {
    /// The schema's enum value.
    pub fn code(self) -> i8 {
        match self {
            Padding::Same => 0,
            Padding::Valid => 1,
        }
    }

    /// The padding with schema value `code`.
    pub fn from_code(code: i8) -> Option<Padding> {
        match code {
            0 => Some(Padding::Same),
            1 => Some(Padding::Valid),
            _ => None,
        }
    }
}

/// The `BuiltinOptions` union, for the options tables we write. Fields absent here are written
/// as their schema defaults.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum BuiltinOptions {
    /// No options table (the kernel's C defaults apply).
    #[default]
    None,
    /// `Conv2DOptions` (1).
    Conv2D {
        padding: Padding,
        stride_w: i32,
        stride_h: i32,
        fused_activation: ActivationFn,
        dilation_w: i32,
        dilation_h: i32,
    },
    /// `DepthwiseConv2DOptions` (2).
    DepthwiseConv2D {
        padding: Padding,
        stride_w: i32,
        stride_h: i32,
        depth_multiplier: i32,
        fused_activation: ActivationFn,
        dilation_w: i32,
        dilation_h: i32,
    },
    /// `Pool2DOptions` (5).
    Pool2D {
        padding: Padding,
        stride_w: i32,
        stride_h: i32,
        filter_width: i32,
        filter_height: i32,
        fused_activation: ActivationFn,
    },
    /// `FullyConnectedOptions` (8), default weights format.
    FullyConnected {
        fused_activation: ActivationFn,
        keep_num_dims: bool,
        asymmetric_quantize_inputs: bool,
    },
    /// `SoftmaxOptions` (9); beta is always written (absent means beta 0).
    Softmax { beta: f32 },
    /// `ConcatenationOptions` (10).
    Concatenation {
        axis: i32,
        fused_activation: ActivationFn,
    },
    /// `AddOptions` (11).
    Add {
        fused_activation: ActivationFn,
        pot_scale_int16: bool,
    },
    /// `ReshapeOptions` (17).
    Reshape { new_shape: Vec<i32> },
    /// `MulOptions` (21).
    Mul { fused_activation: ActivationFn },
    /// `TransposeOptions` (26).
    Transpose,
    /// `ReducerOptions` (27), for MEAN.
    Reducer { keep_dims: bool },
    /// `SubOptions` (28).
    Sub {
        fused_activation: ActivationFn,
        pot_scale_int16: bool,
    },
    /// `StridedSliceOptions` (32).
    StridedSlice {
        begin_mask: i32,
        end_mask: i32,
        ellipsis_mask: i32,
        new_axis_mask: i32,
        shrink_axis_mask: i32,
        offset: bool,
    },
    /// `DequantizeOptions` (38).
    Dequantize,
    /// `SquaredDifferenceOptions` (76).
    SquaredDifference,
    /// `QuantizeOptions` (89).
    Quantize,
    /// `HardSwishOptions` (91).
    HardSwish,
    /// `BatchMatMulOptions` (101).
    BatchMatMul {
        adj_x: bool,
        adj_y: bool,
        asymmetric_quantize_inputs: bool,
    },
    /// `GeluOptions` (116).
    Gelu { approximate: bool },
}

impl BuiltinOptions {
    /// The `BuiltinOptions` union type id (0 for none).
    pub fn union_type(&self) -> u8 {
        use BuiltinOptions::*;
        match self {
            None => 0,
            Conv2D { .. } => 1,
            DepthwiseConv2D { .. } => 2,
            Pool2D { .. } => 5,
            FullyConnected { .. } => 8,
            Softmax { .. } => 9,
            Concatenation { .. } => 10,
            Add { .. } => 11,
            Reshape { .. } => 17,
            Mul { .. } => 21,
            Transpose => 26,
            Reducer { .. } => 27,
            Sub { .. } => 28,
            StridedSlice { .. } => 32,
            Dequantize => 38,
            SquaredDifference => 76,
            Quantize => 89,
            HardSwish => 91,
            BatchMatMul { .. } => 101,
            Gelu { .. } => 116,
        }
    }

    /// The options union type a builtin op reads (0 for ops without options), or `None` for
    /// codes we do not model.
    pub fn union_type_for(code: i32) -> Option<u8> {
        Some(match code {
            BuiltinOp::CONV_2D => 1,
            BuiltinOp::DEPTHWISE_CONV_2D => 2,
            BuiltinOp::AVERAGE_POOL_2D => 5,
            BuiltinOp::FULLY_CONNECTED => 8,
            BuiltinOp::SOFTMAX => 9,
            BuiltinOp::CONCATENATION => 10,
            BuiltinOp::ADD => 11,
            BuiltinOp::RESHAPE => 17,
            BuiltinOp::MUL => 21,
            BuiltinOp::TRANSPOSE => 26,
            BuiltinOp::MEAN => 27,
            BuiltinOp::SUB => 28,
            BuiltinOp::STRIDED_SLICE => 32,
            BuiltinOp::DEQUANTIZE => 38,
            BuiltinOp::SQUARED_DIFFERENCE => 76,
            BuiltinOp::QUANTIZE => 89,
            BuiltinOp::HARD_SWISH => 91,
            BuiltinOp::BATCH_MATMUL => 101,
            BuiltinOp::GELU => 116,
            BuiltinOp::LOGISTIC | BuiltinOp::RSQRT => 0,
            _ => return None,
        })
    }
}

/// `Operator`.
#[derive(Clone, Debug, PartialEq)]
pub struct OperatorDef {
    /// Index into `ModelDef::operator_codes`.
    pub opcode_index: u32,
    /// Tensor indices; -1 marks an omitted optional input.
    pub inputs: Vec<i32>,
    /// Tensor indices.
    pub outputs: Vec<i32>,
    /// The options table.
    pub options: BuiltinOptions,
}

/// `SubGraph`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SubGraphDef {
    /// Name.
    pub name: String,
    /// All tensors of the subgraph.
    pub tensors: Vec<TensorDef>,
    /// Indices of the input tensors.
    pub inputs: Vec<i32>,
    /// Indices of the output tensors.
    pub outputs: Vec<i32>,
    /// Operators in execution order.
    pub operators: Vec<OperatorDef>,
}

/// `SignatureDef`: named entry points, each `(name, tensor index)`.
#[derive(Clone, Debug, PartialEq)]
pub struct SignatureDef {
    /// `signature_key`.
    pub key: String,
    /// Inputs as `TensorMap`s.
    pub inputs: Vec<(String, u32)>,
    /// Outputs as `TensorMap`s.
    pub outputs: Vec<(String, u32)>,
    /// The subgraph the tensor indices refer to.
    pub subgraph_index: u32,
}

/// `Model`, the root table of a `.tflite` file.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelDef {
    /// Schema version; must be 3.
    pub version: u32,
    /// Free text.
    pub description: String,
    /// Operator codes referenced by `OperatorDef::opcode_index`.
    pub operator_codes: Vec<OperatorCode>,
    /// Subgraphs; the first is the main one.
    pub subgraphs: Vec<SubGraphDef>,
    /// Constant data; buffer 0 must be empty (the "no data" sentinel).
    pub buffers: Vec<Vec<u8>>,
    /// `Metadata` entries: (name, buffer index).
    pub metadata: Vec<(String, u32)>,
    /// Signatures.
    pub signatures: Vec<SignatureDef>,
}

impl Default for ModelDef {
    /// Version 3 with the empty sentinel buffer 0 and nothing else.
    fn default() -> ModelDef {
        ModelDef {
            version: 3,
            description: String::new(),
            operator_codes: Vec::new(),
            subgraphs: Vec::new(),
            buffers: vec![Vec::new()],
            metadata: Vec::new(),
            signatures: Vec::new(),
        }
    }
}
