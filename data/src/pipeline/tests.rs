//! Tests of the pipeline against small in-memory sources.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::calibration::balanced_quotas;
use super::*;
use crate::error::{Error, Result};
use crate::types::{Bitmap, BitmapSource, IMAGE_PIXELS, IMAGE_SIDE};

/// `per_class[c]` samples of class c, interleaved by class; pixel values derived from the index.
fn source(per_class: &[usize]) -> InMemory {
    let names = (0..per_class.len()).map(|c| format!("class{c}")).collect();
    let mut samples = Vec::new();
    let max = per_class.iter().copied().max().unwrap_or(0);
    for k in 0..max {
        for (c, &n) in per_class.iter().enumerate() {
            if k < n {
                let i = samples.len();
                let mut b: Bitmap = [0; IMAGE_PIXELS];
                for (p, v) in b.iter_mut().enumerate() {
                    *v = ((i * 31 + p * 7) % 256) as u8;
                }
                samples.push((b, c as u32));
            }
        }
    }
    InMemory::new(names, samples).unwrap()
}

fn labels_of(src: &dyn BitmapSource, idx: &[usize]) -> Vec<usize> {
    let mut counts = vec![0; src.class_names().len()];
    for &i in idx {
        counts[src.label(i).unwrap() as usize] += 1;
    }
    counts
}

#[test]
fn in_memory_and_subset() {
    let bad = InMemory::new(vec!["a".into()], vec![([0; IMAGE_PIXELS], 1)]);
    assert!(matches!(bad, Err(Error::Invalid(_))));
    let src = source(&[3, 2]);
    assert_eq!(src.len(), 5);
    let mut b = [0u8; IMAGE_PIXELS];
    assert!(src.read(5, &mut b).is_err());
    assert!(src.label(5).is_err());
    let sub = Subset::new(&src, vec![4, 0]).unwrap();
    assert_eq!(sub.len(), 2);
    assert_eq!(sub.read(0, &mut b).unwrap(), src.label(4).unwrap());
    let mut want = [0u8; IMAGE_PIXELS];
    src.read(4, &mut want).unwrap();
    assert_eq!(b, want);
    assert!(sub.read(2, &mut b).is_err());
    assert!(Subset::new(&src, vec![5]).is_err());
}

#[test]
fn cap_keeps_first_per_class_in_order() {
    let src = source(&[4, 1, 3]);
    // Layout: 0:c0 1:c1 2:c2 3:c0 4:c2 5:c0 6:c2 7:c0
    let all: Vec<usize> = (0..src.len()).collect();
    assert_eq!(cap_per_class(&src, &all, 2).unwrap(), vec![0, 1, 2, 3, 4]);
    assert_eq!(cap_per_class(&src, &all, 0).unwrap(), Vec::<usize>::new());
    assert_eq!(cap_per_class(&src, &[7, 5, 3], 1).unwrap(), vec![7]);
    assert!(cap_per_class(&src, &[8], 1).is_err());
}

#[test]
fn split_is_stratified_disjoint_covering_and_seeded() {
    let per_class = [100, 50, 7, 0, 1];
    let src = source(&per_class);
    let all: Vec<usize> = (0..src.len()).collect();
    let split = stratified_split(&src, &all, SplitFractions::default(), 42).unwrap();
    // Cut points round(n·0.8), round(n·0.9) per class.
    assert_eq!(labels_of(&src, &split.train), vec![80, 40, 6, 0, 1]);
    assert_eq!(labels_of(&src, &split.val), vec![10, 5, 0, 0, 0]);
    assert_eq!(labels_of(&src, &split.test), vec![10, 5, 1, 0, 0]);
    let sets: Vec<BTreeSet<usize>> = [&split.train, &split.val, &split.test]
        .iter()
        .map(|s| s.iter().copied().collect())
        .collect();
    assert!(sets[0].is_disjoint(&sets[1]) && sets[0].is_disjoint(&sets[2]));
    assert!(sets[1].is_disjoint(&sets[2]));
    assert_eq!(sets.iter().map(BTreeSet::len).sum::<usize>(), src.len());
    assert!(split.train.windows(2).all(|w| w[0] < w[1]));

    let again = stratified_split(&src, &all, SplitFractions::default(), 42).unwrap();
    assert_eq!(split, again);
    // The same under a one-thread pool (nothing in it depends on threads, and this pins that).
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let in_pool =
        pool.install(|| stratified_split(&src, &all, SplitFractions::default(), 42).unwrap());
    assert_eq!(split, in_pool);
    let other = stratified_split(&src, &all, SplitFractions::default(), 43).unwrap();
    assert_ne!(split.train, other.train);

    let bad = SplitFractions {
        train: 0.8,
        val: 0.3,
        test: 0.1,
    };
    assert!(stratified_split(&src, &all, bad, 0).is_err());
    let negative = SplitFractions {
        train: 1.1,
        val: -0.1,
        test: 0.0,
    };
    assert!(stratified_split(&src, &all, negative, 0).is_err());
}

#[test]
fn counts_report() {
    let src = source(&[3, 1]);
    let counts = ClassCounts::new(&src, &[("train", &[0, 1, 2]), ("val", &[3])]).unwrap();
    // Layout: 0:c0 1:c1 2:c0 3:c0.
    assert_eq!(counts.counts, vec![vec![2, 1], vec![1, 0]]);
    assert_eq!(counts.totals(), vec![3, 1]);
    let text = counts.to_string();
    assert!(text.contains("class0"), "{text}");
    assert!(text.lines().last().unwrap().starts_with("total"), "{text}");
    assert!(ClassCounts::new(&src, &[("x", &[9])]).is_err());
}

#[test]
fn calibration_is_balanced() {
    let src = source(&[50, 50, 50]);
    let all: Vec<usize> = (0..src.len()).collect();
    let cal = calibration_indices(&src, &all, 32, 1).unwrap();
    assert_eq!(cal.len(), 32);
    // 32 = 3·10 + 2: the first two classes get one more.
    assert_eq!(labels_of(&src, &cal), vec![11, 11, 10]);
    assert_eq!(cal.iter().collect::<BTreeSet<_>>().len(), 32);
    assert_eq!(cal, calibration_indices(&src, &all, 32, 1).unwrap());
    assert_ne!(cal, calibration_indices(&src, &all, 32, 2).unwrap());
}

#[test]
fn calibration_redistributes_a_deficit_or_errors() {
    let src = source(&[2, 50, 0, 50]);
    let all: Vec<usize> = (0..src.len()).collect();
    // 40 over 4 classes: 10 each, but class0 has 2 and class2 none; 28 left over two classes.
    let cal = calibration_indices(&src, &all, 40, 5).unwrap();
    assert_eq!(labels_of(&src, &cal), vec![2, 19, 0, 19]);
    assert_eq!(calibration_indices(&src, &all, 102, 5).unwrap().len(), 102);
    let err = calibration_indices(&src, &all, 103, 5).unwrap_err();
    assert!(err.to_string().contains("103"), "{err}");
    assert_eq!(balanced_quotas(&[1, 1, 5], 5), vec![1, 1, 3]);
    assert_eq!(balanced_quotas(&[3, 3, 3], 4), vec![2, 1, 1]);
    assert_eq!(balanced_quotas(&[], 4), Vec::<usize>::new());
}

/// A bitmap whose pixel (y, x) is `f(y, x)`.
fn image(f: impl Fn(usize, usize) -> u8) -> Bitmap {
    let mut b = [0u8; IMAGE_PIXELS];
    for y in 0..IMAGE_SIDE {
        for x in 0..IMAGE_SIDE {
            b[y * IMAGE_SIDE + x] = f(y, x);
        }
    }
    b
}

#[test]
fn preprocess_invert_and_normalize() {
    let b = image(|y, x| {
        if (y, x) == (0, 0) {
            255
        } else if (y, x) == (0, 1) {
            51
        } else {
            0
        }
    });
    let mut out = vec![0f32; IMAGE_PIXELS];
    Preprocess::default()
        .build()
        .unwrap()
        .apply(&b, &mut out)
        .unwrap();
    // Inverted: 255 → 0 → (0 − 0.5)/0.5 = −1; 0 → 255 → 1; 51 → 204 → 0.8 → 0.6.
    assert_eq!(out[0], -1.0);
    assert!((out[1] - 0.6).abs() < 1e-6);
    assert_eq!(out[2], 1.0);
    let plain = Preprocess {
        invert: false,
        mean: 0.0,
        std: 1.0,
        ..Preprocess::default()
    };
    plain.build().unwrap().apply(&b, &mut out).unwrap();
    assert_eq!(out[0], 1.0);
    assert!((out[1] - 0.2).abs() < 1e-7);
    assert_eq!(out[2], 0.0);
    assert!(Preprocess {
        std: 0.0,
        ..Preprocess::default()
    }
    .build()
    .is_err());
    assert!(Preprocess {
        size: 0,
        ..Preprocess::default()
    }
    .build()
    .is_err());
    let p = Preprocess::default().build().unwrap();
    assert!(p.apply(&b, &mut [0f32; 10]).is_err());
}

#[test]
fn preprocess_resize_nearest_and_bilinear() {
    // Pixel value = 2·x + y·10 (fits in u8 for 28×28 when kept small: use x, y < 28 → max 324, so
    // use (x + y) · 4 capped at 216).
    let b = image(|y, x| (4 * (x + y)) as u8);
    let raw = Preprocess {
        invert: false,
        mean: 0.0,
        std: 1.0 / 255.0,
        size: 56,
        resize: Resize::Nearest,
    };
    // mean 0, std 1/255 keeps raw pixel values, so expectations are plain numbers.
    let mut out = vec![0f32; 56 * 56];
    raw.build().unwrap().apply(&b, &mut out).unwrap();
    for (y, x) in [(0, 0), (0, 1), (1, 2), (3, 5), (55, 55), (54, 1)] {
        let want = f32::from(b[(y / 2) * IMAGE_SIDE + x / 2]);
        assert!((out[y * 56 + x] - want).abs() < 1e-3, "({y},{x})");
    }
    // 28 → 224 nearest: each source pixel becomes an 8×8 block.
    let big = Preprocess { size: 224, ..raw }.build().unwrap();
    let mut out224 = vec![0f32; 224 * 224];
    big.apply(&b, &mut out224).unwrap();
    assert!((out224[(8 * 3 + 7) * 224 + 8 * 5] - f32::from(b[3 * 28 + 5])).abs() < 1e-3);

    // Bilinear 28 → 56: output d maps to source (d + 0.5)/2 − 0.5 = d/2 − 0.25, clamped at 0.
    let bil = Preprocess {
        resize: Resize::Bilinear,
        ..raw
    };
    bil.build().unwrap().apply(&b, &mut out).unwrap();
    let v = |y: f32, x: f32| 4.0 * (x + y); // the image is linear, so bilinear reproduces it
    assert!((out[0] - 0.0).abs() < 1e-3); // clamped to (0, 0)
    assert!((out[3] - v(0.0, 1.25)).abs() < 1e-3);
    assert!((out[5 * 56 + 4] - v(2.25, 1.75)).abs() < 1e-3);
    assert!((out[55 * 56 + 55] - v(27.0, 27.0)).abs() < 1e-3); // clamped at the far edge
                                                               // A non-linear 2×2 neighbourhood: checkerboard, output (1, 1) ↔ source (0.25, 0.25).
    let cb = image(|y, x| if (x + y) % 2 == 0 { 200 } else { 0 });
    bil.build().unwrap().apply(&cb, &mut out).unwrap();
    // 200·(0.75·0.75 + 0.25·0.25) = 125.
    assert!((out[56 + 1] - 125.0).abs() < 1e-3);
}

#[test]
fn schedule_ramps() {
    let s = Schedule::Linear {
        from: 0.2,
        to: 1.0,
        epochs: 4,
    };
    assert!((s.strength(0) - 0.2).abs() < 1e-6);
    assert!((s.strength(2) - 0.6).abs() < 1e-6);
    assert_eq!(s.strength(4), 1.0);
    assert_eq!(s.strength(100), 1.0);
    assert_eq!(Schedule::Constant(3.0).strength(0), 1.0);
    let zero = Schedule::Linear {
        from: 0.5,
        to: 0.7,
        epochs: 0,
    };
    assert!((zero.strength(0) - 0.7).abs() < 1e-6);
}

#[test]
fn augment_identity_at_zero_and_deterministic() {
    let b = image(|y, x| {
        if (8..20).contains(&y) && (12..16).contains(&x) {
            255
        } else {
            0
        }
    });
    let a = Augment::default();
    let mut out = [0u8; IMAGE_PIXELS];
    a.apply(0.0, 1, 0, 3, &b, &mut out);
    assert_eq!(out, b);
    // All-zero ranges at full strength: the identity warp samples pixel centres exactly.
    let none = Augment {
        rotation_deg: 0.0,
        translate: 0.0,
        scale: 0.0,
        shear_deg: 0.0,
        stroke: 0.0,
    };
    none.apply(1.0, 1, 0, 3, &b, &mut out);
    assert_eq!(out, b);

    let mut x = [0u8; IMAGE_PIXELS];
    let mut y = [0u8; IMAGE_PIXELS];
    a.apply(0.7, 9, 2, 5, &b, &mut x);
    a.apply(0.7, 9, 2, 5, &b, &mut y);
    assert_eq!(x, y);
    assert_ne!(x, b);
    for (seed, epoch, index) in [(10, 2, 5), (9, 3, 5), (9, 2, 6)] {
        a.apply(0.7, seed, epoch, index, &b, &mut y);
        assert_ne!(x, y, "key ({seed}, {epoch}, {index})");
    }
    // Pure thickening makes the stroke wider; pure thinning narrower.
    let thick = Augment {
        stroke: 1.0,
        ..none
    };
    let ink = |img: &Bitmap| img.iter().map(|&v| u32::from(v)).sum::<u32>();
    let mut grown = 0;
    let mut shrunk = 0;
    for i in 0..20 {
        thick.apply(1.0, 4, 0, i, &b, &mut y);
        if ink(&y) > ink(&b) {
            grown += 1;
        } else if ink(&y) < ink(&b) {
            shrunk += 1;
        }
    }
    assert!(grown > 0 && shrunk > 0);
    assert!(Augment { scale: 1.0, ..a }.validate().is_err());
    assert!(Augment {
        rotation_deg: f32::NAN,
        ..a
    }
    .validate()
    .is_err());
}

fn config(batch_size: usize) -> LoaderConfig {
    LoaderConfig {
        batch_size,
        prefetch: 2,
        seed: 11,
        ..LoaderConfig::default()
    }
}

fn collect(loader: &Loader, epoch: usize) -> Vec<Batch> {
    loader.epoch(epoch).unwrap().map(|b| b.unwrap()).collect()
}

#[test]
fn loader_covers_the_epoch_with_the_right_content() {
    let src: Arc<dyn BitmapSource> = Arc::new(source(&[20, 13]));
    let indices: Vec<usize> = (0..33).collect();
    let loader = Loader::new(src.clone(), indices.clone(), config(8)).unwrap();
    assert_eq!(loader.batches_per_epoch(), 5);
    let batches = collect(&loader, 0);
    assert_eq!(
        batches.iter().map(|b| b.labels.len()).collect::<Vec<_>>(),
        vec![8, 8, 8, 8, 1]
    );
    let mut seen: Vec<usize> = batches.iter().flat_map(|b| b.indices.clone()).collect();
    assert_ne!(seen, indices, "shuffled");
    seen.sort_unstable();
    assert_eq!(seen, indices);
    let pre = Preprocess::default().build().unwrap();
    let mut want = vec![0f32; IMAGE_PIXELS];
    let mut bm = [0u8; IMAGE_PIXELS];
    for b in &batches {
        assert_eq!(b.shape, [b.labels.len(), 1, 28, 28]);
        for (k, &i) in b.indices.iter().enumerate() {
            assert_eq!(b.labels[k], src.read(i, &mut bm).unwrap());
            pre.apply(&bm, &mut want).unwrap();
            assert_eq!(
                &b.images[k * IMAGE_PIXELS..(k + 1) * IMAGE_PIXELS],
                &want[..]
            );
        }
    }
    // Recycled buffers give the same batches.
    let mut epoch = loader.epoch(0).unwrap();
    let mut recycled = Vec::new();
    while let Some(b) = epoch.next() {
        let b = b.unwrap();
        recycled.push(b.clone());
        epoch.recycle(b);
    }
    assert_eq!(recycled, batches);
    // Another epoch, another order; drop_last; no shuffle keeps the given order.
    let e1: Vec<usize> = collect(&loader, 1)
        .iter()
        .flat_map(|b| b.indices.clone())
        .collect();
    assert_ne!(
        e1,
        batches
            .iter()
            .flat_map(|b| b.indices.clone())
            .collect::<Vec<_>>()
    );
    let dl = Loader::new(
        src.clone(),
        indices.clone(),
        LoaderConfig {
            drop_last: true,
            ..config(8)
        },
    )
    .unwrap();
    assert_eq!(collect(&dl, 0).len(), 4);
    let plain = Loader::new(
        src.clone(),
        vec![5, 3, 9],
        LoaderConfig {
            shuffle: false,
            ..config(2)
        },
    )
    .unwrap();
    let ids: Vec<usize> = collect(&plain, 0)
        .iter()
        .flat_map(|b| b.indices.clone())
        .collect();
    assert_eq!(ids, vec![5, 3, 9]);
    assert!(Loader::new(src.clone(), vec![33], config(8)).is_err());
    assert!(Loader::new(src.clone(), vec![], config(0)).is_err());
    let empty = Loader::new(src, vec![], config(4)).unwrap();
    assert_eq!(collect(&empty, 0).len(), 0);
}

#[test]
fn loader_is_deterministic_across_thread_counts() {
    let src: Arc<dyn BitmapSource> = Arc::new(source(&[40, 30, 30]));
    let indices: Vec<usize> = (0..100).collect();
    let cfg = LoaderConfig {
        augmentation: Some(Augmentation {
            augment: Augment::default(),
            schedule: Schedule::Linear {
                from: 0.3,
                to: 1.0,
                epochs: 3,
            },
        }),
        preprocess: Preprocess {
            size: 32,
            resize: Resize::Bilinear,
            ..Preprocess::default()
        },
        ..config(16)
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let loader = Loader::new(src.clone(), indices.clone(), cfg)
            .unwrap()
            .with_pool(Arc::new(pool));
        (collect(&loader, 0), collect(&loader, 2))
    };
    let one = run(1);
    let two = run(2);
    assert_eq!(one, two);
    assert_eq!(one.0.len(), 7);
    // Augmentation changed the images (strength 0.3 at epoch 0).
    let plain = Loader::new(
        src.clone(),
        indices.clone(),
        LoaderConfig {
            augmentation: None,
            ..cfg
        },
    )
    .unwrap();
    assert_eq!(
        collect(&plain, 0)
            .iter()
            .map(|b| &b.indices)
            .collect::<Vec<_>>(),
        one.0.iter().map(|b| &b.indices).collect::<Vec<_>>()
    );
    assert_ne!(collect(&plain, 0), one.0);
}

/// Fails reading sample `bad`; counts reads.
struct Failing {
    inner: InMemory,
    bad: usize,
    reads: AtomicUsize,
    delay: Duration,
}

impl BitmapSource for Failing {
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn class_names(&self) -> &[String] {
        self.inner.class_names()
    }
    fn label(&self, i: usize) -> Result<u32> {
        self.inner.label(i)
    }
    fn read(&self, i: usize, out: &mut Bitmap) -> Result<u32> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(self.delay);
        if i == self.bad {
            return Err(Error::format("test.npy", format!("row {i}"), "truncated"));
        }
        self.inner.read(i, out)
    }
}

#[test]
fn loader_propagates_source_errors() {
    let src = Arc::new(Failing {
        inner: source(&[10, 10]),
        bad: 13,
        reads: AtomicUsize::new(0),
        delay: Duration::ZERO,
    });
    let cfg = LoaderConfig {
        shuffle: false,
        ..config(4)
    };
    let loader = Loader::new(src, (0..20).collect(), cfg).unwrap();
    let results: Vec<Result<Batch>> = loader.epoch(0).unwrap().collect();
    // Batches 0..3 are fine, batch 3 (samples 12..16) fails, and the epoch ends there.
    assert_eq!(results.len(), 4);
    assert!(results[..3].iter().all(|r| r.is_ok()));
    let err = results[3].as_ref().unwrap_err().to_string();
    assert!(err.contains("test.npy") && err.contains("row 13"), "{err}");
}

#[test]
fn dropping_the_loader_mid_epoch_does_not_hang() {
    let src = Arc::new(Failing {
        inner: source(&[200, 200]),
        bad: usize::MAX,
        reads: AtomicUsize::new(0),
        delay: Duration::from_micros(200),
    });
    let loader = Loader::new(
        src.clone(),
        (0..400).collect(),
        LoaderConfig {
            prefetch: 1,
            ..config(4)
        },
    )
    .unwrap();
    let start = Instant::now();
    {
        let mut epoch = loader.epoch(0).unwrap();
        assert!(epoch.next().unwrap().is_ok());
    }
    drop(loader);
    // The producer stopped after at most the queued batch and the one in progress.
    let reads = src.reads.load(Ordering::Relaxed);
    assert!(reads <= 4 * 4, "{reads} reads");
    assert!(start.elapsed() < Duration::from_secs(5));
    // Nothing consumed at all.
    let loader = Loader::new(src.clone(), (0..400).collect(), config(4)).unwrap();
    drop(loader.epoch(3).unwrap());
}

/// Panics reading any sample (a bug in a source must not end an epoch silently short).
struct Panicking(InMemory);

impl BitmapSource for Panicking {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn class_names(&self) -> &[String] {
        self.0.class_names()
    }
    fn label(&self, i: usize) -> Result<u32> {
        self.0.label(i)
    }
    fn read(&self, _: usize, _: &mut Bitmap) -> Result<u32> {
        panic!("test source panics on purpose");
    }
}

#[test]
fn a_panicking_source_is_an_error_not_a_short_epoch() {
    let loader = Loader::new(Arc::new(Panicking(source(&[4]))), vec![0, 1, 2], config(2)).unwrap();
    let results: Vec<Result<Batch>> = loader.epoch(0).unwrap().collect();
    assert_eq!(results.len(), 1);
    let err = results[0].as_ref().unwrap_err().to_string();
    assert!(err.contains("0 of 2 batches"), "{err}");
}
