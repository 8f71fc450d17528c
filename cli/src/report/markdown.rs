//! `report.md`: the comparison table, the requirement check, the plots and each method's notes.

use std::fmt::Write as _;

use super::{Report, Row};

fn ms(l: Option<&super::Latency>) -> String {
    l.map_or("–".into(), |l| format!("{:.2}", l.median_ms))
}

fn mem(l: Option<&super::Latency>) -> String {
    l.and_then(|l| l.peak_mb)
        .map_or("–".into(), |m| format!("{m:.1}"))
}

fn ratio(r: Option<f64>) -> String {
    r.map_or("–".into(), |r| format!("{r:.2}×"))
}

/// The table a reader looks at first: one row per method.
fn table(s: &mut String, r: &Report) {
    let float = &r.rows[0];
    let _ = writeln!(
        s,
        "| method | file | size (MB) | ratio | top-1 | Δ top-1 | ours (ms) | LiteRT (ms) | ours peak RSS (MB) | LiteRT model RSS (MB) | time (s) |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in &r.rows {
        let _ = writeln!(
            s,
            "| {} | `{}` | {:.2} | {:.2}× | {:.2} % | {:+.2} | {} | {} | {} | {} | {:.1} |",
            row.label,
            row.file,
            row.bytes as f64 / 1e6,
            float.bytes as f64 / row.bytes.max(1) as f64,
            100.0 * row.top1,
            100.0 * (row.top1 - float.top1),
            ms(row.ours.as_ref()),
            ms(row.litert.as_ref()),
            mem(row.ours.as_ref()),
            mem(row.litert.as_ref()),
            row.seconds
        );
    }
}

fn checks(s: &mut String, rows: &[Row]) {
    let _ = writeln!(
        s,
        "\n## Requirement check\n\nAgainst float32: size at most 0.70× (−30 %), batch-1 latency on our runtime at most \
         0.60× (−40 %), top-1 at least 0.95× float's (within 5 %).\n"
    );
    let _ = writeln!(
        s,
        "| method | size | latency (ours) | latency (LiteRT) | top-1 | passes |\n|---|---:|---:|---:|---:|:-:|"
    );
    for row in rows {
        if let Some(c) = &row.check {
            let _ = writeln!(
                s,
                "| {} | {:.2}× | {} | {} | {:.3}× | {} |",
                row.label,
                c.size_ratio,
                ratio(c.latency_ratio),
                ratio(c.litert_latency_ratio),
                c.accuracy_ratio,
                if c.passes { "yes" } else { "no" }
            );
        }
    }
}

/// Renders the report; `charts` are the plot files (relative names) to embed.
pub fn render(r: &Report, charts: &[String]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Inkling compression report\n");
    let _ = writeln!(
        s,
        "Checkpoint `{}`: {} classes. Every method uses the same {} calibration images (class-balanced, training \
         split) and is measured on the same {} validation images with Inkling's runtime. Latency: batch 1, {} \
         thread(s), median, each model in its own process; CPU: {}.\n",
        r.checkpoint,
        r.classes.len(),
        r.calibration_samples,
        r.eval_samples,
        r.latency_threads,
        r.cpu
    );
    table(&mut s, r);
    if let Some(note) = &r.litert_note {
        let _ = writeln!(s, "\n{note}.");
    }
    let _ = writeln!(
        s,
        "\nOur peak RSS is the whole `inkling infer` process; LiteRT's is what loading and running the model added \
         to a Python process that had already imported LiteRT."
    );
    checks(&mut s, &r.rows);
    let _ = writeln!(s, "\n## Plots\n");
    for c in charts.iter().filter(|c| c.ends_with(".svg")) {
        let _ = writeln!(s, "![{c}]({c})\n");
    }
    let notes: Vec<&Row> = r.rows.iter().filter(|r| !r.details.is_null()).collect();
    if !notes.is_empty() {
        let _ = writeln!(s, "## Method details\n");
        for row in notes {
            let _ = writeln!(s, "### {}\n", row.label);
            details(&mut s, &row.details);
        }
    }
    s
}

/// A method's details: a `table` entry (array of flat objects) becomes a Markdown table, other
/// entries become `key: value` lines.
fn details(s: &mut String, d: &serde_json::Value) {
    let Some(obj) = d.as_object() else {
        let _ = writeln!(s, "{d}\n");
        return;
    };
    for (k, v) in obj {
        match v.as_array() {
            Some(rows) if rows.iter().all(|r| r.is_object()) && !rows.is_empty() => {
                // JSON objects come back with sorted keys: names (text) first reads better.
                let mut cols: Vec<&String> = rows[0]
                    .as_object()
                    .map(|o| o.keys().collect())
                    .unwrap_or_default();
                cols.sort_by_key(|c| !rows[0][c.as_str()].is_string());
                let _ = writeln!(s, "\n{k}:\n");
                let _ = writeln!(
                    s,
                    "| {} |",
                    cols.iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(" | ")
                );
                let _ = writeln!(s, "|{}", "---|".repeat(cols.len()));
                for r in rows {
                    let cells: Vec<String> = cols.iter().map(|c| cell(&r[c.as_str()])).collect();
                    let _ = writeln!(s, "| {} |", cells.join(" | "));
                }
                let _ = writeln!(s);
            }
            _ => {
                let _ = writeln!(s, "- {k}: {}", cell(v));
            }
        }
    }
    let _ = writeln!(s);
}

fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f != 0.0 && f.abs() < 0.01 => format!("{f:.3e}"),
            Some(f) if n.is_f64() => format!("{f:.4}"),
            _ => n.to_string(),
        },
        serde_json::Value::String(t) => t.clone(),
        serde_json::Value::Null => "–".into(),
        other => other.to_string(),
    }
}
