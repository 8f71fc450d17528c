//! The worker: one process per thread count runs every case and prints one record line per result.
//!
//! A process per thread count because matrixmultiply reads `MATMUL_NUM_THREADS` once per process;
//! the parent sets it (and `RAYON_NUM_THREADS`) to the thread count for each worker.

use std::collections::HashMap;
use std::io::Write;

use inkling::kernels::{threads, KernelSet};

use super::f32;
use super::report::{PeakKey, Record};
use super::shapes::{self, Shape};
use super::timing::Timing;
use super::Result;

/// A kernel family the bench times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    /// f32 GEMM against the reference crates.
    F32Gemm,
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::F32Gemm => "f32_gemm",
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

fn cases(ks: &KernelSet) -> Vec<Case> {
    shapes::f32_all()
        .into_iter()
        .map(|shape| Case {
            family: Family::F32Gemm,
            ks: *ks,
            shape,
        })
        .collect()
}

/// How many cases `filter` selects (the parent uses it for progress).
pub fn count(ks: &KernelSet, filter: Option<&str>) -> usize {
    cases(ks)
        .iter()
        .filter(|c| filter.is_none_or(|f| c.id().contains(f)))
        .count()
}

/// Runs the selected cases on `threads` threads, printing `progress` and `record` lines to stdout.
pub fn run(ks: &KernelSet, nthreads: usize, timing: &Timing, filter: Option<&str>) -> Result<()> {
    threads::set_num_threads(nthreads);
    let selected: Vec<Case> = cases(ks)
        .into_iter()
        .filter(|c| filter.is_none_or(|f| c.id().contains(f)))
        .collect();
    let mut out = std::io::stdout().lock();
    // Our f32 rate per shape, for the int8 / int4 "vs f32" ratios.
    let mut f32_rate: HashMap<String, f64> = HashMap::new();
    for (i, case) in selected.iter().enumerate() {
        writeln!(out, "progress\t{}\t{}\t{}", i, selected.len(), case.id())?;
        out.flush()?;
        let s = &case.shape;
        let rec = match case.family {
            Family::F32Gemm => {
                let r = f32::with_references(&case.ks, s, nthreads, timing)?;
                f32_rate.insert(s.name.clone(), r.ours);
                Record {
                    kernel: case.family.name().into(),
                    ukernel: case.ks.gemm.name.into(),
                    isa: case.ks.isa.name().into(),
                    shape: s.name.clone(),
                    op: s.op().into(),
                    m: s.m,
                    k: s.k,
                    n: s.n,
                    threads: nthreads,
                    gops: r.ours,
                    integer: false,
                    peak: PeakKey::F32,
                    vs_gemm: r.gemm.map(|g| r.ours / g),
                    vs_matrixmultiply: r.matrixmultiply.map(|g| r.ours / g),
                    vs_f32: None,
                }
            }
        };
        writeln!(out, "{}", rec.to_line())?;
        out.flush()?;
    }
    Ok(())
}
