//! Broadcasting shared by the elementwise ops and the reductions: numpy shape rules, a loop plan that
//! turns a broadcast into contiguous runs, and the three loops built on it (map two operands, sum a
//! gradient back to an operand's shape, expand a reduced tensor).
//!
//! The plan drops size-1 output dims and merges neighbouring dims that every operand treats alike
//! (all present, or broadcast in the same operands), so a bias `[D]` or `[1,T,D]` against `[B,T,D]`
//! becomes a few long contiguous runs and no per-element index arithmetic.

use crate::{Error, Result, Tensor};

/// The numpy broadcast of two shapes (trailing-aligned; each dim equal, or one of them 1).
pub(crate) fn broadcast_shape(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let r = a.len().max(b.len());
    let at = |s: &[usize], i: usize| {
        (i + s.len())
            .checked_sub(r)
            .map_or(1, |j| s.get(j).copied().unwrap_or(1))
    };
    (0..r)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            _ => Err(Error::ShapeMismatch {
                op,
                lhs: a.to_vec(),
                rhs: b.to_vec(),
            }),
        })
        .collect()
}

/// How `K` operands, each broadcastable to an output shape, are walked in output order: merged
/// dims with per-operand element strides (0 where the operand is broadcast).
#[derive(Debug)]
pub(crate) struct Plan<const K: usize> {
    dims: Vec<usize>,
    strides: Vec<[usize; K]>,
}

impl<const K: usize> Plan<K> {
    /// The plan for `operands` broadcast to `out`; each operand dim (trailing-aligned) must equal
    /// the output dim or be 1 (callers check with [`broadcast_shape`]).
    pub(crate) fn new(out: &[usize], operands: [&[usize]; K]) -> Plan<K> {
        let r = out.len();
        // Per output dim: which operands have it (true) or broadcast it (false).
        let mut groups: Vec<(usize, [bool; K])> = Vec::with_capacity(r);
        for (i, &d) in out.iter().enumerate() {
            if d == 1 {
                continue;
            }
            let mut has = [false; K];
            for (h, s) in has.iter_mut().zip(&operands) {
                *h = (i + s.len())
                    .checked_sub(r)
                    .is_some_and(|j| s.get(j) == Some(&d));
            }
            match groups.last_mut() {
                Some((n, prev)) if *prev == has => *n *= d,
                _ => groups.push((d, has)),
            }
        }
        if groups.is_empty() {
            groups.push((1, [true; K]));
        }
        // Strides from the innermost merged dim outwards; an operand's element count grows only
        // over the dims it has.
        let mut strides = vec![[0usize; K]; groups.len()];
        let mut running = [1usize; K];
        for (g, (n, has)) in groups.iter().enumerate().rev() {
            for k in 0..K {
                if has[k] {
                    strides[g][k] = running[k];
                    running[k] *= n;
                }
            }
        }
        Plan {
            dims: groups.into_iter().map(|(n, _)| n).collect(),
            strides,
        }
    }

    /// A plan from merged dims and per-operand strides given directly (for walks that are not
    /// broadcasts, e.g. a permuted copy); the last dim is the run.
    pub(crate) fn from_parts(dims: Vec<usize>, strides: Vec<[usize; K]>) -> Plan<K> {
        debug_assert_eq!(dims.len(), strides.len());
        if dims.is_empty() {
            return Plan {
                dims: vec![1],
                strides: vec![[0; K]],
            };
        }
        Plan { dims, strides }
    }

    /// Length of one run (the innermost merged dim) and each operand's stride along it (0 or 1).
    pub(crate) fn inner(&self) -> (usize, [usize; K]) {
        let last = self.dims.len() - 1;
        (self.dims[last], self.strides[last])
    }

    /// Calls `f` with each operand's offset at the start of every run, in output order.
    pub(crate) fn for_each_run(&self, mut f: impl FnMut([usize; K])) {
        let outer = &self.dims[..self.dims.len() - 1];
        if outer.contains(&0) || self.dims.last() == Some(&0) {
            return;
        }
        let mut idx = vec![0usize; outer.len()];
        let mut off = [0usize; K];
        loop {
            f(off);
            // Odometer over the outer dims, moving each offset by its stride.
            let mut d = outer.len();
            loop {
                if d == 0 {
                    return;
                }
                d -= 1;
                idx[d] += 1;
                for (o, s) in off.iter_mut().zip(&self.strides[d]) {
                    *o += s;
                }
                if idx[d] < outer[d] {
                    break;
                }
                for (o, s) in off.iter_mut().zip(&self.strides[d]) {
                    *o -= s * outer[d];
                }
                idx[d] = 0;
            }
        }
    }
}

/// `f(a, b)` elementwise over the broadcast of `a` and `b` (shape `out`, from [`broadcast_shape`]).
pub(crate) fn map2(out: &[usize], a: &Tensor, b: &Tensor, f: impl Fn(f32, f32) -> f32) -> Tensor {
    let mut y = Tensor::uninit(out);
    let (ad, bd, yd) = (a.data(), b.data(), y.data_mut());
    if yd.is_empty() {
        return y;
    }
    if a.shape() == b.shape() {
        for ((y, &a), &b) in yd.iter_mut().zip(ad).zip(bd) {
            *y = f(a, b);
        }
        return y;
    }
    let plan = Plan::new(out, [a.shape(), b.shape()]);
    let (n, [sa, sb]) = plan.inner();
    let mut runs = yd.chunks_exact_mut(n);
    plan.for_each_run(|[oa, ob]| {
        let Some(ys) = runs.next() else { return };
        match (sa, sb) {
            (1, 1) => {
                for ((y, &a), &b) in ys.iter_mut().zip(&ad[oa..oa + n]).zip(&bd[ob..ob + n]) {
                    *y = f(a, b);
                }
            }
            (1, _) => {
                let b = bd[ob];
                for (y, &a) in ys.iter_mut().zip(&ad[oa..oa + n]) {
                    *y = f(a, b);
                }
            }
            (_, 1) => {
                let a = ad[oa];
                for (y, &b) in ys.iter_mut().zip(&bd[ob..ob + n]) {
                    *y = f(a, b);
                }
            }
            _ => ys.fill(f(ad[oa], bd[ob])),
        }
    });
    y
}

/// Sums `g` (a full, broadcast-output-shaped tensor) over the dims where `target` is broadcast, so
/// the result has shape `target`; `g` itself (shared, no copy) when the shapes already agree.
pub(crate) fn sum_to(g: &Tensor, target: &[usize]) -> Tensor {
    if g.shape() == target {
        return g.clone();
    }
    let mut out = Tensor::zeros(target);
    if g.numel() == 0 {
        return out;
    }
    let plan = Plan::new(g.shape(), [target]);
    let (n, [st]) = plan.inner();
    let (gd, od) = (g.data(), out.data_mut());
    let sum = inkling_kernels::kernels().rows.sum;
    let mut runs = gd.chunks_exact(n);
    plan.for_each_run(|[o]| {
        let Some(gs) = runs.next() else { return };
        if st == 1 {
            for (d, &v) in od[o..o + n].iter_mut().zip(gs) {
                *d += v;
            }
        } else {
            od[o] += sum(gs);
        }
    });
    out
}

/// `s·g` broadcast to shape `out` (g's shape trailing-aligned to it, dims equal or 1).
pub(crate) fn expand(g: &Tensor, out: &[usize], s: f32) -> Tensor {
    let mut y = Tensor::uninit(out);
    let (gd, yd) = (g.data(), y.data_mut());
    if yd.is_empty() {
        return y;
    }
    let plan = Plan::new(out, [g.shape()]);
    let (n, [st]) = plan.inner();
    let mut runs = yd.chunks_exact_mut(n);
    plan.for_each_run(|[o]| {
        let Some(ys) = runs.next() else { return };
        if st == 1 {
            for (y, &v) in ys.iter_mut().zip(&gd[o..o + n]) {
                *y = s * v;
            }
        } else {
            ys.fill(s * gd[o]);
        }
    });
    y
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::rand_tensor;

    #[test]
    fn broadcast_shapes_follow_numpy() {
        let ok = |a: &[usize], b: &[usize]| broadcast_shape("t", a, b).unwrap();
        assert_eq!(ok(&[2, 3, 4], &[4]), [2, 3, 4]);
        assert_eq!(ok(&[2, 1, 4], &[3, 1]), [2, 3, 4]);
        assert_eq!(ok(&[], &[2, 3]), [2, 3]);
        assert_eq!(ok(&[5, 0], &[1]), [5, 0]);
        assert!(broadcast_shape("t", &[2, 3], &[2]).is_err());
        assert!(broadcast_shape("t", &[0], &[2]).is_err());
    }

    #[test]
    fn plan_merges_bias_like_broadcasts() {
        let p = Plan::new(&[64, 50, 192], [&[64, 50, 192][..], &[192]]);
        assert_eq!(p.dims, [3200, 192]);
        assert_eq!(p.inner(), (192, [1, 1]));
        let p = Plan::new(&[64, 50, 192], [&[64, 50, 192][..], &[1, 50, 192]]);
        assert_eq!(p.dims, [64, 9600]);
        let p = Plan::new(&[2, 3, 4], [&[2, 1, 4][..], &[3, 1]]);
        assert_eq!(p.dims, [2, 3, 4]);
        assert_eq!(p.strides, [[4, 0], [0, 1], [1, 0]]);
    }

    /// The index of output element `i` in an operand of shape `s` (trailing-aligned), naively.
    fn naive_index(out: &[usize], s: &[usize], mut i: usize) -> usize {
        let mut idx = vec![0; out.len()];
        for d in (0..out.len()).rev() {
            idx[d] = i % out[d];
            i /= out[d];
        }
        let off = out.len() - s.len();
        s.iter().enumerate().fold(0, |acc, (j, &n)| {
            acc * n + if n == 1 { 0 } else { idx[j + off] }
        })
    }

    #[test]
    fn map_sum_to_and_expand_match_naive_index_math() {
        let cases: [(&[usize], &[usize]); 6] = [
            (&[2, 3, 4], &[4]),
            (&[2, 1, 4], &[3, 1]),
            (&[], &[2, 3]),
            (&[3, 1, 5], &[1, 4, 1]),
            (&[1, 3, 1, 2], &[2, 1, 4, 1]),
            (&[2, 3], &[2, 3]),
        ];
        for (sa, sb) in cases {
            let a = rand_tensor(sa, 1);
            let b = rand_tensor(sb, 2);
            let out = broadcast_shape("t", sa, sb).unwrap();
            let y = map2(&out, &a, &b, |x, y| x * 10.0 + y);
            let mut sums = vec![0.0f32; b.numel()];
            for (i, &v) in y.data().iter().enumerate() {
                let (ia, ib) = (naive_index(&out, sa, i), naive_index(&out, sb, i));
                assert_eq!(
                    v,
                    a.data()[ia] * 10.0 + b.data()[ib],
                    "{sa:?} {sb:?} at {i}"
                );
                sums[ib] += v;
            }
            let s = sum_to(&y, sb);
            assert_eq!(s.shape(), sb);
            for (x, e) in s.data().iter().zip(&sums) {
                approx::assert_abs_diff_eq!(x, e, epsilon = 1e-4);
            }
            let e = expand(&b, &out, 2.0);
            for (i, &v) in e.data().iter().enumerate() {
                assert_eq!(v, 2.0 * b.data()[naive_index(&out, sb, i)]);
            }
        }
    }
}
