//! Affine quantization parameters: `real = (q − zero_point)·scale`.

/// Per-tensor affine quantization of an int8 (or int32 bias) tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QParams {
    /// Step between adjacent integer levels.
    pub scale: f32,
    /// The integer that represents real 0.
    pub zero_point: i32,
}

impl QParams {
    /// Parameters with the given scale and zero point.
    pub fn new(scale: f32, zero_point: i32) -> QParams {
        QParams { scale, zero_point }
    }
}
