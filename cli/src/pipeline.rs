//! `inkling pipeline`: the main job — train, compress with every method, export each to
//! `.tflite`, and write the comparison report — on the built-in doodles unless told otherwise.

use std::path::PathBuf;

use crate::data::Result;
use crate::report::{self, ReportArgs};
use crate::train::{self, TrainArgs};

/// Options of `inkling pipeline`: every `inkling train` option, plus the report's.
#[derive(clap::Args, Debug)]
pub struct PipelineArgs {
    #[command(flatten)]
    pub train: TrainArgs,
    /// Compression methods to compare, comma-separated, or `all`.
    #[arg(long, default_value = "all")]
    pub methods: String,
    /// Activation range observer for int8: minmax, moving-average, percentile or mse.
    #[arg(long, default_value = "minmax")]
    pub observer: String,
    /// Calibration images, the same for every method.
    #[arg(long, default_value_t = inkling::data::pipeline::DEFAULT_CALIBRATION_SAMPLES)]
    pub calibration_samples: usize,
    /// Timed batch-1 runs per model and runtime (0 skips latency).
    #[arg(long, default_value_t = 100)]
    pub latency_runs: usize,
    /// A Python with `ai-edge-litert` to time LiteRT too (default: $INKLING_LITERT_PYTHON).
    #[arg(long)]
    pub litert_python: Option<PathBuf>,
    /// QAT fine-tuning epochs.
    #[arg(long, default_value_t = 1)]
    pub qat_epochs: usize,
    /// QAT peak learning rate.
    #[arg(long, default_value_t = 2e-5)]
    pub qat_lr: f32,
}

/// Runs `inkling pipeline`.
pub fn run(args: &PipelineArgs) -> Result<()> {
    let out = &args.train.out;
    eprintln!("== train → {}", out.display());
    train::run(&args.train)?;
    eprintln!("== compress, export and compare → {}", out.display());
    let r = ReportArgs {
        checkpoint: out.join("best.safetensors"),
        out: Some(out.clone()),
        methods: args.methods.clone(),
        observer: args.observer.clone(),
        calibration_samples: args.calibration_samples,
        eval_samples: None,
        latency_runs: args.latency_runs,
        latency_threads: 1,
        litert_python: args.litert_python.clone(),
        qat_epochs: args.qat_epochs,
        qat_lr: args.qat_lr,
        threads: args.train.threads,
    };
    let rep = report::run(&r)?;
    report::print_summary(&rep, &r);
    Ok(())
}
