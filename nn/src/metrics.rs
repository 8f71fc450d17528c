//! Classification metrics for `inkling eval` (top-1/top-3, per-class precision/recall/F1, the
//! confusion matrix of the worst classes) and the per-epoch record of the training log.
//!
//! Everything here is plain counting over logits and labels, so it does not depend on a model: the
//! caller runs the model batch by batch and feeds the logits to [`Evaluation::add_batch`].

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How many of the worst classes the JSON and Markdown reports show in their confusion matrix.
pub const WORST_K: usize = 20;

/// Running counts of an evaluation: the full top-1 confusion matrix and per-class top-3 hits.
///
/// The predicted class of a row is its arg-max logit, ties going to the lower class index; a label
/// is in the top k when fewer than k classes rank above it under the same order. k is clamped to the
/// number of classes, so with 3 or fewer classes top-3 is always 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    class_names: Vec<String>,
    /// `classes × classes`, row-major; row = true class, column = top-1 prediction.
    confusion: Vec<u64>,
    /// Per true class: rows whose label was within the top 3.
    top3_hits: Vec<u64>,
    n: u64,
}

/// The metrics of one class. `accuracy` is the fraction of that class's images classified
/// correctly (so it equals `recall`; the name matches the per-class accuracy of the report).
/// Rates with an empty denominator are 0, never NaN: precision of a class never predicted,
/// accuracy/recall/top3 of a class with no images, F1 when precision + recall = 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Class name.
    pub name: String,
    /// Images of this class in the evaluated data.
    pub support: u64,
    /// Images predicted (top-1) as this class.
    pub predicted: u64,
    /// Correct top-1 predictions / support.
    pub accuracy: f64,
    /// Images of this class whose label was within the top 3 / support.
    pub top3: f64,
    /// Correct top-1 predictions / predicted.
    pub precision: f64,
    /// Correct top-1 predictions / support.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
}

/// The confusion matrix restricted to a subset of classes, rows = true class, columns = prediction,
/// both in the order of `classes`. `other[i]` counts the images of `classes[i]` predicted as a class
/// outside the subset, so that each row plus its `other` sums to the class's support.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfusionSubset {
    /// Class names, worst first.
    pub classes: Vec<String>,
    /// Counts, `classes.len()` rows of `classes.len()` columns.
    pub matrix: Vec<Vec<u64>>,
    /// Per row, predictions that fall outside the subset.
    pub other: Vec<u64>,
}

/// The serialised form of an [`Evaluation`] (what `eval.json` and `inkling eval --json` hold).
/// Macro averages run over the classes present in the data (support > 0), so evaluating a subset
/// of the model's classes is not dragged down by the absent ones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Number of evaluated images.
    pub n: u64,
    /// Top-1 accuracy in [0, 1].
    pub top1: f64,
    /// Top-3 accuracy in [0, 1].
    pub top3: f64,
    /// Mean precision over classes with support.
    pub macro_precision: f64,
    /// Mean recall over classes with support.
    pub macro_recall: f64,
    /// Mean F1 over classes with support.
    pub macro_f1: f64,
    /// One entry per class, in class-index order.
    pub per_class: Vec<ClassMetrics>,
    /// The confusion matrix among the worst classes (lowest recall).
    pub confusion_worst: ConfusionSubset,
}

/// Number over denominator, 0 when the denominator is 0.
fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Mean of `xs`, 0 when empty.
fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (sum, count) = xs.fold((0.0, 0usize), |(s, c), x| (s + x, c + 1));
    if count == 0 {
        0.0
    } else {
        sum / count as f64
    }
}

/// Number of classes ranking above `label` in `row`: higher logit, or an equal one at a lower index
/// (so `label` is in the top k exactly when `rank_of(row, label) < k`).
pub fn rank_of(row: &[f32], label: usize) -> usize {
    let l = row[label];
    row.iter()
        .enumerate()
        .filter(|&(j, &x)| x > l || (x == l && j < label))
        .count()
}

/// Index of the largest logit, the lowest index among equals; a NaN never wins over a number.
pub fn arg_max(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &x) in row.iter().enumerate() {
        if x > row[best] || row[best].is_nan() {
            best = j;
        }
    }
    best
}

impl Evaluation {
    /// An empty evaluation over these classes (class index = position in `class_names`).
    pub fn new(class_names: Vec<String>) -> Self {
        let c = class_names.len();
        Self {
            class_names,
            confusion: vec![0; c * c],
            top3_hits: vec![0; c],
            n: 0,
        }
    }

    /// Adds a batch: `logits` holds `labels.len()` rows of `classes` values, row-major.
    /// Checks the whole batch before counting any of it, so a rejected batch changes nothing.
    /// Errors when `classes` differs from the number of class names, the lengths disagree, a label is
    /// out of range, or a logit is NaN.
    pub fn add_batch(&mut self, logits: &[f32], classes: usize, labels: &[usize]) -> Result<()> {
        let op = "Evaluation::add_batch";
        let err = |what: String| Err(Error::Metrics { op, what });
        let c = self.class_names.len();
        if classes != c {
            return err(format!("logits have {classes} classes, the evaluation {c}"));
        }
        if Some(logits.len()) != labels.len().checked_mul(c) {
            return err(format!(
                "{} logits for {} labels × {c} classes",
                logits.len(),
                labels.len()
            ));
        }
        if let Some((i, &l)) = labels.iter().enumerate().find(|&(_, &l)| l >= c) {
            return err(format!(
                "label {l} of row {i} is out of range for {c} classes"
            ));
        }
        if let Some(i) = logits.iter().position(|x| x.is_nan()) {
            return err(format!("logit of row {} class {} is NaN", i / c, i % c));
        }
        if c == 0 {
            return Ok(());
        }
        for (row, &label) in logits.chunks_exact(c).zip(labels) {
            self.confusion[label * c + arg_max(row)] += 1;
            if rank_of(row, label) < 3 {
                self.top3_hits[label] += 1;
            }
            self.n += 1;
        }
        Ok(())
    }

    /// Class names, by class index.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Number of evaluated images.
    pub fn n(&self) -> u64 {
        self.n
    }

    /// The top-1 confusion matrix, `classes × classes` row-major, row = true class.
    pub fn confusion(&self) -> &[u64] {
        &self.confusion
    }

    /// Top-1 accuracy in [0, 1] (0 before any image).
    pub fn top1(&self) -> f64 {
        let c = self.class_names.len();
        let hits = (0..c).map(|i| self.confusion[i * c + i]).sum();
        ratio(hits, self.n)
    }

    /// Top-3 accuracy in [0, 1] (0 before any image).
    pub fn top3(&self) -> f64 {
        ratio(self.top3_hits.iter().sum(), self.n)
    }

    /// Metrics of every class, in class-index order.
    pub fn per_class(&self) -> Vec<ClassMetrics> {
        let c = self.class_names.len();
        (0..c)
            .map(|i| {
                let row = &self.confusion[i * c..(i + 1) * c];
                let support = row.iter().sum();
                let predicted = (0..c).map(|r| self.confusion[r * c + i]).sum();
                let tp = row[i];
                let precision = ratio(tp, predicted);
                let recall = ratio(tp, support);
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                ClassMetrics {
                    name: self.class_names[i].clone(),
                    support,
                    predicted,
                    accuracy: recall,
                    top3: ratio(self.top3_hits[i], support),
                    precision,
                    recall,
                    f1,
                }
            })
            .collect()
    }

    /// Macro-averaged (precision, recall, F1) over the classes with support.
    pub fn macro_averages(&self) -> (f64, f64, f64) {
        let pc = self.per_class();
        let present = || pc.iter().filter(|m| m.support > 0);
        (
            mean(present().map(|m| m.precision)),
            mean(present().map(|m| m.recall)),
            mean(present().map(|m| m.f1)),
        )
    }

    /// Indices of up to `k` classes with the lowest recall, worst first, ties by name; classes
    /// without images are left out (their recall says nothing).
    pub fn worst_classes(&self, k: usize) -> Vec<usize> {
        let pc = self.per_class();
        let mut idx: Vec<usize> = (0..pc.len()).filter(|&i| pc[i].support > 0).collect();
        idx.sort_by(|&a, &b| {
            pc[a]
                .recall
                .total_cmp(&pc[b].recall)
                .then_with(|| pc[a].name.cmp(&pc[b].name))
                .then(a.cmp(&b))
        });
        idx.truncate(k);
        idx
    }

    /// The confusion matrix restricted to [`worst_classes(k)`](Self::worst_classes), in that order.
    pub fn confusion_worst(&self, k: usize) -> ConfusionSubset {
        let c = self.class_names.len();
        let worst = self.worst_classes(k);
        let matrix: Vec<Vec<u64>> = worst
            .iter()
            .map(|&t| worst.iter().map(|&p| self.confusion[t * c + p]).collect())
            .collect();
        let other = worst
            .iter()
            .zip(&matrix)
            .map(|(&t, row)| {
                let support: u64 = self.confusion[t * c..(t + 1) * c].iter().sum();
                support - row.iter().sum::<u64>()
            })
            .collect();
        ConfusionSubset {
            classes: worst.iter().map(|&i| self.class_names[i].clone()).collect(),
            matrix,
            other,
        }
    }

    /// Everything the JSON and Markdown reports hold, the confusion matrix over the `worst_k` worst
    /// classes.
    pub fn report(&self, worst_k: usize) -> EvalReport {
        let (macro_precision, macro_recall, macro_f1) = self.macro_averages();
        EvalReport {
            n: self.n,
            top1: self.top1(),
            top3: self.top3(),
            macro_precision,
            macro_recall,
            macro_f1,
            per_class: self.per_class(),
            confusion_worst: self.confusion_worst(worst_k),
        }
    }

    /// The report as pretty-printed JSON (worst [`WORST_K`] classes).
    pub fn to_json(&self) -> String {
        // Plain structs of strings, integers and finite floats: serialisation cannot fail.
        serde_json::to_string_pretty(&self.report(WORST_K))
            .expect("EvalReport holds only strings, integers and finite floats")
    }

    /// A Markdown report: summary table, per-class table (worst accuracy first, classes without
    /// images last) and the confusion matrix of the worst [`WORST_K`] classes.
    pub fn to_markdown(&self) -> String {
        self.report(WORST_K).to_markdown()
    }
}

impl Serialize for Evaluation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.report(WORST_K).serialize(s)
    }
}

/// A percentage with two decimals.
fn pct(x: f64) -> String {
    format!("{:.2} %", 100.0 * x)
}

/// Makes a class name safe inside a Markdown table cell.
fn md_cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

impl EvalReport {
    /// Classes in the order of the per-class table: by accuracy ascending, ties by name, classes
    /// without images last (by name).
    pub fn by_accuracy(&self) -> Vec<&ClassMetrics> {
        let mut v: Vec<&ClassMetrics> = self.per_class.iter().collect();
        v.sort_by(|a, b| {
            (a.support == 0)
                .cmp(&(b.support == 0))
                .then(a.accuracy.total_cmp(&b.accuracy))
                .then_with(|| a.name.cmp(&b.name))
        });
        v
    }

    /// See [`Evaluation::to_markdown`].
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_markdown(&mut s);
        s
    }

    fn write_markdown(&self, s: &mut String) -> std::fmt::Result {
        writeln!(s, "# Evaluation\n")?;
        writeln!(s, "| metric | value |\n| --- | ---: |")?;
        writeln!(s, "| images | {} |", self.n)?;
        writeln!(s, "| classes | {} |", self.per_class.len())?;
        writeln!(s, "| top-1 accuracy | {} |", pct(self.top1))?;
        writeln!(s, "| top-3 accuracy | {} |", pct(self.top3))?;
        writeln!(s, "| macro precision | {} |", pct(self.macro_precision))?;
        writeln!(s, "| macro recall | {} |", pct(self.macro_recall))?;
        writeln!(s, "| macro F1 | {} |", pct(self.macro_f1))?;

        writeln!(s, "\n## Per class (worst accuracy first)\n")?;
        writeln!(
            s,
            "| class | support | accuracy | top-3 | precision | recall | F1 |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
        )?;
        for m in self.by_accuracy() {
            if m.support == 0 {
                writeln!(
                    s,
                    "| {} | 0 | – | – | {} | – | – |",
                    md_cell(&m.name),
                    pct(m.precision)
                )?;
            } else {
                writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {:.4} |",
                    md_cell(&m.name),
                    m.support,
                    pct(m.accuracy),
                    pct(m.top3),
                    pct(m.precision),
                    pct(m.recall),
                    m.f1
                )?;
            }
        }

        let cw = &self.confusion_worst;
        if cw.classes.is_empty() {
            return Ok(());
        }
        writeln!(
            s,
            "\n## Confusion among the {} worst classes\n\nRows: true class; columns: predicted \
             class; \"other\": predicted as a class outside this table.\n",
            cw.classes.len()
        )?;
        let names: Vec<String> = cw.classes.iter().map(|n| md_cell(n)).collect();
        writeln!(s, "| true \\ predicted | {} | other |", names.join(" | "))?;
        writeln!(s, "| --- |{} ---: |", " ---: |".repeat(names.len()))?;
        for ((name, row), other) in names.iter().zip(&cw.matrix).zip(&cw.other) {
            let cells: Vec<String> = row.iter().map(u64::to_string).collect();
            writeln!(s, "| {name} | {} | {other} |", cells.join(" | "))?;
        }
        Ok(())
    }
}

/// One line of the training log `log.jsonl`: the metrics of one finished epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number (1-based as printed by `inkling train`).
    pub epoch: usize,
    /// Optimizer steps taken so far.
    pub step: u64,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// Training top-1 accuracy in [0, 1].
    pub train_acc: f64,
    /// Validation loss.
    pub val_loss: f64,
    /// Validation top-1 accuracy in [0, 1].
    pub val_acc: f64,
    /// Validation top-3 accuracy in [0, 1], when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_top3: Option<f64>,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
    /// Training throughput.
    pub images_per_s: f64,
    /// Wall-clock seconds of the epoch.
    pub seconds: f64,
    /// Most tensor memory held during one training step of the epoch, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_step_mb: Option<f64>,
    /// Fraction of exactly-zero prunable weights at the end of the epoch (pruning runs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparsity: Option<f64>,
}

impl EpochRecord {
    /// Parses a JSON-lines training log, skipping blank lines; errors name the line.
    pub fn parse_log(text: &str) -> Result<Vec<EpochRecord>> {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| Error::Metrics {
                    op: "EpochRecord::parse_log",
                    what: format!("line {}: {e}", i + 1),
                })
            })
            .collect()
    }

    /// Reads and parses a `log.jsonl` file.
    pub fn read_log(path: &Path) -> Result<Vec<EpochRecord>> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse_log(&text).map_err(|e| match e {
            Error::Metrics { op, what } => Error::Metrics {
                op,
                what: format!("{}: {what}", path.display()),
            },
            e => e,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    fn names(ns: &[&str]) -> Vec<String> {
        ns.iter().map(|s| s.to_string()).collect()
    }

    /// A one-hot-ish logit row with `pred` highest, then `second`, then `third`.
    fn row(c: usize, order: &[usize]) -> Vec<f32> {
        let mut r = vec![0.0; c];
        for (k, &j) in order.iter().enumerate() {
            r[j] = 10.0 - k as f32;
        }
        r
    }

    /// Four classes; "d" has no images, "c" is never predicted.
    /// true a: predicted a, a, b        (3 images)
    /// true b: predicted b, a           (2 images)
    /// true c: predicted a, b           (2 images; top-3 hit once)
    fn sample() -> Evaluation {
        let mut e = Evaluation::new(names(&["a", "b", "c", "d"]));
        let rows = [
            (row(4, &[0, 1, 2]), 0),
            (row(4, &[0, 2, 1]), 0),
            (row(4, &[1, 0, 2]), 0),
            (row(4, &[1, 3, 2]), 1),
            (row(4, &[0, 1, 2]), 1),
            (row(4, &[0, 3, 2]), 2),
            (row(4, &[1, 3, 0]), 2),
        ];
        let logits: Vec<f32> = rows.iter().flat_map(|(r, _)| r.clone()).collect();
        let labels: Vec<usize> = rows.iter().map(|(_, l)| *l).collect();
        // Two batches: counts accumulate.
        e.add_batch(&logits[..12], 4, &labels[..3]).unwrap();
        e.add_batch(&logits[12..], 4, &labels[3..]).unwrap();
        e
    }

    #[test]
    fn top1_top3_exact() {
        let e = sample();
        assert_eq!(e.n(), 7);
        // Correct top-1: a,a (true a), b (true b) = 3 of 7.
        assert_relative_eq!(e.top1(), 3.0 / 7.0);
        // Top-3: a ×3, b ×2 (b is 2nd in row 5), c once (3rd in row 6, 4th in row 7) = 6 of 7.
        assert_relative_eq!(e.top3(), 6.0 / 7.0);
        #[rustfmt::skip]
        let want = [2, 1, 0, 0,
                    1, 1, 0, 0,
                    1, 1, 0, 0,
                    0, 0, 0, 0];
        assert_eq!(e.confusion(), &want);
    }

    #[test]
    fn ties_go_to_lower_index_and_top_k_clamps() {
        let mut e = Evaluation::new(names(&["x", "y"]));
        // All equal: prediction is class 0; label 1 ranks second.
        e.add_batch(&[1.0, 1.0, 1.0, 1.0], 2, &[0, 1]).unwrap();
        assert_relative_eq!(e.top1(), 0.5);
        // Two classes: top-3 is clamped to top-2, every label is in it.
        assert_relative_eq!(e.top3(), 1.0);
        assert_eq!(e.confusion(), &[1, 0, 1, 0]);

        // Five classes, label tied with three others at the top: it ranks after the lower indices.
        let mut e = Evaluation::new(names(&["0", "1", "2", "3", "4"]));
        let r = [5.0, 5.0, 5.0, 5.0, 0.0];
        e.add_batch(&r, 5, &[3]).unwrap(); // three lower-index ties rank above: not top-3
        e.add_batch(&r, 5, &[2]).unwrap(); // two above: top-3
        assert_relative_eq!(e.top3(), 0.5);
        assert_relative_eq!(e.top1(), 0.0);
        // -inf logits are ordered, not rejected.
        e.add_batch(&[f32::NEG_INFINITY, 0.0, 0.0, 0.0, 0.0], 5, &[1])
            .unwrap();
        assert_relative_eq!(e.top1(), 1.0 / 3.0);
    }

    #[test]
    fn precision_recall_f1_by_hand() {
        let e = sample();
        let pc = e.per_class();
        let get = |n: &str| pc.iter().find(|m| m.name == n).unwrap().clone();
        // a: tp 2, predicted 4 (a,a,b→a,c→a), support 3.
        let a = get("a");
        assert_eq!((a.support, a.predicted), (3, 4));
        assert_relative_eq!(a.precision, 0.5);
        assert_relative_eq!(a.recall, 2.0 / 3.0);
        assert_relative_eq!(a.accuracy, 2.0 / 3.0);
        assert_relative_eq!(a.f1, 2.0 * 0.5 * (2.0 / 3.0) / (0.5 + 2.0 / 3.0));
        assert_relative_eq!(a.f1, 4.0 / 7.0, epsilon = 1e-12);
        assert_relative_eq!(a.top3, 1.0);
        // b: tp 1, predicted 3, support 2.
        let b = get("b");
        assert_relative_eq!(b.precision, 1.0 / 3.0);
        assert_relative_eq!(b.recall, 0.5);
        assert_relative_eq!(b.f1, 0.4, epsilon = 1e-12);
        // c: never predicted: precision 0 (not NaN), recall 0, F1 0; top-3 once of 2.
        let c = get("c");
        assert_eq!((c.support, c.predicted), (2, 0));
        assert_eq!((c.precision, c.recall, c.f1), (0.0, 0.0, 0.0));
        assert_relative_eq!(c.top3, 0.5);
        // d: no support and never predicted: all zeros.
        let d = get("d");
        assert_eq!((d.support, d.predicted), (0, 0));
        assert_eq!(
            (d.accuracy, d.precision, d.recall, d.f1, d.top3),
            (0.0, 0.0, 0.0, 0.0, 0.0)
        );
        // Macro averages over a, b, c only (d has no images).
        let (p, r, f) = e.macro_averages();
        assert_relative_eq!(p, (0.5 + 1.0 / 3.0 + 0.0) / 3.0);
        assert_relative_eq!(r, (2.0 / 3.0 + 0.5 + 0.0) / 3.0);
        assert_relative_eq!(f, (4.0 / 7.0 + 0.4 + 0.0) / 3.0, epsilon = 1e-12);
    }

    #[test]
    fn worst_classes_and_their_confusion() {
        let e = sample();
        // Recall: c 0, b 0.5, a 2/3; d has no images and is left out.
        assert_eq!(e.worst_classes(10), vec![2, 1, 0]);
        assert_eq!(e.worst_classes(2), vec![2, 1]);
        let cw = e.confusion_worst(2);
        assert_eq!(cw.classes, names(&["c", "b"]));
        // Rows true c, b; columns predicted c, b; the rest goes to "other".
        assert_eq!(cw.matrix, vec![vec![0, 1], vec![0, 1]]);
        assert_eq!(cw.other, vec![1, 1]);

        // Equal recall: by name, not by index.
        let mut e = Evaluation::new(names(&["zeta", "alpha"]));
        e.add_batch(&[0.0, 1.0, 0.0, 1.0], 2, &[0, 1]).unwrap();
        e.add_batch(&[1.0, 0.0, 1.0, 0.0], 2, &[0, 1]).unwrap();
        assert_eq!(e.worst_classes(2), vec![1, 0]);
    }

    #[test]
    fn json_has_the_keys() {
        let e = sample();
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        for k in [
            "top1",
            "top3",
            "n",
            "per_class",
            "macro_f1",
            "confusion_worst",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        assert_eq!(v["n"], 7);
        assert_relative_eq!(v["top1"].as_f64().unwrap(), 3.0 / 7.0);
        let pc = v["per_class"].as_array().unwrap();
        assert_eq!(pc.len(), 4);
        for k in ["name", "support", "accuracy", "precision", "recall", "f1"] {
            assert!(
                pc.iter().all(|m| m.get(k).is_some()),
                "per_class missing {k}"
            );
        }
        assert_eq!(pc[2]["precision"], 0.0); // a number, not null
        assert_eq!(v["confusion_worst"]["classes"][0], "c");
        assert_eq!(v["confusion_worst"]["matrix"].as_array().unwrap().len(), 3);
        // Serialize on Evaluation is the report, and the text reads back as one (serde_json's
        // default float parser may be off by an ulp, hence no float equality).
        let report = e.report(WORST_K);
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::to_value(&report).unwrap()
        );
        let back: EvalReport = serde_json::from_value(v).unwrap();
        assert_eq!(back.confusion_worst, report.confusion_worst);
        assert_relative_eq!(back.macro_recall, report.macro_recall, epsilon = 1e-15);
    }

    #[test]
    fn markdown_tables() {
        let mut e = Evaluation::new(names(&["ok", "pipe|name", "empty"]));
        e.add_batch(&[1.0, 0.0, 0.0, 1.0, 0.0, 0.0], 3, &[0, 1])
            .unwrap();
        let md = e.to_markdown();
        assert!(md.contains("| top-1 accuracy | 50.00 % |"), "{md}");
        // Worst first, the class without images last, pipes escaped.
        let pos = |s: &str| md.find(s).unwrap_or_else(|| panic!("{s} missing in\n{md}"));
        assert!(pos("| pipe\\|name | 1 | 0.00 %") < pos("| ok | 1 | 100.00 %"));
        assert!(pos("| ok | 1 | 100.00 %") < pos("| empty | 0 |"));
        // Confusion table: header, separator and one row per class with images.
        assert!(md.contains("| true \\ predicted | pipe\\|name | ok | other |"));
        assert!(md.contains("| pipe\\|name | 0 | 1 | 0 |"));
        assert!(md.contains("| ok | 0 | 1 | 0 |"));
        // Every table row has the column count of its header.
        for table in md.split("\n\n").filter(|b| b.starts_with('|')) {
            let cols: Vec<usize> = table
                .lines()
                .map(|l| l.replace("\\|", "").matches('|').count())
                .collect();
            assert!(cols.iter().all(|&c| c == cols[0]), "{table}");
        }
    }

    #[test]
    fn bad_input_is_rejected_and_changes_nothing() {
        let mut e = sample();
        let before = e.clone();
        let ok = row(4, &[0]);
        let mut nan = ok.clone();
        nan[2] = f32::NAN;
        let cases: [(&[f32], usize, &[usize], &str); 5] = [
            (&ok, 3, &[0], "3 classes"),
            (&ok, 4, &[0, 1], "4 logits for 2 labels"),
            (&ok[..3], 4, &[0], "3 logits"),
            (&ok, 4, &[4], "label 4 of row 0 is out of range"),
            (&nan, 4, &[0], "row 0 class 2 is NaN"),
        ];
        for (logits, c, labels, msg) in cases {
            let err = e.add_batch(logits, c, labels).unwrap_err().to_string();
            assert!(err.contains(msg), "{err}");
            assert!(err.starts_with("Evaluation::add_batch"), "{err}");
        }
        assert_eq!(e, before);
        // An empty evaluation reports zeros, not NaN.
        let e = Evaluation::new(names(&["a"]));
        assert_eq!((e.top1(), e.top3(), e.n()), (0.0, 0.0, 0));
        assert!(e.worst_classes(20).is_empty());
    }

    #[test]
    fn epoch_log_round_trip() {
        let r = EpochRecord {
            epoch: 1,
            step: 100,
            train_loss: 1.5,
            train_acc: 0.4,
            val_loss: 1.25,
            val_acc: 0.5,
            val_top3: None,
            lr: 1e-3,
            images_per_s: 120.5,
            seconds: 53.0,
            peak_step_mb: None,
            sparsity: None,
        };
        let line = serde_json::to_string(&r).unwrap();
        assert!(!line.contains("val_top3"));
        let with_top3 = EpochRecord {
            epoch: 2,
            val_top3: Some(0.9),
            ..r.clone()
        };
        let text = format!("{line}\n\n{}\n", serde_json::to_string(&with_top3).unwrap());
        assert_eq!(EpochRecord::parse_log(&text).unwrap(), vec![r, with_top3]);
        let err = EpochRecord::parse_log(&format!("{line}\n{{\"epoch\": 3}}\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        let err = EpochRecord::read_log(Path::new("/nonexistent/log.jsonl")).unwrap_err();
        assert!(matches!(err, Error::Io { .. }));
    }
}
