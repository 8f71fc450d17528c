//! Tensor storage with a size-keyed free list, so a training step reuses the previous step's buffers
//! instead of asking the allocator again, and a count of live and peak tensor bytes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Buffers kept per length; beyond this the allocator gets them back.
const MAX_PER_LEN: usize = 32;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static POOLED: AtomicUsize = AtomicUsize::new(0);
static POOL: Mutex<Option<HashMap<usize, Vec<Vec<f32>>>>> = Mutex::new(None);

/// Contiguous f32 storage of one tensor; returns itself to the pool when dropped.
#[derive(Debug)]
pub(crate) struct Buffer(Vec<f32>);

impl Buffer {
    /// A buffer of `len` elements whose contents are unspecified (old values of a reused buffer).
    pub(crate) fn uninit(len: usize) -> Buffer {
        let v = take(len).unwrap_or_else(|| vec![0.0; len]);
        count_live(len);
        Buffer(v)
    }

    /// A buffer of `len` zeros.
    pub(crate) fn zeros(len: usize) -> Buffer {
        let mut b = Buffer::uninit(len);
        b.0.fill(0.0);
        b
    }

    /// Wraps an existing vector (counted as live, returned to the pool on drop).
    pub(crate) fn from_vec(v: Vec<f32>) -> Buffer {
        count_live(v.len());
        Buffer(v)
    }

    pub(crate) fn as_slice(&self) -> &[f32] {
        &self.0
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.0
    }

    /// Moves the data out; the vector is no longer pooled or counted.
    pub(crate) fn into_vec(mut self) -> Vec<f32> {
        let v = std::mem::take(&mut self.0);
        LIVE.fetch_sub(v.len() * 4, Ordering::Relaxed);
        v
    }
}

impl Clone for Buffer {
    fn clone(&self) -> Buffer {
        let mut b = Buffer::uninit(self.0.len());
        b.0.copy_from_slice(&self.0);
        b
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.0);
        if v.is_empty() {
            return;
        }
        LIVE.fetch_sub(v.len() * 4, Ordering::Relaxed);
        give(v);
    }
}

fn count_live(len: usize) {
    let live = LIVE.fetch_add(len * 4, Ordering::Relaxed) + len * 4;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

fn take(len: usize) -> Option<Vec<f32>> {
    if len == 0 {
        return None;
    }
    let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
    let v = pool.as_mut()?.get_mut(&len)?.pop()?;
    POOLED.fetch_sub(len * 4, Ordering::Relaxed);
    Some(v)
}

fn give(v: Vec<f32>) {
    let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
    let list = pool
        .get_or_insert_with(HashMap::new)
        .entry(v.len())
        .or_default();
    if list.len() < MAX_PER_LEN {
        POOLED.fetch_add(v.len() * 4, Ordering::Relaxed);
        list.push(v);
    }
}

/// Bytes held by tensors now, the most held since the last [`reset_peak`], and bytes kept for reuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryStats {
    /// Bytes of tensor storage alive now.
    pub live_bytes: usize,
    /// The maximum of `live_bytes` since the last reset.
    pub peak_bytes: usize,
    /// Bytes of freed buffers kept in the pool for reuse.
    pub pooled_bytes: usize,
}

/// Current tensor memory figures (all threads).
pub fn memory_stats() -> MemoryStats {
    MemoryStats {
        live_bytes: LIVE.load(Ordering::Relaxed),
        peak_bytes: PEAK.load(Ordering::Relaxed),
        pooled_bytes: POOLED.load(Ordering::Relaxed),
    }
}

/// Starts a new peak measurement at the current live size.
pub fn reset_peak() {
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// Returns every pooled buffer to the allocator.
pub fn release_pool() {
    let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
    *pool = None;
    POOLED.store(0, Ordering::Relaxed);
}
