//! The reference SGEMMs measured beside ours: the `gemm` and `matrixmultiply` crates.
//!
//! Both have raw-pointer APIs; these wrappers take the same [`GemmParams`] layouts as our `sgemm`,
//! check every slice length first, and compute `C = op(A)·op(B)` (α = 1, β = 0). The criterion
//! benches include this file too (`benches/main.rs`), so it depends on nothing else in the CLI.

use inkling::kernels::gemm::GemmParams;

/// A reference call that was refused, with the reason.
type Result<T> = std::result::Result<T, String>;

/// Elements a `rows × cols` row-major matrix with leading dimension `ld` spans.
fn span(rows: usize, cols: usize, ld: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * ld + cols
    }
}

/// Row and column strides of op(A), op(B) and C as stored, after checking the slices cover them.
fn strides(p: &GemmParams, a: &[f32], b: &[f32], c: &[f32]) -> Result<[isize; 6]> {
    let (ar, ac) = if p.trans_a { (p.k, p.m) } else { (p.m, p.k) };
    let (br, bc) = if p.trans_b { (p.n, p.k) } else { (p.k, p.n) };
    let ok = p.lda >= ac.max(1)
        && p.ldb >= bc.max(1)
        && p.ldc >= p.n.max(1)
        && a.len() >= span(ar, ac, p.lda)
        && b.len() >= span(br, bc, p.ldb)
        && c.len() >= span(p.m, p.n, p.ldc);
    if !ok {
        return Err(format!("reference sgemm: operands do not fit {p:?}"));
    }
    let (lda, ldb, ldc) = (p.lda as isize, p.ldb as isize, p.ldc as isize);
    let (rsa, csa) = if p.trans_a { (1, lda) } else { (lda, 1) };
    let (rsb, csb) = if p.trans_b { (1, ldb) } else { (ldb, 1) };
    Ok([rsa, csa, rsb, csb, ldc, 1])
}

/// `C = op(A)·op(B)` with matrixmultiply, on `MATMUL_NUM_THREADS` threads (read once per process).
pub fn matrixmultiply(p: &GemmParams, a: &[f32], b: &[f32], c: &mut [f32]) -> Result<()> {
    let [rsa, csa, rsb, csb, rsc, csc] = strides(p, a, b, c)?;
    // SAFETY: `strides` checked that every element the strides reach lies inside its slice, and
    // `c` is borrowed mutably, so it does not alias `a` or `b`.
    unsafe {
        matrixmultiply::sgemm(
            p.m,
            p.k,
            p.n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            0.0,
            c.as_mut_ptr(),
            rsc,
            csc,
        );
    }
    Ok(())
}

/// `C = op(A)·op(B)` with the gemm crate on `threads` threads of the global rayon pool.
pub fn gemm(p: &GemmParams, a: &[f32], b: &[f32], c: &mut [f32], threads: usize) -> Result<()> {
    let [rsa, csa, rsb, csb, rsc, csc] = strides(p, a, b, c)?;
    let par = if threads <= 1 {
        gemm::Parallelism::None
    } else {
        gemm::Parallelism::Rayon(threads)
    };
    // SAFETY: as for `matrixmultiply`; with read_dst = false the old C is not read, and gemm's
    // (alpha, beta) = (0, 1) means dst = 1·lhs·rhs.
    unsafe {
        gemm::gemm(
            p.m,
            p.n,
            p.k,
            c.as_mut_ptr(),
            csc,
            rsc,
            false,
            a.as_ptr(),
            csa,
            rsa,
            b.as_ptr(),
            csb,
            rsb,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        );
    }
    Ok(())
}
