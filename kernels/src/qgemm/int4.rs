//! Signed int4 weights, two per byte with the low nibble first (TFLite INT4), and int8×int4 GEMM.
//!
//! Element `2i` is the low nibble of byte `i` and element `2i+1` the high nibble, over the flattened
//! tensor; an odd count leaves a final low nibble (its high nibble is written as 0). int8×int4 GEMM
//! unpacks to int8 inside the packing routine and then runs the int8 kernels unchanged: int4 halves the
//! weights' storage, and int8 kernels are already as fast as the hardware allows for these shapes.

use super::{bad, pack_qs8_weights, Qs8Weights};
use crate::error::{check_len, Result};
use crate::KernelSet;

/// Bytes that hold `count` int4 values.
pub fn int4_bytes(count: usize) -> usize {
    count.div_ceil(2)
}

/// Packs `values` (each in [−8, 7]) two per byte, low nibble first, into `out[..⌈n/2⌉]`.
///
/// Errors when `out` is shorter than ⌈n/2⌉ or a value is out of range.
pub fn pack_int4(values: &[i8], out: &mut [u8]) -> Result<()> {
    const OP: &str = "pack_int4";
    check_len(OP, "out", int4_bytes(values.len()), out.len())?;
    if let Some((i, v)) = values
        .iter()
        .enumerate()
        .find(|(_, v)| !(-8..=7).contains(*v))
    {
        return Err(bad(OP, format!("value {v} at {i} is outside [-8, 7]")));
    }
    for (o, pair) in out.iter_mut().zip(values.chunks(2)) {
        let lo = pair[0] as u8 & 0x0f;
        let hi = pair.get(1).map_or(0, |&v| v as u8 & 0x0f);
        *o = lo | hi << 4;
    }
    Ok(())
}

/// The int4 value at flattened index `i` of a packed buffer, sign-extended.
#[inline]
pub(crate) fn nibble(packed: &[u8], i: usize) -> i8 {
    let b = packed[i / 2];
    let v = if i.is_multiple_of(2) {
        b << 4
    } else {
        b & 0xf0
    };
    (v as i8) >> 4
}

/// Unpacks `out.len()` int4 values from `packed` (low nibble first), sign-extended to int8.
///
/// Errors when `packed` is shorter than ⌈out.len()/2⌉.
pub fn unpack_int4(packed: &[u8], out: &mut [i8]) -> Result<()> {
    check_len("unpack_int4", "packed", int4_bytes(out.len()), packed.len())?;
    for (i, o) in out.iter_mut().enumerate() {
        *o = nibble(packed, i);
    }
    Ok(())
}

/// Packs int4 weights `[N, K]` (flattened TFLite INT4 buffer, ⌈N·K/2⌉ bytes) for the int8 kernels.
///
/// Per-channel scales go into [`super::Requant`] as for int8 weights. Errors on a short buffer.
pub fn pack_qs8_weights_int4(
    ks: &KernelSet,
    packed: &[u8],
    n: usize,
    k: usize,
) -> Result<Qs8Weights> {
    const OP: &str = "pack_qs8_weights_int4";
    let count = n
        .checked_mul(k)
        .ok_or_else(|| bad(OP, format!("{n}×{k} overflows")))?;
    check_len(OP, "packed", int4_bytes(count), packed.len())?;
    let mut w = vec![0i8; count];
    unpack_int4(packed, &mut w)?;
    pack_qs8_weights(ks, &w, n, k, k)
}
