//! Calibration statistics for SmoothQuant: per-channel max|x| of every smoothable input.

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

use crate::graph::{Graph, ValueId};
use crate::runtime::{Buf, Session};
use crate::{Error, Result};

/// Per input channel (last axis) max|x| over calibration inputs, for each smoothable
/// FULLY_CONNECTED input of one graph.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChannelStats {
    max: BTreeMap<ValueId, Vec<f32>>,
    /// Number of calibration inputs observed.
    pub images: usize,
}

impl ChannelStats {
    /// Statistics given directly (tests, hand examples): channel maxima per input value.
    pub fn from_maxima(max: BTreeMap<ValueId, Vec<f32>>, images: usize) -> ChannelStats {
        ChannelStats { max, images }
    }

    /// The channel maxima of value `id`, if it was observed.
    pub fn get(&self, id: ValueId) -> Option<&[f32]> {
        self.max.get(&id).map(Vec::as_slice)
    }
}

/// Runs the float graph `g` on `cal` (in parallel) and records per-channel max|x| of each input
/// SmoothQuant could fold into.
pub fn channel_max(g: &Graph, cal: &[Buf]) -> Result<ChannelStats> {
    if cal.is_empty() {
        return Err(Error::Quant {
            node: "smoothquant".into(),
            what: "channel statistics need at least one calibration input".into(),
        });
    }
    let (sites, _) = super::sites::find(g);
    let width: HashMap<ValueId, usize> = sites
        .iter()
        .map(|s| (s.input, *g.value(s.input).shape.last().unwrap_or(&1)))
        .collect();
    let session = Session::new(g)?;
    let max = cal
        .par_iter()
        .try_fold(BTreeMap::new, |mut acc: BTreeMap<ValueId, Vec<f32>>, x| {
            session.run_observed(vec![x.clone()], &mut |id, b| {
                let (Some(&k), Some(v)) = (width.get(&id), b.as_f32()) else {
                    return;
                };
                let m = acc.entry(id).or_insert_with(|| vec![0.0; k]);
                for row in v.chunks_exact(k) {
                    for (m, &x) in m.iter_mut().zip(row) {
                        // f32::max ignores a NaN operand.
                        *m = m.max(x.abs());
                    }
                }
            })?;
            Ok::<_, Error>(acc)
        })
        .try_reduce(BTreeMap::new, |mut a, b| {
            for (id, v) in b {
                let m = a.entry(id).or_insert_with(|| vec![0.0; v.len()]);
                for (m, x) in m.iter_mut().zip(v) {
                    *m = m.max(x);
                }
            }
            Ok(a)
        })?;
    Ok(ChannelStats {
        max,
        images: cal.len(),
    })
}
