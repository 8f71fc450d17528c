//! The per-op time table of `--profile` (train and bench train).

use std::path::Path;

use inkling::autograd::profile::{self, OpTime};

/// Prints where the time went per op kind (ms per step, forward and backward, share of the op
/// total) and, when `json` is given, writes the same table there. Clears the profile.
pub fn report(steps: u64, json: Option<&Path>) -> std::io::Result<()> {
    let mut rows: Vec<(&'static str, OpTime)> = profile::snapshot(true).into_iter().collect();
    rows.sort_by_key(|(_, t)| std::cmp::Reverse(t.forward + t.backward));
    let total: f64 = rows
        .iter()
        .map(|(_, t)| (t.forward + t.backward).as_secs_f64())
        .sum();
    let per = |d: std::time::Duration| 1e3 * d.as_secs_f64() / steps.max(1) as f64;
    eprintln!(
        "{:<18} {:>12} {:>12} {:>7}   (ms per step over {steps} steps)",
        "op", "forward", "backward", "share"
    );
    let mut out = Vec::new();
    for (name, t) in &rows {
        eprintln!(
            "{name:<18} {:>12.2} {:>12.2} {:>6.1}%",
            per(t.forward),
            per(t.backward),
            100.0 * (t.forward + t.backward).as_secs_f64() / total.max(1e-12)
        );
        out.push(serde_json::json!({
            "op": name,
            "forward_calls": t.forward_calls,
            "forward_ms_per_step": per(t.forward),
            "backward_calls": t.backward_calls,
            "backward_ms_per_step": per(t.backward),
        }));
    }
    eprintln!(
        "{:<18} {:>25.2} ms per step",
        "all ops",
        1e3 * total / steps.max(1) as f64
    );
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&out).map_err(std::io::Error::other)?;
        crate::plot::write_atomic(path, text.as_bytes())?;
    }
    Ok(())
}
