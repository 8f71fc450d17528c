//! Parameter initialisers (timm/PyTorch conventions) drawing from a caller's seeded RNG, so the same
//! seed builds the same model.

use inkling_autograd::Tensor;
use rand::Rng;

/// One standard-normal sample (Box–Muller; `rand` 0.8 has no normal distribution without `rand_distr`).
pub fn standard_normal(rng: &mut impl Rng) -> f32 {
    // 1 − u keeps the logarithm's argument in (0, 1].
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// Normal(0, std²) samples.
pub fn normal(shape: &[usize], std: f32, rng: &mut impl Rng) -> Tensor {
    fill(shape, || std * standard_normal(rng))
}

/// Normal(0, std²) truncated to ±2·std by resampling, as timm's ViT uses with std 0.02.
///
/// timm's `trunc_normal_(std=.02)` bounds at ±2 in absolute units (≈ no truncation at that std);
/// bounding at ±2 std is what the initialisation intends and what `trunc_normal_tf_` does.
pub fn trunc_normal(shape: &[usize], std: f32, rng: &mut impl Rng) -> Tensor {
    fill(shape, || loop {
        let z = standard_normal(rng);
        if z.abs() <= 2.0 {
            break std * z;
        }
    })
}

/// Uniform samples in [−bound, bound).
pub fn uniform(shape: &[usize], bound: f32, rng: &mut impl Rng) -> Tensor {
    fill(shape, || {
        if bound > 0.0 {
            rng.gen_range(-bound..bound)
        } else {
            0.0
        }
    })
}

/// Xavier/Glorot uniform: U(±√(6 / (fan_in + fan_out))).
pub fn xavier_uniform(
    shape: &[usize],
    fan_in: usize,
    fan_out: usize,
    rng: &mut impl Rng,
) -> Tensor {
    let bound = (6.0 / (fan_in + fan_out).max(1) as f32).sqrt();
    uniform(shape, bound, rng)
}

/// PyTorch's default for `nn.Linear`/`nn.Conv2d` weights and biases (kaiming-uniform with a = √5):
/// U(±1/√fan_in).
pub fn torch_default(shape: &[usize], fan_in: usize, rng: &mut impl Rng) -> Tensor {
    uniform(shape, 1.0 / (fan_in.max(1) as f32).sqrt(), rng)
}

fn fill(shape: &[usize], mut sample: impl FnMut() -> f32) -> Tensor {
    let mut t = Tensor::uninit(shape);
    for v in t.data_mut() {
        *v = sample();
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn moments(t: &Tensor) -> (f64, f64) {
        let n = t.numel() as f64;
        let mean = t.data().iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = t
            .data()
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        (mean, var.sqrt())
    }

    #[test]
    fn normal_has_requested_moments() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let (m, s) = moments(&normal(&[20_000], 0.5, &mut rng));
        assert!(m.abs() < 0.02, "mean {m}");
        assert!((s - 0.5).abs() < 0.02, "std {s}");
    }

    #[test]
    fn trunc_normal_is_bounded_with_truncated_std() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let t = trunc_normal(&[20_000], 0.02, &mut rng);
        assert!(t.data().iter().all(|v| v.abs() <= 0.04 + 1e-7));
        // A standard normal truncated to ±2 has std ≈ 0.8796.
        let (m, s) = moments(&t);
        assert!(m.abs() < 1e-3, "mean {m}");
        assert!((s - 0.02 * 0.8796).abs() < 5e-4, "std {s}");
    }

    #[test]
    fn xavier_bound() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let t = xavier_uniform(&[64, 16], 16, 64, &mut rng);
        let bound = (6.0f32 / 80.0).sqrt();
        assert!(t.data().iter().all(|v| v.abs() <= bound));
        assert!(t.data().iter().any(|v| v.abs() > 0.9 * bound));
    }

    #[test]
    fn same_seed_same_values() {
        let a = trunc_normal(&[33], 1.0, &mut rand::rngs::StdRng::seed_from_u64(9));
        let b = trunc_normal(&[33], 1.0, &mut rand::rngs::StdRng::seed_from_u64(9));
        let c = trunc_normal(&[33], 1.0, &mut rand::rngs::StdRng::seed_from_u64(10));
        assert_eq!(a.data(), b.data());
        assert_ne!(a.data(), c.data());
    }
}
