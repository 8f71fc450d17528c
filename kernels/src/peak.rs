//! Measured peak throughput of this CPU (FMA and int8 dot-product loops), for `inkling bench`.
//!
//! Each loop keeps 12 independent accumulator chains busy with one instruction sequence, long enough
//! to hide its latency, so its rate is the issue-rate limit of that sequence: the denominator of every
//! "% of peak" figure. Nothing is assumed from clock speeds or datasheets.

use std::time::{Duration, Instant};

use crate::isa::Isa;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512vnni;
#[cfg(target_arch = "aarch64")]
mod neon;
#[cfg(target_arch = "aarch64")]
mod neon_dotprod;

/// Accumulator chains per loop; each loop body issues this many instruction sequences.
const CHAINS: f64 = 12.0;

/// What a peak loop measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeakClass {
    /// f32 fused multiply-add, counted as 2 FLOP per lane.
    F32Fma,
    /// 8-bit integer multiply-accumulate into i32, counted as 2 ops per MAC.
    Int8Dot,
}

/// One throughput loop this CPU can run.
#[derive(Clone, Copy, Debug)]
pub struct PeakLoop {
    /// Name in kernel style, e.g. `f32_fma_ymm__avx2`.
    pub name: &'static str,
    /// What it measures.
    pub class: PeakClass,
    /// The kernel table whose instructions it uses.
    pub isa: Isa,
    /// Operations (FLOP or int ops) per loop iteration per thread.
    ops_per_iter: f64,
    /// Runs `iters` iterations and returns a value derived from every accumulator.
    run: unsafe fn(u64) -> f64,
}

/// The peak loops this CPU can run, most portable first.
pub fn loops() -> Vec<PeakLoop> {
    #[allow(unused_mut)]
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if Isa::Avx2.is_available() {
            out.push(PeakLoop {
                name: "f32_fma_ymm__avx2",
                class: PeakClass::F32Fma,
                isa: Isa::Avx2,
                ops_per_iter: CHAINS * 8.0 * 2.0,
                run: avx2::f32_fma_ymm,
            });
            out.push(PeakLoop {
                name: "qu8s8_maddubs_ymm__avx2",
                class: PeakClass::Int8Dot,
                isa: Isa::Avx2,
                ops_per_iter: CHAINS * 32.0 * 2.0,
                run: avx2::qu8s8_maddubs_ymm,
            });
        }
        if Isa::Avx512Vnni.is_available() {
            out.push(PeakLoop {
                name: "f32_fma_zmm__avx512vnni",
                class: PeakClass::F32Fma,
                isa: Isa::Avx512Vnni,
                ops_per_iter: CHAINS * 16.0 * 2.0,
                run: avx512vnni::f32_fma_zmm,
            });
            out.push(PeakLoop {
                name: "qu8s8_dpbusd_ymm__avx512vnni",
                class: PeakClass::Int8Dot,
                isa: Isa::Avx512Vnni,
                ops_per_iter: CHAINS * 32.0 * 2.0,
                run: avx512vnni::qu8s8_dpbusd_ymm,
            });
            out.push(PeakLoop {
                name: "qu8s8_dpbusd_zmm__avx512vnni",
                class: PeakClass::Int8Dot,
                isa: Isa::Avx512Vnni,
                ops_per_iter: CHAINS * 64.0 * 2.0,
                run: avx512vnni::qu8s8_dpbusd_zmm,
            });
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if Isa::Neon.is_available() {
            out.push(PeakLoop {
                name: "f32_fma_q__neon",
                class: PeakClass::F32Fma,
                isa: Isa::Neon,
                ops_per_iter: CHAINS * 4.0 * 2.0,
                run: neon::f32_fma_q,
            });
            out.push(PeakLoop {
                name: "qs8_smlal_q__neon",
                class: PeakClass::Int8Dot,
                isa: Isa::Neon,
                ops_per_iter: CHAINS * 16.0 * 2.0,
                run: neon::qs8_smlal_q,
            });
        }
        if Isa::NeonDotprod.is_available() {
            out.push(PeakLoop {
                name: "qs8_sdot_q__neon_dotprod",
                class: PeakClass::Int8Dot,
                isa: Isa::NeonDotprod,
                ops_per_iter: CHAINS * 16.0 * 2.0,
                run: neon_dotprod::qs8_sdot_q,
            });
        }
    }
    out
}

impl PeakLoop {
    /// Throughput in G(FL)OP/s of `iters` iterations on each of `threads` threads, started together.
    pub fn rate(&self, threads: usize, iters: u64) -> f64 {
        let threads = threads.max(1);
        let run = self.run;
        let start = Instant::now();
        let sink: f64 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                // SAFETY: `loops()` only lists a loop whose ISA `is_available()` on this CPU, and the
                // fields are private, so no other code can build a `PeakLoop`.
                .map(|_| s.spawn(move || unsafe { run(iters) }))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("peak loop thread panicked"))
                .sum()
        });
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        std::hint::black_box(sink);
        self.ops_per_iter * iters as f64 * threads as f64 / secs / 1e9
    }

    /// Median rate over `samples` runs of at least `min_time` each, after a calibration run.
    pub fn measure(&self, threads: usize, min_time: Duration, samples: usize) -> f64 {
        let mut iters = 1u64 << 12;
        // Grow the run until it is long enough to time; this also warms up clocks and threads.
        loop {
            let t = Instant::now();
            self.rate(threads, iters);
            let secs = t.elapsed().as_secs_f64();
            if secs >= min_time.as_secs_f64() || iters >= 1 << 40 {
                break;
            }
            let grow = (min_time.as_secs_f64() * 1.2 / secs.max(1e-6)).clamp(2.0, 64.0);
            iters = (iters as f64 * grow) as u64;
        }
        let mut rates: Vec<f64> = (0..samples.max(1))
            .map(|_| self.rate(threads, iters))
            .collect();
        rates.sort_by(f64::total_cmp);
        rates[rates.len() / 2]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_loop_runs_on_this_cpu_and_reports_a_positive_rate() {
        for l in loops() {
            assert!(l.isa.is_available(), "{} listed but unavailable", l.name);
            let r = l.rate(1, 1 << 10);
            assert!(r.is_finite() && r > 0.0, "{}: {r}", l.name);
        }
    }

    /// The exact sum an int8 loop returns after `iters` iterations: proof that it did every MAC.
    fn int8_expected(name: &str, iters: u64) -> f64 {
        // Loops with a varying x start at 3 and add 1 (wrapping) before each use; weights are
        // -1..=-12 across the 12 chains. Loops with constant data use x = 3, w = -2 everywhere.
        let varying = |macs_per_chain: f64, signed: bool| {
            (1..=iters)
                .map(|i| {
                    let x = (3 + i) as u8;
                    let x = if signed { x as i8 as f64 } else { x as f64 };
                    macs_per_chain * x * -78.0
                })
                .sum::<f64>()
        };
        match name {
            "qu8s8_maddubs_ymm__avx2" => varying(32.0, false),
            "qs8_smlal_q__neon" => varying(16.0, true),
            "qu8s8_dpbusd_ymm__avx512vnni" => -6.0 * 32.0 * 12.0 * iters as f64,
            "qu8s8_dpbusd_zmm__avx512vnni" => -6.0 * 64.0 * 12.0 * iters as f64,
            "qs8_sdot_q__neon_dotprod" => -6.0 * 16.0 * 12.0 * iters as f64,
            other => panic!("no expected value for {other}"),
        }
    }

    #[test]
    fn int8_loops_do_every_multiply_accumulate() {
        for l in loops()
            .into_iter()
            .filter(|l| l.class == PeakClass::Int8Dot)
        {
            for iters in [0, 1, 7, 300] {
                // SAFETY: `loops()` lists only loops whose ISA this CPU has.
                let got = unsafe { (l.run)(iters) };
                assert_eq!(
                    got,
                    int8_expected(l.name, iters),
                    "{} iters={iters}",
                    l.name
                );
            }
        }
    }

    #[test]
    fn the_cpu_with_simd_has_both_classes() {
        let l = loops();
        if Isa::detect() == Isa::Scalar {
            eprintln!("skipping: no SIMD ISA on this CPU, so no peak loops");
            return;
        }
        assert!(l.iter().any(|l| l.class == PeakClass::F32Fma));
        assert!(l.iter().any(|l| l.class == PeakClass::Int8Dot));
    }
}
