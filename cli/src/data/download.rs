//! `inkling data download`: fetch Quick, Draw! class files from Google's bucket (or a mirror), resumable,
//! checked and atomic, with a progress line on stderr.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use inkling::data::download::{download, ClassChoice, DownloadFormat};

use super::{DownloadArgs, Result};

/// Runs `inkling data download`.
pub fn run(args: &DownloadArgs) -> Result<()> {
    let choice = match (&args.classes, args.num_classes) {
        (Some(list), None) => ClassChoice::Names(
            list.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        ),
        (None, Some(n)) => ClassChoice::First(n),
        _ => return Err("give --classes a,b,… or --num-classes N".into()),
    };
    let format = DownloadFormat::parse(&args.format)?;
    let tty = std::io::stderr().is_terminal();
    let mut last = Instant::now();
    let mut progress = |class: &str, done: u64, total: Option<u64>| {
        // Redraw at most 10 times a second, and only on a terminal (logs get the summary lines).
        if !tty || (last.elapsed().as_millis() < 100 && total != Some(done)) {
            return;
        }
        last = Instant::now();
        let line = match total {
            Some(t) if t > 0 => {
                let frac = done as f64 / t as f64;
                let filled = (frac * 30.0) as usize;
                format!(
                    "{class:<24} [{}{}] {:>5.1} % of {:.1} MB",
                    "#".repeat(filled.min(30)),
                    " ".repeat(30 - filled.min(30)),
                    100.0 * frac,
                    t as f64 / 1e6
                )
            }
            _ => format!("{class:<24} {:.1} MB", done as f64 / 1e6),
        };
        eprint!("\r{line}\x1b[K");
        let _ = std::io::stderr().flush();
    };
    let samples = args
        .samples_per_class
        .map(|k| usize::try_from(k).unwrap_or(usize::MAX));
    let fetched = download(
        &choice,
        format,
        &args.out,
        args.base_url.as_deref(),
        samples,
        &mut progress,
    )?;
    if tty {
        eprintln!();
    }
    for f in &fetched {
        println!(
            "{:<24} {:>10} bytes  {}{}{}  {}",
            f.class,
            f.bytes,
            f.samples
                .map(|n| format!("{n} drawings (capped), "))
                .unwrap_or_default(),
            if f.skipped {
                "already complete"
            } else {
                "downloaded"
            },
            if f.md5_verified { ", md5 ok" } else { "" },
            f.path.display()
        );
    }
    if format == DownloadFormat::Parquet {
        eprintln!(
            "Parquet has no source in Google's bucket: fetched numpy_bitmap .npy files; convert them \
             with the data crate's Parquet writer"
        );
    }
    Ok(())
}
