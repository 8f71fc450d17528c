//! Methods that train again before quantizing — magnitude pruning with gradual fine-tuning and a
//! distilled smaller student — run as `inkling train` child processes on the float checkpoint's
//! data, split and recipe, so they get the training command's progress, checkpoints and logs.

use std::path::{Path, PathBuf};
use std::process::Command;

use inkling::quant::graph::Graph;

use crate::data::Result;
use crate::quantize::float_graph;
use crate::quantize::Inputs as Context;
use crate::train::recipe::Recipe;

/// `inkling train` with the recipe's data, classes, split, seed and optimisation settings, plus
/// `extra`, writing into `out`; returns `out/best.safetensors`.
pub fn train_child(
    recipe: &Recipe,
    threads: Option<usize>,
    extra: &[String],
    out: &Path,
) -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| format!("inkling executable: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("train")
        .args(["--data", &recipe.data])
        .args(["--classes", &recipe.classes.join(",")])
        .args(["--val-fraction", &recipe.val_fraction.to_string()])
        .args(["--seed", &recipe.seed.to_string()])
        .args(["--batch-size", &recipe.batch_size.to_string()])
        .args(["--optimizer", &recipe.optimizer])
        .args(["--weight-decay", &recipe.weight_decay.to_string()])
        .args(["--label-smoothing", &recipe.label_smoothing.to_string()])
        .args(["--augment", &recipe.augment])
        .args(extra)
        .arg("--out")
        .arg(out);
    if let Some(n) = recipe.samples_per_class {
        cmd.args(["--samples-per-class", &n.to_string()]);
    }
    if let Some(t) = threads {
        cmd.args(["--threads", &t.to_string()]);
    }
    let status = cmd
        .status()
        .map_err(|e| format!("inkling train: cannot start: {e}"))?;
    if !status.success() {
        return Err(format!("inkling train ({}) failed: {status}", out.display()).into());
    }
    Ok(out.join("best.safetensors"))
}

/// The prepared float graph of a checkpoint.
pub fn graph_of(path: &Path) -> Result<Graph> {
    let mut t = crate::trained::load(path)?;
    Ok(float_graph(&mut t)?.0)
}

/// The teacher's architecture halved in depth and width (at least 1 block, width a multiple of its
/// heads), as `inkling train` flags.
pub fn student_flags(ctx: &Context) -> Result<Vec<String>> {
    let cfg: serde_json::Value = serde_json::from_str(&ctx.trained.model.config_json())
        .map_err(|e| format!("model config: {e}"))?;
    let get = |k: &str| {
        cfg[k]
            .as_u64()
            .map(|v| v as usize)
            .ok_or_else(|| format!("distillation needs a ViT teacher (no {k:?} in its config)"))
    };
    let (depth, width, heads, mlp, patch, side) = (
        get("depth")?,
        get("width")?,
        get("heads")?,
        get("mlp_dim")?,
        get("patch")?,
        get("image_size")?,
    );
    let heads_s = (heads / 2).max(1);
    let width_s = ((width / 2) / heads_s).max(1) * heads_s;
    Ok([
        ("--depth", (depth / 2).max(1)),
        ("--width", width_s),
        ("--heads", heads_s),
        ("--mlp-dim", (mlp / 2).max(1)),
        ("--patch", patch),
        ("--image-size", side),
    ]
    .iter()
    .flat_map(|(f, v)| [f.to_string(), v.to_string()])
    .collect())
}
