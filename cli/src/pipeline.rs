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
    let mut train_args = args.train.clone();
    let out = train_args
        .out
        .get_or_insert_with(|| PathBuf::from("runs").join(utc_stamp(std::time::SystemTime::now())))
        .clone();
    eprintln!("== train → {}", out.display());
    train::run(&train_args)?;
    eprintln!("== compress, export and compare → {}", out.display());
    let r = ReportArgs {
        checkpoint: out.join("best.safetensors"),
        out: Some(out),
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

/// `YYYYMMDD-HHMMSS` in UTC (civil date from days since the epoch, Howard Hinnant's algorithm).
fn utc_stamp(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc_stamp;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn stamps_are_utc_calendar_times() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101-000000");
        // 2024-02-29 23:59:59 UTC (a leap day) and 2026-11-29 17:12:51 UTC.
        assert_eq!(
            utc_stamp(UNIX_EPOCH + Duration::from_secs(1_709_251_199)),
            "20240229-235959"
        );
        assert_eq!(
            utc_stamp(UNIX_EPOCH + Duration::from_secs(1_795_972_371)),
            "20261129-171251"
        );
    }
}
