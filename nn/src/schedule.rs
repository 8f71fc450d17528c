//! Learning-rate schedules: constant, linear warmup then cosine, linear warmup then step decay.
//!
//! `step` counts optimizer updates from 0: `lr(base, 0)` is the rate of the first update. Warmups
//! given in epochs are `epochs × steps_per_epoch` steps.

use crate::{Error, Result};

/// A learning-rate schedule, evaluated per optimizer step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// `base` at every step.
    Constant,
    /// Linear warmup to `base` over `warmup_steps`, then a half cosine down to `base · min_lr_ratio`
    /// at `total_steps` (and after).
    WarmupCosine {
        /// Steps of linear warmup (0: none).
        warmup_steps: u64,
        /// Step at which the cosine reaches its minimum.
        total_steps: u64,
        /// Final rate as a fraction of the base rate (0 to 1).
        min_lr_ratio: f32,
    },
    /// Linear warmup to `base`, then `base · gamma^k` where `k` counts the `step_size` periods
    /// completed since the warmup ended.
    StepDecay {
        /// Steps between decays (≥ 1).
        step_size: u64,
        /// Factor per decay (0 to 1).
        gamma: f32,
        /// Steps of linear warmup (0: none).
        warmup_steps: u64,
    },
}

impl Schedule {
    /// Errors on a zero decay period, an empty cosine, or factors outside [0, 1].
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::Config { what });
        match *self {
            Schedule::Constant => Ok(()),
            Schedule::WarmupCosine {
                warmup_steps,
                total_steps,
                min_lr_ratio,
            } => {
                if !(0.0..=1.0).contains(&min_lr_ratio) {
                    bad(format!(
                        "schedule: min_lr_ratio {min_lr_ratio} is not in [0, 1]"
                    ))
                } else if total_steps < warmup_steps {
                    bad(format!(
                        "schedule: total_steps {total_steps} is less than warmup_steps {warmup_steps}"
                    ))
                } else {
                    Ok(())
                }
            }
            Schedule::StepDecay {
                step_size, gamma, ..
            } => {
                if step_size == 0 {
                    bad("schedule: step_size must be at least 1".into())
                } else if !(0.0..=1.0).contains(&gamma) {
                    bad(format!("schedule: gamma {gamma} is not in [0, 1]"))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The learning rate of update number `step` (from 0) for a base rate `base_lr`.
    ///
    /// Warmup rises linearly, `base · (step + 1) / warmup_steps`, so the first update is small but not
    /// zero and update `warmup_steps − 1` uses the full base rate.
    pub fn lr(&self, base_lr: f32, step: u64) -> f32 {
        let base = f64::from(base_lr);
        let warm = |w: u64| (step < w).then(|| base * (step + 1) as f64 / w as f64);
        let lr = match *self {
            Schedule::Constant => base,
            Schedule::WarmupCosine {
                warmup_steps,
                total_steps,
                min_lr_ratio,
            } => warm(warmup_steps).unwrap_or_else(|| {
                let min = base * f64::from(min_lr_ratio);
                let span = total_steps.saturating_sub(warmup_steps);
                let t = if span == 0 {
                    1.0
                } else {
                    ((step - warmup_steps) as f64 / span as f64).min(1.0)
                };
                min + (base - min) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }),
            Schedule::StepDecay {
                step_size,
                gamma,
                warmup_steps,
            } => warm(warmup_steps).unwrap_or_else(|| {
                let k = (step - warmup_steps) / step_size.max(1);
                base * f64::from(gamma).powf(k as f64)
            }),
        };
        lr as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f64) -> bool {
        (f64::from(a) - b).abs() <= 1e-7 * b.abs().max(1e-3)
    }

    #[test]
    fn warmup_cosine_boundaries() {
        let s = Schedule::WarmupCosine {
            warmup_steps: 10,
            total_steps: 110,
            min_lr_ratio: 0.1,
        };
        s.validate().expect("valid");
        let lr = |step| s.lr(1e-3, step);
        assert!(close(lr(0), 1e-4), "{}", lr(0));
        assert!(close(lr(4), 5e-4));
        assert!(close(lr(9), 1e-3), "last warmup step is the base rate");
        assert!(close(lr(10), 1e-3), "cosine starts at the base rate");
        assert!(
            close(lr(60), 0.55e-3),
            "half way: mean of base and min, {}",
            lr(60)
        );
        assert!(close(lr(110), 1e-4), "end: the minimum");
        assert!(close(lr(1000), 1e-4), "after the end: still the minimum");
        for step in 10..110 {
            assert!(lr(step + 1) < lr(step), "cosine decreases at {step}");
        }
        let no_warmup = Schedule::WarmupCosine {
            warmup_steps: 0,
            total_steps: 4,
            min_lr_ratio: 0.0,
        };
        assert!(close(no_warmup.lr(2.0, 0), 2.0));
        assert!(close(no_warmup.lr(2.0, 2), 1.0));
        assert_eq!(no_warmup.lr(2.0, 4), 0.0);
        let all_warmup = Schedule::WarmupCosine {
            warmup_steps: 4,
            total_steps: 4,
            min_lr_ratio: 0.5,
        };
        assert!(close(all_warmup.lr(1.0, 3), 1.0));
        assert!(close(all_warmup.lr(1.0, 4), 0.5));
    }

    #[test]
    fn step_decay_boundaries() {
        let s = Schedule::StepDecay {
            step_size: 30,
            gamma: 0.1,
            warmup_steps: 5,
        };
        s.validate().expect("valid");
        assert!(close(s.lr(0.5, 0), 0.1));
        assert!(close(s.lr(0.5, 4), 0.5));
        assert!(close(s.lr(0.5, 5), 0.5));
        assert!(close(s.lr(0.5, 34), 0.5));
        assert!(close(s.lr(0.5, 35), 0.05));
        assert!(close(s.lr(0.5, 65), 0.005));
        assert!(close(Schedule::Constant.lr(0.25, 12_345), 0.25));
    }

    #[test]
    fn invalid_schedules_are_rejected() {
        for s in [
            Schedule::StepDecay {
                step_size: 0,
                gamma: 0.5,
                warmup_steps: 0,
            },
            Schedule::StepDecay {
                step_size: 3,
                gamma: 1.5,
                warmup_steps: 0,
            },
            Schedule::WarmupCosine {
                warmup_steps: 10,
                total_steps: 5,
                min_lr_ratio: 0.0,
            },
            Schedule::WarmupCosine {
                warmup_steps: 0,
                total_steps: 5,
                min_lr_ratio: f32::NAN,
            },
        ] {
            assert!(s.validate().is_err(), "{s:?}");
        }
        Schedule::Constant
            .validate()
            .expect("constant is always valid");
    }
}
