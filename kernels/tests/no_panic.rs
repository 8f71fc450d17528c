//! "No panic on any shape": every safe entry point, for every ISA table this CPU has, is fed random
//! dimensions (small, zero, and near `usize::MAX` so size arithmetic overflows) with slices that are
//! sometimes long enough and sometimes one element short. Each call must return `Ok` or `Err`; a
//! panic fails the test and names the call.

use std::panic::{catch_unwind, AssertUnwindSafe};

use inkling_kernels::conv::{self, Conv2dGeometry};
use inkling_kernels::gemm::{sgemm, Epilogue, GemmParams};
use inkling_kernels::qgemm::{self, f32_int4::Qc4Weights, int4};
use inkling_kernels::rows::{self, LayerNorm, LayerNormGrads, RowStats, Rows};
use inkling_kernels::{Isa, KernelSet};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A dimension: mostly small, sometimes 0, sometimes huge.
fn dim(rng: &mut StdRng) -> usize {
    match rng.gen_range(0..20) {
        0 => 0,
        1 => usize::MAX / rng.gen_range(1..4),
        2 => 1 << rng.gen_range(31..62),
        _ => rng.gen_range(1..12),
    }
}

/// A buffer length for `want` elements: exact, one short, or a bit long; capped so huge dims
/// never allocate.
fn len_for(rng: &mut StdRng, want: Option<usize>) -> usize {
    let want = want.unwrap_or(usize::MAX).min(4096);
    match rng.gen_range(0..4) {
        0 => want.saturating_sub(1),
        1 => want + rng.gen_range(0..3),
        _ => want,
    }
}

fn prod(ds: &[usize]) -> Option<usize> {
    ds.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

fn no_panic(what: &str, f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        panic!("{what} panicked instead of returning an error");
    }
}

fn tables() -> Vec<KernelSet> {
    let sets: Vec<KernelSet> = Isa::ALL
        .into_iter()
        .filter_map(KernelSet::for_isa)
        .collect();
    assert!(!sets.is_empty());
    sets
}

#[test]
fn gemm_entry_points_never_panic() {
    let mut rng = StdRng::seed_from_u64(11);
    for ks in tables() {
        for case in 0..400 {
            let (m, n, k) = (dim(&mut rng), dim(&mut rng), dim(&mut rng));
            let mut p = GemmParams::new(m, n, k);
            if rng.gen() {
                p = p.trans_a();
            }
            if rng.gen() {
                p = p.trans_b();
            }
            if rng.gen_range(0..4) == 0 {
                p = p.ld(dim(&mut rng), dim(&mut rng), dim(&mut rng));
            }
            p = p.scale(1.5, if rng.gen() { 0.0 } else { 0.5 });
            let a = vec![1.0f32; len_for(&mut rng, prod(&[m, k]))];
            let b = vec![1.0f32; len_for(&mut rng, prod(&[k, n]))];
            let mut c = vec![0.0f32; len_for(&mut rng, prod(&[m, n]))];
            let bias = vec![0.5f32; len_for(&mut rng, Some(n))];
            let residual = vec![0.5f32; len_for(&mut rng, prod(&[m, n]))];
            let epi = Epilogue {
                bias: rng.gen::<bool>().then_some(&bias[..]),
                residual: rng.gen::<bool>().then_some(&residual[..]),
                ..Epilogue::default()
            };
            no_panic(&format!("sgemm[{}] case {case} {p:?}", ks.isa), || {
                let _ = sgemm(&ks, &p, &a, &b, &mut c, &epi);
            });
        }
    }
}

#[test]
fn qgemm_entry_points_never_panic() {
    let mut rng = StdRng::seed_from_u64(12);
    for ks in tables() {
        for case in 0..300 {
            let (m, n, k) = (dim(&mut rng), dim(&mut rng), dim(&mut rng));
            let ldx = if rng.gen() { k } else { dim(&mut rng) };
            let ldw = if rng.gen() { k } else { dim(&mut rng) };
            let w = vec![3i8; len_for(&mut rng, prod(&[n, k]))];
            let x = vec![-2i8; len_for(&mut rng, prod(&[m, k]))];
            let bias = vec![7i32; len_for(&mut rng, Some(n))];
            let mut y8 = vec![0i8; len_for(&mut rng, prod(&[m, n]))];
            let mut y32 = vec![0i32; len_for(&mut rng, prod(&[m, n]))];
            let s_w = vec![0.01f32; len_for(&mut rng, Some(n))];
            let what = format!(
                "qgemm[{}] case {case} m={m} n={n} k={k} ldx={ldx} ldw={ldw}",
                ks.isa
            );
            no_panic(&what, || {
                let Ok(packed) = qgemm::pack_qs8_weights(&ks, &w, n, k, ldw) else {
                    return;
                };
                let b = rng.gen::<bool>().then_some(&bias[..]);
                let _ = qgemm::qs8_gemm_i32(&ks, m, &x, ldx, 1, &packed, b, &mut y32, n);
                if let Ok(rq) = qgemm::Requant::new(0.05, &s_w, 0.1, -3, -128, 127) {
                    let _ = qgemm::qs8_gemm(&ks, m, &x, ldx, 1, &packed, b, &rq, &mut y8, n);
                    let _ = rq.apply(12345, n);
                }
            });
            let packed4 = vec![0x17u8; len_for(&mut rng, prod(&[n, k]).map(int4::int4_bytes))];
            let block = [0, 1, 32, 64, dim(&mut rng)][rng.gen_range(0..5)];
            let scales = vec![0.1f32; len_for(&mut rng, prod(&[n, k]))];
            let xf = vec![0.25f32; len_for(&mut rng, prod(&[m, k]))];
            let mut yf = vec![0.0f32; len_for(&mut rng, prod(&[m, n]))];
            no_panic(&format!("{what} int4 block={block}"), || {
                let _ = int4::pack_qs8_weights_int4(&ks, &packed4, n, k);
                let mut unpacked = vec![0i8; len_for(&mut rng, prod(&[n, k]))];
                let _ = int4::unpack_int4(&packed4, &mut unpacked);
                let mut repacked = vec![0u8; packed4.len()];
                let _ = int4::pack_int4(&unpacked, &mut repacked);
                for w4 in [
                    Qc4Weights::per_channel(&packed4, n, k, &scales),
                    Qc4Weights::blockwise(&packed4, n, k, block, &scales),
                ]
                .into_iter()
                .flatten()
                {
                    let _ = qgemm::f32_int4::f32_qc4w_gemm(&ks, m, &xf, ldx, &w4, None, &mut yf, n);
                }
            });
        }
    }
}

#[test]
fn row_entry_points_never_panic() {
    let mut rng = StdRng::seed_from_u64(13);
    for ks in tables() {
        for case in 0..300 {
            let (r, c) = (dim(&mut rng), dim(&mut rng));
            let shape = Rows::new(r, c);
            let total = prod(&[r, c]);
            let mut x = vec![0.5f32; len_for(&mut rng, total)];
            let mut g = vec![0.25f32; len_for(&mut rng, total)];
            let y = vec![0.1f32; len_for(&mut rng, total)];
            let mut out = vec![0.0f32; len_for(&mut rng, Some(r))];
            let gamma = vec![1.0f32; len_for(&mut rng, Some(c))];
            let beta = vec![0.0f32; len_for(&mut rng, Some(c))];
            let mut stats = vec![
                RowStats {
                    mean: 0.0,
                    rstd: 1.0
                };
                len_for(&mut rng, Some(r))
            ];
            let mut q = vec![0i8; len_for(&mut rng, total)];
            let (mut dgamma, mut dbeta) = (gamma.clone(), beta.clone());
            let mut dx = vec![0.0f32; len_for(&mut rng, total)];
            let eps = [1e-5, -1.0, f32::NAN][rng.gen_range(0..3)];
            let scale = [0.1, 0.0, -1.0, f32::INFINITY, 1e-45][rng.gen_range(0..5)];
            let zp = [0, -128, 127, 300][rng.gen_range(0..4)];
            no_panic(&format!("rows[{}] case {case} {r}x{c}", ks.isa), || {
                rows::exp(&ks, &mut x);
                rows::gelu(&ks, &mut x);
                rows::gelu_tanh(&ks, &mut x);
                let _ = rows::gelu_backward(&ks, &y, &mut g);
                let _ = rows::gelu_tanh_backward(&ks, &y, &mut g);
                let _ = rows::softmax(&ks, shape, &mut x);
                let _ = rows::softmax_backward(&ks, shape, &y, &mut g);
                let _ = rows::log_softmax(&ks, shape, &mut x);
                let _ = rows::log_softmax_backward(&ks, shape, &y, &mut g);
                let _ = rows::row_sums(&ks, shape, &y, &mut out);
                let _ = rows::row_sums_sq(&ks, shape, &y, &mut out);
                let _ = rows::row_max(&ks, shape, &y, &mut out);
                let ln = LayerNorm { shape, eps };
                let _ = rows::layer_norm(&ks, &ln, &y, &gamma, &beta, &mut x, Some(&mut stats));
                let grads = LayerNormGrads {
                    dx: &mut dx,
                    dgamma: &mut dgamma,
                    dbeta: &mut dbeta,
                };
                let _ = rows::layer_norm_backward(&ks, &ln, &y, &gamma, &stats, &g, grads);
                let _ = rows::quantize(&ks, &y, scale, zp, &mut q);
                let _ = rows::dequantize(&ks, &q, scale, zp, &mut x);
            });
        }
    }
}

#[test]
fn conv_entry_points_never_panic() {
    let mut rng = StdRng::seed_from_u64(14);
    for ks in tables() {
        for case in 0..300 {
            let (ch, h, w) = (dim(&mut rng), dim(&mut rng), dim(&mut rng));
            let (kh, kw) = if rng.gen() {
                (3, 3)
            } else {
                (dim(&mut rng), dim(&mut rng))
            };
            let g = Conv2dGeometry::new(ch, h, w, kh, kw)
                .stride(dim(&mut rng).min(3), dim(&mut rng).min(3))
                .pad_tlbr(
                    rng.gen_range(0..3),
                    rng.gen_range(0..3),
                    rng.gen_range(0..3),
                    dim(&mut rng),
                )
                .dilation(1 + rng.gen_range(0..2) * dim(&mut rng).min(2), 1);
            let batch = dim(&mut rng).min(3);
            let input = g.input_len().ok().and_then(|l| l.checked_mul(batch));
            let out_len = g
                .out_size()
                .ok()
                .and_then(|(oh, ow)| prod(&[batch, ch, oh, ow]));
            let x = vec![0.5f32; len_for(&mut rng, input)];
            let mut dx = vec![0.0f32; len_for(&mut rng, input)];
            let mut y = vec![0.0f32; len_for(&mut rng, out_len)];
            let dy = vec![0.5f32; len_for(&mut rng, out_len)];
            let wts = vec![0.1f32; len_for(&mut rng, prod(&[ch, 9]))];
            let mut dw = vec![0.0f32; len_for(&mut rng, prod(&[ch, 9]))];
            let bias = vec![0.0f32; len_for(&mut rng, Some(ch))];
            let mut dbias = bias.clone();
            let mut cols = vec![0.0f32; len_for(&mut rng, g.col_len().ok())];
            no_panic(
                &format!("conv[{}] case {case} {g:?} batch {batch}", ks.isa),
                || {
                    let _ = conv::im2col(&g, &x, &mut cols);
                    let _ = conv::col2im(&g, &cols, &mut dx);
                    let _ = conv::dwconv3x3(&ks, &g, batch, &x, &wts, Some(&bias), &mut y);
                    let _ = conv::dwconv3x3_backward_input(&ks, &g, batch, &dy, &wts, &mut dx);
                    let _ = conv::dwconv3x3_backward_weight(
                        &ks,
                        &g,
                        batch,
                        &x,
                        &dy,
                        &mut dw,
                        Some(&mut dbias),
                    );
                },
            );
        }
    }
}
