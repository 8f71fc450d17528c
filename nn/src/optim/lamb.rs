//! LAMB (You et al., "Large Batch Optimization for Deep Learning"), as timm's `Lamb`: the Adam
//! update plus weight decay, scaled per parameter by the trust ratio ‖w‖/‖update‖.
//!
//! Differences from timm: the step count is per parameter (timm counts per group; they differ only
//! when a parameter misses a gradient), the norms are summed in f64, and there is no built-in global
//! gradient clipping (timm's `max_grad_norm=1.0`): call [`crate::clip::clip_grad_norm`] first.

use inkling_autograd::{Gradients, Tensor};

use super::adamw::{check_adam, Moments};
use super::{add_squares, par_chunks, Optimizer, ParamStates};
use crate::{Module, ParamRole, Result};

/// LAMB hyperparameters; the defaults are timm's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LambConfig {
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to the bias-corrected root of the second moment.
    pub eps: f64,
    /// Weight decay added to the update (`u + wd·p`), for [`ParamRole::Weight`] only.
    pub weight_decay: f64,
    /// Clamp the trust ratio at 1 (LAMBC).
    pub trust_clip: bool,
    /// Also adapt parameters without weight decay (timm adapts only those with decay).
    pub always_adapt: bool,
}

impl Default for LambConfig {
    fn default() -> LambConfig {
        LambConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-6,
            weight_decay: 0.01,
            trust_clip: false,
            always_adapt: false,
        }
    }
}

/// LAMB with per-parameter `exp_avg`, `exp_avg_sq` and step.
#[derive(Clone, Debug)]
pub struct Lamb {
    cfg: LambConfig,
    states: ParamStates,
}

impl Lamb {
    /// An optimizer with empty state; errors on out-of-range hyperparameters.
    pub fn new(cfg: LambConfig) -> Result<Lamb> {
        check_adam("lamb", cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay)?;
        Ok(Lamb {
            cfg,
            states: ParamStates::new("lamb", &["exp_avg", "exp_avg_sq"]),
        })
    }

    /// The hyperparameters.
    pub fn config(&self) -> LambConfig {
        self.cfg
    }
}

/// Per-step scalars of LAMB.
struct Coeffs {
    moments: Moments,
    bc1: f32,
    wd: f32,
}

impl Coeffs {
    /// The update before the trust ratio: `(m / bc₁) / denom + wd·p` (timm skips the add when wd is 0;
    /// adding 0·p changes nothing for finite weights and keeps the loop branch-free).
    #[inline(always)]
    fn raw(&self, p: f32, m: f32, denom: f32) -> f32 {
        m / self.bc1 / denom + self.wd * p
    }
}

/// Updates the moments of a chunk; with `norms`, returns (Σp², Σu²) of the chunk in f64.
fn moments(
    p: &[f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    c: &Coeffs,
    norms: bool,
) -> [f64; 2] {
    for ((&g, m), v) in g.iter().zip(m.iter_mut()).zip(v.iter_mut()) {
        c.moments.update(g, m, v);
    }
    if !norms {
        return [0.0; 2];
    }
    // The update is computed into a small block so that both loops vectorise; the f64 sums have a
    // fixed order.
    let (mut sw, mut su) = ([0f64; 8], [0f64; 8]);
    let mut u = [0f32; 256];
    for ((pb, mb), vb) in p.chunks(256).zip(m.chunks(256)).zip(v.chunks(256)) {
        let u = &mut u[..pb.len()];
        for (((u, &p), &m), &v) in u.iter_mut().zip(pb).zip(mb).zip(vb) {
            *u = c.raw(p, m, c.moments.denom(v));
        }
        add_squares(&mut sw, pb);
        add_squares(&mut su, u);
    }
    [sw.iter().sum(), su.iter().sum()]
}

/// `p += −lr · (u · trust)` with `u` recomputed from the updated moments.
fn apply(p: &mut [f32], m: &[f32], v: &[f32], c: &Coeffs, neg_lr: f32, trust: Option<f32>) {
    for ((p, &m), &v) in p.iter_mut().zip(m).zip(v) {
        let u = c.raw(*p, m, c.moments.denom(v));
        let u = match trust {
            Some(t) => u * t,
            None => u,
        };
        *p += neg_lr * u;
    }
}

/// timm's trust ratio: ‖w‖/‖u‖, or 1 when either norm is 0; clamped at 1 with `clip`.
fn trust_ratio(w_sq: f64, u_sq: f64, clip: bool) -> f32 {
    let (w, u) = (w_sq.sqrt(), u_sq.sqrt());
    let r = if w > 0.0 && u > 0.0 { w / u } else { 1.0 };
    (if clip { r.min(1.0) } else { r }) as f32
}

impl Optimizer for Lamb {
    fn step(&mut self, model: &mut dyn Module, grads: &Gradients, lr: f32) -> Result<()> {
        let cfg = self.cfg;
        self.states.update(model, grads, lr, &mut |u| {
            let wd = if u.role == ParamRole::Weight {
                cfg.weight_decay
            } else {
                0.0
            };
            let c = Coeffs {
                moments: Moments::new(cfg.beta1, cfg.beta2, cfg.eps, u.step),
                bc1: (1.0 - cfg.beta1.powf(u.step as f64)) as f32,
                wd: wd as f32,
            };
            let adapt = wd != 0.0 || cfg.always_adapt;
            let sums = par_chunks(u.param, u.grad, u.bufs, &|p, g, s| match s {
                [m, v] => moments(p, g, m, v, &c, adapt),
                _ => [0.0; 2],
            });
            let trust = adapt.then(|| {
                let (w, u) = sums
                    .iter()
                    .fold((0.0, 0.0), |(w, u), s| (w + s[0], u + s[1]));
                trust_ratio(w, u, cfg.trust_clip)
            });
            par_chunks(u.param, u.grad, u.bufs, &|p, _, s| {
                if let [m, v] = s {
                    apply(p, m, v, &c, -lr, trust);
                }
            });
        })
    }

    delegate_state!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_close, Tiny, GB, GW};

    fn lamb(weight_decay: f64, trust_clip: bool, always_adapt: bool) -> Lamb {
        Lamb::new(LambConfig {
            weight_decay,
            trust_clip,
            always_adapt,
            ..LambConfig::default()
        })
        .expect("valid config")
    }

    /// One step on w = [3, 4] (‖w‖ = 5), g = [0.5, −2], lr 0.1; references from timm's formulas in f64.
    /// The bias (no decay, ‖b‖ = ‖u‖/2) moves by lr·sign(g), or half that when always adapted.
    fn one_step(opt: &mut Lamb, w: &[f32]) -> Vec<f32> {
        let mut m = Tiny::new(&[2], w, &[0.5, 0.5]);
        let g = m.grads(&[0.5, -2.0], Some(&[1.0, -1.0]));
        opt.step(&mut m, &g, 0.1).expect("step");
        let d = if opt.config().always_adapt { 0.05 } else { 0.1 };
        assert_close(&m.b(), &[0.5 - d, 0.5 + d], 1e-5);
        m.w()
    }

    #[test]
    fn lamb_scales_update_by_trust_ratio() {
        // wd 0 with always_adapt: u ≈ sign(g), ratio 5/√2 ≈ 3.5355.
        let w = one_step(&mut lamb(0.0, false, true), &[3.0, 4.0]);
        assert_close(&w, &[2.646_446_874_571_537, 4.353_553_655_757_886], 1e-6);
        // wd 0.1: u ≈ sign(g) + 0.1·w = [1.3, −0.6], ratio 5/‖u‖ ≈ 3.4922.
        let w = one_step(&mut lamb(0.1, false, false), &[3.0, 4.0]);
        assert_close(&w, &[2.546_020_363_964_779, 4.209_529_210_530_008], 1e-6);
        // LAMBC clamps the ratio at 1.
        let w = one_step(&mut lamb(0.1, true, false), &[3.0, 4.0]);
        assert_close(&w, &[2.870_000_199_999_6, 4.059_999_950_000_025], 1e-6);
        // ‖w‖ = 0: ratio 1.
        let w = one_step(&mut lamb(0.1, false, false), &[0.0, 0.0]);
        assert_close(&w, &[-0.099_999_800_000_4, 0.099_999_950_000_025], 1e-6);
    }

    #[test]
    fn lamb_zero_update_leaves_weights_and_skips_adaptation_without_decay() {
        let mut m = Tiny::small();
        let (w0, b0) = (m.w(), m.b());
        let mut opt = lamb(0.0, false, true);
        let g = m.grads(&[0.0; 4], Some(&[0.0; 2]));
        opt.step(&mut m, &g, 0.1).expect("step");
        assert_eq!((m.w(), m.b()), (w0, b0), "‖u‖ = 0: ratio 1, update 0");

        // Weight decay only on the weight: w·(1 − lr) through the ratio 1/wd, bias untouched.
        let mut opt = lamb(0.5, false, false);
        let g = m.grads(&[0.0; 4], Some(&[0.0; 2]));
        opt.step(&mut m, &g, 0.1).expect("step");
        let want: Vec<f64> = [0.5, -1.0, 2.0, 0.0].iter().map(|w| w * 0.9).collect();
        assert_close(&m.w(), &want, 1e-6);
        assert_eq!(m.b(), [0.1, -0.2]);
    }

    #[test]
    fn lamb_matches_hand_computed_reference() {
        let mut m = Tiny::small();
        let mut opt = lamb(0.1, false, false);
        for (gw, gb) in GW.iter().zip(&GB).take(3) {
            let g = m.grads(gw, Some(gb));
            opt.step(&mut m, &g, 0.01).expect("step");
        }
        assert_close(
            &m.w(),
            &[
                0.465_549_564_456_688_9,
                -0.998_810_548_092_965_4,
                1.956_147_573_680_435_5,
                -0.017_020_899_869_108_957,
            ],
            2e-6,
        );
        assert_close(
            &m.b(),
            &[0.082_741_794_117_393_17, -0.179_825_628_154_742_18],
            2e-6,
        );
        assert_eq!(m.running.value().data(), &[0.25, -0.75]);
    }
}
