//! Unstructured L1 (magnitude) pruning: the smallest |w| are zeroed, either the same fraction of
//! every layer or the fraction of all prunable weights under one global threshold.

use std::collections::HashMap;

use inkling_autograd::Tensor;

use super::Masks;
use crate::{Error, Module, Result};

/// Where the magnitude threshold is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Each layer loses the same fraction of its weights.
    PerLayer,
    /// One threshold over all the named weights: layers with many small weights lose more.
    Global,
}

/// Masks pruning `round(sparsity·n)` of the smallest-magnitude elements of the parameters
/// `names` (n counted per layer or over all of them, by `scope`). Ties at the threshold are broken
/// by position (earlier first), so the count is exact. Errors on a sparsity outside [0, 1] or a
/// name the model lacks.
pub fn magnitude_masks(
    model: &dyn Module,
    names: &[String],
    sparsity: f32,
    scope: Scope,
) -> Result<Masks> {
    if !(0.0..=1.0).contains(&sparsity) {
        return Err(Error::Config {
            what: format!("pruning sparsity {sparsity} is not in [0, 1]"),
        });
    }
    let mut by_name: HashMap<&str, Tensor> = HashMap::new();
    model.visit("", &mut |name, p, _| {
        if let Some(n) = names.iter().find(|n| *n == name) {
            by_name.insert(n.as_str(), p.value().detach());
        }
    });
    let mut weights = Vec::with_capacity(names.len());
    for n in names {
        let t = by_name.remove(n.as_str()).ok_or_else(|| Error::Mismatch {
            what: format!("pruning: the model has no parameter {n}"),
        })?;
        weights.push(t);
    }
    let mut masks = Masks::new();
    match scope {
        Scope::PerLayer => {
            for (n, w) in names.iter().zip(&weights) {
                let keep = keep_largest(&[w.data()], sparsity);
                masks.insert(n, w.shape(), &keep[0])?;
            }
        }
        Scope::Global => {
            let slices: Vec<&[f32]> = weights.iter().map(Tensor::data).collect();
            let keep = keep_largest(&slices, sparsity);
            for ((n, w), k) in names.iter().zip(&weights).zip(&keep) {
                masks.insert(n, w.shape(), k)?;
            }
        }
    }
    Ok(masks)
}

/// Keep flags for `xs` (taken as one sequence) dropping the `round(sparsity·total)` smallest |x|;
/// among equal magnitudes the earlier go first. NaN counts as the largest magnitude.
pub(crate) fn keep_largest(xs: &[&[f32]], sparsity: f32) -> Vec<Vec<bool>> {
    let total: usize = xs.iter().map(|x| x.len()).sum();
    let k = ((sparsity as f64 * total as f64).round() as usize).min(total);
    let mut keep: Vec<Vec<bool>> = xs.iter().map(|x| vec![true; x.len()]).collect();
    if k == 0 {
        return keep;
    }
    let mut mags: Vec<f32> = xs.iter().flat_map(|x| x.iter().map(|v| v.abs())).collect();
    let (_, &mut thr, _) = mags.select_nth_unstable_by(k - 1, f32::total_cmp);
    // Everything strictly below the threshold goes; then equal ones, in order, until k are gone.
    let below: usize = xs
        .iter()
        .flat_map(|x| x.iter())
        .filter(|v| v.abs().total_cmp(&thr).is_lt())
        .count();
    let mut ties = k - below;
    for (x, kp) in xs.iter().zip(keep.iter_mut()) {
        for (v, flag) in x.iter().zip(kp.iter_mut()) {
            match v.abs().total_cmp(&thr) {
                std::cmp::Ordering::Less => *flag = false,
                std::cmp::Ordering::Equal if ties > 0 => {
                    *flag = false;
                    ties -= 1;
                }
                _ => {}
            }
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Tiny;
    use inkling_autograd::Param;

    /// Two layers: `a` holds small weights, `b` large ones.
    struct Two {
        a: Param,
        b: Param,
    }

    impl Module for Two {
        fn visit(&self, _: &str, f: &mut dyn FnMut(&str, &Param, crate::ParamRole)) {
            f("a", &self.a, crate::ParamRole::Weight);
            f("b", &self.b, crate::ParamRole::Weight);
        }
        fn visit_mut(&mut self, _: &str, f: &mut dyn FnMut(&str, &mut Param, crate::ParamRole)) {
            f("a", &mut self.a, crate::ParamRole::Weight);
            f("b", &mut self.b, crate::ParamRole::Weight);
        }
    }

    fn two() -> Two {
        let p = |v: &[f32]| Param::new(Tensor::from_slice(&[2, 2], v).unwrap());
        Two {
            a: p(&[0.1, -0.4, 0.3, -0.2]),
            b: p(&[1.0, -3.0, 0.5, 2.0]),
        }
    }

    fn kept(m: &Masks, name: &str) -> Vec<f32> {
        m.get(name).unwrap().data().to_vec()
    }

    #[test]
    fn per_layer_and_global_thresholds_differ_on_a_hand_example() {
        let model = two();
        let names = ["a".to_string(), "b".to_string()];
        // Per layer, 50 %: two of each layer go (a: 0.1, 0.2; b: 0.5, 1.0).
        let m = magnitude_masks(&model, &names, 0.5, Scope::PerLayer).unwrap();
        assert_eq!(kept(&m, "a"), [0.0, 1.0, 1.0, 0.0]);
        assert_eq!(kept(&m, "b"), [0.0, 1.0, 0.0, 1.0]);
        // Global, 50 %: the 4 smallest of all 8 are all of a (threshold 0.4 < 0.5).
        let g = magnitude_masks(&model, &names, 0.5, Scope::Global).unwrap();
        assert_eq!(kept(&g, "a"), [0.0; 4]);
        assert_eq!(kept(&g, "b"), [1.0; 4]);
        // Global, 62.5 %: 5 go, the fifth is b's 0.5.
        let g = magnitude_masks(&model, &names, 0.625, Scope::Global).unwrap();
        assert_eq!(kept(&g, "b"), [1.0, 1.0, 0.0, 1.0]);
        assert_eq!(g.zeros(), 5);
    }

    #[test]
    fn ties_break_by_position_and_the_count_is_exact() {
        let keep = keep_largest(&[&[0.0, 1.0, 0.0], &[0.0, 2.0]], 0.4);
        assert_eq!(keep, [vec![false, true, false], vec![true, true]]);
        assert_eq!(keep_largest(&[&[3.0, 1.0]], 0.0), [vec![true, true]]);
        assert_eq!(keep_largest(&[&[3.0, 1.0]], 1.0), [vec![false, false]]);
        assert_eq!(keep_largest(&[&[]], 0.5), [Vec::<bool>::new()]);
    }

    #[test]
    fn bad_sparsity_and_unknown_names_are_errors() {
        let m = Tiny::small();
        let names = ["fc.weight".to_string()];
        assert!(magnitude_masks(&m, &names, 1.5, Scope::Global).is_err());
        assert!(magnitude_masks(&m, &names, f32::NAN, Scope::Global).is_err());
        let e = magnitude_masks(&m, &["nope".to_string()], 0.5, Scope::PerLayer).unwrap_err();
        assert!(e.to_string().contains("no parameter nope"), "{e}");
    }
}
