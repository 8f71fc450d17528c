//! `Gelu`: the exact (erf) GELU as a layer (ViT's MLP fuses it into `fc1` instead).

use inkling_autograd::{ops, Result, Tensor};

/// `y = x·Φ(x)`, elementwise.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gelu;

impl Gelu {
    /// Applies GELU elementwise.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::gelu(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inkling_autograd::gradcheck::{gradcheck, rand_tensor, Tol};

    #[test]
    fn gelu_layer_values_and_grad() {
        let x = Tensor::new(&[4], vec![-2.0, -0.5, 0.0, 1.0]).unwrap();
        let y = Gelu.forward(&x).unwrap();
        // x·Φ(x) from tables of Φ.
        let want = [-2.0 * 0.022_750_13, -0.5 * 0.308_537_54, 0.0, 0.841_344_7];
        for (a, b) in y.data().iter().zip(want) {
            approx::assert_abs_diff_eq!(*a, b, epsilon = 1e-5);
        }
        gradcheck(
            |xs| Gelu.forward(&xs[0]),
            &[rand_tensor(&[3, 4], 1)],
            Tol::F32,
        );
    }
}
