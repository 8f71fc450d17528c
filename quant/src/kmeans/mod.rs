//! k-means weight sharing (Han et al., "Deep Compression"): each FULLY_CONNECTED / CONV_2D /
//! DEPTHWISE_CONV_2D weight tensor is clustered into at most 2^b values, and every weight replaced
//! by its centroid.
//!
//! The result is still a float graph: a `.tflite` file of it stores the shared weights
//! dequantized (float32, or int8 after PTQ), so the file itself does not shrink. The compressed
//! size reported here is what a codebook format would store: b bits per weight index plus a
//! float32 codebook per layer (biases and every other constant stay float32).

mod cluster;

pub use cluster::{kmeans_1d, Clusters};

use rayon::prelude::*;

use crate::graph::{ConstData, Graph, Op, ValueId};
use crate::nn::layers::mix64;
use crate::{Error, Result};

/// What weight sharing did to one layer.
#[derive(Clone, Debug, serde::Serialize)]
pub struct KmeansLayer {
    /// The layer (node) name.
    pub name: String,
    /// Its TFLite op.
    pub op: &'static str,
    /// Number of weights.
    pub weights: usize,
    /// Distinct shared values (at most 2^bits).
    pub clusters: usize,
    /// Lloyd iterations until the assignment was stable.
    pub iterations: usize,
    /// Signal-to-quantization-noise ratio of the shared weights, 10·log10(Σw² / Σ(w − ŵ)²), dB.
    pub sqnr_db: f64,
    /// The weights as float32: 4 bytes each.
    pub float_bytes: usize,
    /// ⌈weights·bits/8⌉ index bytes plus a float32 codebook of `clusters` entries.
    pub compressed_bytes: usize,
}

/// Replaces the weights of every FULLY_CONNECTED and convolution layer of the float graph `g` by
/// their nearest of at most 2^`bits` k-means centroids (k-means++ seeded from `seed`, per layer).
pub fn kmeans_share(g: &Graph, bits: u32, seed: u64) -> Result<(Graph, Vec<KmeansLayer>)> {
    if !(1..=8).contains(&bits) {
        return Err(Error::Quant {
            node: "kmeans".into(),
            what: format!("bits must be 1..=8 (2^bits clusters per layer), got {bits}"),
        });
    }
    let mut seen: Vec<ValueId> = Vec::new();
    let mut jobs = Vec::new();
    for n in &g.nodes {
        let is_layer = matches!(
            n.op,
            Op::FullyConnected { .. } | Op::Conv2d { .. } | Op::DepthwiseConv2d { .. }
        );
        let Some(&w) = n.inputs.get(1).filter(|_| is_layer) else {
            continue;
        };
        // A weight tensor shared by two layers is clustered once.
        if seen.contains(&w) {
            continue;
        }
        if let Some(ConstData::F32(d)) = &g.value(w).data {
            seen.push(w);
            jobs.push((n.name.clone(), n.op.name(), w, d.as_slice()));
        }
    }
    let k = 1usize << bits;
    let done: Vec<(ValueId, Vec<f32>, KmeansLayer)> = jobs
        .par_iter()
        .enumerate()
        .map(|(i, &(ref name, op, w, d))| {
            let c = kmeans_1d(
                d,
                k,
                mix64(seed ^ (i as u64).wrapping_mul(0xA24B_AED4_963E_E407)),
            );
            let shared: Vec<f32> = d.iter().map(|&v| c.centroids[c.nearest(v)]).collect();
            let (signal, noise) = d
                .iter()
                .zip(&shared)
                .fold((0f64, 0f64), |(s, e), (&a, &b)| {
                    (s + (a as f64).powi(2), e + (a as f64 - b as f64).powi(2))
                });
            let layer = KmeansLayer {
                name: name.clone(),
                op,
                weights: d.len(),
                clusters: c.centroids.len(),
                iterations: c.iterations,
                sqnr_db: 10.0 * (signal / noise.max(1e-30)).log10(),
                float_bytes: 4 * d.len(),
                compressed_bytes: (d.len() * bits as usize).div_ceil(8) + 4 * c.centroids.len(),
            };
            (w, shared, layer)
        })
        .collect();
    let mut out = g.clone();
    let mut layers = Vec::with_capacity(done.len());
    for (w, shared, layer) in done {
        out.value_mut(w).data = Some(ConstData::F32(shared));
        layers.push(layer);
    }
    Ok((out, layers))
}

/// Bytes of the model in a codebook format: the shared layers compressed, every other float32
/// constant at 4 bytes per element, other constants at their element size.
pub fn compressed_bytes(g: &Graph, layers: &[KmeansLayer]) -> usize {
    let all: usize = g
        .values
        .iter()
        .filter_map(|v| v.data.as_ref())
        .map(|d| match d {
            ConstData::F32(v) => 4 * v.len(),
            ConstData::I8(v) => v.len(),
            ConstData::I32(v) => 4 * v.len(),
            ConstData::I4(v) => v.len().div_ceil(2),
        })
        .sum();
    let shared_float: usize = layers.iter().map(|l| l.float_bytes).sum();
    let shared: usize = layers.iter().map(|l| l.compressed_bytes).sum();
    all.saturating_sub(shared_float) + shared
}
