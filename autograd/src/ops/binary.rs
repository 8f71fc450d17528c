//! `add`, `sub`, `mul`, `div` with numpy broadcasting; each input's gradient is summed back to its
//! own shape.

use super::broadcast::{broadcast_shape, map2, sum_to};
use super::{apply, Op, OpKind, Saved};
use crate::{Result, Tensor};

/// `a + b`, broadcast.
pub fn add(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary(OpKind::Add, a, b)
}

/// `a − b`, broadcast.
pub fn sub(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary(OpKind::Sub, a, b)
}

/// `a · b` elementwise, broadcast.
pub fn mul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary(OpKind::Mul, a, b)
}

/// `a / b` elementwise, broadcast.
pub fn div(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary(OpKind::Div, a, b)
}

fn binary(kind: OpKind, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    apply(
        Binary {
            kind,
            a_shape: a.shape().to_vec(),
            b_shape: b.shape().to_vec(),
        },
        &[a, b],
    )
}

/// One of add, sub, mul, div. The input shapes are kept so backward can sum gradients back
/// without saving add/sub's inputs.
#[derive(Debug)]
struct Binary {
    kind: OpKind,
    a_shape: Vec<usize>,
    b_shape: Vec<usize>,
}

impl Op for Binary {
    fn kind(&self) -> OpKind {
        self.kind.clone()
    }

    fn forward(&self, xs: &[&Tensor], save: &mut Saved) -> Result<Tensor> {
        let (a, b) = (xs[0], xs[1]);
        let out = broadcast_shape(self.kind.name(), a.shape(), b.shape())?;
        Ok(match self.kind {
            OpKind::Add => map2(&out, a, b, |a, b| a + b),
            OpKind::Sub => map2(&out, a, b, |a, b| a - b),
            OpKind::Mul => {
                save.push(a);
                save.push(b);
                map2(&out, a, b, |a, b| a * b)
            }
            OpKind::Div => {
                // ∂/∂b = −g·a/b² = −(g/b)·y: keep b and the output rather than a.
                let y = map2(&out, a, b, |a, b| a / b);
                save.push(b);
                save.push(&y);
                y
            }
            ref other => crate::bail_shape!("binary", "{} is not a binary op", other.name()),
        })
    }

    fn backward(&self, gy: &Tensor, saved: Saved, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let out = gy.shape();
        let (ga, gb) = match self.kind {
            OpKind::Add => (
                needs[0].then(|| sum_to(gy, &self.a_shape)),
                needs[1].then(|| sum_to(gy, &self.b_shape)),
            ),
            OpKind::Sub => (
                needs[0].then(|| sum_to(gy, &self.a_shape)),
                needs[1].then(|| {
                    let mut g = sum_to(gy, &self.b_shape);
                    g.data_mut().iter_mut().for_each(|v| *v = -*v);
                    g
                }),
            ),
            OpKind::Mul => {
                let [a, b] = two(saved);
                (
                    needs[0].then(|| sum_to(&map2(out, gy, &b, |g, b| g * b), &self.a_shape)),
                    needs[1].then(|| sum_to(&map2(out, gy, &a, |g, a| g * a), &self.b_shape)),
                )
            }
            OpKind::Div => {
                let [b, y] = two(saved);
                let g_over_b = map2(out, gy, &b, |g, b| g / b);
                let gb = needs[1]
                    .then(|| sum_to(&map2(out, &g_over_b, &y, |t, y| -t * y), &self.b_shape));
                (needs[0].then(|| sum_to(&g_over_b, &self.a_shape)), gb)
            }
            ref other => crate::bail_shape!("binary", "{} is not a binary op", other.name()),
        };
        Ok(vec![ga, gb])
    }
}

/// The two tensors a forward saved.
fn two(saved: Saved) -> [Tensor; 2] {
    let mut s = saved.into_vec().into_iter();
    let first = s.next().expect("forward saved two tensors");
    [first, s.next().expect("forward saved two tensors")]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{gradcheck, rand_tensor, Tol};
    use crate::Error;

    const SHAPES: [(&[usize], &[usize]); 6] = [
        (&[2, 3], &[2, 3]),
        (&[2, 3, 4], &[4]),
        (&[4], &[2, 3, 4]),
        (&[2, 1, 4], &[3, 1]),
        (&[], &[2, 3]),
        (&[2, 3, 4], &[1, 3, 4]),
    ];

    /// Values in ±[0.5, 1.5): denominators away from 0.
    fn away_from_zero(shape: &[usize], seed: u64) -> Tensor {
        let mut t = rand_tensor(shape, seed);
        for v in t.data_mut() {
            *v += 0.5 * v.signum();
        }
        t
    }

    #[test]
    fn gradcheck_binary_ops_with_broadcasting() {
        let ops: [fn(&Tensor, &Tensor) -> Result<Tensor>; 4] = [add, sub, mul, div];
        for op in ops {
            for (j, (sa, sb)) in SHAPES.into_iter().enumerate() {
                let a = rand_tensor(sa, 10 + j as u64);
                let b = away_from_zero(sb, 20 + j as u64);
                gradcheck(|xs| op(&xs[0], &xs[1]), &[a, b], Tol::F32);
            }
        }
        // The same tensor on both sides: both gradients reach it.
        gradcheck(
            |xs| mul(&xs[0], &xs[0]),
            &[rand_tensor(&[2, 3], 3)],
            Tol::F32,
        );
    }

    #[test]
    fn binary_ops_match_naive_broadcast_loops() {
        let a = rand_tensor(&[2, 1, 4], 1);
        let b = away_from_zero(&[3, 1], 2);
        type Case = (fn(&Tensor, &Tensor) -> Result<Tensor>, fn(f32, f32) -> f32);
        let fs: [Case; 4] = [
            (add, |a, b| a + b),
            (sub, |a, b| a - b),
            (mul, |a, b| a * b),
            (div, |a, b| a / b),
        ];
        for (op, f) in fs {
            let y = op(&a, &b).unwrap();
            assert_eq!(y.shape(), [2, 3, 4]);
            for i in 0..2 {
                for j in 0..3 {
                    for k in 0..4 {
                        let e = f(a.data()[i * 4 + k], b.data()[j]);
                        assert_eq!(y.data()[(i * 3 + j) * 4 + k], e);
                    }
                }
            }
        }
        let s = add(&Tensor::scalar(2.0), &a).unwrap();
        assert_eq!(s.shape(), [2, 1, 4]);
        assert!(s.data().iter().zip(a.data()).all(|(s, a)| *s == a + 2.0));
    }

    #[test]
    fn bias_broadcast_gradient_sums_over_rows() {
        let x = rand_tensor(&[4, 5, 3], 1).requires_grad();
        let b = rand_tensor(&[3], 2).requires_grad();
        let y = add(&x, &b).unwrap();
        let g = rand_tensor(&[4, 5, 3], 3);
        let grads = y.backward_with(g.clone()).unwrap();
        let gb = grads.wrt(&b).unwrap();
        for c in 0..3 {
            let e: f32 = (0..20).map(|r| g.data()[r * 3 + c]).sum();
            approx::assert_abs_diff_eq!(gb.data()[c], e, epsilon = 1e-5);
        }
        assert_eq!(grads.wrt(&x).unwrap().data(), g.data());
    }

    #[test]
    fn binary_ops_reject_incompatible_shapes() {
        let a = rand_tensor(&[2, 3], 1);
        let b = rand_tensor(&[2], 2);
        for op in [add, sub, mul, div] {
            assert!(matches!(
                op(&a, &b),
                Err(Error::ShapeMismatch { lhs, rhs, .. }) if lhs == [2, 3] && rhs == [2]
            ));
        }
    }
}
