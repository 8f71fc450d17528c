//! Chart layouts: per-class accuracy bars, the worst-classes confusion heatmap and the training
//! curves, each built as a [`Scene`] that renders to SVG or PNG.

use inkling::nn::metrics::{EpochRecord, Evaluation};

use super::scene::{Anchor, Rgb, Scene, CHAR_WIDTH};

/// Label and tick text size (one pixel per font dot in the PNG).
pub(super) const SMALL: f64 = 10.0;
/// Title size (two pixels per font dot).
const TITLE: f64 = 20.0;
/// Longest class name shown in full; longer ones end in "...".
const MAX_NAME: usize = 28;

pub(super) const RED: Rgb = Rgb(215, 48, 39);
const YELLOW: Rgb = Rgb(254, 224, 139);
pub(super) const GREEN: Rgb = Rgb(26, 152, 80);
const GRID: Rgb = Rgb(235, 235, 235);
const DARK_BLUE: Rgb = Rgb(8, 48, 107);
pub(super) const SERIES: [Rgb; 3] = [Rgb(31, 119, 180), Rgb(255, 127, 14), Rgb(44, 160, 44)];

/// Width in pixels of `n` characters at font `size`.
pub(super) fn text_width(n: usize, size: f64) -> f64 {
    n as f64 * CHAR_WIDTH * size
}

/// `name`, cut to `MAX_NAME` characters.
pub(super) fn clip(name: &str) -> String {
    if name.chars().count() <= MAX_NAME {
        name.to_string()
    } else {
        let head: String = name.chars().take(MAX_NAME - 3).collect();
        format!("{head}...")
    }
}

/// Red (0) through yellow (0.5) to green (1).
pub(super) fn accuracy_colour(a: f64) -> Rgb {
    if a < 0.5 {
        RED.mix(YELLOW, a * 2.0)
    } else {
        YELLOW.mix(GREEN, (a - 0.5) * 2.0)
    }
}

/// A white scene of at least `width × height` pixels with a title and a grey subtitle line.
pub(super) fn titled(width: f64, height: f64, title: &str, sub: &str) -> Scene {
    let mut s = Scene::new(width.ceil() as u32, height.ceil() as u32);
    s.text(10.0, 26.0, TITLE, Anchor::Start, Rgb::BLACK, title);
    s.text(10.0, 44.0, SMALL, Anchor::Start, Rgb::GREY, sub);
    s
}

/// Horizontal bars of top-1 accuracy per class (classes with images only), worst at the top.
pub fn per_class_accuracy(eval: &Evaluation) -> Scene {
    const ROW: f64 = 14.0;
    const BAR_W: f64 = 400.0;
    const TOP: f64 = 70.0;
    let report = eval.report(0);
    let rows: Vec<_> = report
        .by_accuracy()
        .into_iter()
        .filter(|m| m.support > 0)
        .collect();
    let name_w = rows
        .iter()
        .map(|m| clip(&m.name).chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    let left = 10.0 + text_width(name_w, SMALL) + 6.0;
    let width = left + BAR_W + text_width(8, SMALL) + 10.0;
    let height = TOP + ROW * rows.len() as f64 + 10.0;
    let sub = format!(
        "{} images, {} classes; top-1 {:.2} %, top-3 {:.2} %; worst first",
        report.n,
        rows.len(),
        100.0 * report.top1,
        100.0 * report.top3
    );
    let mut s = titled(width, height, "Per-class accuracy", &sub);
    if rows.is_empty() {
        return s;
    }
    for q in 0..=4 {
        let x = left + BAR_W * f64::from(q) / 4.0;
        s.rect(x, TOP - 4.0, 1.0, ROW * rows.len() as f64 + 4.0, Rgb::LIGHT);
        let label = format!("{} %", 25 * q);
        s.text(x, TOP - 8.0, SMALL, Anchor::Middle, Rgb::GREY, &label);
    }
    for (i, m) in rows.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let base = y + ROW - 4.0;
        s.text(
            left - 6.0,
            base,
            SMALL,
            Anchor::End,
            Rgb::BLACK,
            &clip(&m.name),
        );
        let w = BAR_W * m.accuracy;
        s.rect(left, y + 2.0, w, ROW - 4.0, accuracy_colour(m.accuracy));
        let value = format!("{:.1} %", 100.0 * m.accuracy);
        s.text(
            left + w + 4.0,
            base,
            SMALL,
            Anchor::Start,
            Rgb::BLACK,
            &value,
        );
    }
    s
}

/// Heatmap of the confusion matrix among the `k` worst classes, rows = true class; a cell's shade is
/// its share of the row's images, an extra "other" column holds predictions outside the subset.
pub fn confusion(eval: &Evaluation, k: usize) -> Scene {
    const CELL: f64 = 32.0;
    let cw = eval.confusion_worst(k);
    let n = cw.classes.len();
    let labels: Vec<String> = cw.classes.iter().map(|c| clip(c)).collect();
    let label_w = text_width(
        labels
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0)
            .max(5),
        SMALL,
    );
    let left = 30.0 + label_w + 6.0;
    let top = 76.0 + label_w;
    let grid_w = CELL * (n + 1) as f64 + 6.0;
    let width = (left + grid_w + 10.0).max(10.0 + text_width(60, SMALL));
    let height = top + CELL * n as f64 + 10.0;
    let title = format!("Confusion among the {n} worst classes");
    let sub = "rows: true class; columns: predicted; shade: share of the row";
    let mut s = titled(width, height, &title, sub);
    if n == 0 {
        return s;
    }
    let span = CELL * n as f64;
    s.text(
        left + span / 2.0,
        62.0,
        SMALL,
        Anchor::Middle,
        Rgb::BLACK,
        "predicted",
    );
    s.text_up(
        20.0,
        top + span / 2.0,
        SMALL,
        Anchor::Middle,
        Rgb::BLACK,
        "true",
    );
    // Shows through the 1-px gaps between cells as grid lines.
    s.rect(left - 1.0, top - 1.0, span + 1.0, span + 1.0, GRID);
    s.rect(left + span + 5.0, top - 1.0, CELL + 1.0, span + 1.0, GRID);
    // Column x of column j; the "other" column sits after a small gap.
    let col_x = |j: usize| left + CELL * j as f64 + if j == n { 6.0 } else { 0.0 };
    for (j, label) in labels.iter().chain([&"other".to_string()]).enumerate() {
        let x = col_x(j) + CELL / 2.0 + 4.0;
        s.text_up(x, top - 6.0, SMALL, Anchor::Start, Rgb::BLACK, label);
    }
    for (i, (row, &other)) in cw.matrix.iter().zip(&cw.other).enumerate() {
        let y = top + CELL * i as f64;
        let support: u64 = row.iter().sum::<u64>() + other;
        s.text(
            left - 6.0,
            y + CELL / 2.0 + 4.0,
            SMALL,
            Anchor::End,
            Rgb::BLACK,
            &labels[i],
        );
        for (j, &count) in row.iter().chain([&other]).enumerate() {
            let share = if support == 0 {
                0.0
            } else {
                count as f64 / support as f64
            };
            let hue = if j == n { Rgb::GREY } else { DARK_BLUE };
            let fill = Rgb::WHITE.mix(hue, share);
            let x = col_x(j);
            s.rect(x, y, CELL - 1.0, CELL - 1.0, fill);
            if count > 0 {
                let ink = if fill.luma() < 128.0 {
                    Rgb::WHITE
                } else {
                    Rgb::BLACK
                };
                let (cx, cy) = (x + CELL / 2.0, y + CELL / 2.0 + 4.0);
                s.text(cx, cy, SMALL, Anchor::Middle, ink, &count.to_string());
            }
        }
    }
    s
}

/// Legend slots per panel and the longest series name they fit.
const LEGEND_SLOTS: usize = 3;
const LEGEND_CHARS: usize = 9;

/// A plot area in pixels, the data range it shows and the x axis title.
pub(super) struct Axes {
    pub(super) x: f64,
    pub(super) y: f64,
    pub(super) w: f64,
    pub(super) h: f64,
    pub(super) lo: (f64, f64),
    pub(super) hi: (f64, f64),
    pub(super) xlabel: &'static str,
}

impl Axes {
    /// Data coordinates to pixels.
    pub(super) fn map(&self, (dx, dy): (f64, f64)) -> (f64, f64) {
        (
            self.x + (dx - self.lo.0) / (self.hi.0 - self.lo.0) * self.w,
            self.y + self.h - (dy - self.lo.1) / (self.hi.1 - self.lo.1) * self.h,
        )
    }

    /// Frame, grid lines and tick labels; `fmt_y` formats y tick values.
    pub(super) fn draw(&self, s: &mut Scene, title: &str, fmt_y: impl Fn(f64) -> String) {
        s.text(self.x, self.y - 8.0, 14.0, Anchor::Start, Rgb::BLACK, title);
        for t in nice_ticks(self.lo.1, self.hi.1, 5) {
            let (_, py) = self.map((self.lo.0, t));
            s.rect(self.x, py, self.w, 1.0, Rgb::LIGHT);
            s.text(
                self.x - 4.0,
                py + 4.0,
                SMALL,
                Anchor::End,
                Rgb::GREY,
                &fmt_y(t),
            );
        }
        for t in nice_ticks(self.lo.0, self.hi.0, 8) {
            let (px, _) = self.map((t, self.lo.1));
            s.rect(px, self.y, 1.0, self.h, Rgb::LIGHT);
            let label = format!("{t}");
            s.text(
                px,
                self.y + self.h + 14.0,
                SMALL,
                Anchor::Middle,
                Rgb::GREY,
                &label,
            );
        }
        let (x, y, w, h) = (self.x, self.y, self.w, self.h);
        let frame = vec![(x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y)];
        s.polyline(frame, Rgb::GREY, 1.0);
        let mid = x + w / 2.0;
        s.text(
            mid,
            y + h + 30.0,
            SMALL,
            Anchor::Middle,
            Rgb::BLACK,
            self.xlabel,
        );
    }

    /// A series as a line with square markers, skipping non-finite values, and its legend entry.
    fn series(&self, s: &mut Scene, slot: usize, name: &str, pts: &[(f64, f64)]) {
        let colour = SERIES[slot % SERIES.len()];
        let px: Vec<(f64, f64)> = pts
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .map(|&p| self.map(p))
            .collect();
        for &(x, y) in &px {
            s.rect(x - 2.0, y - 2.0, 5.0, 5.0, colour);
        }
        if !px.is_empty() {
            s.polyline(px, colour, 2.0);
        }
        // Legend in the title line, right-aligned in slots, so it never hides data.
        let slot_w = text_width(LEGEND_CHARS, SMALL) + 24.0;
        let lx = self.x + self.w - slot_w * (LEGEND_SLOTS - slot) as f64;
        s.rect(lx, self.y - 12.0, 14.0, 3.0, colour);
        s.text(
            lx + 18.0,
            self.y - 8.0,
            SMALL,
            Anchor::Start,
            Rgb::BLACK,
            name,
        );
    }
}

/// About `target` round tick values (steps of 1, 2 or 5 × 10^k) within `[lo, hi]`.
pub(super) fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let range = hi - lo;
    if !(range.is_finite() && range > 0.0) {
        return Vec::new();
    }
    let raw = range / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    // Rounding to the step's decimals keeps labels like 0.30000000000000004 away.
    let decimals = (-step.log10().floor()).max(0.0) as i32;
    let round = |v: f64| {
        let p = 10f64.powi(decimals);
        (v * p).round() / p
    };
    (first..=last).map(|i| round(i as f64 * step)).collect()
}

/// The data range of `vals` from 0 (or below, if negative) to a little above the largest finite
/// value; (0, 1) when there is none.
fn zero_based_range(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = vals
        .filter(|v| v.is_finite())
        .fold((0.0f64, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if hi > lo {
        (lo, hi * 1.05)
    } else {
        (0.0, 1.0)
    }
}

/// Loss (train, val) and accuracy (train, val, val top-3 when logged) against the epoch, side by side.
pub fn training_curves(log: &[EpochRecord]) -> Scene {
    const PW: f64 = 380.0;
    const PH: f64 = 240.0;
    let (left, top) = (60.0, 70.0);
    let sub = match log.last() {
        Some(last) => format!(
            "{} epochs, {} steps; last: val accuracy {:.2} %, {:.0} images/s",
            log.len(),
            last.step,
            100.0 * last.val_acc,
            last.images_per_s
        ),
        None => "no epochs logged".to_string(),
    };
    let (width, height) = (2.0 * PW + 2.0 * left + 40.0, top + PH + 46.0);
    let mut s = titled(width, height, "Training curves", &sub);
    let epochs = || log.iter().map(|r| r.epoch as f64);
    let e_lo = epochs().fold(f64::INFINITY, f64::min);
    let e_hi = epochs().fold(f64::NEG_INFINITY, f64::max);
    // One epoch (or none) still needs a non-empty x range.
    let (e_lo, e_hi) = if e_hi > e_lo {
        (e_lo, e_hi)
    } else if e_lo.is_finite() {
        (e_lo - 1.0, e_lo + 1.0)
    } else {
        (0.0, 1.0)
    };
    let loss_range = zero_based_range(log.iter().flat_map(|r| [r.train_loss, r.val_loss]));
    let loss = Axes {
        x: left,
        y: top,
        w: PW,
        h: PH,
        lo: (e_lo, loss_range.0),
        hi: (e_hi, loss_range.1),
        xlabel: "epoch",
    };
    loss.draw(&mut s, "loss", |v| format!("{v}"));
    let pts = |f: fn(&EpochRecord) -> f64| -> Vec<(f64, f64)> {
        log.iter().map(|r| (r.epoch as f64, f(r))).collect()
    };
    loss.series(&mut s, 0, "train", &pts(|r| r.train_loss));
    loss.series(&mut s, 1, "val", &pts(|r| r.val_loss));

    let acc = Axes {
        x: 2.0 * left + PW + 20.0,
        lo: (e_lo, 0.0),
        hi: (e_hi, 1.0),
        ..loss
    };
    acc.draw(&mut s, "accuracy", |v| format!("{:.0} %", 100.0 * v));
    acc.series(&mut s, 0, "train", &pts(|r| r.train_acc));
    acc.series(&mut s, 1, "val", &pts(|r| r.val_acc));
    let top3: Vec<(f64, f64)> = log
        .iter()
        .filter_map(|r| r.val_top3.map(|t| (r.epoch as f64, t)))
        .collect();
    if !top3.is_empty() {
        acc.series(&mut s, 2, "val top-3", &top3);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_in_range() {
        assert_eq!(nice_ticks(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(
            nice_ticks(1.0, 15.0, 8),
            vec![2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0]
        );
        assert_eq!(nice_ticks(0.0, 2.31, 5), vec![0.0, 0.5, 1.0, 1.5, 2.0]);
        assert!(nice_ticks(1.0, 1.0, 5).is_empty());
        assert!(nice_ticks(0.0, f64::NAN, 5).is_empty());
    }

    #[test]
    fn long_names_are_clipped() {
        let long = "x".repeat(40);
        assert_eq!(clip(&long).chars().count(), MAX_NAME);
        assert!(clip(&long).ends_with("..."));
        assert_eq!(clip("cat"), "cat");
        assert_eq!(accuracy_colour(0.0), RED);
        assert_eq!(accuracy_colour(0.5), YELLOW);
        assert_eq!(accuracy_colour(1.0), GREEN);
    }
}
