//! NEON int8 GEMM without dotprod: `smull` + `smlal` into i16, then `sadalp` into i32.
//!
//! Each i16 lane holds `x₀w₀ + x₁w₁` with |x| ≤ 128 and |w| ≤ 127 (packing rejects −128), at most
//! 2·128·127 = 32512 in magnitude, so it cannot overflow; `sadalp` then widens pairs into i32.

use core::arch::aarch64::*;

use super::{store_tile, ActLayout, QgemmKernels, Tile};

const MR: usize = 2;
const NR: usize = 8;
const KR: usize = 16;

/// The NEON table entry.
pub(super) const KERNELS: QgemmKernels = QgemmKernels {
    name: "qs8_gemm_2x8c16__neon",
    tile: (MR, NR, KR),
    act: ActLayout::I8,
    w_bytes: 1,
    ukernel: qs8_gemm_2x8c16__neon,
};

/// 2×8 tile, K in blocks of 16 per column: lanes hold partial sums, reduced with `addp` at the end.
///
/// # Safety
/// See [`super::Qs8Ukernel`]; the CPU has NEON.
#[allow(non_snake_case)]
#[target_feature(enable = "neon")]
pub(super) unsafe fn qs8_gemm_2x8c16__neon(
    kp: usize,
    a: *const u8,
    lda: usize,
    w: *const u8,
    t: &Tile,
) {
    let mut acc = [[vdupq_n_s32(0); NR]; MR];
    let mut wp = w as *const i8;
    for g in 0..kp / KR {
        // SAFETY: row r < MR has kp bytes at lda; the panel holds kp/KR blocks of NR×KR bytes.
        unsafe {
            let x: [int8x16_t; MR] =
                core::array::from_fn(|r| vld1q_s8(a.add(r * lda + g * KR) as *const i8));
            for c in 0..NR {
                let wv = vld1q_s8(wp.add(c * KR));
                for (acc, &x) in acc.iter_mut().zip(&x) {
                    let p = vmull_s8(vget_low_s8(x), vget_low_s8(wv));
                    let p = vmlal_high_s8(p, x, wv);
                    acc[c] = vpadalq_s16(acc[c], p);
                }
            }
            wp = wp.add(NR * KR);
        }
    }
    let sums: [[int32x4_t; 2]; MR] = core::array::from_fn(|r| {
        let s = &acc[r];
        [
            vpaddq_s32(vpaddq_s32(s[0], s[1]), vpaddq_s32(s[2], s[3])),
            vpaddq_s32(vpaddq_s32(s[4], s[5]), vpaddq_s32(s[6], s[7])),
        ]
    });
    if t.rows < MR || t.cols < NR {
        let mut tmp = [0i32; MR * NR];
        for (r, s) in sums.iter().enumerate() {
            // SAFETY: tmp holds MR rows of NR i32.
            unsafe {
                vst1q_s32(tmp.as_mut_ptr().add(r * NR), s[0]);
                vst1q_s32(tmp.as_mut_ptr().add(r * NR + 4), s[1]);
            }
        }
        // SAFETY: forwarded from the caller's contract.
        unsafe { store_tile(&tmp, NR, t) };
        return;
    }
    // SAFETY: a full tile: NR biases and scales, MR rows of NR outputs at t.ldo.
    unsafe {
        let b = [vld1q_s32(t.bias), vld1q_s32(t.bias.add(4))];
        match t.rq {
            None => {
                let out = t.out as *mut i32;
                for (r, s) in sums.iter().enumerate() {
                    vst1q_s32(out.add(r * t.ldo), vaddq_s32(s[0], b[0]));
                    vst1q_s32(out.add(r * t.ldo + 4), vaddq_s32(s[1], b[1]));
                }
            }
            Some(rq) => {
                let sc = [vld1q_f32(rq.scale), vld1q_f32(rq.scale.add(4))];
                let (lo, hi) = (vdupq_n_f32(rq.lo), vdupq_n_f32(rq.hi));
                let zp = vdupq_n_s32(rq.zp);
                let q = |v: int32x4_t, s: float32x4_t| {
                    let f = vminq_f32(vmaxq_f32(vmulq_f32(vcvtq_f32_s32(v), s), lo), hi);
                    vaddq_s32(vcvtnq_s32_f32(f), zp)
                };
                let out = t.out as *mut i8;
                for (r, s) in sums.iter().enumerate() {
                    let v0 = q(vaddq_s32(s[0], b[0]), sc[0]);
                    let v1 = q(vaddq_s32(s[1], b[1]), sc[1]);
                    let y = vqmovn_s16(vcombine_s16(vqmovn_s32(v0), vqmovn_s32(v1)));
                    vst1_s8(out.add(r * t.ldo), y);
                }
            }
        }
    }
}
