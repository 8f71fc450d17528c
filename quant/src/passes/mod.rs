//! Graph rewrites, run in order by [`prepare`]: constant folding, layout clean-up (NCHW traces to
//! NHWC without transposes), BatchNorm folding, lowering of LayerNorm and attention to TFLite ops,
//! activation fusion, dead-code removal.

mod dce;
mod fold_bn;
mod fold_constants;
mod fuse;
mod layout;
mod lower;

pub use dce::compact;
pub use fold_bn::fold_batch_norm;
pub use fold_constants::fold_constants;
pub use fuse::fuse_activations;
pub use layout::simplify_layout;
pub use lower::{lower_attention, lower_layer_norm};

use crate::graph::Graph;
use crate::Result;

/// Turns a traced graph into the float32 graph the runtime runs and the exporters write.
pub fn prepare(mut g: Graph) -> Result<Graph> {
    fold_constants(&mut g)?;
    simplify_layout(&mut g);
    compact(&mut g);
    fold_batch_norm(&mut g)?;
    lower_layer_norm(&mut g);
    lower_attention(&mut g)?;
    fuse_activations(&mut g);
    simplify_layout(&mut g);
    fold_constants(&mut g)?;
    compact(&mut g);
    g.validate()?;
    Ok(g)
}
