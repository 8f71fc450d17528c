//! The class token prepended to the patch tokens and the learned position embedding added to all
//! tokens. Each holds one tensor whose checkpoint name is the prefix itself (`cls_token`,
//! `pos_embed`), as in timm.

use inkling_autograd::{ops, Param, Result, Tensor};
use rand::Rng;

use super::init;
use crate::{Module, ParamRole};

/// A learned `[1, 1, D]` token prepended to every sequence.
#[derive(Debug)]
pub struct ClassToken {
    /// `[1, 1, D]`.
    pub token: Param,
}

impl ClassToken {
    /// Normal(0, std²); timm's ViT uses std 1e-6.
    pub fn new(dim: usize, std: f32, rng: &mut impl Rng) -> ClassToken {
        ClassToken {
            token: Param::new(init::normal(&[1, 1, dim], std, rng)),
        }
    }

    /// The token repeated over the batch, `[B, 1, D]` (a broadcast add, whose gradient sums over B).
    pub fn expand(&self, batch: usize) -> Result<Tensor> {
        let d = self.token.value().numel();
        ops::add(&Tensor::zeros(&[batch, 1, d]), &self.token.tensor())
    }
}

/// A learned `[1, T, D]` position embedding.
#[derive(Debug)]
pub struct PosEmbed {
    /// `[1, T, D]`.
    pub pos: Param,
}

impl PosEmbed {
    /// timm's ViT initialisation: trunc-normal(std 0.02).
    pub fn new(tokens: usize, dim: usize, rng: &mut impl Rng) -> PosEmbed {
        PosEmbed {
            pos: Param::new(init::trunc_normal(&[1, tokens, dim], 0.02, rng)),
        }
    }

    /// `[B, T, D]` + embedding, broadcast over B.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::add(x, &self.pos.tensor())
    }
}

impl Module for ClassToken {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param, ParamRole)) {
        f(prefix, &self.token, ParamRole::NoDecay);
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param, ParamRole)) {
        f(prefix, &mut self.token, ParamRole::NoDecay);
    }
}

impl Module for PosEmbed {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param, ParamRole)) {
        f(prefix, &self.pos, ParamRole::NoDecay);
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param, ParamRole)) {
        f(prefix, &mut self.pos, ParamRole::NoDecay);
    }
}

/// `concat([cls, x], 1) + pos`: `[B, N, D]` patch tokens to `[B, N+1, D]`.
pub fn prepend_and_embed(cls: &ClassToken, pos: &PosEmbed, x: &Tensor) -> Result<Tensor> {
    let tokens = ops::concat(&[&cls.expand(x.dim(0))?, x], 1)?;
    pos.forward(&tokens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use inkling_autograd::gradcheck::{rand_tensor, Tol};
    use rand::SeedableRng;

    /// Class token and position embedding as one module, to check both gradients together.
    struct Both(ClassToken, PosEmbed);

    impl Module for Both {
        fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param, ParamRole)) {
            self.0.visit(&crate::module::join(prefix, "cls_token"), f);
            self.1.visit(&crate::module::join(prefix, "pos_embed"), f);
        }
        fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param, ParamRole)) {
            self.0
                .visit_mut(&crate::module::join(prefix, "cls_token"), f);
            self.1
                .visit_mut(&crate::module::join(prefix, "pos_embed"), f);
        }
    }

    fn both() -> Both {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut m = Both(
            ClassToken::new(3, 1e-6, &mut rng),
            PosEmbed::new(3, 3, &mut rng),
        );
        *m.0.token.value_mut() = rand_tensor(&[1, 1, 3], 2);
        *m.1.pos.value_mut() = rand_tensor(&[1, 3, 3], 3);
        m
    }

    #[test]
    fn tokens_match_naive() {
        let m = both();
        let x = rand_tensor(&[2, 2, 3], 4);
        let y = prepend_and_embed(&m.0, &m.1, &x).unwrap();
        assert_eq!(y.shape(), [2, 3, 3]);
        let (cls, pos) = (m.0.token.value().data(), m.1.pos.value().data());
        for b in 0..2 {
            for t in 0..3 {
                for d in 0..3 {
                    let v = if t == 0 {
                        cls[d]
                    } else {
                        x.data()[(b * 2 + t - 1) * 3 + d]
                    };
                    assert_eq!(y.data()[(b * 3 + t) * 3 + d], v + pos[t * 3 + d]);
                }
            }
        }
        assert_eq!(
            crate::layers::testutil::names_and_roles(&m, ""),
            ["cls_token:NoDecay", "pos_embed:NoDecay"]
        );
    }

    #[test]
    fn gradcheck_tokens() {
        let mut m = both();
        let x = rand_tensor(&[2, 2, 3], 5);
        let n = crate::layers::testutil::check_grads(
            &mut m,
            &x,
            true,
            Tol::F32,
            |_| true,
            |m, x| prepend_and_embed(&m.0, &m.1, x),
        );
        assert_eq!(n, 2);
    }

    #[test]
    fn class_token_init_is_tiny() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        let c = ClassToken::new(192, 1e-6, &mut rng);
        assert!(c.token.value().data().iter().all(|v| v.abs() < 1e-5));
        assert!(c.token.value().data().iter().any(|&v| v != 0.0));
    }
}
