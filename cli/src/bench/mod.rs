//! `inkling bench kernels`: our GEMM kernels against this CPU's measured peak and the reference
//! crates, measured in the same run.
//!
//! The parent process prints the CPU, measures the peak loops at every thread count, then re-runs
//! this binary once per thread count (`--worker`) and prints the rows those workers report.

#[cfg(feature = "anchors")]
mod anchors;
mod data;
mod data_pipeline;
mod f32;
mod quant;
mod report;
mod shapes;
mod timing;
mod train;
mod worker;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::process::{Command, Stdio};

use inkling::kernels::peak::{self, PeakClass, PeakLoop};
use inkling::kernels::{cpu_features, cpu_model, Isa, KernelSet};

use report::{PeakKey, Record, Row};
use timing::Timing;

pub use data_pipeline::DataArgs;
pub use train::{run as train, TrainBenchArgs};

/// Errors of the bench command.
pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Options of `inkling bench kernels`.
#[derive(clap::Args, Debug)]
pub struct KernelsArgs {
    /// Thread counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Print one JSON object per result on stdout (the CPU header goes to stderr).
    #[arg(long)]
    json: bool,
    /// Short samples, for smoke tests; the figures are noisy.
    #[arg(long)]
    quick: bool,
    /// Run only the cases whose id `kernel/isa/shape` contains this text, e.g. `sq512` or `f32_gemm/`.
    #[arg(long)]
    filter: Option<String>,
    /// Internal: run the cases for one thread count and print raw records (the parent re-runs this
    /// binary with it once per thread count).
    #[arg(long, hide = true)]
    worker: bool,
}

/// Runs `inkling bench kernels`.
pub fn kernels(ks: &KernelSet, args: &KernelsArgs) -> Result<()> {
    let timing = if args.quick {
        Timing::quick()
    } else {
        Timing::full()
    };
    let mut counts = args.threads.clone();
    counts.sort_unstable();
    counts.dedup();
    if counts.is_empty() || counts[0] == 0 {
        return Err("--threads needs positive thread counts, e.g. --threads 1,2".into());
    }
    let filter = args.filter.as_deref();
    if args.worker {
        if counts.len() != 1 {
            return Err("--worker runs exactly one thread count".into());
        }
        return worker::run(ks, counts[0], &timing, filter);
    }
    let n_cases = worker::count(ks, filter);
    if n_cases == 0 {
        return Err(format!("--filter {:?} selects no benchmark", filter.unwrap_or("")).into());
    }

    let mut progress = Progress::new();
    let mut header = Vec::new();
    let cpu = cpu_model();
    header.push(format!("CPU:        {cpu}"));
    header.push(format!("SIMD:       {}", cpu_features().join(" ")));
    let forced = std::env::var("INKLING_ISA")
        .ok()
        .filter(|v| !v.trim().is_empty());
    header.push(format!(
        "ISA:        {} ({}; this CPU runs: {})",
        ks.isa,
        forced.map_or_else(|| "detected".into(), |v| format!("INKLING_ISA={v}")),
        Isa::available()
            .iter()
            .map(|i| i.name())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    header.push(format!(
        "f32 GEMM:   {} (tile {}x{})",
        ks.gemm.name, ks.gemm.tile.0, ks.gemm.tile.1
    ));
    header.push(format!(
        "int8 GEMM:  {}",
        worker::int8_isas(ks)
            .into_iter()
            .filter_map(KernelSet::for_isa)
            .map(|t| format!("{} ({})", t.qgemm.name, t.isa))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    header.push(
        "int4:       f32_qc4w_gemm = f32 × int4 weight-only, per-channel scales; f32_qb4w_gemm = \
         blocks of 32 (int8 × int4 unpacks at pack time and runs the int8 kernels: same speed)"
            .into(),
    );
    header.push(references_line());
    header.push(format!(
        "Timing:     median of {} samples of ≥ {} ms each after warm-up{}; samples of ours and \
         the references are interleaved",
        timing.samples,
        timing.min_sample.as_millis(),
        if args.quick { " (--quick: noisy)" } else { "" }
    ));
    emit_header(args.json, &header);

    // Peaks: every loop this CPU has, at every thread count.
    let loops = peak::loops();
    let mut peaks: HashMap<(&'static str, usize), f64> = HashMap::new();
    for (i, l) in loops.iter().enumerate() {
        for &t in &counts {
            progress.show(&format!(
                "peak {}/{}: {} on {t} threads",
                i + 1,
                loops.len(),
                l.name
            ));
            peaks.insert((l.name, t), l.measure(t, timing.min_sample, timing.samples));
        }
    }
    progress.clear();
    let mut lines = vec![format!(
        "Measured peaks (same run):  {}",
        counts
            .iter()
            .map(|t| format!("{:>9}", format!("{t}T")))
            .collect::<String>()
    )];
    for l in &loops {
        let unit = match l.class {
            PeakClass::F32Fma => "GFLOP/s",
            PeakClass::Int8Dot => "GOP/s",
        };
        lines.push(format!(
            "  {:<29}{} {unit}",
            l.name,
            counts
                .iter()
                .map(|&t| format!("{:>9.1}", peaks[&(l.name, t)]))
                .collect::<String>()
        ));
    }
    lines.push(
        "% peak: f32 and int4 weight-only rows use the best f32 FMA loop (f32); int8 rows the int8 \
         loop of their ISA (i8 avx2, i8 vnni, i8 neon, i8 sdot), or the best one (i8 best)"
            .into(),
    );
    lines.push(String::new());
    emit_header(args.json, &lines);

    let exe = std::env::current_exe()?;
    let mut at_1thread: HashMap<(String, String, String), f64> = HashMap::new();
    let mut stdout = std::io::stdout().lock();
    if !args.json {
        writeln!(stdout, "{}", report::table_header())?;
    }
    for &t in &counts {
        let mut cmd = Command::new(&exe);
        cmd.args(["bench", "kernels", "--worker", "--threads", &t.to_string()]);
        if args.quick {
            cmd.arg("--quick");
        }
        if let Some(f) = filter {
            cmd.args(["--filter", f]);
        }
        cmd.env("MATMUL_NUM_THREADS", t.to_string())
            .env("RAYON_NUM_THREADS", t.to_string())
            .stdout(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot re-run {} as a worker: {e}", exe.display()))?;
        let mut records = 0usize;
        let child_out = child.stdout.take().ok_or("worker has no stdout")?;
        for line in BufReader::new(child_out).lines() {
            let line = line?;
            if let Some(rest) = line.strip_prefix("progress\t") {
                let f: Vec<&str> = rest.split('\t').collect();
                if let [i, n, id] = f[..] {
                    let i: usize = i.parse()?;
                    progress.show(&format!("{t} threads: {}/{n} {id}", i + 1));
                }
                continue;
            }
            let rec = Record::from_line(&line)?;
            records += 1;
            let key = (rec.kernel.clone(), rec.isa.clone(), rec.shape.clone());
            if rec.threads == 1 {
                at_1thread.insert(key.clone(), rec.gops);
            }
            let row = Row {
                peak: peak_for(&loops, &peaks, &rec.peak, rec.threads),
                vs_1thread: at_1thread.get(&key).map(|g1| rec.gops / g1),
                rec,
            };
            progress.clear();
            if args.json {
                writeln!(stdout, "{}", report::json_line(&row, &cpu))?;
            } else {
                writeln!(stdout, "{}", report::table_line(&row))?;
            }
            stdout.flush()?;
        }
        let status = child.wait()?;
        progress.clear();
        if !status.success() {
            // 127 before any output: the binary could not be executed again, e.g. an emulated
            // (qemu-user) binary on a host without binfmt_misc.
            let hint = if records == 0 && status.code() == Some(127) {
                format!("; could {} not be executed again?", exe.display())
            } else {
                String::new()
            };
            return Err(format!("the {t}-thread worker failed ({status}){hint}").into());
        }
    }
    Ok(())
}

/// Runs `inkling bench data`.
pub fn data(args: &DataArgs) -> Result<()> {
    data_pipeline::run(args)
}

/// The peak loop (name, rate) that `key` refers to at `threads` threads.
fn peak_for(
    loops: &[PeakLoop],
    peaks: &HashMap<(&'static str, usize), f64>,
    key: &PeakKey,
    threads: usize,
) -> Option<(&'static str, f64)> {
    let best = |pick: &dyn Fn(&PeakLoop) -> bool| {
        loops
            .iter()
            .filter(|l| pick(l))
            .filter_map(|l| peaks.get(&(l.name, threads)).map(|&r| (l.name, r)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    };
    match key {
        PeakKey::F32 => best(&|l| l.class == PeakClass::F32Fma),
        PeakKey::Int8(isa) => best(&|l| l.class == PeakClass::Int8Dot && l.isa.name() == isa)
            .or_else(|| best(&|l| l.class == PeakClass::Int8Dot)),
    }
}

#[cfg(feature = "anchors")]
fn references_line() -> String {
    "References: gemm 0.18 (Parallelism::Rayon(t)), matrixmultiply 0.3 (threading; \
     MATMUL_NUM_THREADS=t in one worker process per thread count)"
        .into()
}

#[cfg(not(feature = "anchors"))]
fn references_line() -> String {
    "References: none (built without the `anchors` feature): vs gemm / vs mm are null".into()
}

/// The header goes to stdout above the table, or to stderr so that `--json` stdout stays pure.
fn emit_header(json: bool, lines: &[String]) {
    for l in lines {
        if json {
            eprintln!("{l}");
        } else {
            println!("{l}");
        }
    }
}

/// A one-line progress indicator on stderr, shown only when stderr is a terminal.
struct Progress {
    on: bool,
    shown: bool,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            on: std::io::stderr().is_terminal(),
            shown: false,
        }
    }
    fn show(&mut self, msg: &str) {
        if self.on {
            eprint!("\r\x1b[K[bench] {msg}");
            self.shown = true;
        }
    }
    fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
            self.shown = false;
        }
    }
}
