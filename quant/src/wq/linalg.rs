//! The dense f64 linear algebra GPTQ needs: Cholesky factorization and the upper Cholesky factor
//! of an inverse. Row-major `n×n` slices; sizes here are at most a few thousand.

/// Lower Cholesky factor `L` of symmetric positive definite `a` (`a = L Lᵀ`), or `None` when a
/// pivot is not positive (the matrix is not positive definite in floating point).
pub(crate) fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let dot: f64 = (0..j).map(|t| l[i * n + t] * l[j * n + t]).sum();
            let v = a[i * n + j] - dot;
            if i == j {
                if v <= 0.0 || !v.is_finite() {
                    return None;
                }
                l[i * n + i] = v.sqrt();
            } else {
                l[i * n + j] = v / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// Inverse of lower-triangular `l` (also lower triangular).
fn lower_inverse(l: &[f64], n: usize) -> Vec<f64> {
    let mut inv = vec![0f64; n * n];
    for j in 0..n {
        inv[j * n + j] = 1.0 / l[j * n + j];
        for i in j + 1..n {
            let s: f64 = (j..i).map(|t| l[i * n + t] * inv[t * n + j]).sum();
            inv[i * n + j] = -s / l[i * n + i];
        }
    }
    inv
}

/// Upper-triangular `U` with `a⁻¹ = Uᵀ U` for symmetric positive definite `a`, or `None` when `a`
/// is not positive definite. GPTQ reads its rows: row i holds the error-feedback weights of column i
/// onto the columns after it (`U[i, i]` is the square root of the inverse Hessian's diagonal).
pub(crate) fn inverse_upper_factor(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let li = lower_inverse(&cholesky(a, n)?, n);
    // a⁻¹ = L⁻ᵀ L⁻¹, symmetric: entry (i, j) = Σ_{t ≥ max(i,j)} L⁻¹[t,i]·L⁻¹[t,j].
    let mut inv = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (i..n).map(|t| li[t * n + i] * li[t * n + j]).sum();
            inv[i * n + j] = s;
            inv[j * n + i] = s;
        }
    }
    let l2 = cholesky(&inv, n)?;
    let mut u = vec![0f64; n * n];
    for i in 0..n {
        for j in i..n {
            u[i * n + j] = l2[j * n + i];
        }
    }
    Some(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_factor_reproduces_the_inverse() {
        let n = 4;
        // A = B Bᵀ + I for a fixed B: symmetric positive definite.
        let b: Vec<f64> = (0..16).map(|i| ((i * 5 % 7) as f64 - 3.0) / 2.0).collect();
        let mut a = vec![0f64; 16];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n).map(|t| b[i * n + t] * b[j * n + t]).sum::<f64>()
                    + if i == j { 1.0 } else { 0.0 };
            }
        }
        let u = inverse_upper_factor(&a, n).unwrap();
        // (UᵀU)·A = I.
        for i in 0..n {
            for j in 0..n {
                let v: f64 = (0..n)
                    .map(|t| {
                        let inv_it: f64 = (0..n).map(|s| u[s * n + i] * u[s * n + t]).sum();
                        inv_it * a[t * n + j]
                    })
                    .sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((v - want).abs() < 1e-9, "({i},{j}) = {v}");
            }
            for j in 0..i {
                assert_eq!(u[i * n + j], 0.0);
            }
        }
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
    }
}
