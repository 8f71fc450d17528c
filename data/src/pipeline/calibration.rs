//! Class-balanced calibration sampling for post-training quantization.

use crate::error::{Error, Result};
use crate::types::BitmapSource;

use super::rng;
use super::source::by_class;

/// Default number of calibration images.
pub const DEFAULT_CALIBRATION_SAMPLES: usize = 2048;

/// Picks `total` of `indices` (normally the training split) spread evenly over the classes:
/// `total / classes` each, the remainder one each to the first classes; a class with too few gives
/// all it has and its deficit is spread the same way over the classes that still have samples.
/// Errors when `indices` hold fewer than `total` samples (never silently fewer). Which samples a
/// class gives is a shuffle keyed by (`seed`, class); the result is sorted ascending.
pub fn calibration_indices(
    source: &dyn BitmapSource,
    indices: &[usize],
    total: usize,
    seed: u64,
) -> Result<Vec<usize>> {
    let groups = by_class(source, indices)?;
    let available: usize = groups.iter().map(Vec::len).sum();
    if available < total {
        return Err(Error::Invalid(format!(
            "calibration needs {total} samples but only {available} are available"
        )));
    }
    let quotas = balanced_quotas(&groups.iter().map(Vec::len).collect::<Vec<_>>(), total);
    let mut out = Vec::with_capacity(total);
    for (class, (mut members, quota)) in groups.into_iter().zip(quotas).enumerate() {
        rng::shuffle(
            &mut rng::stream(seed, rng::CALIBRATION, class as u64, 0),
            &mut members,
        );
        members.truncate(quota);
        out.extend(members);
    }
    out.sort_unstable();
    Ok(out)
}

/// Water-filling: per-class quotas summing to `min(total, Σ caps)`, as even as the caps allow, the
/// remainder of each round going to the first classes that still have room.
pub(crate) fn balanced_quotas(caps: &[usize], total: usize) -> Vec<usize> {
    let mut quotas = vec![0usize; caps.len()];
    let mut remaining = total;
    loop {
        let open: Vec<usize> = (0..caps.len())
            .filter(|&c| quotas.get(c) < caps.get(c))
            .collect();
        if remaining == 0 || open.is_empty() {
            return quotas;
        }
        let share = remaining / open.len();
        let extra = remaining % open.len();
        // Each round either satisfies everyone or fills at least one class: it terminates.
        for (j, &c) in open.iter().enumerate() {
            let want = share + usize::from(j < extra);
            if let (Some(q), Some(&cap)) = (quotas.get_mut(c), caps.get(c)) {
                let give = want.min(cap - *q);
                *q += give;
                remaining -= give;
            }
        }
    }
}
