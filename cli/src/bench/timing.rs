//! Timing: the median rate over several samples, each long enough to time reliably.

use std::time::{Duration, Instant};

use super::Result;

/// How long and how often to time one kernel.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Each sample repeats the call until it lasts at least this long.
    pub min_sample: Duration,
    /// Samples per measurement; the median is reported.
    pub samples: usize,
    /// Calls before timing starts (at least one) until this much time has passed.
    pub warmup: Duration,
}

impl Timing {
    /// The default: medians of 7 samples of ≥ 30 ms after ≥ 30 ms of warm-up.
    pub fn full() -> Timing {
        Timing {
            min_sample: Duration::from_millis(30),
            samples: 7,
            warmup: Duration::from_millis(30),
        }
    }

    /// For smoke tests (`--quick`): 3 samples of ≥ 2 ms; the figures are noisy.
    pub fn quick() -> Timing {
        Timing {
            min_sample: Duration::from_millis(2),
            samples: 3,
            warmup: Duration::ZERO,
        }
    }

    /// Median G(FL)OP/s of each of `fs`, which all do `ops` operations per call. Their samples are
    /// interleaved (one sample of each in turn), so a slow spell on a shared host hits all of them.
    pub fn rates(&self, ops: f64, fs: &mut [&mut dyn FnMut() -> Result<()>]) -> Result<Vec<f64>> {
        let mut reps = Vec::with_capacity(fs.len());
        for f in fs.iter_mut() {
            let start = Instant::now();
            let mut one;
            loop {
                let t = Instant::now();
                f()?;
                one = t.elapsed().as_secs_f64();
                if start.elapsed() >= self.warmup {
                    break;
                }
            }
            reps.push(
                (self.min_sample.as_secs_f64() / one.max(1e-9))
                    .ceil()
                    .max(1.0) as usize,
            );
        }
        let mut rates = vec![Vec::with_capacity(self.samples); fs.len()];
        for _ in 0..self.samples.max(1) {
            for ((f, &r), out) in fs.iter_mut().zip(&reps).zip(&mut rates) {
                let t = Instant::now();
                for _ in 0..r {
                    f()?;
                }
                let secs = t.elapsed().as_secs_f64().max(1e-9);
                out.push(ops * r as f64 / secs / 1e9);
            }
        }
        Ok(rates.into_iter().map(median).collect())
    }
}

/// The median (upper median for an even count); NaN for an empty input.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
