//! The worker: one process per thread count runs every case and prints one record line per result.
//!
//! A process per thread count because matrixmultiply reads `MATMUL_NUM_THREADS` once per process;
//! the parent sets it (and `RAYON_NUM_THREADS`) to the thread count for each worker.

use std::io::Write;

use inkling::kernels::{threads, Isa, KernelSet};

use super::report::{PeakKey, Record};
use super::shapes::{self, Shape};
use super::timing::Timing;
use super::{f32, quant, Result};

/// A GEMM family the bench times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    /// f32 GEMM against the reference crates.
    F32,
    /// int8 GEMM, requantized and int32 out.
    Qs8,
    /// f32 × int4 weight-only GEMM, per-channel and blockwise scales.
    F32Qc4w,
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::F32 => "f32_gemm",
            Family::Qs8 => "qs8_gemm",
            Family::F32Qc4w => "f32_qc4w_gemm",
        }
    }
}

/// One benchmark: a kernel family on one ISA table at one shape.
struct Case {
    family: Family,
    ks: KernelSet,
    shape: Shape,
}

impl Case {
    /// `kernel/isa/shape`, what `--filter` matches.
    fn id(&self) -> String {
        format!("{}/{}/{}", self.family.name(), self.ks.isa, self.shape.name)
    }
}

/// The int8 paths to time: every ISA this CPU runs up to the chosen one (so `INKLING_ISA=avx2` on a
/// VNNI machine times only AVX2), leaving out scalar unless it was chosen.
pub fn int8_isas(ks: &KernelSet) -> Vec<Isa> {
    let avail = Isa::available();
    let upto = avail.iter().position(|&i| i == ks.isa).map_or(0, |p| p + 1);
    avail[..upto]
        .iter()
        .copied()
        .filter(|&i| i == ks.isa || i != Isa::Scalar)
        .collect()
}

/// Every case, in run order: f32 on all shapes, then int8 per ISA and int4 on the forward shapes.
fn cases(ks: &KernelSet) -> Vec<Case> {
    let case = |family, ks: KernelSet, shape| Case { family, ks, shape };
    let mut v: Vec<Case> = shapes::f32_all()
        .into_iter()
        .map(|s| case(Family::F32, *ks, s))
        .collect();
    for isa in int8_isas(ks) {
        let Some(table) = KernelSet::for_isa(isa) else {
            continue;
        };
        v.extend(
            shapes::forward()
                .into_iter()
                .map(|s| case(Family::Qs8, table, s)),
        );
    }
    v.extend(
        shapes::forward()
            .into_iter()
            .map(|s| case(Family::F32Qc4w, *ks, s)),
    );
    v
}

fn selected(ks: &KernelSet, filter: Option<&str>) -> Vec<Case> {
    cases(ks)
        .into_iter()
        .filter(|c| filter.is_none_or(|f| c.id().contains(f)))
        .collect()
}

/// How many cases `filter` selects.
pub fn count(ks: &KernelSet, filter: Option<&str>) -> usize {
    selected(ks, filter).len()
}

/// Runs the selected cases on `nthreads` threads, printing `progress` and `record` lines to stdout.
pub fn run(ks: &KernelSet, nthreads: usize, timing: &Timing, filter: Option<&str>) -> Result<()> {
    threads::set_num_threads(nthreads);
    let cases = selected(ks, filter);
    let mut out = std::io::stdout().lock();
    for (i, case) in cases.iter().enumerate() {
        writeln!(out, "progress\t{}\t{}\t{}", i, cases.len(), case.id())?;
        out.flush()?;
        let (s, cks) = (&case.shape, &case.ks);
        let record = |kernel: &str, ukernel: &str, gops: f64, integer: bool, peak| Record {
            kernel: kernel.into(),
            ukernel: ukernel.into(),
            isa: cks.isa.name().into(),
            shape: s.name.clone(),
            op: s.op().into(),
            m: s.m,
            k: s.k,
            n: s.n,
            threads: nthreads,
            gops,
            integer,
            peak,
            vs_gemm: None,
            vs_matrixmultiply: None,
            vs_f32: None,
        };
        let records = match case.family {
            Family::F32 => {
                let r = f32::with_references(cks, s, nthreads, timing)?;
                vec![Record {
                    vs_gemm: r.gemm.map(|g| r.ours / g),
                    vs_matrixmultiply: r.matrixmultiply.map(|g| r.ours / g),
                    ..record("f32_gemm", cks.gemm.name, r.ours, false, PeakKey::F32)
                }]
            }
            Family::Qs8 => {
                let q = quant::qs8(cks, ks, s, timing)?;
                let peak = PeakKey::Int8(cks.isa.name().into());
                let [rq, i32out] = q.variants;
                vec![
                    Record {
                        vs_f32: Some(rq / q.f32),
                        ..record("qs8_gemm", cks.qgemm.name, rq, true, peak.clone())
                    },
                    Record {
                        vs_f32: Some(i32out / q.f32),
                        ..record("qs8_gemm_i32", cks.qgemm.name, i32out, true, peak)
                    },
                ]
            }
            Family::F32Qc4w => {
                let q = quant::qc4w(cks, s, timing)?;
                let [pc, pb] = q.variants;
                vec![
                    Record {
                        vs_f32: Some(pc / q.f32),
                        ..record("f32_qc4w_gemm", cks.gemm.name, pc, false, PeakKey::F32)
                    },
                    Record {
                        vs_f32: Some(pb / q.f32),
                        ..record("f32_qb4w_gemm", cks.gemm.name, pb, false, PeakKey::F32)
                    },
                ]
            }
        };
        for r in records {
            writeln!(out, "{}", r.to_line())?;
        }
        out.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::shapes::{backward, f32_all, forward};

    #[test]
    fn backward_shapes_have_the_gradients_dimensions() {
        let qkv = forward().into_iter().find(|s| s.name == "vit_qkv").unwrap();
        let [dw, dx] = backward(&qkv);
        // dW is K×N summed over the 3200 tokens; dX is M×K summed over N.
        assert_eq!((dw.m, dw.k, dw.n, dw.op()), (192, 3200, 576, "tn"));
        assert_eq!((dx.m, dx.k, dx.n, dx.op()), (3200, 576, 192, "nt"));
        assert_eq!(f32_all().len(), 4 + 4 * 3);
    }
}
