//! Plots and report files of `inkling eval` and `inkling train`: per-class accuracy, the confusion
//! matrix of the worst classes and the training curves, as SVG text or PNG files.
//!
//! Each chart is laid out once as a [`scene::Scene`] and rendered by `Scene::to_svg` or by the
//! rasteriser (`raster`), so the SVG and the PNG of a chart show the same thing.

mod charts;
mod compare;
mod raster;
mod scene;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use inkling::nn::metrics::{EpochRecord, Evaluation, WORST_K};

use raster::Canvas;
use scene::Scene;

pub use compare::{LatencyBar, SizePoint};

/// Per-class top-1 accuracy as horizontal bars, worst class at the top, as an SVG document.
pub fn per_class_accuracy_svg(eval: &Evaluation) -> String {
    charts::per_class_accuracy(eval).to_svg()
}

/// Heatmap of the confusion matrix among the `k` worst classes (lowest recall), with class names
/// and counts, as an SVG document.
pub fn confusion_svg(eval: &Evaluation, k: usize) -> String {
    charts::confusion(eval, k).to_svg()
}

/// Loss and train/validation accuracy against the epoch, from the parsed `log.jsonl`, as an SVG
/// document.
pub fn training_curves_svg(log: &[EpochRecord]) -> String {
    charts::training_curves(log).to_svg()
}

/// Writes the per-class accuracy chart as a PNG file, atomically.
pub fn write_per_class_accuracy_png(eval: &Evaluation, path: &Path) -> io::Result<()> {
    write_png(&charts::per_class_accuracy(eval), path)
}

/// Writes the worst-`k` confusion heatmap as a PNG file, atomically.
pub fn write_confusion_png(eval: &Evaluation, k: usize, path: &Path) -> io::Result<()> {
    write_png(&charts::confusion(eval, k), path)
}

/// Writes the training curves as a PNG file, atomically.
pub fn write_training_curves_png(log: &[EpochRecord], path: &Path) -> io::Result<()> {
    write_png(&charts::training_curves(log), path)
}

/// Writes `eval.json`, `eval.md`, `per_class_accuracy.{svg,png}` and `confusion_worst.{svg,png}`
/// (worst [`WORST_K`] classes) into `dir`, creating it if needed; each file is written atomically.
/// Returns the paths in that order.
pub fn write_eval_report(eval: &Evaluation, dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    let paths = [
        "eval.json",
        "eval.md",
        "per_class_accuracy.svg",
        "per_class_accuracy.png",
        "confusion_worst.svg",
        "confusion_worst.png",
    ]
    .map(|name| dir.join(name));
    write_atomic(&paths[0], eval.to_json().as_bytes())?;
    write_atomic(&paths[1], eval.to_markdown().as_bytes())?;
    write_atomic(&paths[2], per_class_accuracy_svg(eval).as_bytes())?;
    write_per_class_accuracy_png(eval, &paths[3])?;
    write_atomic(&paths[4], confusion_svg(eval, WORST_K).as_bytes())?;
    write_confusion_png(eval, WORST_K, &paths[5])?;
    Ok(paths.to_vec())
}

/// The compression report's charts, each as SVG and PNG in `dir`: `accuracy_vs_size`,
/// `latency` (when any latency was measured) and `per_class_delta` (when there is a method besides
/// float). Returns the file names written.
pub fn write_compression_charts(
    dir: &Path,
    sizes: &[SizePoint],
    latency: &[LatencyBar],
    threads: usize,
    classes: &[String],
    deltas: &[(String, Vec<f64>)],
) -> io::Result<Vec<String>> {
    let mut scenes = vec![("accuracy_vs_size", compare::accuracy_vs_size(sizes))];
    if latency
        .iter()
        .any(|l| l.ours.is_some() || l.litert.is_some())
    {
        scenes.push(("latency", compare::latency_bars(latency, threads)));
    }
    if !deltas.is_empty() {
        scenes.push((
            "per_class_delta",
            compare::per_class_deltas(classes, deltas),
        ));
    }
    let mut names = Vec::new();
    for (stem, scene) in scenes {
        let svg = format!("{stem}.svg");
        write_atomic(&dir.join(&svg), scene.to_svg().as_bytes())?;
        let png = format!("{stem}.png");
        write_png(&scene, &dir.join(&png))?;
        names.extend([svg, png]);
    }
    Ok(names)
}

/// Renders `scene` and writes it as a PNG file, atomically.
fn write_png(scene: &Scene, path: &Path) -> io::Result<()> {
    write_atomic(path, &Canvas::render(scene).to_png()?)
}

/// Writes `bytes` to `path` through a synced temporary sibling renamed into place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    crate::data::atomic_write(path, |mut file| {
        file.write_all(bytes)?;
        Ok(())
    })
    .map_err(|e| io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that `s` is well-formed XML as far as SVG output goes: one root, balanced and properly
    /// nested tags, quoted attributes, and no raw `<` or stray `&` in text or attribute values.
    /// Returns the element names in document order.
    fn check_xml(s: &str) -> Vec<String> {
        fn check_text(t: &str) {
            assert!(!t.contains('<'), "raw < in {t:?}");
            let mut rest = t;
            while let Some(i) = rest.find('&') {
                rest = &rest[i + 1..];
                let end = rest.find(';').unwrap_or_else(|| panic!("bare & in {t:?}"));
                let ent = &rest[..end];
                let ok = ["amp", "lt", "gt", "quot", "apos"].contains(&ent)
                    || (ent.starts_with('#') && ent[1..].chars().all(|c| c.is_ascii_digit()));
                assert!(ok, "unknown entity &{ent}; in {t:?}");
            }
        }
        let body = s
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
            .expect("XML declaration");
        let mut stack: Vec<String> = Vec::new();
        let mut names = Vec::new();
        let mut roots = 0;
        let mut rest = body;
        while let Some(open) = rest.find('<') {
            let text = &rest[..open];
            if stack.is_empty() {
                assert!(text.trim().is_empty(), "text outside the root: {text:?}");
            }
            check_text(text);
            let close = rest[open..].find('>').expect("unclosed tag") + open;
            let tag = &rest[open + 1..close];
            rest = &rest[close + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
                continue;
            }
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let (name, mut attrs) = tag.split_once(' ').unwrap_or((tag, ""));
            assert!(!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()));
            let mut seen = Vec::new();
            loop {
                attrs = attrs.trim_start();
                if attrs.is_empty() {
                    break;
                }
                let (key, after) = attrs.split_once("=\"").expect("attribute without =\"");
                assert!(!seen.contains(&key), "duplicate attribute {key}");
                seen.push(key);
                let end = after.find('"').expect("unterminated attribute");
                check_text(&after[..end]);
                attrs = &after[end + 1..];
            }
            if stack.is_empty() {
                roots += 1;
            }
            names.push(name.to_string());
            if !self_closing {
                stack.push(name.to_string());
            }
        }
        assert!(rest.trim().is_empty(), "trailing text {rest:?}");
        assert!(stack.is_empty(), "unclosed {stack:?}");
        assert_eq!(roots, 1);
        assert_eq!(names[0], "svg");
        names
    }

    /// Decodes a PNG; returns (width, height, RGB pixels).
    fn decode_png(path: &Path) -> (u32, u32, Vec<u8>) {
        let file = std::fs::File::open(path).unwrap();
        let mut reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    /// Pixels of one colour, counted.
    fn count_colour(px: &[u8], c: scene::Rgb) -> usize {
        px.chunks_exact(3).filter(|p| p == &[c.0, c.1, c.2]).count()
    }

    /// 25 classes (more than the 20 worst), one with markup in its name, one with no images.
    /// Class i has 10 images, i % 10 of them right (the rest predicted as class i+1).
    fn sample() -> Evaluation {
        let c = 25;
        let mut names: Vec<String> = (0..c).map(|i| format!("class {i:02}")).collect();
        names[3] = "<b>&\"fish\" 'n' chips</b>".to_string();
        let mut e = Evaluation::new(names);
        for i in 0..c - 1 {
            for k in 0..10 {
                let mut row = vec![0.0f32; c];
                let pred = if k < i % 10 { i } else { i + 1 };
                row[pred] = 1.0;
                e.add_batch(&row, c, &[i]).unwrap();
            }
        }
        e
    }

    fn tmp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("inkling-plot-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn svg_charts_are_well_formed_and_escape_names() {
        let e = sample();
        for svg in [per_class_accuracy_svg(&e), confusion_svg(&e, 20)] {
            let names = check_xml(&svg);
            assert!(names.iter().any(|n| n == "rect"));
            assert!(names.iter().any(|n| n == "text"));
            assert!(svg.contains("&lt;b&gt;&amp;&quot;fish&quot; &apos;n&apos; chips&lt;/b&gt;"));
            assert!(!svg.contains("<b>"));
        }
        // Bars: one text label per class with images (24), worst (0 %) first.
        let bars = per_class_accuracy_svg(&e);
        let first_00 = bars.find(">class 00<").unwrap();
        let first_09 = bars.find(">class 09<").unwrap();
        assert!(first_00 < first_09);
        assert!(
            !bars.contains(">class 24<"),
            "class without images is not plotted"
        );
        // Heatmap: 20 classes and the "other" column, counts as text.
        let heat = confusion_svg(&e, 20);
        assert!(heat.contains("Confusion among the 20 worst classes"));
        assert!(heat.contains(">other<"));
        // class 00 → 10 images all predicted as class 01, which is in the worst 20.
        assert!(heat.contains(">10<"));
    }

    #[test]
    fn training_curves_svg_plots_every_series() {
        let rec = |epoch: usize, acc: f64, top3: Option<f64>| EpochRecord {
            peak_step_mb: None,
            sparsity: None,
            epoch,
            step: 100 * epoch as u64,
            train_loss: 2.0 / epoch as f64,
            train_acc: acc,
            val_loss: 2.2 / epoch as f64,
            val_acc: acc - 0.05,
            val_top3: top3,
            lr: 1e-3,
            images_per_s: 100.0,
            seconds: 10.0,
        };
        let log = [
            rec(1, 0.5, None),
            rec(2, 0.7, Some(0.9)),
            rec(3, 0.8, Some(0.95)),
        ];
        let svg = training_curves_svg(&log);
        let names = check_xml(&svg);
        // Frames of two panels plus train/val loss, train/val/top-3 accuracy.
        assert_eq!(names.iter().filter(|n| *n == "polyline").count(), 2 + 5);
        assert!(svg.contains(">val top-3<"));
        assert!(svg.contains("3 epochs, 300 steps"));
        // Without top-3, the third series is left out; one epoch and none still draw.
        let svg = training_curves_svg(&log[..1]);
        assert_eq!(
            check_xml(&svg).iter().filter(|n| *n == "polyline").count(),
            6
        );
        let svg = training_curves_svg(&[]);
        assert!(check_xml(&svg).iter().any(|n| n == "text"));
        assert!(svg.contains("no epochs logged"));

        let dir = tmp_dir("curves");
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("curves.png");
        write_training_curves_png(&log, &p).unwrap();
        let (w, h, px) = decode_png(&p);
        let scene = charts::training_curves(&log);
        assert_eq!((w, h), (scene.width, scene.height));
        // The val-loss series colour (orange) is on the image.
        assert!(count_colour(&px, scene::Rgb(255, 127, 14)) > 50);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn eval_report_writes_every_file() {
        let e = sample();
        let dir = tmp_dir("report").join("nested");
        let paths = write_eval_report(&e, &dir).unwrap();
        let names: Vec<&str> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "eval.json",
                "eval.md",
                "per_class_accuracy.svg",
                "per_class_accuracy.png",
                "confusion_worst.svg",
                "confusion_worst.png"
            ]
        );
        // Nothing else is left in the directory (no temporary files).
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 6);

        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&paths[0]).unwrap()).unwrap();
        assert_eq!(json["n"], 240);
        assert_eq!(
            json["confusion_worst"]["classes"].as_array().unwrap().len(),
            20
        );
        let md = std::fs::read_to_string(&paths[1]).unwrap();
        assert!(md.starts_with("# Evaluation"));
        assert!(md.contains("## Confusion among the 20 worst classes"));
        for svg in [&paths[2], &paths[4]] {
            check_xml(&std::fs::read_to_string(svg).unwrap());
        }

        let bars = charts::per_class_accuracy(&e);
        let (w, h, px) = decode_png(&paths[3]);
        assert_eq!((w, h), (bars.width, bars.height));
        // 24 bars, the 90 % ones 360 px long; black class names.
        assert!(px.chunks_exact(3).any(|p| p != [255, 255, 255]));
        let best = charts::accuracy_colour(0.9);
        assert!(count_colour(&px, best) > 24 * 200, "no 90 % bars");
        assert!(count_colour(&px, scene::Rgb::BLACK) > 100, "no text");

        let heat = charts::confusion(&e, WORST_K);
        let (w, h, px) = decode_png(&paths[5]);
        assert_eq!((w, h), (heat.width, heat.height));
        // class 00's row is all in one cell: the darkest blue, with a white "10".
        assert!(count_colour(&px, scene::Rgb(8, 48, 107)) > 500);
        assert!(count_colour(&px, scene::Rgb::BLACK) > 100);

        // Writing again replaces the files in place.
        let again = write_eval_report(&e, &dir).unwrap();
        assert_eq!(again, paths);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 6);
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn empty_evaluation_still_makes_valid_files() {
        let e = Evaluation::new(vec!["a".into(), "b".into()]);
        let dir = tmp_dir("empty");
        let paths = write_eval_report(&e, &dir).unwrap();
        check_xml(&std::fs::read_to_string(&paths[2]).unwrap());
        check_xml(&std::fs::read_to_string(&paths[4]).unwrap());
        let (_, _, px) = decode_png(&paths[3]);
        // The title is drawn even without bars.
        assert!(count_colour(&px, scene::Rgb::BLACK) > 0);
        // A file in the way of the directory is an error, not a panic.
        let blocker = dir.join("eval.json");
        assert!(write_eval_report(&e, &blocker).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
