//! `matmul`: batched matrix product with optional transposes, one GEMM per batch item (or one GEMM
//! for the whole batch when a rank-2 `b` is shared), reading transposed operands in place.

use std::ops::Range;

use inkling_kernels::gemm::{self, Epilogue, GemmParams};

use super::{apply, par, Op, OpKind, Saved};
use crate::{Error, Result, Tensor};

/// `op(a)·op(b)` over the last two axes, `op` transposing when its flag is set.
///
/// a is `[.., m, k]` (`[.., k, m]` with `trans_a`), b `[.., k, n]` (`[.., n, k]` with `trans_b`);
/// the leading (batch) axes of a and b are equal, or b has rank 2 and is shared across the batch.
/// The result is `[.., m, n]` with a's batch axes.
pub fn matmul(a: &Tensor, b: &Tensor, trans_a: bool, trans_b: bool) -> Result<Tensor> {
    apply(Matmul { trans_a, trans_b }, &[a, b])
}

#[derive(Debug)]
struct Matmul {
    trans_a: bool,
    trans_b: bool,
}

/// Batch size, GEMM sizes, and whether b is one matrix shared by the batch.
#[derive(Clone, Copy, Debug)]
struct Dims {
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    shared_b: bool,
}

const OP: &str = "matmul";

impl Matmul {
    fn dims(&self, a: &Tensor, b: &Tensor) -> Result<Dims> {
        if a.rank() < 2 || b.rank() < 2 {
            crate::bail_shape!(
                OP,
                "operands need rank ≥ 2, got {:?} and {:?}",
                a.shape(),
                b.shape()
            );
        }
        let mismatch = || Error::ShapeMismatch {
            op: OP,
            lhs: a.shape().to_vec(),
            rhs: b.shape().to_vec(),
        };
        let (ar, ac) = (a.dim(-2), a.dim(-1));
        let (br, bc) = (b.dim(-2), b.dim(-1));
        let (m, k) = if self.trans_a { (ac, ar) } else { (ar, ac) };
        let (kb, n) = if self.trans_b { (bc, br) } else { (br, bc) };
        let lead = &a.shape()[..a.rank() - 2];
        let shared_b = b.rank() == 2;
        if k != kb || (!shared_b && lead != &b.shape()[..b.rank() - 2]) {
            return Err(mismatch());
        }
        Ok(Dims {
            batch: lead.iter().product(),
            m,
            k,
            n,
            shared_b,
        })
    }
}

/// `C[m, n] = op(A)·op(B)` with A and B stored contiguously in the layout their flags imply.
fn params(m: usize, n: usize, k: usize, trans_a: bool, trans_b: bool) -> GemmParams {
    let mut p = GemmParams::new(m, n, k);
    if trans_a {
        p = p.trans_a();
    }
    if trans_b {
        p = p.trans_b();
    }
    p
}

/// Item `i` of a batch with `stride` elements per item; a stride of 0 means one shared item.
fn item(x: &[f32], stride: usize, i: usize) -> &[f32] {
    if stride == 0 {
        x
    } else {
        &x[i * stride..(i + 1) * stride]
    }
}

/// One operand of a batched GEMM: its data and elements per batch item (0: shared).
#[derive(Clone, Copy)]
struct Operand<'a> {
    data: &'a [f32],
    stride: usize,
}

/// `C_i = GEMM(p, A_i, B_i)` for every batch item, in parallel over items (C is contiguous).
fn gemm_items(batch: usize, p: &GemmParams, a: Operand, b: Operand, c: &mut [f32]) -> Result<()> {
    let ks = inkling_kernels::kernels();
    let none = Epilogue::default();
    let run = |items: Range<usize>, c: &mut [f32]| -> Result<()> {
        let per = p.m * p.n;
        for (j, i) in items.enumerate() {
            let (ai, bi) = (item(a.data, a.stride, i), item(b.data, b.stride, i));
            gemm::sgemm(ks, p, ai, bi, &mut c[j * per..(j + 1) * per], &none)?;
        }
        Ok(())
    };
    if batch == 1 {
        // One call: the GEMM threads itself when it is large enough.
        return run(0..1, c);
    }
    par::map_items(batch, c, run)
}

impl Op for Matmul {
    fn kind(&self) -> OpKind {
        OpKind::Matmul {
            trans_a: self.trans_a,
            trans_b: self.trans_b,
        }
    }

    fn forward(&self, xs: &[&Tensor], save: &mut Saved) -> Result<Tensor> {
        let (a, b) = (xs[0], xs[1]);
        let d = self.dims(a, b)?;
        let mut shape = a.shape()[..a.rank() - 2].to_vec();
        shape.extend([d.m, d.n]);
        let mut y = Tensor::uninit(&shape);
        if d.shared_b && !self.trans_a {
            // The batch folds into the rows of one GEMM.
            let p = params(d.batch * d.m, d.n, d.k, false, self.trans_b);
            let ks = inkling_kernels::kernels();
            gemm::sgemm(
                ks,
                &p,
                a.data(),
                b.data(),
                y.data_mut(),
                &Epilogue::default(),
            )?;
        } else {
            let p = params(d.m, d.n, d.k, self.trans_a, self.trans_b);
            let a_op = Operand {
                data: a.data(),
                stride: d.m * d.k,
            };
            let b_op = Operand {
                data: b.data(),
                stride: if d.shared_b { 0 } else { d.k * d.n },
            };
            gemm_items(d.batch, &p, a_op, b_op, y.data_mut())?;
        }
        save.push(a);
        save.push(b);
        Ok(y)
    }

    fn backward(&self, gy: &Tensor, saved: Saved, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let mut s = saved.into_vec().into_iter();
        let (a, b) = (s.next().expect("saved a"), s.next().expect("saved b"));
        let d = self.dims(&a, &b)?;
        let (ta, tb) = (self.trans_a, self.trans_b);
        let (sa, sc) = (d.m * d.k, d.m * d.n);
        let sb = if d.shared_b { 0 } else { d.k * d.n };
        let op = |data, stride| Operand { data, stride };
        let (a_op, b_op, g_op) = (op(a.data(), sa), op(b.data(), sb), op(gy.data(), sc));
        let fold = d.shared_b && !ta;
        let ks = inkling_kernels::kernels();
        let none = Epilogue::default();

        let da = if needs[0] {
            let mut da = Tensor::uninit(a.shape());
            if fold {
                // dA = dC·op(B)ᵀ over all batch rows at once.
                let p = params(d.batch * d.m, d.k, d.n, false, !tb);
                gemm::sgemm(ks, &p, gy.data(), b.data(), da.data_mut(), &none)?;
            } else if !ta {
                let p = params(d.m, d.k, d.n, false, !tb);
                gemm_items(d.batch, &p, g_op, b_op, da.data_mut())?;
            } else {
                // A is stored [k, m]: dA = op(B)·dCᵀ.
                let p = params(d.k, d.m, d.n, tb, true);
                gemm_items(d.batch, &p, b_op, g_op, da.data_mut())?;
            }
            Some(da)
        } else {
            None
        };

        let db = if needs[1] {
            // d op(B) = op(A)ᵀ·dC; stored transposed when trans_b: dBᵀ = dCᵀ·op(A).
            let (p, lhs, rhs) = if tb {
                (params(d.n, d.k, d.m, true, ta), g_op, a_op)
            } else {
                (params(d.k, d.n, d.m, !ta, false), a_op, g_op)
            };
            let mut db = Tensor::uninit(b.shape());
            if fold {
                // The batch rows are the GEMM's K: one reduction over batch·m rows.
                let p = params(p.m, p.n, d.batch * d.m, p.trans_a, p.trans_b);
                gemm::sgemm(ks, &p, lhs.data, rhs.data, db.data_mut(), &none)?;
            } else if d.shared_b {
                let sum = par::map_reduce_items(d.batch, None, d.k * d.n, |items, _, acc| {
                    let p = p.scale(1.0, 1.0);
                    for i in items {
                        let (l, r) = (item(lhs.data, lhs.stride, i), item(rhs.data, rhs.stride, i));
                        gemm::sgemm(ks, &p, l, r, acc, &none)?;
                    }
                    Ok(())
                })?;
                db.data_mut().copy_from_slice(&sum);
            } else {
                gemm_items(d.batch, &p, lhs, rhs, db.data_mut())?;
            }
            Some(db)
        } else {
            None
        };
        Ok(vec![da, db])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{gradcheck, rand_tensor, Tol};

    /// `op(a)·op(b)` with plain loops; `shared_b` reuses b for every batch item.
    fn naive(
        a: &Tensor,
        b: &Tensor,
        ta: bool,
        tb: bool,
        batch: usize,
        mkn: [usize; 3],
    ) -> Vec<f32> {
        let [m, k, n] = mkn;
        let shared = b.rank() == 2;
        let mut out = vec![0.0; batch * m * n];
        for bi in 0..batch {
            let ao = bi * m * k;
            let bo = if shared { 0 } else { bi * k * n };
            for i in 0..m {
                for j in 0..n {
                    let mut s = 0.0f64;
                    for p in 0..k {
                        let av = if ta {
                            a.data()[ao + p * m + i]
                        } else {
                            a.data()[ao + i * k + p]
                        };
                        let bv = if tb {
                            b.data()[bo + j * k + p]
                        } else {
                            b.data()[bo + p * n + j]
                        };
                        s += av as f64 * bv as f64;
                    }
                    out[bi * m * n + i * n + j] = s as f32;
                }
            }
        }
        out
    }

    fn stored(rows: usize, cols: usize, trans: bool) -> [usize; 2] {
        if trans {
            [cols, rows]
        } else {
            [rows, cols]
        }
    }

    #[test]
    fn matmul_matches_naive_for_every_transpose_and_batching() {
        let (m, k, n) = (3, 4, 5);
        for ta in [false, true] {
            for tb in [false, true] {
                for (lead, shared_b) in [(vec![], true), (vec![2, 3], false), (vec![2, 3], true)] {
                    let batch: usize = lead.iter().product();
                    let mut sa = lead.clone();
                    sa.extend(stored(m, k, ta));
                    let mut sb = if shared_b { vec![] } else { lead.clone() };
                    sb.extend(stored(k, n, tb));
                    let a = rand_tensor(&sa, 1);
                    let b = rand_tensor(&sb, 2);
                    let y = matmul(&a, &b, ta, tb).unwrap();
                    let mut want_shape = lead.clone();
                    want_shape.extend([m, n]);
                    assert_eq!(y.shape(), &want_shape[..]);
                    let want = naive(&a, &b, ta, tb, batch, [m, k, n]);
                    for (g, w) in y.data().iter().zip(&want) {
                        approx::assert_abs_diff_eq!(*g, *w, epsilon = 1e-5);
                    }
                }
            }
        }
    }

    #[test]
    fn gradcheck_matmul() {
        let (m, k, n) = (3, 4, 2);
        for ta in [false, true] {
            for tb in [false, true] {
                for shared_b in [false, true] {
                    let mut sa = vec![2];
                    sa.extend(stored(m, k, ta));
                    let mut sb = if shared_b { vec![] } else { vec![2] };
                    sb.extend(stored(k, n, tb));
                    gradcheck(
                        |xs| matmul(&xs[0], &xs[1], ta, tb),
                        &[rand_tensor(&sa, 3), rand_tensor(&sb, 4)],
                        Tol::F32,
                    );
                }
            }
        }
    }

    #[test]
    fn matmul_rejects_bad_shapes() {
        let cases = [
            (vec![2, 3], vec![4, 5]),       // k differs
            (vec![2, 2, 3], vec![3, 3, 4]), // batch differs
            (vec![2, 3], vec![2, 3, 4]),    // rank-2 a with batched b
            (vec![3], vec![3, 4]),          // rank 1
        ];
        for (sa, sb) in cases {
            let r = matmul(&Tensor::zeros(&sa), &Tensor::zeros(&sb), false, false);
            assert!(
                matches!(
                    r,
                    Err(Error::ShapeMismatch { op: OP, .. }) | Err(Error::BadShape { op: OP, .. })
                ),
                "{sa:?} × {sb:?} gave {r:?}"
            );
        }
    }
}
