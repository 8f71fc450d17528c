//! 4-bit weights for the linear layers of a float graph: round-to-nearest, AWQ or GPTQ, per output
//! channel or in blocks of 32/64/128 input channels, with float32 activations (weight-only; XNNPACK
//! runs it as qd8-f32-qc4w / qb4w) or static int8 activations (int8 × int4, through the PTQ convert).
//! LayerNorm, softmax and GELU stay float; the classifier head and convolutions keep what float or
//! int8 PTQ gives them ([`linear_layers`]).
//!
//! All methods read one set of calibration statistics per layer input ([`collect`]), so each layer's
//! output error on the calibration set is known exactly without running the model again: that is
//! the per-layer sensitivity that mixed precision uses to keep the K most sensitive layers in float
//! (weight-only) or int8 (static).

mod awq;
mod fold;
mod gptq;
mod int4;
mod linalg;
mod stats;
mod targets;

use std::collections::{HashMap, HashSet};

pub use awq::AwqScales;
pub use fold::{fold_input_scale, FoldedInto};
pub use int4::Int4Weights;
pub use stats::{collect, collect_rows, InputStats};
pub use targets::{linear_layers, Target};

use crate::graph::{ConstData, Graph, ValueId};
use crate::passes::compact;
use crate::ptq::{convert, Calibrator, ObserverKind};
use crate::runtime::Buf;
use crate::{Error, Result};

/// How the int4 weights are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WqMethod {
    /// Round to nearest, scales from each group's largest magnitude.
    Rtn,
    /// Activation-aware input scaling and clipping (`wq/awq.rs`; the folds: [`fold_input_scale`]).
    Awq,
    /// Hessian-based error feedback (`wq/gptq.rs`).
    Gptq,
}

impl std::str::FromStr for WqMethod {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "rtn" => Ok(WqMethod::Rtn),
            "awq" => Ok(WqMethod::Awq),
            "gptq" => Ok(WqMethod::Gptq),
            _ => Err(format!("unknown 4-bit method {s:?} (rtn, awq or gptq)")),
        }
    }
}

impl WqMethod {
    /// The lower-case name (`rtn`, `awq`, `gptq`).
    pub fn name(self) -> &'static str {
        match self {
            WqMethod::Rtn => "rtn",
            WqMethod::Awq => "awq",
            WqMethod::Gptq => "gptq",
        }
    }
}

/// Activations of the 4-bit layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WqAct {
    /// Weight-only: float32 activations (XNNPACK quantizes each row on the fly).
    F32,
    /// Static int8 activations (int8 × int4 FULLY_CONNECTED, per-channel weights only).
    Int8,
}

impl std::str::FromStr for WqAct {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "f32" => Ok(WqAct::F32),
            "int8" => Ok(WqAct::Int8),
            _ => Err(format!("unknown activation type {s:?} (f32 or int8)")),
        }
    }
}

/// Settings of [`quantize_4bit`].
#[derive(Clone, Debug, PartialEq)]
pub struct WqConfig {
    /// RTN, AWQ or GPTQ.
    pub method: WqMethod,
    /// Input channels per scale (32, 64 or 128; a multiple of 32 dividing every layer's K);
    /// `None` = one scale per output channel.
    pub block: Option<usize>,
    /// Weight-only (float32 activations) or static int8 activations.
    pub act: WqAct,
    /// GPTQ damping: `damp·mean(diag H)` is added to H's diagonal.
    pub damp: f32,
    /// GPTQ: quantize columns by descending activity.
    pub act_order: bool,
    /// AWQ: grid points for the exponent α in [0, 1).
    pub awq_grid: usize,
    /// AWQ: also search a clipping ratio per channel and block. Unlike llm-awq, the query and
    /// key projections are clipped too: on the ViT-Tiny doodle model, leaving them out cost 3 dB
    /// of logit SQNR (33.0 → 30.1 dB, 256 calibration / 600 validation images).
    pub awq_clip: bool,
    /// Layers (node names) to leave out of 4-bit: float32 weight-only, int8 under static int8.
    pub keep: Vec<String>,
    /// Also leave out the this many layers with the lowest 4-bit output SQNR.
    pub keep_sensitive: usize,
    /// Activation range observer for static int8.
    pub observer: ObserverKind,
}

impl Default for WqConfig {
    fn default() -> Self {
        WqConfig {
            method: WqMethod::Rtn,
            block: None,
            act: WqAct::F32,
            damp: 0.01,
            act_order: false,
            awq_grid: 20,
            awq_clip: true,
            keep: Vec::new(),
            keep_sensitive: 0,
            observer: ObserverKind::MinMax,
        }
    }
}

/// How much one layer's output suffers when it alone goes 4-bit (on the calibration inputs).
#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerSensitivity {
    /// Node name.
    pub name: String,
    /// `[N, K]` of its weights.
    pub shape: [usize; 2],
    /// `10·log10(Σ y² / Σ (y − ŷ)²)` of its output over the calibration set, in dB.
    pub sqnr_db: f64,
    /// Left out of 4-bit (named in `keep` or among the `keep_sensitive` lowest).
    pub kept: bool,
}

/// What [`quantize_4bit_with`] produced.
#[derive(Clone, Debug)]
pub struct WqOutput {
    /// The quantized graph (int8 under [`WqAct::Int8`]).
    pub graph: Graph,
    /// Every candidate layer, in execution order.
    pub layers: Vec<LayerSensitivity>,
    /// AWQ: what was chosen for each layer input.
    pub awq: Vec<AwqChoice>,
}

/// AWQ's choice for one layer input.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AwqChoice {
    /// The first layer reading the input.
    pub first_layer: String,
    /// The exponent α.
    pub alpha: f32,
    /// Whether the weight-aware scale family won.
    pub weight_aware: bool,
    /// Where `1/s` went.
    pub folded_into: FoldedInto,
}

/// Progress callback: `(stage, done, total)` with stage "statistics", "quantize" or "calibrate".
pub type Progress<'a> = &'a (dyn Fn(&'static str, usize, usize) + Sync);

/// [`quantize_4bit_with`] without progress, returning the graph only.
pub fn quantize_4bit(g: &Graph, cal: &[Buf], cfg: &WqConfig) -> Result<Graph> {
    Ok(quantize_4bit_with(g, cal, cfg, &|_, _, _| {})?.graph)
}

/// Per-layer sensitivity under `cfg`'s method: each candidate layer's output SQNR when only it goes
/// 4-bit (`kept` marks what `cfg` would leave out).
pub fn sensitivity(g: &Graph, cal: &[Buf], cfg: &WqConfig) -> Result<Vec<LayerSensitivity>> {
    Ok(quantize_4bit_with(g, cal, cfg, &|_, _, _| {})?.layers)
}

fn cfg_err(what: impl Into<String>) -> Error {
    Error::Quant {
        node: "4-bit".into(),
        what: what.into(),
    }
}

/// Quantizes the linear layers of the prepared float graph `g` to 4 bits with statistics from
/// the calibration inputs `cal` (see the module doc).
pub fn quantize_4bit_with(
    g: &Graph,
    cal: &[Buf],
    cfg: &WqConfig,
    progress: Progress,
) -> Result<WqOutput> {
    let layers = linear_layers(g);
    check_config(&layers, cfg)?;
    let mut inputs: Vec<ValueId> = Vec::new();
    for t in &layers {
        if !inputs.contains(&t.input) {
            inputs.push(t.input);
        }
    }
    let stats = collect(g, cal, &inputs, &|d| progress("statistics", d, cal.len()))?;
    let mut q = g.clone();
    // AWQ: search every input's scales on the original weights, then fold them all.
    let mut input_scale: HashMap<ValueId, Vec<f32>> = HashMap::new();
    let mut awq = Vec::new();
    if cfg.method == WqMethod::Awq {
        for &x in &inputs {
            let group: Vec<&Target> = layers.iter().filter(|t| t.input == x).collect();
            let ws = group
                .iter()
                .map(|t| Ok((float_weights(g, &t.name)?, t.n)))
                .collect::<Result<Vec<_>>>()?;
            let refs: Vec<(&[f32], usize)> = ws.iter().map(|(w, n)| (w.as_slice(), *n)).collect();
            let sc = awq::search_scales(&refs, &stats[&x], cfg.block, cfg.awq_grid)?;
            let names: Vec<String> = group.iter().map(|t| t.name.clone()).collect();
            let into = fold_input_scale(&mut q, x, &names, &sc.s)?;
            awq.push(AwqChoice {
                first_layer: names[0].clone(),
                alpha: sc.alpha,
                weight_aware: sc.weight_aware,
                folded_into: into,
            });
            input_scale.insert(x, sc.s);
        }
    }
    let mut factors: HashMap<ValueId, gptq::Factor> = HashMap::new();
    let mut weights: Vec<Int4Weights> = Vec::with_capacity(layers.len());
    let mut sens = Vec::with_capacity(layers.len());
    for (i, t) in layers.iter().enumerate() {
        progress("quantize", i, layers.len());
        let st = match input_scale.get(&t.input) {
            Some(s) => stats[&t.input].scaled(s),
            None => stats[&t.input].clone(),
        };
        let w = float_weights(&q, &t.name)?;
        let h = st.h_f32();
        let qw = match cfg.method {
            WqMethod::Rtn => int4::round_to_nearest(&w, (t.n, t.k), cfg.block, None),
            WqMethod::Awq if cfg.awq_clip => awq::clip_search(&w, (t.n, t.k), &h, cfg.block)?,
            WqMethod::Awq => int4::round_to_nearest(&w, (t.n, t.k), cfg.block, None),
            WqMethod::Gptq => {
                let f = match factors.entry(t.input) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(gptq::factor(&t.name, &st.h, t.k, cfg.damp, cfg.act_order)?)
                    }
                };
                gptq::gptq(&w, (t.n, t.k), f, cfg.block)
            }
        };
        let d: Vec<f32> = w.iter().zip(qw.dequantize()).map(|(a, b)| a - b).collect();
        let noise: f64 = st.row_errors(&h, &d, t.n)?.iter().sum();
        let signal = st.output_power(&h, &w, t.n, float_bias(&q, &t.name).as_deref())?;
        sens.push(LayerSensitivity {
            name: t.name.clone(),
            shape: [t.n, t.k],
            sqnr_db: 10.0 * (signal / noise.max(1e-30)).log10(),
            kept: cfg.keep.contains(&t.name),
        });
        weights.push(qw);
    }
    progress("quantize", layers.len(), layers.len());
    let mut order: Vec<usize> = (0..sens.len()).collect();
    order.sort_by(|&a, &b| sens[a].sqnr_db.total_cmp(&sens[b].sqnr_db));
    for &i in order.iter().take(cfg.keep_sensitive) {
        sens[i].kept = true;
    }
    for (t, (qw, s)) in layers.iter().zip(weights.iter().zip(&sens)) {
        if s.kept {
            continue;
        }
        let i = targets::node_index(&q, &t.name).ok_or_else(|| cfg_err(&t.name))?;
        let name = q.value(q.nodes[i].inputs[1]).name.clone();
        let id = q.add_value(qw.to_value(&name));
        q.nodes[i].inputs[1] = id;
    }
    compact(&mut q);
    q.validate()?;
    if cfg.act == WqAct::Int8 {
        let mut c = Calibrator::new(&q, cfg.observer)?;
        for (i, x) in cal.iter().enumerate() {
            c.observe(x.clone())?;
            progress("calibrate", i + 1, cal.len());
        }
        q = convert(&q, &c.ranges())?;
    }
    Ok(WqOutput {
        graph: q,
        layers: sens,
        awq,
    })
}

/// Errors on settings the formats or kernels cannot take, naming the layer.
fn check_config(layers: &[Target], cfg: &WqConfig) -> Result<()> {
    if layers.is_empty() {
        return Err(cfg_err("the graph has no linear layers to quantize"));
    }
    let names: HashSet<&str> = layers.iter().map(|t| t.name.as_str()).collect();
    if let Some(k) = cfg.keep.iter().find(|k| !names.contains(k.as_str())) {
        return Err(cfg_err(format!(
            "--keep {k:?} is not a linear layer of the graph (they are: {})",
            layers
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if let Some(b) = cfg.block {
        if b == 0 || !b.is_multiple_of(32) {
            return Err(cfg_err(format!(
                "block size {b}: XNNPACK takes multiples of 32 (32, 64, 128)"
            )));
        }
        if cfg.act == WqAct::Int8 {
            return Err(cfg_err(
                "static int8 activations need per-channel int4 weights (XNNPACK has no int8 × blockwise int4)",
            ));
        }
        if let Some(t) = layers.iter().find(|t| !t.k.is_multiple_of(b)) {
            return Err(Error::Quant {
                node: t.name.clone(),
                what: format!("block size {b} does not divide its {} input channels", t.k),
            });
        }
    }
    if let Some(t) = layers.iter().find(|t| !t.k.is_multiple_of(2)) {
        return Err(Error::Quant {
            node: t.name.clone(),
            what: format!(
                "{} input channels: XNNPACK's int4 layers need an even number",
                t.k
            ),
        });
    }
    if !(cfg.damp > 0.0 && cfg.damp.is_finite()) {
        return Err(cfg_err(format!("damping {} must be positive", cfg.damp)));
    }
    Ok(())
}

/// The float32 weights of FC `name` in `g`.
fn float_weights(g: &Graph, name: &str) -> Result<Vec<f32>> {
    let i = targets::node_index(g, name).ok_or_else(|| cfg_err(name))?;
    match &g.value(g.nodes[i].inputs[1]).data {
        Some(ConstData::F32(w)) => Ok(w.clone()),
        _ => Err(Error::Quant {
            node: name.to_string(),
            what: "weights are not float32 constants".into(),
        }),
    }
}

/// The float32 bias of FC `name` in `g`, if it has one.
fn float_bias(g: &Graph, name: &str) -> Option<Vec<f32>> {
    let i = targets::node_index(g, name)?;
    let b = g.nodes[i].inputs.get(2)?;
    g.value(*b).data.as_ref()?.as_f32().map(<[f32]>::to_vec)
}
