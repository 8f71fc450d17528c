//! Preprocessed images of a data source as single-image runtime inputs (NHWC, what the exported
//! graph takes), with their labels.

use std::sync::Arc;

use inkling::data::pipeline::{Loader, LoaderConfig, Preprocess};
use inkling::data::BitmapSource;
use inkling::quant::runtime::Buf;

use crate::data::Result;

/// One preprocessed image (`[1, H, W, C]`) and its label in the source's class order.
pub struct Image {
    /// The graph input.
    pub input: Buf,
    /// The source's label.
    pub label: usize,
}

/// Loads `indices` of `source` preprocessed by `pre`, without augmentation, in order.
pub fn load(
    source: &Arc<dyn BitmapSource>,
    indices: Vec<usize>,
    pre: Preprocess,
) -> Result<Vec<Image>> {
    let loader = Loader::new(
        Arc::clone(source),
        indices,
        LoaderConfig {
            batch_size: 256,
            prefetch: 2,
            shuffle: false,
            drop_last: false,
            seed: 0,
            preprocess: pre,
            augmentation: None,
        },
    )?;
    let mut out = Vec::new();
    for batch in loader.epoch(0)? {
        let b = batch?;
        let [n, c, h, w] = b.shape;
        let per = c * h * w;
        for i in 0..n {
            let img = &b.images[i * per..(i + 1) * per];
            // NCHW → NHWC (the same bytes when C = 1).
            let mut nhwc = vec![0f32; per];
            for ch in 0..c {
                for p in 0..h * w {
                    nhwc[p * c + ch] = img[ch * h * w + p];
                }
            }
            out.push(Image {
                input: Buf::f32(&[1, h, w, c], nhwc),
                label: b.labels[i] as usize,
            });
        }
    }
    Ok(out)
}

/// Index of the largest logit (the first on ties; NaN never wins).
pub fn argmax(logits: &Buf) -> usize {
    let vals: Vec<f32> = match (logits.as_f32(), logits.as_i8()) {
        (Some(v), _) => v.to_vec(),
        (None, Some(v)) => v.iter().map(|&q| q as f32).collect(),
        _ => return 0,
    };
    inkling::nn::metrics::arg_max(&vals)
}
