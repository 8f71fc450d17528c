//! Model pruning: unstructured magnitude pruning (per layer or global), structured pruning of
//! ViT attention heads and MLP channels, the gradual cubic sparsity schedule, masks that keep
//! pruned weights at zero through training, and the per-layer sparsity report.

mod magnitude;
mod mask;
mod pruner;
mod report;
mod schedule;
mod select;
mod structured;

pub use magnitude::{magnitude_masks, Scope};
pub use mask::Masks;
pub use pruner::{compute_masks, PruneKind, Pruner, PRUNE_KINDS};
pub use report::{is_body, sparsity_report, sparsity_table, total, LayerSparsity};
pub use schedule::CubicSchedule;
pub use select::prunable;
pub use structured::{head_masks, head_scores, mlp_masks};
