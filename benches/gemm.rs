//! f32 GEMM: ours against the `gemm` and `matrixmultiply` crates at the ViT-Tiny training shapes
//! (forward and both backward GEMMs) and squares, at 1 and 2 threads.
//!
//! matrixmultiply reads `MATMUL_NUM_THREADS` once per process, so it appears only in the group whose
//! thread count matches it (1 unless set); `inkling bench kernels` runs one process per thread count
//! and compares at every count.

use criterion::{BenchmarkId, Criterion, Throughput};
use inkling::kernels::gemm::{sgemm, Epilogue};
use inkling::kernels::{kernels, threads};

use crate::anchors::{gemm as gemm_crate, matrixmultiply};
use crate::common::{check_sgemm, configure, f32s};
use crate::shapes::f32_all;

/// Thread count matrixmultiply will use in this process (fixing it to 1 when unset).
fn matrixmultiply_threads() -> usize {
    match std::env::var("MATMUL_NUM_THREADS") {
        Ok(v) => v.trim().parse().unwrap_or(1),
        Err(_) => {
            // Edition 2021: safe; no other thread reads the environment yet.
            std::env::set_var("MATMUL_NUM_THREADS", "1");
            1
        }
    }
}

fn f32_gemm(c: &mut Criterion) {
    let ks = kernels();
    let mm_threads = matrixmultiply_threads();
    for t in [1usize, 2] {
        threads::set_num_threads(t);
        let mut g = c.benchmark_group(format!("f32_gemm_{t}t"));
        configure(&mut g);
        for s in f32_all() {
            let p = s.params();
            let a = f32s(s.m * s.k, 1);
            let b = f32s(s.k * s.n, 2);
            let mut out = vec![0f32; s.m * s.n];
            let epi = Epilogue::default();
            g.throughput(Throughput::Elements(s.ops() as u64));

            // Each result is checked once, the first time criterion runs that bench (so a filtered
            // run checks only what it times).
            let mut checked = false;
            g.bench_function(
                BenchmarkId::new(format!("inkling_{}", ks.isa), &s.name),
                |bch| {
                    if !std::mem::replace(&mut checked, true) {
                        sgemm(ks, &p, &a, &b, &mut out, &epi).unwrap();
                        check_sgemm("inkling", &p, &a, &b, &out);
                    }
                    bch.iter(|| sgemm(ks, &p, &a, &b, &mut out, &epi).unwrap())
                },
            );

            let mut checked = false;
            g.bench_function(BenchmarkId::new("gemm", &s.name), |bch| {
                if !std::mem::replace(&mut checked, true) {
                    gemm_crate(&p, &a, &b, &mut out, t).unwrap();
                    check_sgemm("gemm", &p, &a, &b, &out);
                }
                bch.iter(|| gemm_crate(&p, &a, &b, &mut out, t).unwrap())
            });

            if t == mm_threads {
                let mut checked = false;
                g.bench_function(BenchmarkId::new("matrixmultiply", &s.name), |bch| {
                    if !std::mem::replace(&mut checked, true) {
                        matrixmultiply(&p, &a, &b, &mut out).unwrap();
                        check_sgemm("matrixmultiply", &p, &a, &b, &out);
                    }
                    bch.iter(|| matrixmultiply(&p, &a, &b, &mut out).unwrap())
                });
            }
        }
        g.finish();
    }
    threads::set_num_threads(0);
}

criterion::criterion_group!(benches, f32_gemm);
