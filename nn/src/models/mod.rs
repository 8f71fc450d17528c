//! Models: classifiers from images `[N, C, H, W]` to logits, built from [`crate::layers`].

pub mod linear;
pub mod vit;

pub use linear::{LinearClassifier, LinearConfig};
pub use vit::{Vit, VitConfig};

use crate::{Error, Model, Result};

/// Builds a model, with fresh weights, from the JSON of [`Model::config_json`] (a checkpoint's
/// `inkling.model`); errors on an unknown architecture or a bad config.
pub fn from_config_json(json: &str) -> Result<Box<dyn Model>> {
    let arch = serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v.get("arch").and_then(|a| a.as_str()).map(str::to_string));
    match arch.as_deref() {
        Some("vit") => Ok(Box::new(Vit::new(VitConfig::from_config_json(json)?, 0)?)),
        Some("linear") => Ok(Box::new(LinearClassifier::from_config_json(json)?)),
        Some(other) => Err(Error::Config {
            what: format!("unknown model architecture {other:?} (known: vit, linear)"),
        }),
        None => Err(Error::Config {
            what: "model config has no \"arch\"".into(),
        }),
    }
}
