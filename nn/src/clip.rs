//! Gradient clipping by global L2 norm, as torch.nn.utils.clip_grad_norm_.

use inkling_autograd::Gradients;

use crate::optim::sum_squares;
use crate::{Module, ParamRole};

/// Scales all parameter gradients of `model` in place so that their global L2 norm is at most
/// `max_norm`, and returns the norm before clipping (summed in f64, in the model's visiting order).
///
/// As in PyTorch the factor is `max_norm / (norm + 1e-6)`, applied only when it is below 1.
/// A non-finite norm (an overflowed or NaN gradient) is returned as it is and nothing is scaled: the
/// caller checks it and skips or stops the step.
pub fn clip_grad_norm(model: &dyn Module, grads: &mut Gradients, max_norm: f32) -> f32 {
    let mut ids = Vec::new();
    let mut sum = 0.0f64;
    model.visit("", &mut |_, p, role| {
        if role == ParamRole::Buffer {
            return;
        }
        if let Some(g) = grads.param(p.id()) {
            sum += sum_squares(g.data());
            ids.push(p.id());
        }
    });
    let norm = sum.sqrt();
    let coef = f64::from(max_norm) / (norm + 1e-6);
    if norm.is_finite() && coef < 1.0 {
        let coef = coef as f32;
        for id in ids {
            if let Some(g) = grads.param_mut(id) {
                for v in g.data_mut() {
                    *v *= coef;
                }
            }
        }
    }
    norm as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Tiny;

    #[test]
    fn clips_above_max_and_returns_the_norm_before() {
        let m = Tiny::small();
        // ‖(3, 0, 0, 4, 12, 0)‖ = 13; the buffer's gradient is ignored.
        let mut g = m.grads(&[3.0, 0.0, 0.0, 4.0], Some(&[12.0, 0.0]));
        let norm = clip_grad_norm(&m, &mut g, 1.3);
        assert_eq!(norm, 13.0);
        let w = g.param(m.w.id()).map(|t| t.data().to_vec());
        let b = g.param(m.b.id()).map(|t| t.data().to_vec());
        let coef = (f64::from(1.3f32) / (13.0 + 1e-6)) as f32;
        assert_eq!(w, Some(vec![3.0 * coef, 0.0, 0.0, 4.0 * coef]));
        assert_eq!(b, Some(vec![12.0 * coef, 0.0]));
        let after = clip_grad_norm(&m, &mut g, 1.3);
        assert!((after - 1.3).abs() < 1e-6, "{after}");
        assert_eq!(
            g.param(m.running.id()).map(|t| t.data().to_vec()),
            Some(vec![1.0, 1.0])
        );
    }

    #[test]
    fn leaves_small_and_non_finite_gradients_alone() {
        let m = Tiny::small();
        let mut g = m.grads(&[0.3, 0.0, 0.0, 0.4], None);
        assert!((clip_grad_norm(&m, &mut g, 1.0) - 0.5).abs() < 1e-7);
        assert_eq!(
            g.param(m.w.id()).map(|t| t.data().to_vec()),
            Some(vec![0.3, 0.0, 0.0, 0.4])
        );
        let mut g = m.grads(&[f32::NAN, 1.0, 0.0, 0.0], Some(&[1.0, 1.0]));
        assert!(clip_grad_norm(&m, &mut g, 1.0).is_nan());
        assert_eq!(
            g.param(m.b.id()).map(|t| t.data().to_vec()),
            Some(vec![1.0, 1.0])
        );
        let mut g = m.grads(&[f32::MAX, f32::MAX, 0.0, 0.0], None);
        assert_eq!(
            clip_grad_norm(&m, &mut g, 1.0),
            f32::INFINITY,
            "f64 sum, f32 result"
        );
    }
}
