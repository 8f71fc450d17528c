//! `inkling infer`: run a `.tflite` file with Inkling's own runtime: accuracy on a data source,
//! batch-1 latency, or the logits of one input.

use std::path::PathBuf;
use std::time::Instant;

use inkling::data::pipeline::Preprocess;
use inkling::quant::export::npy::write_npy;
use inkling::quant::export::{from_tflite, ModelInfo};
use inkling::quant::runtime::{Buf, Data, Session};

use crate::data::{Result, Source};
use crate::images::argmax;
use crate::train::open_dataset;
use crate::trained;

/// Options of `inkling infer`.
#[derive(clap::Args, Debug)]
pub struct InferArgs {
    /// A `.tflite` file (as written by `inkling quantize` or `inkling export`).
    pub model: PathBuf,
    /// Classify every drawing of this data (`synthetic` or a directory of class files), matching
    /// classes by name with the file's metadata, and report top-1.
    #[arg(long)]
    pub data: Option<String>,
    /// At most this many drawings per class of --data.
    #[arg(long)]
    pub samples_per_class: Option<usize>,
    /// Time batch-1 inference instead (median latency and peak memory).
    #[arg(long)]
    pub bench: bool,
    /// With --bench: also print the time per op kind.
    #[arg(long)]
    pub profile: bool,
    /// Timed runs for --bench (after 10 warm-up runs).
    #[arg(long, default_value_t = 200)]
    pub runs: usize,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// With --data: also write the first --save-count inputs and this runtime's outputs as
    /// `<stem>_<k>.in0.npy` / `.out0.npy` next to a copy of the model in this directory (what
    /// `../shared/tools/litert_check.py` compares LiteRT against).
    #[arg(long)]
    pub save_io: Option<PathBuf>,
    /// How many cases --save-io writes.
    #[arg(long, default_value_t = 8)]
    pub save_count: usize,
    /// Threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Runs `inkling infer`.
pub fn run(args: &InferArgs) -> Result<()> {
    trained::set_threads(args.threads)?;
    let bytes = std::fs::read(&args.model).map_err(|e| format!("{}: {e}", args.model.display()))?;
    let (graph, info) =
        from_tflite(&bytes).map_err(|e| format!("{}: {e}", args.model.display()))?;
    let session = Session::new(&graph).map_err(|e| format!("{}: {e}", args.model.display()))?;
    let input_shape = graph.value(graph.inputs[0]).shape.clone();
    if args.bench {
        return bench(args, &session, &input_shape);
    }
    let Some(spec) = &args.data else {
        return Err("give --data PATH (accuracy) or --bench (latency)".into());
    };
    let info = info.ok_or_else(|| {
        format!(
            "{}: no Inkling metadata (class names, preprocessing): cannot map data to it",
            args.model.display()
        )
    })?;
    accuracy(args, spec, &session, &info, &input_shape)
}

fn accuracy(
    args: &InferArgs,
    spec: &str,
    session: &Session,
    info: &ModelInfo,
    input_shape: &[usize],
) -> Result<()> {
    let source = Source::parse(spec)?;
    let available = source.class_names()?;
    let classes: Vec<String> = info
        .classes
        .iter()
        .filter(|c| available.contains(c))
        .cloned()
        .collect();
    if classes.is_empty() {
        return Err(format!(
            "{}: none of the model's {} classes is in it",
            source.describe(),
            info.classes.len()
        )
        .into());
    }
    let data = open_dataset(&source, &classes, args.samples_per_class, 0)?;
    let to_model: Vec<usize> = data
        .source
        .class_names()
        .iter()
        .map(|n| {
            info.classes
                .iter()
                .position(|m| m == n)
                .unwrap_or(usize::MAX)
        })
        .collect();
    let side = input_shape.get(1).copied().unwrap_or(28);
    let pre = crate::train::sized(
        Preprocess {
            invert: info.invert,
            mean: info.mean,
            std: info.std,
            ..Preprocess::default()
        },
        side,
    );
    let images = crate::images::load(&data.source, (0..data.source.len()).collect(), pre)?;
    let mut hits = 0usize;
    let mut hash = Fnv::default();
    if let Some(dir) = &args.save_io {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    for (k, im) in images.iter().enumerate() {
        let y = session.run(vec![im.input.clone()])?;
        if let Some(dir) = args.save_io.as_ref().filter(|_| k < args.save_count) {
            save_case(dir, &args.model, k, &im.input, &y[0])?;
        }
        hash.add(&y[0]);
        if argmax(&y[0]) == to_model[im.label] {
            hits += 1;
        }
    }
    let n = images.len();
    let top1 = hits as f64 / n.max(1) as f64;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "model": args.model.display().to_string(),
                "n": n,
                "top1": top1,
                "classes": classes.len(),
                "logits_fnv1a": format!("{:016x}", hash.0),
            })
        );
    } else {
        println!(
            "{}: {} drawings of {} classes ({}) | top-1 {:.2}% | logits fnv1a {:016x}",
            args.model.display(),
            n,
            classes.len(),
            data.describe,
            100.0 * top1,
            hash.0
        );
    }
    Ok(())
}

/// Writes one checker case: the model (hard link, else copy), its input and our output.
fn save_case(
    dir: &std::path::Path,
    model: &std::path::Path,
    k: usize,
    x: &Buf,
    y: &Buf,
) -> Result<()> {
    let stem = model
        .file_stem()
        .map_or("model".into(), |s| s.to_string_lossy().into_owned());
    let name = format!("{stem}_{k}");
    let dst = dir.join(format!("{name}.tflite"));
    let _ = std::fs::remove_file(&dst);
    if std::fs::hard_link(model, &dst).is_err() {
        std::fs::copy(model, &dst).map_err(|e| format!("{}: {e}", dst.display()))?;
    }
    write_npy(&dir.join(format!("{name}.in0.npy")), x)?;
    write_npy(&dir.join(format!("{name}.out0.npy")), y)?;
    Ok(())
}

/// FNV-1a over the raw bytes of every output, so two machines can compare all logits exactly.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn add(&mut self, b: &Buf) {
        let mut eat = |bytes: &[u8]| {
            for &x in bytes {
                self.0 = (self.0 ^ x as u64).wrapping_mul(0x100_0000_01b3);
            }
        };
        match &b.data {
            Data::F32(v) => v.iter().for_each(|x| eat(&x.to_le_bytes())),
            Data::I8(v) => v.iter().for_each(|x| eat(&x.to_le_bytes())),
            Data::I32(v) => v.iter().for_each(|x| eat(&x.to_le_bytes())),
        }
    }
}

fn bench(args: &InferArgs, session: &Session, input_shape: &[usize]) -> Result<()> {
    if args.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    let n: usize = input_shape.iter().product();
    // A deterministic, non-trivial input (timing does not depend on values).
    let x: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 256) as f32 / 128.0 - 1.0)
        .collect();
    let input = Buf::f32(input_shape, x);
    for _ in 0..10 {
        session.run(vec![input.clone()])?;
    }
    let mut times = Vec::with_capacity(args.runs);
    for _ in 0..args.runs {
        let t0 = Instant::now();
        session.run(vec![input.clone()])?;
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    if args.profile {
        profile(session, &input, args.runs)?;
    }
    let peak = peak_rss_mb();
    let threads = inkling::kernels::threads::num_threads();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "model": args.model.display().to_string(),
                "median_ms": median,
                "p10_ms": times[times.len() / 10],
                "p90_ms": times[times.len() * 9 / 10],
                "runs": args.runs,
                "threads": threads,
                "peak_rss_mb": peak,
                "cpu": inkling::kernels::cpu_model(),
                "isa": inkling::kernels::kernels().isa.name(),
            })
        );
    } else {
        println!(
            "{}: batch 1, {} thread(s): median {:.3} ms (p10 {:.3}, p90 {:.3}) over {} runs | peak RSS {} MB | {}",
            args.model.display(),
            threads,
            median,
            times[times.len() / 10],
            times[times.len() * 9 / 10],
            args.runs,
            peak.map_or("?".into(), |p| format!("{p:.1}")),
            inkling::kernels::cpu_model()
        );
    }
    Ok(())
}

/// Peak resident set size of this process (Linux `VmHWM`), in MB.
fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Time per op kind (between consecutive node outputs), summed over `runs` runs.
fn profile(session: &Session, input: &Buf, runs: usize) -> Result<()> {
    let g = session.graph();
    let kind: std::collections::HashMap<_, _> = g
        .nodes
        .iter()
        .map(|n| {
            let dt = g.value(n.outputs[0]).dtype;
            (n.outputs[0], format!("{} {:?}", n.op.name(), dt))
        })
        .collect();
    let mut total: std::collections::BTreeMap<String, (f64, usize)> = Default::default();
    for _ in 0..runs {
        let mut t = Instant::now();
        session.run_observed(vec![input.clone()], &mut |id, _| {
            let now = Instant::now();
            let e = total.entry(kind[&id].clone()).or_default();
            e.0 += (now - t).as_secs_f64() * 1e3;
            e.1 += 1;
            t = now;
        })?;
    }
    let mut rows: Vec<_> = total.into_iter().collect();
    rows.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
    let sum: f64 = rows.iter().map(|r| r.1 .0).sum();
    for (k, (ms, n)) in rows {
        eprintln!(
            "{k:<28} {:8.3} ms/run {:5.1}% ({} nodes)",
            ms / runs as f64,
            100.0 * ms / sum,
            n / runs
        );
    }
    Ok(())
}
