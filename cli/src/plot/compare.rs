//! Charts of the compression report: accuracy against size, latency bars per runtime, and the
//! per-class accuracy change of every method against float.

use super::charts::{clip, text_width, titled, Axes, GREEN, RED, SERIES, SMALL};
use super::scene::{Anchor, Rgb, Scene};

/// One method on the accuracy-vs-size chart.
pub struct SizePoint {
    /// Method label.
    pub label: String,
    /// File size in MB.
    pub mb: f64,
    /// Top-1 in [0, 1].
    pub top1: f64,
}

/// Top-1 against file size: one numbered marker per method, the numbers explained in a legend on
/// the right (methods of equal size would hide each other's labels next to the markers).
pub fn accuracy_vs_size(points: &[SizePoint]) -> Scene {
    let (left, top, pw, ph): (f64, f64, f64, f64) = (70.0, 70.0, 520.0, 320.0);
    let legend_x = left + pw + 24.0;
    let name_w = points
        .iter()
        .map(|p| clip(&p.label).chars().count() + 4)
        .max()
        .unwrap_or(8);
    let mut s = titled(
        legend_x + text_width(name_w, SMALL) + 20.0,
        (top + ph + 50.0).max(top + 16.0 * points.len() as f64 + 20.0),
        "Accuracy vs size",
        "top-1 on the validation images against the exported file's size; up and left is better",
    );
    let finite = |p: &&SizePoint| p.mb.is_finite() && p.top1.is_finite();
    let max_mb = points
        .iter()
        .filter(finite)
        .map(|p| p.mb)
        .fold(0.0, f64::max);
    let lo_acc = points
        .iter()
        .filter(finite)
        .map(|p| p.top1)
        .fold(1.0, f64::min);
    let hi_acc = points
        .iter()
        .filter(finite)
        .map(|p| p.top1)
        .fold(0.0, f64::max);
    let pad = ((hi_acc - lo_acc) * 0.15).max(0.005);
    let axes = Axes {
        x: left,
        y: top,
        w: pw,
        h: ph,
        lo: (0.0, (lo_acc - pad).max(0.0)),
        hi: ((max_mb * 1.15).max(0.1), (hi_acc + pad).min(1.0)),
        xlabel: "size on disk (MB)",
    };
    axes.draw(&mut s, "top-1", |v| format!("{:.1} %", 100.0 * v));
    for (i, p) in points.iter().enumerate() {
        let c = SERIES[i % SERIES.len()];
        let n = (i + 1).to_string();
        if finite(&p) {
            let (x, y) = axes.map((p.mb, p.top1));
            s.rect(x - 3.0, y - 3.0, 7.0, 7.0, c);
            s.text(x + 6.0, y - 5.0, SMALL, Anchor::Start, Rgb::BLACK, &n);
        }
        let ly = top + 16.0 * i as f64;
        s.rect(legend_x, ly - 8.0, 7.0, 7.0, c);
        let entry = format!("{n} {}", clip(&p.label));
        s.text(
            legend_x + 12.0,
            ly,
            SMALL,
            Anchor::Start,
            Rgb::BLACK,
            &entry,
        );
    }
    s
}

/// One method's latencies, in milliseconds.
pub struct LatencyBar {
    /// Method label.
    pub label: String,
    /// Inkling's runtime.
    pub ours: Option<f64>,
    /// LiteRT + XNNPACK.
    pub litert: Option<f64>,
}

/// Horizontal bars of batch-1 latency per method, ours and LiteRT's side by side.
pub fn latency_bars(rows: &[LatencyBar], threads: usize) -> Scene {
    const ROW: f64 = 30.0;
    const BAR_W: f64 = 420.0;
    const TOP: f64 = 80.0;
    let name_w = rows
        .iter()
        .map(|r| clip(&r.label).chars().count())
        .max()
        .unwrap_or(5);
    let left = 10.0 + text_width(name_w, SMALL) + 8.0;
    let width = left + BAR_W + text_width(10, SMALL) + 20.0;
    let height = TOP + ROW * rows.len() as f64 + 20.0;
    let sub = format!("median of batch-1 runs, {threads} thread(s); shorter is better");
    let mut s = titled(width, height, "Latency", &sub);
    let max = rows
        .iter()
        .flat_map(|r| [r.ours, r.litert])
        .flatten()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let scale = if max > 0.0 { BAR_W / max } else { 0.0 };
    for (k, name) in ["Inkling", "LiteRT"].iter().enumerate() {
        let x = left + 110.0 * k as f64;
        s.rect(x, TOP - 22.0, 14.0, 8.0, SERIES[k]);
        s.text(x + 18.0, TOP - 14.0, SMALL, Anchor::Start, Rgb::BLACK, name);
    }
    for (i, r) in rows.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        s.text(
            left - 8.0,
            y + 17.0,
            SMALL,
            Anchor::End,
            Rgb::BLACK,
            &clip(&r.label),
        );
        for (k, v) in [r.ours, r.litert].into_iter().enumerate() {
            let by = y + 3.0 + 12.0 * k as f64;
            match v.filter(|v| v.is_finite()) {
                Some(v) => {
                    let w = v * scale;
                    s.rect(left, by, w, 10.0, SERIES[k]);
                    let t = format!("{v:.2} ms");
                    s.text(
                        left + w + 4.0,
                        by + 9.0,
                        SMALL,
                        Anchor::Start,
                        Rgb::BLACK,
                        &t,
                    );
                }
                None => s.text(
                    left + 4.0,
                    by + 9.0,
                    SMALL,
                    Anchor::Start,
                    Rgb::GREY,
                    "not measured",
                ),
            }
        }
    }
    s
}

/// Most classes the delta heatmap shows (those with the largest change).
const MAX_DELTA_CLASSES: usize = 30;

/// Heatmap of per-class top-1 change against float (points): rows = methods, columns = classes;
/// red is worse, green better. With many classes, the ones that change most are shown.
pub fn per_class_deltas(classes: &[String], rows: &[(String, Vec<f64>)]) -> Scene {
    const CELL: f64 = 44.0;
    const CH: f64 = 20.0;
    let mut cols: Vec<usize> = (0..classes.len()).collect();
    let spread = |c: usize| {
        rows.iter()
            .map(|r| r.1.get(c).copied().unwrap_or(0.0).abs())
            .fold(0.0, f64::max)
    };
    if cols.len() > MAX_DELTA_CLASSES {
        cols.sort_by(|&a, &b| spread(b).total_cmp(&spread(a)));
        cols.truncate(MAX_DELTA_CLASSES);
        cols.sort_unstable();
    }
    let name_w = rows
        .iter()
        .map(|r| clip(&r.0).chars().count())
        .max()
        .unwrap_or(5);
    let left = 10.0 + text_width(name_w, SMALL) + 8.0;
    let label_h = text_width(
        cols.iter()
            .map(|&c| clip(&classes[c]).chars().count())
            .max()
            .unwrap_or(5),
        SMALL,
    );
    let top = 60.0 + label_h + 8.0;
    let width = (left + CELL * cols.len() as f64 + 20.0).max(520.0);
    let height = top + CH * rows.len() as f64 + 20.0;
    let sub = if cols.len() < classes.len() {
        format!(
            "top-1 change vs float in points; the {} classes that change most",
            cols.len()
        )
    } else {
        "top-1 change vs float in points, per class".to_string()
    };
    let mut s = titled(width, height, "Per-class accuracy change", &sub);
    for (j, &c) in cols.iter().enumerate() {
        let x = left + CELL * j as f64 + CELL / 2.0 + 4.0;
        s.text_up(
            x,
            top - 6.0,
            SMALL,
            Anchor::Start,
            Rgb::BLACK,
            &clip(&classes[c]),
        );
    }
    // Colour saturates at ±10 points.
    for (i, (label, deltas)) in rows.iter().enumerate() {
        let y = top + CH * i as f64;
        s.text(
            left - 8.0,
            y + 14.0,
            SMALL,
            Anchor::End,
            Rgb::BLACK,
            &clip(label),
        );
        for (j, &c) in cols.iter().enumerate() {
            let d = 100.0 * deltas.get(c).copied().unwrap_or(f64::NAN);
            let x = left + CELL * j as f64;
            let fill = if !d.is_finite() {
                Rgb::LIGHT
            } else if d < 0.0 {
                Rgb::WHITE.mix(RED, -d / 10.0)
            } else {
                Rgb::WHITE.mix(GREEN, d / 10.0)
            };
            s.rect(x, y, CELL - 2.0, CH - 2.0, fill);
            let ink = if fill.luma() < 128.0 {
                Rgb::WHITE
            } else {
                Rgb::BLACK
            };
            let t = if d.is_finite() {
                format!("{d:+.1}")
            } else {
                "–".into()
            };
            s.text(
                x + CELL / 2.0 - 1.0,
                y + 13.0,
                SMALL,
                Anchor::Middle,
                ink,
                &t,
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::scene::Item;

    fn texts(s: &Scene) -> Vec<String> {
        s.items
            .iter()
            .filter_map(|i| match i {
                Item::Text(l) => Some(l.text.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn deltas_show_signed_points_and_colour_by_sign() {
        let classes = vec!["cat".to_string(), "dog".to_string()];
        let s = per_class_deltas(&classes, &[("int8".into(), vec![-0.05, 0.02])]);
        let t = texts(&s);
        assert!(t.contains(&"-5.0".to_string()) && t.contains(&"+2.0".to_string()));
        let fills: Vec<Rgb> = s
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Rect { w, fill, .. } if (*w - 42.0).abs() < 1e-9 => Some(*fill),
                _ => None,
            })
            .collect();
        assert_eq!(fills.len(), 2);
        assert!(fills[0].0 > fills[0].1, "a loss is red: {:?}", fills[0]);
        assert!(fills[1].1 > fills[1].0, "a gain is green: {:?}", fills[1]);
    }

    #[test]
    fn many_classes_keep_those_that_change_most() {
        let classes: Vec<String> = (0..40).map(|i| format!("c{i}")).collect();
        let mut d = vec![0.0; 40];
        d[37] = -0.3;
        let s = per_class_deltas(&classes, &[("m".into(), d)]);
        let t = texts(&s);
        assert!(t.contains(&"c37".to_string()) && t.contains(&"-30.0".to_string()));
        assert_eq!(
            t.iter().filter(|x| x.starts_with('c')).count(),
            MAX_DELTA_CLASSES
        );
    }

    #[test]
    fn latency_bars_scale_to_the_slowest_and_mark_missing() {
        let rows = [
            LatencyBar {
                label: "float".into(),
                ours: Some(4.0),
                litert: None,
            },
            LatencyBar {
                label: "int8".into(),
                ours: Some(2.0),
                litert: Some(1.0),
            },
        ];
        let s = latency_bars(&rows, 1);
        let widths: Vec<f64> = s
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Rect { w, h, .. } if (*h - 10.0).abs() < 1e-9 => Some(*w),
                _ => None,
            })
            .collect();
        assert_eq!(widths, vec![420.0, 210.0, 105.0]);
        assert!(texts(&s).contains(&"not measured".to_string()));
    }

    #[test]
    fn size_chart_places_smaller_files_left() {
        let pts = [
            SizePoint {
                label: "float".into(),
                mb: 20.0,
                top1: 0.86,
            },
            SizePoint {
                label: "int4".into(),
                mb: 3.0,
                top1: 0.85,
            },
        ];
        let s = accuracy_vs_size(&pts);
        let xs: Vec<f64> = s
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Rect { x, w, .. } if (*w - 7.0).abs() < 1e-9 => Some(*x),
                _ => None,
            })
            .collect();
        // Marker then legend swatch, per method; the legend sits right of the plot.
        assert_eq!(xs.len(), 4);
        assert!(xs[2] < xs[0], "{xs:?}");
        assert_eq!(xs[1], xs[3]);
        assert!(xs[1] > xs[0]);
        let t = texts(&s);
        assert!(t.contains(&"1 float".to_string()) && t.contains(&"2 int4".to_string()));
    }
}
