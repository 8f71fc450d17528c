use super::*;
use crate::types::IMAGE_PIXELS;

fn set(spc: usize) -> SyntheticDoodles {
    SyntheticDoodles::new(7, spc, ClassSelection::All).unwrap()
}

fn bitmap(s: &SyntheticDoodles, i: usize) -> Bitmap {
    let mut b = [0u8; IMAGE_PIXELS];
    s.read(i, &mut b).unwrap();
    b
}

#[test]
fn deterministic_whatever_the_thread_order_or_subset() {
    let a = set(20);
    let b = set(20);
    let forward: Vec<Bitmap> = (0..a.len()).map(|i| bitmap(&a, i)).collect();
    let backward: Vec<Bitmap> = (0..b.len()).rev().map(|i| bitmap(&b, i)).collect();
    assert!(forward.iter().eq(backward.iter().rev()));
    let threaded: Vec<Bitmap> = std::thread::scope(|sc| {
        let h: Vec<_> = (0..2)
            .map(|t| {
                let a = &a;
                sc.spawn(move || {
                    (0..a.len())
                        .filter(|i| i % 2 == t)
                        .map(|i| (i, bitmap(a, i)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(usize, Bitmap)> = h.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all.sort_by_key(|p| p.0);
        all.into_iter().map(|p| p.1).collect()
    });
    assert_eq!(threaded, forward);
    assert_eq!(a.drawing(5).unwrap(), b.drawing(5).unwrap());
    // A different seed changes the drawings.
    let c = SyntheticDoodles::new(8, 20, ClassSelection::All).unwrap();
    assert_ne!(bitmap(&c, 5), forward[5]);
    // The same class sample in a subset: "star" sample 3.
    let sub = SyntheticDoodles::new(
        7,
        20,
        ClassSelection::Names(vec!["zigzag".into(), "star".into()]),
    )
    .unwrap();
    let star = CLASS_NAMES.iter().position(|&c| c == "star").unwrap();
    assert_eq!(sub.label(3 * 2 + 1).unwrap(), 1);
    assert_eq!(
        bitmap(&sub, 3 * 2 + 1),
        forward[3 * CLASS_NAMES.len() + star]
    );
    assert_eq!(sub.class_names(), ["zigzag", "star"]);
}

#[test]
fn labels_interleave_and_drawings_look_simplified() {
    let s = set(3);
    assert_eq!(s.len(), 3 * CLASS_NAMES.len());
    for i in 0..s.len() {
        assert_eq!(s.label(i).unwrap() as usize, i % CLASS_NAMES.len());
        let d = s.drawing(i).unwrap();
        assert_eq!(d.word, CLASS_NAMES[i % CLASS_NAMES.len()]);
        let xs = d.strokes.iter().flat_map(|s| s.x.iter());
        let ys = d.strokes.iter().flat_map(|s| s.y.iter());
        let all: Vec<f32> = xs.chain(ys).copied().collect();
        assert!(all
            .iter()
            .all(|&v| (0.0..=255.0).contains(&v) && v.fract() == 0.0));
        assert_eq!(all.iter().cloned().fold(f32::MIN, f32::max), 255.0);
    }
    assert!(s.label(s.len()).is_err());
    assert!(s.read(s.len(), &mut [0; IMAGE_PIXELS]).is_err());
}

#[test]
fn bad_selections() {
    assert!(SyntheticDoodles::new(0, 1, ClassSelection::First(0)).is_err());
    assert!(SyntheticDoodles::new(0, 1, ClassSelection::First(13)).is_err());
    assert!(SyntheticDoodles::new(0, 1, ClassSelection::Names(vec![])).is_err());
    let e = SyntheticDoodles::new(0, 1, ClassSelection::Names(vec!["sqare".into()]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"sqare\"") && e.contains("\"square\""), "{e}");
    let dup = vec!["star".to_string(), "star".to_string()];
    assert!(SyntheticDoodles::new(0, 1, ClassSelection::Names(dup)).is_err());
    assert!(SyntheticDoodles::new(0, usize::MAX, ClassSelection::All).is_err());
    let three = SyntheticDoodles::new(0, 4, ClassSelection::First(3)).unwrap();
    assert_eq!(three.class_names(), ["circle", "square", "triangle"]);
    assert_eq!(three.len(), 12);
}

#[test]
fn classes_are_varied_distinct_and_inked_like_real_doodles() {
    let per = 40;
    let s = set(per);
    let n = CLASS_NAMES.len();
    let mut means = vec![vec![0f64; IMAGE_PIXELS]; n];
    let mut total_ink = 0.0;
    for c in 0..n {
        let bms: Vec<Bitmap> = (0..per).map(|k| bitmap(&s, k * n + c)).collect();
        assert!(
            bms.iter().all(|b| b.iter().any(|&v| v > 0)),
            "{}",
            CLASS_NAMES[c]
        );
        let distinct = bms.iter().filter(|b| **b != bms[0]).count();
        assert!(distinct >= per - 1, "{} repeats itself", CLASS_NAMES[c]);
        let ink: f64 = bms
            .iter()
            .map(|b| b.iter().filter(|&&v| v > 0).count() as f64 / IMAGE_PIXELS as f64)
            .sum::<f64>()
            / per as f64;
        eprintln!("{:10} ink {:.1} %", CLASS_NAMES[c], 100.0 * ink);
        assert!((0.06..0.40).contains(&ink), "{}: ink {ink}", CLASS_NAMES[c]);
        total_ink += ink;
        for b in &bms {
            for (m, &v) in means[c].iter_mut().zip(b.iter()) {
                *m += f64::from(v) / 255.0 / per as f64;
            }
        }
    }
    let avg_ink = total_ink / n as f64;
    eprintln!("mean ink {:.1} %", 100.0 * avg_ink);
    assert!((0.10..0.30).contains(&avg_ink), "{avg_ink}");
    // Class means far apart: every pair differs by a clear RMS margin.
    let mut closest = f64::MAX;
    for a in 0..n {
        for b in a + 1..n {
            let d = (means[a]
                .iter()
                .zip(&means[b])
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f64>()
                / IMAGE_PIXELS as f64)
                .sqrt();
            if d < closest {
                closest = d;
                eprintln!(
                    "closest so far: {} vs {}: rms {d:.3}",
                    CLASS_NAMES[a], CLASS_NAMES[b]
                );
            }
        }
    }
    assert!(closest > 0.05, "{closest}");
}

/// Not a test: prints a few samples of each class as text (`-- --ignored --nocapture`).
#[test]
#[ignore]
fn show() {
    let s = set(3);
    for i in 0..s.len() {
        let b = bitmap(&s, i);
        eprintln!("{}", CLASS_NAMES[i % CLASS_NAMES.len()]);
        for r in 0..28 {
            let line: String = (0..28)
                .map(|c| match b[r * 28 + c] {
                    0 => ' ',
                    1..=100 => '.',
                    101..=200 => '+',
                    _ => '#',
                })
                .collect();
            eprintln!("|{line}|");
        }
    }
}

#[test]
fn drawings_round_trip_through_simplified_ndjson() {
    let s = SyntheticDoodles::new(3, 2, ClassSelection::All).unwrap();
    let drawings: Vec<Drawing> = (0..s.len()).map(|i| s.drawing(i).unwrap()).collect();
    let path = std::env::temp_dir().join(format!("inkling-synth-{}.ndjson", std::process::id()));
    crate::formats::ndjson::write_ndjson(&path, &drawings).unwrap();
    let back: Vec<Drawing> = crate::formats::ndjson::NdjsonReader::open(&path)
        .unwrap()
        .collect::<Result<_>>()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(back, drawings);
}
