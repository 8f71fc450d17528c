//! NEON int8 GEMM with the dot-product extension: `sdot` (s8×s8, four products per i32 lane).
//!
//! `vdotq_s32` is not stable in Rust 1.95, so `sdot` is written with `asm!` inside a function that
//! enables `dotprod`. Products are exact in 32 bits and the lane adds wrap like the scalar reference.

use core::arch::aarch64::*;
use core::arch::asm;

use super::{store_tile, ActLayout, QgemmKernels, Tile};

const MR: usize = 4;
const NR: usize = 16;
const KR: usize = 4;
const NV: usize = NR / 4;

/// The NEON dotprod table entry.
pub(super) const KERNELS: QgemmKernels = QgemmKernels {
    name: "qs8_gemm_4x16c4__neon_dotprod",
    tile: (MR, NR, KR),
    act: ActLayout::I8,
    w_bytes: 1,
    ukernel: qs8_gemm_4x16c4__neon_dotprod,
};

/// 4×16 tile, K in groups of 4: four `sdot` per row and K group.
///
/// # Safety
/// See [`super::Qs8Ukernel`]; the CPU has NEON and dotprod.
#[allow(non_snake_case)]
#[target_feature(enable = "neon,dotprod")]
pub(super) unsafe fn qs8_gemm_4x16c4__neon_dotprod(
    kp: usize,
    a: *const u8,
    lda: usize,
    w: *const u8,
    t: &Tile,
) {
    let mut acc = [[vdupq_n_s32(0); NV]; MR];
    let mut wp = w as *const i8;
    for g in 0..kp / KR {
        // SAFETY: the panel holds kp/KR groups of NR×KR bytes; row r < MR has kp bytes at lda.
        unsafe {
            let wv: [int8x16_t; NV] = core::array::from_fn(|v| vld1q_s8(wp.add(16 * v)));
            wp = wp.add(NR * KR);
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = vreinterpretq_s8_s32(vld1q_dup_s32(a.add(r * lda + g * KR) as *const i32));
                for v in 0..NV {
                    asm!(
                        "sdot {acc:v}.4s, {w:v}.16b, {x:v}.16b",
                        acc = inout(vreg) acc[v],
                        w = in(vreg) wv[v],
                        x = in(vreg) x,
                        options(pure, nomem, nostack, preserves_flags)
                    );
                }
            }
        }
    }
    if t.rows < MR || t.cols < NR {
        let mut tmp = [0i32; MR * NR];
        for (r, acc) in acc.iter().enumerate() {
            for (v, acc) in acc.iter().enumerate() {
                // SAFETY: tmp holds MR rows of NR i32.
                unsafe { vst1q_s32(tmp.as_mut_ptr().add(r * NR + 4 * v), *acc) };
            }
        }
        // SAFETY: forwarded from the caller's contract.
        unsafe { store_tile(&tmp, NR, t) };
        return;
    }
    // SAFETY: a full tile: NR biases and scales, MR rows of NR outputs at t.ldo.
    unsafe {
        let b: [int32x4_t; NV] = core::array::from_fn(|v| vld1q_s32(t.bias.add(4 * v)));
        match t.rq {
            None => {
                let out = t.out as *mut i32;
                for (r, acc) in acc.iter().enumerate() {
                    for v in 0..NV {
                        vst1q_s32(out.add(r * t.ldo + 4 * v), vaddq_s32(acc[v], b[v]));
                    }
                }
            }
            Some(rq) => {
                let sc: [float32x4_t; NV] =
                    core::array::from_fn(|v| vld1q_f32(rq.scale.add(4 * v)));
                let (lo, hi) = (vdupq_n_f32(rq.lo), vdupq_n_f32(rq.hi));
                let zp = vdupq_n_s32(rq.zp);
                let out = t.out as *mut i8;
                for (r, acc) in acc.iter().enumerate() {
                    let y: [int32x4_t; NV] = core::array::from_fn(|v| {
                        let f = vmulq_f32(vcvtq_f32_s32(vaddq_s32(acc[v], b[v])), sc[v]);
                        let f = vminq_f32(vmaxq_f32(f, lo), hi);
                        vaddq_s32(vcvtnq_s32_f32(f), zp)
                    });
                    let lo8 = vqmovn_s16(vcombine_s16(vqmovn_s32(y[0]), vqmovn_s32(y[1])));
                    let hi8 = vqmovn_s16(vcombine_s16(vqmovn_s32(y[2]), vqmovn_s32(y[3])));
                    vst1q_s8(out.add(r * t.ldo), vcombine_s8(lo8, hi8));
                }
            }
        }
    }
}
