//! The gradual sparsity schedule of Zhu & Gupta (2017), "To prune, or not to prune":
//! `s_t = s_f + (s_i − s_f)·(1 − (t − t₀)/(n·Δt))³`, pruning every Δt steps from t₀ over n steps
//! of Δt: fast at first, while there are many redundant weights, then slower.

use crate::{Error, Result};

/// When and how much to prune, in optimizer steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CubicSchedule {
    /// Sparsity at the first pruning step t₀ (s_i).
    pub initial: f32,
    /// Sparsity reached at t₀ + n·Δt and kept afterwards (s_f).
    pub target: f32,
    /// First pruning step t₀ (steps taken before it).
    pub start: u64,
    /// Steps between pruning updates Δt (≥ 1).
    pub every: u64,
    /// Number of Δt intervals n; 0 prunes to the target at once (one shot).
    pub intervals: u64,
}

impl CubicSchedule {
    /// A schedule from `start` to `end` (steps, `end ≥ start`) in `updates` pruning updates after
    /// the first (`updates` ≥ 1 spreads them evenly: Δt = ⌊(end − start)/updates⌋, at least 1).
    /// Errors on sparsities outside [0, 1], `initial > target`, or `end < start`.
    pub fn spanning(initial: f32, target: f32, start: u64, end: u64, updates: u64) -> Result<Self> {
        let bad = |what: String| Err(Error::Config { what });
        if !((0.0..=1.0).contains(&initial) && (0.0..=1.0).contains(&target)) {
            return bad(format!(
                "pruning sparsities {initial} → {target} must be in [0, 1]"
            ));
        }
        if initial > target {
            return bad(format!(
                "pruning sparsity must grow, got {initial} → {target}"
            ));
        }
        if end < start {
            return bad(format!(
                "pruning ends (step {end}) before it starts ({start})"
            ));
        }
        let span = end - start;
        let (every, intervals) = if span == 0 || updates == 0 {
            (1, 0)
        } else {
            let every = (span / updates).max(1);
            (every, span / every)
        };
        Ok(CubicSchedule {
            initial,
            target,
            start,
            every,
            intervals,
        })
    }

    /// Whether the masks are recomputed after `step` optimizer steps.
    pub fn is_update(&self, step: u64) -> bool {
        step >= self.start
            && (step - self.start).is_multiple_of(self.every)
            && (step - self.start) / self.every <= self.intervals
    }

    /// The sparsity of the last update at or before `step` (0 before t₀).
    pub fn sparsity(&self, step: u64) -> f32 {
        if step < self.start {
            return 0.0;
        }
        if self.intervals == 0 {
            return self.target;
        }
        let k = ((step - self.start) / self.every).min(self.intervals);
        let frac = 1.0 - k as f64 / self.intervals as f64;
        let (si, sf) = (self.initial as f64, self.target as f64);
        (sf + (si - sf) * frac.powi(3)) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cubic_values_at_known_steps() {
        // t₀ = 10, Δt = 5, n = 4: updates at 10, 15, 20, 25, 30.
        let s = CubicSchedule::spanning(0.0, 0.8, 10, 30, 4).unwrap();
        assert_eq!((s.every, s.intervals), (5, 4));
        assert_eq!(s.sparsity(0), 0.0);
        assert_eq!(s.sparsity(9), 0.0);
        assert_eq!(s.sparsity(10), 0.0);
        // 0.8·(1 − (1 − 1/4)³) = 0.8·(1 − 27/64) = 0.4625.
        assert!((s.sparsity(15) - 0.4625).abs() < 1e-7);
        assert_eq!(s.sparsity(19), s.sparsity(15), "held between updates");
        // 0.8·(1 − 1/8) = 0.7; 0.8·(1 − 1/64) = 0.7875.
        assert!((s.sparsity(20) - 0.7).abs() < 1e-7);
        assert!((s.sparsity(25) - 0.7875).abs() < 1e-7);
        assert_eq!(s.sparsity(30), 0.8);
        assert_eq!(s.sparsity(1000), 0.8);
        let updates: Vec<u64> = (0..40).filter(|&t| s.is_update(t)).collect();
        assert_eq!(updates, [10, 15, 20, 25, 30]);
        // A non-zero s_i: 0.2 + (0.2 − 0.6)·... at k = 1 of 2: 0.6 − 0.4·(1/8) = 0.55.
        let s = CubicSchedule::spanning(0.2, 0.6, 0, 10, 2).unwrap();
        assert!((s.sparsity(5) - 0.55).abs() < 1e-7);
    }

    #[test]
    fn one_shot_and_bad_schedules() {
        let s = CubicSchedule::spanning(0.0, 0.5, 7, 7, 10).unwrap();
        assert_eq!((s.sparsity(6), s.sparsity(7)), (0.0, 0.5));
        assert!(s.is_update(7) && !s.is_update(8));
        assert!(CubicSchedule::spanning(0.0, 1.5, 0, 10, 2).is_err());
        assert!(CubicSchedule::spanning(0.6, 0.5, 0, 10, 2).is_err());
        assert!(CubicSchedule::spanning(0.0, 0.5, 10, 5, 2).is_err());
        // More updates than steps: every step, span intervals.
        let s = CubicSchedule::spanning(0.0, 0.5, 0, 3, 10).unwrap();
        assert_eq!((s.every, s.intervals), (1, 3));
    }
}
