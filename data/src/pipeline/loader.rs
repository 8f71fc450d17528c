//! The loader: a producer thread that builds batches with rayon (read, augment, preprocess) ahead of
//! the consumer, at most `prefetch` of them queued.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::types::{Bitmap, BitmapSource, IMAGE_PIXELS};

use super::augment::{Augment, Schedule};
use super::preprocess::{Preprocess, Preprocessor};
use super::rng;
use super::source::check_indices;

/// Augmentation with its per-epoch strength.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augmentation {
    /// Ranges at strength 1.
    pub augment: Augment,
    /// Strength per epoch.
    pub schedule: Schedule,
}

/// Loader settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoaderConfig {
    /// Samples per batch (≥ 1).
    pub batch_size: usize,
    /// Batches built ahead and queued (0: each batch is handed over as soon as it is built). Memory:
    /// at most `prefetch` queued + 1 being built + 2 recycled buffers + what the consumer holds.
    pub prefetch: usize,
    /// Reorder the samples each epoch (keyed by seed and epoch).
    pub shuffle: bool,
    /// Skip a last, short batch.
    pub drop_last: bool,
    /// Seed for shuffling and augmentation.
    pub seed: u64,
    /// Bitmap → f32 input.
    pub preprocess: Preprocess,
    /// `None` for calibration and evaluation.
    pub augmentation: Option<Augmentation>,
}

impl Default for LoaderConfig {
    /// Batch 256, prefetch 4, shuffled, keep the last batch, seed 0, reference preprocessing, no
    /// augmentation.
    fn default() -> Self {
        LoaderConfig {
            batch_size: 256,
            prefetch: 4,
            shuffle: true,
            drop_last: false,
            seed: 0,
            preprocess: Preprocess::default(),
            augmentation: None,
        }
    }
}

/// One batch: `images` is B×1×H×W f32 row-major, `labels[i]` and `indices[i]` (into the source)
/// belong to image `i`.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Preprocessed images, NCHW.
    pub images: Vec<f32>,
    /// Labels.
    pub labels: Vec<u32>,
    /// Source indices.
    pub indices: Vec<usize>,
    /// [B, C, H, W].
    pub shape: [usize; 4],
}

/// Batches of preprocessed (and optionally augmented) samples of some indices of a source.
pub struct Loader {
    shared: Arc<Shared>,
    prefetch: usize,
    pool: Option<Arc<rayon::ThreadPool>>,
}

/// What the producer thread needs.
struct Shared {
    source: Arc<dyn BitmapSource>,
    indices: Vec<usize>,
    config: LoaderConfig,
    pre: Preprocessor,
}

impl Loader {
    /// A loader over `indices` of `source`; errors on an index out of range or bad settings.
    pub fn new(
        source: Arc<dyn BitmapSource>,
        indices: Vec<usize>,
        config: LoaderConfig,
    ) -> Result<Self> {
        if config.batch_size == 0 {
            return Err(Error::Invalid("batch size must be at least 1".into()));
        }
        if let Some(a) = &config.augmentation {
            a.augment.validate()?;
        }
        check_indices(&*source, &indices)?;
        let pre = config.preprocess.build()?;
        Ok(Loader {
            shared: Arc::new(Shared {
                source,
                indices,
                config,
                pre,
            }),
            prefetch: config.prefetch,
            pool: None,
        })
    }

    /// Builds batches in `pool` instead of rayon's global pool.
    pub fn with_pool(mut self, pool: Arc<rayon::ThreadPool>) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Samples per epoch (after `drop_last`).
    pub fn samples_per_epoch(&self) -> usize {
        let n = self.shared.indices.len();
        let b = self.shared.config.batch_size;
        if self.shared.config.drop_last {
            n - n % b
        } else {
            n
        }
    }

    /// Batches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        self.samples_per_epoch()
            .div_ceil(self.shared.config.batch_size)
    }

    /// Starts producing the batches of `epoch`; the same (seed, epoch) gives the same batches, in
    /// order and content, whatever the number of threads. Dropping the returned iterator stops the
    /// producer (after the batch it is building) and joins it.
    pub fn epoch(&self, epoch: usize) -> Result<Epoch> {
        let (tx, rx) = sync_channel(self.prefetch);
        let (recycle_tx, recycle_rx) = sync_channel::<Vec<f32>>(RECYCLED);
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::clone(&self.shared);
        let pool = self.pool.clone();
        let stop_flag = Arc::clone(&stop);
        let expected = self.batches_per_epoch();
        let produce = move || {
            let config = &shared.config;
            let mut order = shared.indices.clone();
            if config.shuffle {
                let mut r = rng::stream(config.seed, rng::SHUFFLE, epoch as u64, 0);
                rng::shuffle(&mut r, &mut order);
            }
            let strength = config
                .augmentation
                .as_ref()
                .map_or(0.0, |a| a.schedule.strength(epoch));
            for chunk in order.chunks(config.batch_size).take(expected) {
                if stop_flag.load(Ordering::Relaxed) {
                    return;
                }
                let buffer = recycle_rx.try_recv().unwrap_or_default();
                let batch = shared.build(buffer, chunk, epoch, strength);
                let failed = batch.is_err();
                if tx.send(batch).is_err() || failed {
                    return;
                }
            }
        };
        let handle = std::thread::Builder::new()
            .name("inkling-loader".into())
            .spawn(move || match pool {
                Some(pool) => pool.install(produce),
                None => produce(),
            })
            .map_err(|e| Error::Invalid(format!("cannot start the loader thread: {e}")))?;
        Ok(Epoch {
            rx: Some(rx),
            recycle: recycle_tx,
            stop,
            handle: Some(handle),
            expected,
            received: 0,
            finished: false,
        })
    }
}

impl Shared {
    /// Reads, augments and preprocesses the samples `chunk` in parallel; the first failing sample
    /// (in batch order, so the error is deterministic too) fails the batch.
    fn build(
        &self,
        mut images: Vec<f32>,
        chunk: &[usize],
        epoch: usize,
        strength: f32,
    ) -> Result<Batch> {
        let per_image = self.pre.output_len();
        let side = self.pre.settings().size;
        let n = chunk.len();
        // Every float is overwritten below, so a recycled buffer of the right size is used as is.
        if images.len() != n * per_image {
            images.clear();
            images.resize(n * per_image, 0.0);
        }
        let mut labels = vec![0u32; n];
        let classes = self.source.class_names().len();
        let augment = self.config.augmentation.as_ref().map(|a| a.augment);
        let seed = self.config.seed;
        let results: Vec<Result<()>> = images
            .par_chunks_mut(per_image)
            .zip(labels.par_iter_mut())
            .zip(chunk.par_iter())
            .with_min_len(8)
            .map(|((image, label), &index)| {
                let mut bitmap: Bitmap = [0; IMAGE_PIXELS];
                let l = self.source.read(index, &mut bitmap)?;
                if l as usize >= classes {
                    return Err(Error::Invalid(format!(
                        "sample {index}: label {l} but the source has {classes} classes"
                    )));
                }
                *label = l;
                match augment {
                    Some(aug) if strength > 0.0 => {
                        let mut warped: Bitmap = [0; IMAGE_PIXELS];
                        aug.apply(strength, seed, epoch, index, &bitmap, &mut warped);
                        self.pre.apply(&warped, image)
                    }
                    _ => self.pre.apply(&bitmap, image),
                }
            })
            .collect();
        for r in results {
            r?;
        }
        Ok(Batch {
            images,
            labels,
            indices: chunk.to_vec(),
            shape: [n, 1, side, side],
        })
    }
}

/// Image buffers handed back by the consumer and not yet reused, at most.
const RECYCLED: usize = 2;

/// The batches of one epoch, in order; an error ends the epoch.
pub struct Epoch {
    rx: Option<Receiver<Result<Batch>>>,
    recycle: SyncSender<Vec<f32>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    expected: usize,
    received: usize,
    finished: bool,
}

impl Epoch {
    /// Hands a consumed batch's image buffer back for reuse (optional: saves allocating and
    /// page-faulting a fresh buffer per batch, which dominates at large input sizes). At most
    /// two buffers wait; extra ones are freed.
    pub fn recycle(&self, batch: Batch) {
        let _ = self.recycle.try_send(batch.images);
    }
}

impl Iterator for Epoch {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if self.finished {
            return None;
        }
        let rx = self.rx.as_ref()?;
        match rx.recv() {
            Ok(Ok(batch)) => {
                self.received += 1;
                if self.received == self.expected {
                    self.finished = true;
                }
                Some(Ok(batch))
            }
            Ok(Err(e)) => {
                self.finished = true;
                Some(Err(e))
            }
            Err(_) => {
                self.finished = true;
                if self.received == self.expected {
                    None
                } else {
                    // The producer died (a panic in a source): never end the epoch silently short.
                    Some(Err(Error::Invalid(format!(
                        "the loader stopped after {} of {} batches",
                        self.received, self.expected
                    ))))
                }
            }
        }
    }
}

impl Drop for Epoch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receiver makes a blocked `send` fail, so the producer returns promptly.
        self.rx = None;
        if let Some(handle) = self.handle.take() {
            // A panic in the producer was already reported as an error by `next`.
            let _ = handle.join();
        }
    }
}
