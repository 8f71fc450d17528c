//! A linear classifier on raw pixels (multinomial logistic regression): the baseline that shows how
//! much a dataset needs more than a linear decision rule.

use inkling_autograd::{ops, Param, Result, Tensor};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::layers::Linear;
use crate::module::join;
use crate::{Ctx, Error, Model, Module, ParamRole};

/// Input and output sizes of [`LinearClassifier`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearConfig {
    /// Input side in pixels (square).
    pub image_size: usize,
    /// Input channels.
    pub in_chans: usize,
    /// Number of classes.
    pub classes: usize,
}

/// `logits = flatten(x)·Wᵀ + b`.
#[derive(Debug)]
pub struct LinearClassifier {
    cfg: LinearConfig,
    head: Linear,
}

impl LinearClassifier {
    /// Weights trunc-normal(0.02), bias zero, from `seed`.
    pub fn new(cfg: LinearConfig, seed: u64) -> crate::Result<LinearClassifier> {
        if cfg.image_size == 0 || cfg.in_chans == 0 || cfg.classes == 0 {
            return Err(Error::Config {
                what: format!("linear classifier: sizes must be positive, got {cfg:?}"),
            });
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let inp = cfg.in_chans * cfg.image_size * cfg.image_size;
        let head = Linear::new(inp, cfg.classes, true, &mut rng);
        Ok(LinearClassifier { cfg, head })
    }

    /// Parses [`Model::config_json`] output (`"arch": "linear"`).
    pub fn from_config_json(json: &str) -> crate::Result<LinearClassifier> {
        let mut v: serde_json::Value = serde_json::from_str(json).map_err(|e| Error::Config {
            what: format!("model config is not JSON: {e}"),
        })?;
        v.as_object_mut().and_then(|m| m.remove("arch"));
        let cfg = serde_json::from_value(v).map_err(|e| Error::Config {
            what: format!("linear classifier config: {e}"),
        })?;
        LinearClassifier::new(cfg, 0)
    }
}

impl Model for LinearClassifier {
    fn forward(&mut self, x: &Tensor, _ctx: &Ctx) -> Result<Tensor> {
        let [c, h, w] = self.input_shape();
        if x.rank() != 4 || x.shape()[1..] != [c, h, w] {
            inkling_autograd::bail_shape!(
                "linear classifier",
                "expected images [N, {c}, {h}, {w}], got {:?}",
                x.shape()
            );
        }
        let flat = ops::reshape(x, &[x.dim(0), c * h * w])?;
        self.head.forward(&flat)
    }

    fn config_json(&self) -> String {
        let mut v = serde_json::to_value(&self.cfg).unwrap_or_default();
        if let Some(m) = v.as_object_mut() {
            m.insert("arch".into(), "linear".into());
        }
        v.to_string()
    }

    fn input_shape(&self) -> [usize; 3] {
        [self.cfg.in_chans, self.cfg.image_size, self.cfg.image_size]
    }
}

impl Module for LinearClassifier {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param, ParamRole)) {
        self.head.visit(&join(prefix, "head"), f);
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param, ParamRole)) {
        self.head.visit_mut(&join(prefix, "head"), f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inkling_autograd::gradcheck::rand_tensor;

    #[test]
    fn linear_classifier_is_one_matrix_product_and_round_trips() {
        let cfg = LinearConfig {
            image_size: 3,
            in_chans: 1,
            classes: 2,
        };
        let mut m = LinearClassifier::new(cfg.clone(), 1).unwrap();
        let x = rand_tensor(&[2, 1, 3, 3], 2);
        let y = m.forward(&x, &Ctx::eval()).unwrap();
        let w = m.head.weight.value().data().to_vec();
        for i in 0..2 {
            for j in 0..2 {
                let r: f32 = (0..9).map(|k| x.data()[i * 9 + k] * w[j * 9 + k]).sum();
                assert!((y.data()[i * 2 + j] - r).abs() < 1e-5);
            }
        }
        let back = LinearClassifier::from_config_json(&m.config_json()).unwrap();
        assert_eq!(back.cfg, cfg);
        assert!(m
            .forward(&rand_tensor(&[2, 1, 4, 4], 3), &Ctx::eval())
            .is_err());
    }
}
