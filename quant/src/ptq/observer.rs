//! Range observers for activations: min/max, moving-average min/max, percentile and MSE-optimal.

use std::str::FromStr;

/// How an activation's quantization range is chosen from calibration data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ObserverKind {
    /// The extreme values seen.
    MinMax,
    /// Exponential moving average of each batch's min and max (PyTorch's default for QAT).
    MovingAverage {
        /// Weight of the newest batch.
        momentum: f32,
    },
    /// The `p`-th and `(100−p)`-th percentiles of the values seen (sampled).
    Percentile {
        /// Upper percentile, e.g. 99.99.
        p: f32,
    },
    /// The clipping range that minimizes the int8 quantization error of the values seen (sampled).
    Mse,
}

impl FromStr for ObserverKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "minmax" => Ok(ObserverKind::MinMax),
            "moving-average" => Ok(ObserverKind::MovingAverage { momentum: 0.01 }),
            "percentile" => Ok(ObserverKind::Percentile { p: 99.99 }),
            "mse" => Ok(ObserverKind::Mse),
            _ => Err(format!(
                "unknown observer {s:?} (minmax, moving-average, percentile, mse)"
            )),
        }
    }
}

/// Values kept per observed tensor for percentile and MSE (a deterministic stride sample).
const SAMPLE: usize = 16_384;

/// The running state of one observer.
#[derive(Clone, Debug)]
pub struct Observer {
    kind: ObserverKind,
    min: f32,
    max: f32,
    avg: Option<(f32, f32)>,
    sample: Vec<f32>,
    seen: u64,
}

impl Observer {
    /// A fresh observer.
    pub fn new(kind: ObserverKind) -> Observer {
        Observer {
            kind,
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            avg: None,
            sample: Vec::new(),
            seen: 0,
        }
    }

    /// Records one batch of values (NaNs are ignored).
    pub fn observe(&mut self, xs: &[f32]) {
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for &v in xs {
            if v.is_finite() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        if lo > hi {
            return;
        }
        self.min = self.min.min(lo);
        self.max = self.max.max(hi);
        if let ObserverKind::MovingAverage { momentum } = self.kind {
            self.avg = Some(match self.avg {
                None => (lo, hi),
                Some((a, b)) => (a + momentum * (lo - a), b + momentum * (hi - b)),
            });
        }
        if matches!(
            self.kind,
            ObserverKind::Percentile { .. } | ObserverKind::Mse
        ) {
            // Keep every k-th value so the sample spans all batches; thin it when it fills.
            let stride = (self.seen / SAMPLE as u64 + 1) as usize;
            for (i, &v) in xs.iter().enumerate() {
                if (self.seen as usize + i).is_multiple_of(stride) && v.is_finite() {
                    self.sample.push(v);
                }
            }
            if self.sample.len() > 2 * SAMPLE {
                let mut i = 0;
                self.sample.retain(|_| {
                    i += 1;
                    i % 2 == 0
                });
            }
        }
        self.seen += xs.len() as u64;
    }

    /// The chosen (min, max) range, widened to include 0; None when nothing was observed.
    pub fn range(&self) -> Option<(f32, f32)> {
        if self.min > self.max {
            return None;
        }
        let (lo, hi) = match self.kind {
            ObserverKind::MinMax => (self.min, self.max),
            ObserverKind::MovingAverage { .. } => self.avg.unwrap_or((self.min, self.max)),
            ObserverKind::Percentile { p } => {
                let mut s = self.sample.clone();
                s.sort_by(f32::total_cmp);
                let at = |q: f32| s[((q / 100.0) * (s.len() - 1) as f32).round() as usize];
                (at(100.0 - p), at(p))
            }
            ObserverKind::Mse => mse_range(&self.sample, self.min, self.max),
        };
        Some((lo.min(0.0), hi.max(0.0)))
    }
}

/// Searches shrink factors of [min, max] for the lowest int8 round-trip error on `sample`.
fn mse_range(sample: &[f32], min: f32, max: f32) -> (f32, f32) {
    let mut best = (f64::INFINITY, (min, max));
    for step in 0..=80 {
        let a = 1.0 - step as f32 * 0.01;
        let (lo, hi) = ((min * a).min(0.0), (max * a).max(0.0));
        let q = crate::ptq::qparams::asymmetric(lo, hi);
        let err: f64 = sample
            .iter()
            .map(|&v| {
                let r = crate::ptq::qparams::fake_quant(v, q);
                ((r - v) as f64).powi(2)
            })
            .sum();
        if err < best.0 {
            best = (err, (lo, hi));
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Vec<f32> {
        // A bulk in [-1, 1] and one far outlier.
        let mut v: Vec<f32> = (0..10_000).map(|i| (i as f32 / 5_000.0) - 1.0).collect();
        v.push(50.0);
        v
    }

    #[test]
    fn minmax_sees_the_outlier_percentile_and_mse_clip_it() {
        let v = values();
        let mut mm = Observer::new(ObserverKind::MinMax);
        let mut pc = Observer::new(ObserverKind::Percentile { p: 99.9 });
        let mut ms = Observer::new(ObserverKind::Mse);
        for chunk in v.chunks(1000) {
            mm.observe(chunk);
            pc.observe(chunk);
            ms.observe(chunk);
        }
        assert_eq!(mm.range(), Some((-1.0, 50.0)));
        let (lo, hi) = pc.range().unwrap();
        assert!(
            (lo + 1.0).abs() < 0.01 && (hi - 1.0).abs() < 0.01,
            "{lo} {hi}"
        );
        let (_, hi) = ms.range().unwrap();
        assert!(hi < 50.0, "mse keeps the full range: {hi}");
    }

    #[test]
    fn moving_average_tracks_batches_and_range_includes_zero() {
        let mut o = Observer::new(ObserverKind::MovingAverage { momentum: 0.5 });
        o.observe(&[1.0, 2.0]);
        o.observe(&[3.0, 4.0]);
        // min: 1 → 2 (moved halfway to 3), widened to 0; max: 2 → 3.
        assert_eq!(o.range(), Some((0.0, 3.0)));
        assert_eq!(Observer::new(ObserverKind::MinMax).range(), None);
        let mut n = Observer::new(ObserverKind::MinMax);
        n.observe(&[f32::NAN]);
        assert_eq!(n.range(), None);
    }
}
