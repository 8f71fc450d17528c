//! f32 GEMM: ours against the `gemm` and `matrixmultiply` crates at the ViT-Tiny training shapes
//! (forward and both backward GEMMs) and squares, at 1 and 2 threads.
//!
//! matrixmultiply reads `MATMUL_NUM_THREADS` once per process, so it appears only in the group whose
//! thread count matches it (1 unless set); `inkling bench kernels` runs one process per thread count
//! and compares at every count.

use criterion::{BenchmarkId, Criterion, Throughput};
use inkling::kernels::gemm::{sgemm, Epilogue, GemmParams};
use inkling::kernels::{kernels, threads};

use crate::common::{check_sgemm, configure, f32_shapes, f32s};

/// Strides of op(A), op(B), C as stored, for the raw-pointer reference APIs.
fn strides(p: &GemmParams) -> [isize; 6] {
    let (lda, ldb, ldc) = (p.lda as isize, p.ldb as isize, p.ldc as isize);
    let (rsa, csa) = if p.trans_a { (1, lda) } else { (lda, 1) };
    let (rsb, csb) = if p.trans_b { (1, ldb) } else { (ldb, 1) };
    [rsa, csa, rsb, csb, ldc, 1]
}

/// `C = op(A)·op(B)` with the gemm crate.
fn gemm_crate(p: &GemmParams, a: &[f32], b: &[f32], c: &mut [f32], threads: usize) {
    let [rsa, csa, rsb, csb, rsc, csc] = strides(p);
    assert!(a.len() >= p.m * p.k && b.len() >= p.k * p.n && c.len() >= p.m * p.n);
    let par = if threads <= 1 {
        gemm::Parallelism::None
    } else {
        gemm::Parallelism::Rayon(threads)
    };
    // SAFETY: the operands are contiguous with the dimensions `strides` describes (checked above),
    // `c` is exclusively borrowed, and read_dst = false means the old C is not read.
    unsafe {
        gemm::gemm(
            p.m,
            p.n,
            p.k,
            c.as_mut_ptr(),
            csc,
            rsc,
            false,
            a.as_ptr(),
            csa,
            rsa,
            b.as_ptr(),
            csb,
            rsb,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        )
    }
}

/// `C = op(A)·op(B)` with matrixmultiply.
fn matrixmultiply(p: &GemmParams, a: &[f32], b: &[f32], c: &mut [f32]) {
    let [rsa, csa, rsb, csb, rsc, csc] = strides(p);
    assert!(a.len() >= p.m * p.k && b.len() >= p.k * p.n && c.len() >= p.m * p.n);
    // SAFETY: as for `gemm_crate`; with beta = 0 the old C is not read.
    unsafe {
        matrixmultiply::sgemm(
            p.m,
            p.k,
            p.n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            0.0,
            c.as_mut_ptr(),
            rsc,
            csc,
        )
    }
}

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
        for s in f32_shapes() {
            let p = s.params();
            let a = f32s(s.m * s.k, 1);
            let b = f32s(s.k * s.n, 2);
            let mut out = vec![0f32; s.m * s.n];
            let epi = Epilogue::default();
            g.throughput(Throughput::Elements(s.ops()));

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
                    gemm_crate(&p, &a, &b, &mut out, t);
                    check_sgemm("gemm", &p, &a, &b, &out);
                }
                bch.iter(|| gemm_crate(&p, &a, &b, &mut out, t))
            });

            if t == mm_threads {
                let mut checked = false;
                g.bench_function(BenchmarkId::new("matrixmultiply", &s.name), |bch| {
                    if !std::mem::replace(&mut checked, true) {
                        matrixmultiply(&p, &a, &b, &mut out);
                        check_sgemm("matrixmultiply", &p, &a, &b, &out);
                    }
                    bch.iter(|| matrixmultiply(&p, &a, &b, &mut out))
                });
            }
        }
        g.finish();
    }
    threads::set_num_threads(0);
}

criterion::criterion_group!(benches, f32_gemm);
