//! f32 × int4 weight-only GEMM (per-channel and blocks of 32) at the ViT-Tiny shapes, with our f32
//! GEMM on the same shape as the reference row.

use criterion::{BenchmarkId, Criterion, Throughput};
use inkling::kernels::gemm::{sgemm, Epilogue, GemmParams};
use inkling::kernels::qgemm::f32_int4::{f32_qc4w_gemm, Qc4Weights};
use inkling::kernels::qgemm::int4::{int4_bytes, pack_int4};
use inkling::kernels::{kernels, threads};

use crate::common::{check_sgemm, configure, f32s, i8s, vit};

const BLOCK: usize = 32;

fn f32_int4(c: &mut Criterion) {
    let ks = kernels();
    threads::set_num_threads(1);
    let mut g = c.benchmark_group("f32_int4_gemm_1t");
    configure(&mut g);
    for s in vit() {
        let (m, k, n) = (s.m, s.k, s.n);
        g.throughput(Throughput::Elements(s.ops() as u64));
        let x = f32s(m * k, 1);
        let mut packed = vec![0u8; int4_bytes(n * k)];
        pack_int4(&i8s(n * k, -8, 7, 2), &mut packed).unwrap();
        let scales = |len, seed| -> Vec<f32> {
            f32s(len, seed)
                .iter()
                .map(|v| 0.01 + 0.01 * v.abs())
                .collect()
        };
        let per_channel = Qc4Weights::per_channel(&packed, n, k, &scales(n, 3)).unwrap();
        let blockwise =
            Qc4Weights::blockwise(&packed, n, k, BLOCK, &scales(n * k.div_ceil(BLOCK), 4)).unwrap();
        let p = GemmParams::new(m, n, k).trans_b();
        let mut y = vec![0f32; m * n];

        // Reference row: our f32 GEMM on the dequantized weights.
        let wf = per_channel.dequantize();
        let mut checked = false;
        g.bench_function(BenchmarkId::new("f32", &s.name), |b| {
            if !std::mem::replace(&mut checked, true) {
                sgemm(ks, &p, &x, &wf, &mut y, &Epilogue::default()).unwrap();
                check_sgemm("f32", &p, &x, &wf, &y);
            }
            b.iter(|| sgemm(ks, &p, &x, &wf, &mut y, &Epilogue::default()).unwrap())
        });

        for (name, w) in [("qc4w", &per_channel), ("qb4w_b32", &blockwise)] {
            let mut checked = false;
            g.bench_function(BenchmarkId::new(name, &s.name), |b| {
                if !std::mem::replace(&mut checked, true) {
                    f32_qc4w_gemm(ks, m, &x, k, w, None, &mut y, n).unwrap();
                    check_sgemm(name, &p, &x, &w.dequantize(), &y);
                }
                b.iter(|| f32_qc4w_gemm(ks, m, &x, k, w, None, &mut y, n).unwrap())
            });
        }
    }
    g.finish();
    threads::set_num_threads(0);
}

criterion::criterion_group!(benches, f32_int4);
