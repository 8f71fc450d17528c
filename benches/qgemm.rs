//! int8 GEMM per ISA table at the ViT-Tiny inference shapes, requantized (int8 out) and int32 out,
//! with our f32 GEMM on the same shape as the reference row.

use criterion::{BenchmarkId, Criterion, Throughput};
use inkling::kernels::gemm::{sgemm, Epilogue, GemmParams};
use inkling::kernels::qgemm::{pack_qs8_weights, qs8_gemm, qs8_gemm_i32, Requant};
use inkling::kernels::{kernels, threads, Isa, KernelSet};

use crate::common::{configure, f32s, i8s, positions, vit};

const ZP_X: i8 = 3;

/// Panics unless `y32` (and its requantization `y8`) match an exact i32 reference at sampled positions.
#[allow(clippy::too_many_arguments)]
fn check(
    what: &str,
    (m, k, n): (usize, usize, usize),
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    rq: &Requant,
    y8: &[i8],
    y32: &[i32],
) {
    for (i, j) in positions(m, n) {
        let acc = (0..k).fold(bias[j], |acc, l| {
            acc.wrapping_add((x[i * k + l] as i32 - ZP_X as i32) * w[j * k + l] as i32)
        });
        assert_eq!(y32[i * n + j], acc, "{what}: Y[{i},{j}] int32");
        assert_eq!(
            y8[i * n + j],
            rq.apply(acc, j).unwrap(),
            "{what}: Y[{i},{j}] int8"
        );
    }
}

fn qs8(c: &mut Criterion) {
    let f32_ks = kernels();
    let tables: Vec<KernelSet> = Isa::available()
        .into_iter()
        .filter(|&i| i != Isa::Scalar)
        .filter_map(KernelSet::for_isa)
        .collect();
    for t in [1usize, 2] {
        threads::set_num_threads(t);
        let mut g = c.benchmark_group(format!("qs8_gemm_{t}t"));
        configure(&mut g);
        for s in vit() {
            let (m, k, n) = (s.m, s.k, s.n);
            g.throughput(Throughput::Elements(s.ops() as u64));
            let x = i8s(m * k, i8::MIN, i8::MAX, 1);
            let w = i8s(n * k, -127, 127, 2);
            let bias: Vec<i32> = i8s(n, -100, 100, 3)
                .iter()
                .map(|&b| b as i32 * 100)
                .collect();
            let scale = 40.0 / ((k as f32).sqrt() * 74.0 * 73.0);
            let rq = Requant::from_scales(vec![scale; n], -5, -128, 127).unwrap();
            let (mut y8, mut y32) = (vec![0i8; m * n], vec![0i32; m * n]);

            // Reference row: our f32 GEMM on the same shape (Y = X·Wᵀ).
            let (xf, wf) = (f32s(m * k, 4), f32s(n * k, 5));
            let mut yf = vec![0f32; m * n];
            let p = GemmParams::new(m, n, k).trans_b();
            g.bench_function(
                BenchmarkId::new(format!("f32_{}", f32_ks.isa), &s.name),
                |b| b.iter(|| sgemm(f32_ks, &p, &xf, &wf, &mut yf, &Epilogue::default()).unwrap()),
            );

            for ks in &tables {
                let packed = pack_qs8_weights(ks, &w, n, k, k).unwrap();
                let mut checked = false;
                let mut ensure_checked = |y8: &mut [i8], y32: &mut [i32]| {
                    if !std::mem::replace(&mut checked, true) {
                        qs8_gemm(ks, m, &x, k, ZP_X, &packed, Some(&bias), &rq, y8, n).unwrap();
                        qs8_gemm_i32(ks, m, &x, k, ZP_X, &packed, Some(&bias), y32, n).unwrap();
                        check(ks.qgemm.name, (m, k, n), &x, &w, &bias, &rq, y8, y32);
                    }
                };
                g.bench_function(BenchmarkId::new(format!("int8_{}", ks.isa), &s.name), |b| {
                    ensure_checked(&mut y8, &mut y32);
                    b.iter(|| {
                        qs8_gemm(ks, m, &x, k, ZP_X, &packed, Some(&bias), &rq, &mut y8, n).unwrap()
                    })
                });
                g.bench_function(
                    BenchmarkId::new(format!("int32out_{}", ks.isa), &s.name),
                    |b| {
                        ensure_checked(&mut y8, &mut y32);
                        b.iter(|| {
                            qs8_gemm_i32(ks, m, &x, k, ZP_X, &packed, Some(&bias), &mut y32, n)
                                .unwrap()
                        })
                    },
                );
            }
        }
        g.finish();
    }
    threads::set_num_threads(0);
}

criterion::criterion_group!(benches, qs8);
