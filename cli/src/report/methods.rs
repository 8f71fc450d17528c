//! The compression methods a report compares, each turning the shared [`Context`] into a graph
//! that our runtime runs and that exports to `.tflite`.

use inkling::quant::graph::Graph;
use inkling::quant::ptq::{convert, layer_errors, Calibrator, ObserverKind};

use super::context::Context;
use crate::data::Result;
use crate::quantize::bar;

/// Every method, in report order; `--methods all` runs these.
pub const ALL: &[&str] = &["float", "int8"];

/// What a method produced.
pub struct Built {
    /// The graph to run and export.
    pub graph: Graph,
    /// Row label in the report.
    pub label: String,
    /// File name stem (`model_<stem>.tflite`).
    pub stem: String,
    /// `precision` written into the file's metadata.
    pub precision: String,
    /// Method-specific figures for report.json (sweeps, per-layer tables).
    pub details: serde_json::Value,
}

/// Options the methods share.
pub struct MethodOptions {
    /// Activation observer for int8 PTQ (and the methods built on it).
    pub observer: ObserverKind,
    /// Its name, for labels.
    pub observer_name: String,
}

/// Runs method `name` on `ctx`.
pub fn build(name: &str, ctx: &Context, opts: &MethodOptions) -> Result<Built> {
    match name {
        "float" => Ok(Built {
            graph: ctx.graph.clone(),
            label: "float32".into(),
            stem: "float32".into(),
            precision: "float32".into(),
            details: serde_json::Value::Null,
        }),
        "int8" => {
            let graph = ptq_int8(&ctx.graph, ctx, opts.observer)?;
            let details = serde_json::json!({ "worst_layers": worst_layers(ctx, &graph)? });
            Ok(Built {
                graph,
                label: format!("int8 PTQ ({})", opts.observer_name),
                stem: "int8".into(),
                precision: "int8".into(),
                details,
            })
        }
        other => Err(format!(
            "--methods: unknown method {other:?} (known: {})",
            ALL.join(", ")
        )
        .into()),
    }
}

/// The 8 layers with the lowest SQNR of `q` against the float graph, on up to 32 validation images.
fn worst_layers(ctx: &Context, q: &Graph) -> Result<Vec<serde_json::Value>> {
    let inputs: Vec<_> = ctx.val.iter().take(32).map(|im| im.input.clone()).collect();
    let mut layers = layer_errors(&ctx.graph, q, &inputs)?;
    layers.sort_by(|a, b| a.sqnr_db.total_cmp(&b.sqnr_db));
    Ok(layers
        .iter()
        .take(8)
        .map(|l| serde_json::json!({"layer": l.name, "op": l.op, "sqnr_db": l.sqnr_db, "cosine": l.cosine}))
        .collect())
}

/// Calibrates `g` on the context's calibration images and converts it to int8.
pub fn ptq_int8(g: &Graph, ctx: &Context, observer: ObserverKind) -> Result<Graph> {
    let mut c = Calibrator::new(g, observer)?;
    let pb = bar("calibrate", ctx.cal.len());
    for im in &ctx.cal {
        c.observe(im.input.clone())?;
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(convert(g, &c.ranges())?)
}
