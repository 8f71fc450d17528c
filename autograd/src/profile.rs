//! An optional per-op profile: wall time of each op kind's forward and backward, for `--profile`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

static ON: AtomicBool = AtomicBool::new(false);
static TABLE: Mutex<BTreeMap<&'static str, OpTime>> = Mutex::new(BTreeMap::new());

/// Forward or backward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// The op's forward.
    Forward,
    /// The op's backward.
    Backward,
}

/// Accumulated time and call count of one op kind.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OpTime {
    /// Forward calls.
    pub forward_calls: u64,
    /// Total forward time.
    pub forward: Duration,
    /// Backward calls.
    pub backward_calls: u64,
    /// Total backward time.
    pub backward: Duration,
}

/// Turns profiling on or off (off by default: it costs two clock reads per op).
pub fn set_enabled(on: bool) {
    ON.store(on, Ordering::Relaxed);
}

/// Whether profiling is on.
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Adds one timed call.
pub fn add(op: &'static str, pass: Pass, t: Duration) {
    let mut table = TABLE.lock().unwrap_or_else(|p| p.into_inner());
    let e = table.entry(op).or_default();
    match pass {
        Pass::Forward => {
            e.forward_calls += 1;
            e.forward += t;
        }
        Pass::Backward => {
            e.backward_calls += 1;
            e.backward += t;
        }
    }
}

/// The table so far, by op name; `reset` clears it.
pub fn snapshot(reset: bool) -> BTreeMap<&'static str, OpTime> {
    let mut table = TABLE.lock().unwrap_or_else(|p| p.into_inner());
    if reset {
        std::mem::take(&mut *table)
    } else {
        table.clone()
    }
}
