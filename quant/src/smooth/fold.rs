//! Folding smoothing factors into the affine before and the weights after each site.

use crate::graph::{ConstData, Graph, ValueId};
use crate::{Error, Result};

use super::sites::{find, Site};
use super::ChannelStats;

/// Floor of weight maxima and of factors, as in the reference implementation (`clamp(min=1e-5)`):
/// keeps a dead channel from dividing by zero.
const FLOOR: f32 = 1e-5;

/// One smoothed site.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SmoothedSite {
    /// The smoothed value (the LayerNorm's output).
    pub name: String,
    /// The FULLY_CONNECTED layers whose weights absorbed the factors.
    pub layers: Vec<String>,
    /// Channels.
    pub channels: usize,
    /// Smallest and largest factor s_j.
    pub factor_range: (f32, f32),
    /// How far the worst channel sticks out before smoothing: the largest channel max|x_j| over
    /// the median one.
    pub outlier_ratio_before: f32,
    /// The same ratio of the smoothed activation (channel maxima max|x_j|/s_j).
    pub outlier_ratio_after: f32,
}

/// A FULLY_CONNECTED input left as it was.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SkippedSite {
    /// The input value.
    pub name: String,
    /// Its readers.
    pub layers: Vec<String>,
    /// Why it cannot be smoothed exactly.
    pub reason: String,
}

/// What [`smooth`] did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SmoothSummary {
    /// Migration strength α.
    pub alpha: f32,
    /// Sites smoothed.
    pub smoothed: Vec<SmoothedSite>,
    /// FULLY_CONNECTED inputs not smoothed, with the reason.
    pub skipped: Vec<SkippedSite>,
}

/// SmoothQuant factors of one site: `s_j = max|X_j|^α / max|W_j|^(1−α)`, where `max|W_j|` is over
/// column j of every layer reading the site; both floors as in the reference.
pub fn factors(act_max: &[f32], weight_max: &[f32], alpha: f32) -> Vec<f32> {
    act_max
        .iter()
        .zip(weight_max)
        .map(|(&a, &w)| (a.powf(alpha) / w.max(FLOOR).powf(1.0 - alpha)).max(FLOOR))
        .collect()
}

/// Returns `g` with every foldable site smoothed at strength `alpha` ∈ (0, 1] (α = 0 means "no
/// smoothing": use `g` itself). The result computes the same function up to float rounding.
pub fn smooth(g: &Graph, stats: &ChannelStats, alpha: f32) -> Result<(Graph, SmoothSummary)> {
    if !(alpha > 0.0 && alpha <= 1.0) {
        return Err(Error::Quant {
            node: "smoothquant".into(),
            what: format!("α must be in (0, 1] (0 is the unsmoothed graph), got {alpha}"),
        });
    }
    let (sites, skips) = find(g);
    let mut out = g.clone();
    let mut smoothed = Vec::new();
    for site in &sites {
        smoothed.push(fold_site(&mut out, site, stats, alpha)?);
    }
    let names = |ids: &[usize]| ids.iter().map(|&i| g.nodes[i].name.clone()).collect();
    let skipped = skips
        .iter()
        .map(|s| SkippedSite {
            name: g.value(s.input).name.clone(),
            layers: names(&s.consumers),
            reason: s.reason.clone(),
        })
        .collect();
    out.validate()?;
    Ok((
        out,
        SmoothSummary {
            alpha,
            smoothed,
            skipped,
        },
    ))
}

/// Divides γ and β of `site` by its factors and multiplies its layers' weight columns by them.
fn fold_site(g: &mut Graph, site: &Site, stats: &ChannelStats, alpha: f32) -> Result<SmoothedSite> {
    let name = g.value(site.input).name.clone();
    let k = *g.value(site.input).shape.last().unwrap_or(&1);
    let act = stats.get(site.input).ok_or_else(|| Error::Quant {
        node: name.clone(),
        what: "no channel statistics (were they computed on this graph?)".into(),
    })?;
    if act.len() != k {
        return Err(Error::Quant {
            node: name,
            what: format!("statistics hold {} channels, the value has {k}", act.len()),
        });
    }
    let mut wmax = vec![0f32; k];
    for &fc in &site.fcs {
        for row in const_f32(g, g.nodes[fc].inputs[1]).chunks_exact(k) {
            for (m, &w) in wmax.iter_mut().zip(row) {
                *m = m.max(w.abs());
            }
        }
    }
    let s = factors(act, &wmax, alpha);
    for (node, slot) in [site.mul, site.add] {
        for (v, f) in own_const(g, node, slot).iter_mut().zip(&s) {
            *v /= f;
        }
    }
    for &fc in &site.fcs {
        for row in own_const(g, fc, 1).chunks_exact_mut(k) {
            for (w, f) in row.iter_mut().zip(&s) {
                *w *= f;
            }
        }
    }
    let after: Vec<f32> = act.iter().zip(&s).map(|(a, f)| a / f).collect();
    Ok(SmoothedSite {
        name,
        layers: site.fcs.iter().map(|&i| g.nodes[i].name.clone()).collect(),
        channels: k,
        factor_range: (
            s.iter().copied().fold(f32::INFINITY, f32::min),
            s.iter().copied().fold(0.0, f32::max),
        ),
        outlier_ratio_before: outlier_ratio(act),
        outlier_ratio_after: outlier_ratio(&after),
    })
}

/// max / median of channel maxima: how far the worst channel sticks out.
fn outlier_ratio(m: &[f32]) -> f32 {
    let mut s = m.to_vec();
    s.sort_by(f32::total_cmp);
    let med = s.get(s.len() / 2).copied().unwrap_or(0.0);
    s.last().copied().unwrap_or(0.0) / med.max(f32::MIN_POSITIVE)
}

/// The float data of a constant (sites are only found on float constants).
fn const_f32(g: &Graph, id: ValueId) -> &[f32] {
    g.value(id)
        .data
        .as_ref()
        .and_then(|d| d.as_f32())
        .unwrap_or(&[])
}

/// The float data of input `slot` of `node`, first copied into a constant of its own when anything
/// else reads it (so scaling it changes only this node).
fn own_const(g: &mut Graph, node: usize, slot: usize) -> &mut [f32] {
    let id = g.nodes[node].inputs[slot];
    let reads: usize = g
        .nodes
        .iter()
        .map(|n| n.inputs.iter().filter(|&&i| i == id).count())
        .sum();
    let id = if reads > 1 || g.outputs.contains(&id) {
        let mut v = g.value(id).clone();
        v.name = format!("{}.smoothed", v.name);
        let copy = g.add_value(v);
        g.nodes[node].inputs[slot] = copy;
        copy
    } else {
        id
    };
    match &mut g.value_mut(id).data {
        Some(ConstData::F32(d)) => d,
        _ => &mut [],
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::graph::{Act, Op};

    /// x[1, 2] → MUL γ → ADD β → FULLY_CONNECTED W[2, 2]; and, when `extra`, a RELU reading the
    /// affine's output too. Returns the graph and the affine's output.
    fn affine_fc(extra: bool) -> (Graph, ValueId) {
        let mut g = Graph::default();
        let x = g.add_activation("x", &[1, 2]);
        g.inputs = vec![x];
        let gamma = g.add_const_f32("gamma", &[2], vec![1.0, 2.0]);
        let beta = g.add_const_f32("beta", &[2], vec![0.5, -1.0]);
        let w = g.add_const_f32("w", &[2, 2], vec![1.0, -4.0, 0.5, 2.0]);
        let m = g.push("ln.scaled", Op::Mul, vec![x, gamma], &[1, 2], true);
        let a = g.push("ln.shifted", Op::Add, vec![m, beta], &[1, 2], true);
        let fc = Op::FullyConnected { act: Act::None };
        let y = g.push("fc", fc, vec![a, w], &[1, 2], false);
        g.outputs = vec![y];
        if extra {
            let r = g.push("relu", Op::Relu, vec![a], &[1, 2], false);
            g.outputs.push(r);
        }
        (g, a)
    }

    fn data(g: &Graph, name: &str) -> Vec<f32> {
        let v = g.values.iter().find(|v| v.name == name).unwrap();
        v.data.as_ref().unwrap().as_f32().unwrap().to_vec()
    }

    #[test]
    fn factors_and_folded_constants_match_a_hand_example() {
        let (g, a) = affine_fc(false);
        // max|x| = [4, 1]; column maxima of W = [1, 4].
        let stats = ChannelStats::from_maxima(BTreeMap::from([(a, vec![4.0, 1.0])]), 1);
        assert_eq!(factors(&[4.0, 1.0], &[1.0, 4.0], 0.5), vec![2.0, 0.5]);
        assert_eq!(factors(&[4.0, 0.0], &[1.0, 0.0], 1.0), vec![4.0, FLOOR]);
        let (s, sum) = smooth(&g, &stats, 0.5).unwrap();
        assert_eq!(data(&s, "gamma"), vec![0.5, 4.0]);
        assert_eq!(data(&s, "beta"), vec![0.25, -2.0]);
        assert_eq!(data(&s, "w"), vec![2.0, -2.0, 1.0, 1.0]);
        assert_eq!(sum.smoothed.len(), 1);
        assert_eq!(sum.smoothed[0].layers, vec!["fc".to_string()]);
        assert_eq!(sum.smoothed[0].factor_range, (0.5, 2.0));
        assert!(sum.skipped.is_empty());
        assert!(smooth(&g, &stats, 0.0).is_err());
        assert!(smooth(&g, &ChannelStats::default(), 0.5).is_err());
    }

    #[test]
    fn a_value_read_by_anything_but_layers_is_skipped_and_left_alone() {
        let (g, a) = affine_fc(true);
        let stats = ChannelStats::from_maxima(BTreeMap::from([(a, vec![4.0, 1.0])]), 1);
        let (s, sum) = smooth(&g, &stats, 0.5).unwrap();
        assert_eq!(s, g);
        assert!(sum.smoothed.is_empty());
        assert_eq!(sum.skipped.len(), 1);
        assert!(
            sum.skipped[0].reason.contains("also read by RELU relu"),
            "{}",
            sum.skipped[0].reason
        );
    }
}
