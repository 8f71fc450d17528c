//! `inkling bench train`: training-step throughput of a model preset on synthetic inputs, optionally
//! next to PyTorch running the same model in the same run.

use std::process::Command;
use std::time::Instant;

use inkling::autograd::{self, Tensor};
use inkling::nn::models::{Vit, VitConfig};
use inkling::nn::optim::{AdamW, AdamWConfig};
use inkling::nn::schedule::Schedule;
use inkling::nn::train::{TrainConfig, Trainer};
use rand::{Rng, SeedableRng};

use super::Result;

/// Options of `inkling bench train`.
#[derive(clap::Args, Debug)]
pub struct TrainBenchArgs {
    /// Model preset.
    #[arg(long, default_value = "vit-tiny")]
    model: String,
    /// Images per step.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Number of classes of the head.
    #[arg(long, default_value_t = 345)]
    classes: usize,
    /// Timed steps (the median is reported).
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Print the per-op profile of the timed steps.
    #[arg(long)]
    profile: bool,
    /// A Python with torch: also run ../shared/bench/anchors/torch_vit_tiny.py with the same
    /// threads and report the ratio (vit-tiny, batch 64, 345 classes only).
    #[arg(long)]
    torch: Option<String>,
    /// The PyTorch anchor script.
    #[arg(long, default_value = "../shared/bench/anchors/torch_vit_tiny.py")]
    torch_script: String,
}

/// Peak resident memory of this process (VmHWM), MiB; 0 where /proc is missing.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Runs the PyTorch anchor and returns its img/s.
fn torch_img_s(python: &str, script: &str, threads: usize) -> Result<f64> {
    let out = Command::new(python)
        .arg(script)
        .arg(threads.to_string())
        .env("OMP_NUM_THREADS", threads.to_string())
        .env("MKL_NUM_THREADS", threads.to_string())
        .output()
        .map_err(|e| format!("running {python} {script}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find_map(|w| w.strip_prefix("img_per_s="))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            format!(
                "{script} printed no img_per_s= ({})",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            )
            .into()
        })
}

/// Runs `inkling bench train`.
pub fn run(args: &TrainBenchArgs) -> Result<()> {
    if args.threads == 0 || args.batch_size == 0 || args.steps == 0 {
        return Err("--threads, --batch-size and --steps must be at least 1".into());
    }
    inkling::kernels::threads::set_num_threads(args.threads);
    let ks = inkling::kernels::init()?;
    let cfg = VitConfig::preset(&args.model, args.classes)?;
    let side = cfg.image_size;
    let model = Vit::new(cfg, 0)?;
    let config = TrainConfig {
        lr: 1e-3,
        schedule: Schedule::Constant,
        label_smoothing: 0.0,
        clip_norm: None,
        accumulate: 1,
    };
    let mut trainer = Trainer::new(
        Box::new(model),
        Box::new(AdamW::new(AdamWConfig {
            weight_decay: 0.05,
            ..Default::default()
        })?),
        config,
    )?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let n = args.batch_size * side * side;
    let x = Tensor::new(
        &[args.batch_size, 1, side, side],
        (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect(),
    )?;
    let labels: Vec<usize> = (0..args.batch_size)
        .map(|_| rng.gen_range(0..args.classes))
        .collect();
    for i in 0..args.warmup {
        trainer.train_batch(&x, &labels, i as u64)?;
    }
    autograd::profile::set_enabled(args.profile);
    let mut times = Vec::with_capacity(args.steps);
    let mut peak_step = 0usize;
    for i in 0..args.steps {
        autograd::reset_peak();
        let t0 = Instant::now();
        trainer.train_batch(&x, &labels, (args.warmup + i) as u64)?;
        times.push(t0.elapsed().as_secs_f64());
        peak_step = peak_step.max(autograd::memory_stats().peak_bytes);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let img_s = args.batch_size as f64 / median;
    let torch = match &args.torch {
        Some(py) => Some(torch_img_s(py, &args.torch_script, args.threads)?),
        None => None,
    };
    let cpu = inkling::kernels::cpu_model();
    if args.json {
        let mut obj = serde_json::json!({
            "model": args.model, "batch_size": args.batch_size, "threads": args.threads,
            "img_s": img_s, "ms_per_step": median * 1e3, "peak_rss_mb": peak_rss_mb(),
            "peak_step_mb": peak_step as f64 / (1 << 20) as f64, "steps": args.steps,
            "cpu": cpu, "isa": ks.isa.name(),
        });
        if let Some(t) = torch {
            obj["torch_img_s"] = t.into();
            obj["ratio_vs_torch"] = (img_s / t).into();
        }
        println!("{obj}");
    } else {
        println!(
            "{cpu} ({}) | {} b{} {}T: {:.1} ms/step, {:.1} img/s | peak RSS {:.0} MiB, tensors per step {:.0} MiB",
            ks.isa.name(),
            args.model,
            args.batch_size,
            args.threads,
            median * 1e3,
            img_s,
            peak_rss_mb(),
            peak_step as f64 / (1 << 20) as f64
        );
        if let Some(t) = torch {
            println!(
                "PyTorch same run: {t:.1} img/s → inkling / torch = {:.2}×",
                img_s / t
            );
        }
    }
    if args.profile {
        crate::profile::report(args.steps as u64, None)?;
    }
    Ok(())
}
