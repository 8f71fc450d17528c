//! IEEE float16 for the blockwise int4 scales TFLite stores as FLOAT16: conversion both ways and
//! rounding an f32 to the nearest float16, so quantizers choose scales the file holds exactly.

/// The float16 bits nearest to `x` (round to nearest even; overflow to ±inf, NaN kept).
pub fn f32_to_f16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32;
    let man = b & 0x007f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if man != 0 { 0x200 } else { 0 };
    }
    // Unbiased exponent; float16 normals have e in [-14, 15].
    let e = exp - 127;
    if e > 15 {
        return sign | 0x7c00;
    }
    if e >= -14 {
        // Normal: keep 10 mantissa bits, round the 13 dropped ones to nearest even. A carry out of
        // the mantissa correctly bumps the exponent (and 65520.. rounds to inf).
        let h = (((e + 15) as u32) << 10) | (man >> 13);
        let rest = man & 0x1fff;
        let up = rest > 0x1000 || (rest == 0x1000 && h & 1 == 1);
        return sign | (h + up as u32) as u16;
    }
    if e < -25 {
        return sign;
    }
    // Subnormal: the value is m·2^-24 with m = (1.man)·2^(e+24), rounded to nearest even.
    let full = man | 0x0080_0000;
    let shift = (-e - 14 + 13) as u32; // bits dropped from the 24-bit significand
    let h = full >> shift;
    let rest = full & ((1 << shift) - 1);
    let half = 1 << (shift - 1);
    let up = rest > half || (rest == half && h & 1 == 1);
    sign | (h + up as u32) as u16
}

/// The f32 value of float16 bits `h` (exact).
pub fn f16_bits_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0f32 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let man = (h & 0x3ff) as f32;
    match exp {
        0 => sign * man * 2f32.powi(-24),
        0x1f if man == 0.0 => sign * f32::INFINITY,
        0x1f => f32::NAN,
        _ => sign * (1.0 + man / 1024.0) * 2f32.powi(exp - 15),
    }
}

/// `x` rounded to the nearest float16 value, as an f32.
pub fn round_to_f16(x: f32) -> f32 {
    f16_bits_to_f32(f32_to_f16_bits(x))
}

/// Whether `x` is a positive normal float16 value exactly (what XNNPACK accepts as a block scale).
pub fn is_positive_normal_f16(x: f32) -> bool {
    x > 0.0 && x.is_finite() && round_to_f16(x) == x && x >= 2f32.powi(-14) && x <= 65504.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_round_trip_and_round_to_nearest_even() {
        for (x, h) in [
            (1.0f32, 0x3c00u16),
            (-2.0, 0xc000),
            (65504.0, 0x7bff),
            (2f32.powi(-14), 0x0400),
            (2f32.powi(-24), 0x0001),
            (0.0, 0x0000),
        ] {
            assert_eq!(f32_to_f16_bits(x), h, "{x}");
            assert_eq!(f16_bits_to_f32(h), x);
        }
        // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1).
        assert_eq!(round_to_f16(1.0 + 2f32.powi(-11)), 1.0);
        assert_eq!(
            round_to_f16(1.0 + 3.0 * 2f32.powi(-11)),
            1.0 + 2.0 * 2f32.powi(-10)
        );
        assert_eq!(f32_to_f16_bits(70000.0), 0x7c00);
        assert!(is_positive_normal_f16(0.125) && !is_positive_normal_f16(2f32.powi(-20)));
        // Every float16 bit pattern survives f16 → f32 → f16.
        for h in (0u16..0x7c00).step_by(7) {
            assert_eq!(f32_to_f16_bits(f16_bits_to_f32(h)), h);
        }
    }
}
