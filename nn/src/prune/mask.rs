//! `Masks`: which elements of which parameters are pruned, and keeping them pruned through
//! training (weights, gradients and optimizer moments).

use std::collections::{BTreeMap, HashMap};

use inkling_autograd::{Gradients, Tensor};

use crate::error::list;
use crate::optim::Optimizer;
use crate::{Error, Module, Result};

/// Per-parameter keep masks by parameter name: a tensor of the parameter's shape holding 1 (kept)
/// or 0 (pruned). Parameters without a mask are not pruned.
#[derive(Clone, Debug, Default)]
pub struct Masks {
    map: BTreeMap<String, Tensor>,
}

fn mismatch(what: String) -> Error {
    Error::Mismatch { what }
}

impl Masks {
    /// No masks.
    pub fn new() -> Masks {
        Masks::default()
    }

    /// Number of masked parameters.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no parameter is masked.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The mask of `name`, if it has one.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.map.get(name)
    }

    /// Masks by name, sorted.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.map.iter().map(|(n, t)| (n.as_str(), t))
    }

    /// Sets the mask of `name` from keep flags (`keep.len()` elements, shaped `shape`).
    pub fn insert(&mut self, name: &str, shape: &[usize], keep: &[bool]) -> Result<()> {
        let data = keep.iter().map(|&k| f32::from(u8::from(k))).collect();
        let t = Tensor::new(shape, data).map_err(|e| mismatch(format!("mask of {name}: {e}")))?;
        self.map.insert(name.to_string(), t);
        Ok(())
    }

    /// Pruned elements over all masks.
    pub fn zeros(&self) -> usize {
        self.map
            .values()
            .map(|m| m.data().iter().filter(|&&v| v == 0.0).count())
            .sum()
    }

    /// Also prunes what `other` prunes (element-wise AND of the keep flags), so that a gradual
    /// schedule never brings a pruned weight back. Masks of different shapes are an error.
    pub fn intersect(&mut self, other: &Masks) -> Result<()> {
        for (name, m) in &other.map {
            match self.map.get_mut(name) {
                None => {
                    self.map.insert(name.clone(), m.clone());
                }
                Some(mine) if mine.shape() == m.shape() => {
                    for (a, &b) in mine.data_mut().iter_mut().zip(m.data()) {
                        *a = a.min(b);
                    }
                }
                Some(mine) => {
                    return Err(mismatch(format!(
                        "masks of {name} have shapes {:?} and {:?}",
                        mine.shape(),
                        m.shape()
                    )))
                }
            }
        }
        Ok(())
    }

    /// Errors unless every mask names a parameter of `model` (not a buffer) with its shape and
    /// holds only 0 and 1.
    pub fn check(&self, model: &dyn Module) -> Result<()> {
        let mut shapes: HashMap<String, Vec<usize>> = HashMap::new();
        model.visit("", &mut |name, p, role| {
            if role != crate::ParamRole::Buffer {
                shapes.insert(name.to_string(), p.value().shape().to_vec());
            }
        });
        let unknown: Vec<&str> = self
            .map
            .keys()
            .filter(|n| !shapes.contains_key(*n))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(mismatch(format!(
                "pruning masks for parameters the model does not have: {}",
                list(&unknown)
            )));
        }
        for (name, m) in &self.map {
            if m.shape() != shapes[name].as_slice() {
                return Err(mismatch(format!(
                    "pruning mask of {name} has shape {:?}, the parameter {:?}",
                    m.shape(),
                    shapes[name]
                )));
            }
            if m.data().iter().any(|&v| v != 0.0 && v != 1.0) {
                return Err(mismatch(format!(
                    "pruning mask of {name} holds values other than 0 and 1"
                )));
            }
        }
        Ok(())
    }

    /// Sets the pruned elements of the model's parameters to exactly zero.
    pub fn apply(&self, model: &mut dyn Module) {
        model.visit_mut("", &mut |name, p, _| {
            if let Some(m) = self.map.get(name) {
                if m.shape() == p.value().shape() {
                    zero_where_pruned(p.value_mut().data_mut(), m.data());
                }
            }
        });
    }

    /// Zeroes the gradients of pruned elements, so that clipping and the optimizer see none.
    pub fn mask_grads(&self, model: &dyn Module, grads: &mut Gradients) {
        model.visit("", &mut |name, p, _| {
            if let (Some(m), Some(g)) = (self.map.get(name), grads.param_mut(p.id())) {
                if m.shape() == g.shape() {
                    zero_where_pruned(g.data_mut(), m.data());
                }
            }
        });
    }

    /// Zeroes the optimizer's per-element state (Adam moments, momentum buffers) of pruned
    /// elements. With zero gradients and zero moments a pruned weight's update is exactly zero, so
    /// the moments cannot move it again. Works through [`Optimizer::state`], so it needs no
    /// optimizer-specific code; state slots whose shape is not the mask's (step counters) are kept.
    pub fn zero_optimizer_state(&self, optimizer: &mut dyn Optimizer) -> Result<()> {
        let mut state = optimizer.state();
        let mut changed = false;
        for (key, t) in state.iter_mut() {
            let Some((param, _slot)) = key.rsplit_once('.') else {
                continue;
            };
            if let Some(m) = self.map.get(param) {
                if m.shape() == t.shape() {
                    zero_where_pruned(t.data_mut(), m.data());
                    changed = true;
                }
            }
        }
        if changed {
            optimizer.load_state(state)?;
        }
        Ok(())
    }

    /// The masks as named tensors `"{prefix}{param}"` (for checkpoints).
    pub fn to_tensors(&self, prefix: &str) -> Vec<(String, Tensor)> {
        self.map
            .iter()
            .map(|(n, t)| (format!("{prefix}{n}"), t.clone()))
            .collect()
    }

    /// Masks from [`Masks::to_tensors`] output with the prefix already removed, checked against
    /// `model` ([`Masks::check`]).
    pub fn from_tensors(model: &dyn Module, tensors: Vec<(String, Tensor)>) -> Result<Masks> {
        let mut map = BTreeMap::new();
        for (name, t) in tensors {
            if map.insert(name.clone(), t.detach()).is_some() {
                return Err(mismatch(format!("pruning mask of {name} given twice")));
            }
        }
        let masks = Masks { map };
        masks.check(model)?;
        Ok(masks)
    }
}

fn zero_where_pruned(x: &mut [f32], mask: &[f32]) {
    for (v, &m) in x.iter_mut().zip(mask) {
        if m == 0.0 {
            *v = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::{AdamW, AdamWConfig, Sgd, SgdConfig};
    use crate::testutil::{Tiny, GB, GW};

    fn masks(keep_w: [bool; 4]) -> Masks {
        let mut m = Masks::new();
        m.insert("fc.weight", &[2, 2], &keep_w).unwrap();
        m
    }

    /// AdamW with weight decay, then SGD with momentum: after steps whose gradients push every
    /// weight, the pruned ones are still exactly zero and their moments too.
    #[test]
    fn pruned_weights_stay_exactly_zero_through_optimizer_steps() {
        let opts: Vec<Box<dyn Optimizer>> = vec![
            Box::new(
                AdamW::new(AdamWConfig {
                    weight_decay: 0.1,
                    ..Default::default()
                })
                .unwrap(),
            ),
            Box::new(
                Sgd::new(SgdConfig {
                    momentum: 0.9,
                    nesterov: true,
                    weight_decay: 0.01,
                    ..Default::default()
                })
                .unwrap(),
            ),
        ];
        for mut opt in opts {
            let mut m = Tiny::small();
            // Two unmasked steps build up moments for every weight, then weights 1 and 2 are pruned.
            for k in 0..2 {
                let g = m.grads(&GW[k], Some(&GB[k]));
                opt.step(&mut m, &g, 0.05).unwrap();
            }
            let mk = masks([true, false, false, true]);
            mk.apply(&mut m);
            mk.zero_optimizer_state(&mut *opt).unwrap();
            for k in 0..12 {
                let mut g = m.grads(&GW[k % 4], Some(&GB[k % 4]));
                mk.mask_grads(&m, &mut g);
                opt.step(&mut m, &g, 0.05).unwrap();
                // Without re-applying the mask the weights must already be zero.
                let w = m.w();
                assert_eq!((w[1], w[2]), (0.0, 0.0), "{} step {k}: {w:?}", opt.name());
            }
            assert!(m.w()[0] != 0.0 && m.w()[3] != 0.0);
            for (key, t) in opt.state() {
                if key.starts_with("fc.weight.") && t.numel() == 4 {
                    assert_eq!((t.data()[1], t.data()[2]), (0.0, 0.0), "{key}");
                }
            }
        }
    }

    /// The control: without masking gradients and moments, the pruned weights come back.
    #[test]
    fn without_masking_the_moments_resurrect_pruned_weights() {
        let mut m = Tiny::small();
        let mut opt = AdamW::new(AdamWConfig::default()).unwrap();
        let g = m.grads(&GW[0], Some(&GB[0]));
        opt.step(&mut m, &g, 0.05).unwrap();
        masks([true, false, false, true]).apply(&mut m);
        let g = m.grads(&[0.0; 4], Some(&GB[1]));
        opt.step(&mut m, &g, 0.05).unwrap();
        assert!(m.w()[2] != 0.0, "{:?}", m.w());
    }

    #[test]
    fn intersect_check_and_round_trip() {
        let mut a = masks([true, true, false, true]);
        a.intersect(&masks([false, true, true, true])).unwrap();
        assert_eq!(a.get("fc.weight").unwrap().data(), &[0.0, 1.0, 0.0, 1.0]);
        assert_eq!(a.zeros(), 2);
        let m = Tiny::small();
        let back = Masks::from_tensors(&m, a.to_tensors("p.")).unwrap_err();
        assert!(back.to_string().contains("p.fc.weight"), "{back}");
        let back = Masks::from_tensors(&m, a.to_tensors("")).unwrap();
        assert_eq!(back.get("fc.weight").unwrap().data(), &[0.0, 1.0, 0.0, 1.0]);
        assert_eq!(back.len(), 1);
        let mut wrong = Masks::new();
        wrong.insert("fc.weight", &[4], &[true; 4]).unwrap();
        assert!(wrong
            .check(&m)
            .unwrap_err()
            .to_string()
            .contains("shape [4]"));
        let mut other = Masks::new();
        other.insert("head.weight", &[1], &[true]).unwrap();
        let e = other.check(&m).unwrap_err().to_string();
        assert!(e.contains("does not have: head.weight"), "{e}");
        let bad = vec![(
            "fc.weight".to_string(),
            Tensor::from_slice(&[2, 2], &[1.0, 0.5, 0.0, 1.0]).unwrap(),
        )];
        assert!(Masks::from_tensors(&m, bad).is_err());
        assert!(a.intersect(&wrong).is_err());
    }
}
