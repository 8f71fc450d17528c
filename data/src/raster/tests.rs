use super::*;
use crate::formats::ndjson::NdjsonReader;

fn stroke(pts: &[(f32, f32)]) -> Stroke {
    Stroke {
        x: pts.iter().map(|p| p.0).collect(),
        y: pts.iter().map(|p| p.1).collect(),
        t: None,
    }
}

fn draw(strokes: &[Stroke]) -> Bitmap {
    let mut out = [0u8; IMAGE_PIXELS];
    Rasterizer::new(RasterConfig::default()).draw(strokes, &mut out);
    out
}

fn ink(b: &Bitmap) -> f64 {
    b.iter().filter(|&&v| v > 0).count() as f64 / IMAGE_PIXELS as f64
}

#[test]
fn empty_and_degenerate_drawings() {
    assert!(draw(&[]).iter().all(|&v| v == 0));
    assert!(draw(&[stroke(&[])]).iter().all(|&v| v == 0));
    assert!(draw(&[stroke(&[(f32::NAN, 1.0)])]).iter().all(|&v| v == 0));
    // Extreme but finite coordinates (raw files are untrusted) still give a sensible line.
    let wide = draw(&[stroke(&[(-3e38, 0.0), (3e38, 0.0)])]);
    assert_eq!(wide, draw(&[stroke(&[(0.0, 0.0), (255.0, 0.0)])]));
    // A single point is a centred dot.
    let dot = draw(&[stroke(&[(7.0, 9.0)])]);
    // The centre (14, 14) is a pixel corner: the four pixels around it share the dot.
    assert!(dot[14 * 28 + 14] > 80);
    assert_eq!(dot[14 * 28 + 14], dot[13 * 28 + 13]);
    assert_eq!(dot[0], 0);
    assert!(ink(&dot) < 0.03);
}

#[test]
fn centred_scale_invariant_and_symmetric() {
    // A horizontal line: centred vertically, symmetric left/right, the same at any scale or offset.
    let a = draw(&[stroke(&[(0.0, 0.0), (255.0, 0.0)])]);
    let b = draw(&[stroke(&[(1000.0, 50.0), (3000.0, 50.0)])]);
    assert_eq!(a, b);
    for r in 0..28 {
        for c in 0..28 {
            assert_eq!(a[r * 28 + c], a[r * 28 + 27 - c]);
            assert_eq!(a[r * 28 + c], a[(27 - r) * 28 + c]);
        }
    }
    assert!(a[14 * 28 + 14] > 150);
    assert_eq!(a[0], 0);
    // Padding keeps ink off the border.
    let sq = draw(&[stroke(&[
        (0.0, 0.0),
        (255.0, 0.0),
        (255.0, 255.0),
        (0.0, 255.0),
        (0.0, 0.0),
    ])]);
    assert!((0..28).all(|i| sq[i] == 0 && sq[i * 28] == 0));
    assert!(sq[2 * 28 + 14] > 200);
    assert_eq!(sq[14 * 28 + 14], 0);
    // Anti-aliasing: some values strictly between 0 and 255.
    assert!(sq.iter().any(|&v| v > 0 && v < 255));
}

#[test]
fn wider_lines_ink_more() {
    let s = [stroke(&[(0.0, 0.0), (255.0, 200.0), (30.0, 255.0)])];
    let mut thin = [0u8; IMAGE_PIXELS];
    let mut thick = [0u8; IMAGE_PIXELS];
    let cfg = RasterConfig::default();
    Rasterizer::new(RasterConfig {
        line_width: 6.0,
        ..cfg
    })
    .draw(&s, &mut thin);
    Rasterizer::new(RasterConfig {
        line_width: 30.0,
        ..cfg
    })
    .draw(&s, &mut thick);
    let sum = |b: &Bitmap| b.iter().map(|&v| u32::from(v)).sum::<u32>();
    assert!(sum(&thick) > 2 * sum(&thin));
}

/// The rows of a `(N, 784)` uint8 `.npy` (only what the shared files need; the real reader lives in
/// `formats::npy`).
fn npy_rows(path: &std::path::Path) -> Vec<Bitmap> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let (hlen, start) = if bytes[6] == 1 {
        (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10)
    } else {
        let l = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        (l as usize, 12)
    };
    let header = std::str::from_utf8(&bytes[start..start + hlen]).unwrap();
    assert!(header.contains("|u1") && header.contains("784"), "{header}");
    bytes[start + hlen..]
        .chunks_exact(IMAGE_PIXELS)
        .map(|c| c.try_into().unwrap())
        .collect()
}

fn mean_image(rows: &[Bitmap]) -> Vec<f64> {
    let mut m = vec![0.0; IMAGE_PIXELS];
    for r in rows {
        for (a, &v) in m.iter_mut().zip(r.iter()) {
            *a += f64::from(v);
        }
    }
    m.iter_mut().for_each(|a| *a /= rows.len() as f64);
    m
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa * sbb).sqrt()
}

const CLASSES: [&str; 6] = ["apple", "bicycle", "cat", "diamond", "eye", "fish"];

/// Per class: (mean of rasterized simplified drawings, mean ink coverage) and the same for the
/// published bitmaps.
type Means = Vec<(Vec<f64>, f64, Vec<f64>, f64)>;

fn class_means(root: &std::path::Path, cfg: RasterConfig) -> Option<Means> {
    let mut r = Rasterizer::new(cfg);
    let mut out = Vec::new();
    for class in CLASSES {
        let nd = root.join("simplified").join(format!("{class}.ndjson"));
        let npy = root.join("bitmap").join(format!("{class}.npy"));
        if !nd.is_file() || !npy.is_file() {
            return None;
        }
        let ours: Vec<Bitmap> = NdjsonReader::open(&nd)
            .unwrap()
            .map(|d| {
                let mut b = [0u8; IMAGE_PIXELS];
                r.draw(&d.unwrap().strokes, &mut b);
                b
            })
            .collect();
        let theirs = npy_rows(&npy);
        let cov = |rows: &[Bitmap]| rows.iter().map(ink).sum::<f64>() / rows.len() as f64;
        out.push((
            mean_image(&ours),
            cov(&ours),
            mean_image(&theirs),
            cov(&theirs),
        ));
    }
    Some(out)
}

#[test]
fn matches_published_bitmaps() {
    let Some(root) = quickdraw_dir() else {
        eprintln!("skipping: ../shared/data/quickdraw is absent");
        return;
    };
    let Some(means) = class_means(&root, RasterConfig::default()) else {
        eprintln!("skipping: the shared simplified/ or bitmap/ files are absent");
        return;
    };
    let mut total = 0.0;
    for (i, class) in CLASSES.iter().enumerate() {
        let own = pearson(&means[i].0, &means[i].2);
        let others: Vec<f64> = (0..CLASSES.len())
            .filter(|&j| j != i)
            .map(|j| pearson(&means[i].0, &means[j].2))
            .collect();
        let best_other = others.iter().cloned().fold(f64::MIN, f64::max);
        let (ci, cp) = (means[i].1, means[i].3);
        eprintln!(
            "{class:8} r = {own:.3} (best other {best_other:.3}); ink {:.1} % vs {:.1} % published",
            100.0 * ci,
            100.0 * cp
        );
        assert!(own >= 0.75, "{class}: r = {own}");
        assert!(own > best_other, "{class}: own {own} ≤ other {best_other}");
        assert!((ci / cp - 1.0).abs() <= 0.15, "{class}: ink {ci} vs {cp}");
        total += own;
    }
    let avg = total / CLASSES.len() as f64;
    eprintln!("mean r = {avg:.3}");
    assert!(avg >= 0.85, "mean r = {avg}");
}

/// Not a test: a sweep of line width and padding against the published bitmaps
/// (`cargo test -p inkling-data --release raster_sweep -- --ignored --nocapture`).
#[test]
#[ignore]
fn raster_sweep() {
    let Some(root) = quickdraw_dir() else {
        return;
    };
    for ss in [1, 2, 3, 4, 8] {
        let cfg = RasterConfig {
            supersample: ss,
            ..RasterConfig::default()
        };
        let Some(m) = class_means(&root, cfg) else {
            return;
        };
        let r: f64 = m.iter().map(|c| pearson(&c.0, &c.2)).sum::<f64>() / 6.0;
        let ink: f64 = m.iter().map(|c| (c.1 / c.3 - 1.0).abs()).sum::<f64>() / 6.0;
        eprintln!(
            "supersample {ss}: mean r {r:.4}, mean |ink err| {:.1} %",
            100.0 * ink
        );
    }
    for lw in [10.0, 12.0, 14.0, 16.0, 18.0, 20.0] {
        for pad in [8.0, 12.0, 16.0, 20.0, 24.0] {
            let cfg = RasterConfig {
                line_width: lw,
                padding: pad,
                supersample: 4,
            };
            let Some(m) = class_means(&root, cfg) else {
                return;
            };
            let r: f64 = m.iter().map(|c| pearson(&c.0, &c.2)).sum::<f64>() / 6.0;
            let ink: f64 = m.iter().map(|c| (c.1 / c.3 - 1.0).abs()).sum::<f64>() / 6.0;
            eprintln!(
                "lw {lw:4} pad {pad:4}: mean r {r:.4}, mean |ink err| {:.1} %",
                100.0 * ink
            );
        }
    }
}

/// Raw drawings (screen pixels, any offset and scale) rasterize like their simplified twins.
#[test]
fn raw_drawings_match_their_simplified_twins() {
    let Some(root) = quickdraw_dir() else {
        eprintln!("skipping: ../shared/data/quickdraw is absent");
        return;
    };
    let mut r = Rasterizer::new(RasterConfig::default());
    let (mut n, mut total) = (0, 0.0);
    for class in CLASSES {
        let (raw, simp) = (
            root.join("raw").join(format!("{class}.ndjson")),
            root.join("simplified").join(format!("{class}.ndjson")),
        );
        if !raw.is_file() || !simp.is_file() {
            continue;
        }
        let simplified: Vec<Drawing> = NdjsonReader::open(&simp)
            .unwrap()
            .map(|d| d.unwrap())
            .collect();
        for d in NdjsonReader::open(&raw).unwrap() {
            let d = d.unwrap();
            let Some(twin) = simplified.iter().find(|s| s.key_id == d.key_id) else {
                continue;
            };
            let (mut a, mut b) = ([0u8; IMAGE_PIXELS], [0u8; IMAGE_PIXELS]);
            r.draw(&d.strokes, &mut a);
            r.draw(&twin.strokes, &mut b);
            let f = |x: &Bitmap| x.iter().map(|&v| f64::from(v)).collect::<Vec<_>>();
            total += pearson(&f(&a), &f(&b));
            n += 1;
        }
    }
    if n == 0 {
        eprintln!("skipping: no raw/simplified pairs found");
        return;
    }
    let mean = total / f64::from(n);
    eprintln!("{n} raw/simplified pairs: mean per-drawing r = {mean:.3}");
    assert!(mean > 0.8, "{mean}");
}
