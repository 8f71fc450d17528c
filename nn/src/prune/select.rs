//! Which parameters unstructured pruning may touch.

use crate::{Module, ParamRole};

/// The prunable parameters of `model` in visiting order: linear and convolution weights (role
/// [`ParamRole::Weight`], rank ≥ 2), i.e. the transformer blocks' qkv, proj, fc1 and fc2 and the
/// patch embedding. Biases, norms, the class token and the position embedding never are. The
/// classifier `head.*` is left out unless `include_head`: it is 1–2 % of ViT-Tiny's weights and
/// every class depends on all of it.
pub fn prunable(model: &dyn Module, include_head: bool) -> Vec<String> {
    let mut out = Vec::new();
    model.visit("", &mut |name, p, role| {
        let is_head = name == "head" || name.starts_with("head.");
        if role == ParamRole::Weight && p.value().rank() >= 2 && (include_head || !is_head) {
            out.push(name.to_string());
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::Vit;
    use crate::testutil::tiny_vit;

    #[test]
    fn vit_prunable_weights_are_the_linear_and_conv_weights() {
        let cfg = tiny_vit(8, 1, 2, 16);
        let vit = Vit::new(cfg, 0).unwrap();
        let want = [
            "patch_embed.proj.weight",
            "blocks.0.attn.qkv.weight",
            "blocks.0.attn.proj.weight",
            "blocks.0.mlp.fc1.weight",
            "blocks.0.mlp.fc2.weight",
        ];
        assert_eq!(prunable(&vit, false), want);
        let with_head = prunable(&vit, true);
        assert_eq!(with_head.last().map(String::as_str), Some("head.weight"));
        assert_eq!(with_head.len(), want.len() + 1);
    }
}
