//! What every compression method of a report starts from: the trained model, its float graph,
//! the calibration images and the validation images, loaded once.

use std::path::Path;

use inkling::data::pipeline::calibration_indices;
use inkling::quant::export::ModelInfo;
use inkling::quant::graph::Graph;

use crate::data::Result;
use crate::images::Image;
use crate::quantize::float_graph;
use crate::train::{preprocess_for, recipe::Recipe};
use crate::trained::{self, Trained};

/// A trained model with its data, as every method sees it (same calibration set, same split).
pub struct Context {
    /// The model, weights loaded.
    pub trained: Trained,
    /// The prepared float32 graph (TFLite layouts, BatchNorm folded).
    pub graph: Graph,
    /// Class names and preprocessing, for exported files.
    pub info: ModelInfo,
    /// Class-balanced calibration images from the training split (not augmented).
    pub cal: Vec<Image>,
    /// Validation images (evenly spaced over the split, so every class is covered).
    pub val: Vec<Image>,
    /// How the model was trained (data, split, optimisation), for methods that train again.
    pub recipe: Recipe,
}

impl Context {
    /// Loads `checkpoint` (an `inkling train` checkpoint with its recipe) with `calibration`
    /// calibration images and `eval` validation images (`None`: the whole validation split).
    pub fn load(checkpoint: &Path, calibration: usize, eval: Option<usize>) -> Result<Context> {
        let mut t = trained::load(checkpoint)?;
        let recipe = t.recipe.clone().ok_or_else(|| {
            format!(
                "{}: not a training checkpoint (no recipe): calibration needs the training data",
                checkpoint.display()
            )
        })?;
        let data = trained::training_data(&recipe, checkpoint)?;
        let split = trained::training_split(&recipe, &*data.source)?;
        let n_cal = calibration.min(split.train.len());
        if n_cal == 0 {
            return Err("--calibration-samples must be at least 1".into());
        }
        let cal_idx = calibration_indices(&*data.source, &split.train, n_cal, recipe.seed)?;
        let pre = preprocess_for(&*t.model);
        let (graph, info) = float_graph(&mut t)?;
        let cal = crate::images::load(&data.source, cal_idx, pre)?;
        let n_eval = eval.unwrap_or(split.val.len()).min(split.val.len());
        let picked: Vec<usize> = (0..n_eval)
            .map(|i| split.val[i * split.val.len() / n_eval.max(1)])
            .collect();
        let val = crate::images::load(&data.source, picked, pre)?;
        Ok(Context {
            trained: t,
            graph,
            info,
            cal,
            val,
            recipe,
        })
    }
}
