//! f32 GEMM: `C ← act(α·op(A)·op(B) + β·C + bias) + residual`, row-major with leading dimensions.
//!
//! SKELETON: the blocked, packed implementation replaces the naive loop below (the public API stays).

use crate::error::{check_len, span, Result};
use crate::isa::Isa;
use crate::KernelSet;

/// The f32 GEMM entries of a [`KernelSet`].
#[derive(Clone, Copy, Debug)]
pub struct GemmKernels {
    /// Register tile (MR, NR) of the micro-kernel.
    pub tile: (usize, usize),
    /// Name of the micro-kernel, e.g. `f32_gemm_6x16__avx2`.
    pub name: &'static str,
}

impl GemmKernels {
    pub(crate) fn for_isa(_isa: Isa) -> GemmKernels {
        GemmKernels {
            tile: (1, 1),
            name: "f32_gemm_naive",
        }
    }
}

/// Element-wise activation applied in the GEMM epilogue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Activation {
    /// Identity.
    #[default]
    None,
    /// max(x, 0).
    Relu,
    /// GELU, exact erf form.
    Gelu,
    /// GELU, tanh approximation.
    GeluTanh,
}

/// What the GEMM does to each output before storing it: `act(acc + bias[j]) + residual[i, j]`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Epilogue<'a> {
    /// Per-column bias (length n).
    pub bias: Option<&'a [f32]>,
    /// Activation after the bias.
    pub activation: Activation,
    /// Added after the activation; same layout as C (leading dimension `ldc`).
    pub residual: Option<&'a [f32]>,
}

/// Shape, scaling, transposes and leading dimensions of one GEMM call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GemmParams {
    /// Rows of op(A) and C.
    pub m: usize,
    /// Columns of op(B) and C.
    pub n: usize,
    /// Columns of op(A), rows of op(B).
    pub k: usize,
    /// Scale of the product.
    pub alpha: f32,
    /// Scale of the old C; when 0, C is not read (NaN in C does not propagate).
    pub beta: f32,
    /// A is stored k×m and used transposed.
    pub trans_a: bool,
    /// B is stored n×k and used transposed.
    pub trans_b: bool,
    /// Leading dimension of A as stored.
    pub lda: usize,
    /// Leading dimension of B as stored.
    pub ldb: usize,
    /// Leading dimension of C (and of the residual).
    pub ldc: usize,
}

impl GemmParams {
    /// Contiguous, untransposed `C[m,n] = A[m,k]·B[k,n]` with α = 1, β = 0.
    pub fn new(m: usize, n: usize, k: usize) -> GemmParams {
        GemmParams {
            m,
            n,
            k,
            alpha: 1.0,
            beta: 0.0,
            trans_a: false,
            trans_b: false,
            lda: k,
            ldb: n,
            ldc: n,
        }
    }
    /// Use A transposed (stored k×m, contiguous: lda = m).
    pub fn trans_a(mut self) -> Self {
        self.trans_a = true;
        self.lda = self.m;
        self
    }
    /// Use B transposed (stored n×k, contiguous: ldb = k).
    pub fn trans_b(mut self) -> Self {
        self.trans_b = true;
        self.ldb = self.k;
        self
    }
    /// Sets α and β.
    pub fn scale(mut self, alpha: f32, beta: f32) -> Self {
        self.alpha = alpha;
        self.beta = beta;
        self
    }
    /// Sets the leading dimensions.
    pub fn ld(mut self, lda: usize, ldb: usize, ldc: usize) -> Self {
        self.lda = lda;
        self.ldb = ldb;
        self.ldc = ldc;
        self
    }
}

/// `C ← act(α·op(A)·op(B) + β·C + bias) + residual`, using [`crate::threads::num_threads`] threads.
///
/// Errors when a slice is too short for its dimensions and leading dimension, or a leading dimension
/// is smaller than its row length.
pub fn sgemm(
    _ks: &KernelSet,
    p: &GemmParams,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    epi: &Epilogue,
) -> Result<()> {
    let (ar, ac) = if p.trans_a { (p.k, p.m) } else { (p.m, p.k) };
    let (br, bc) = if p.trans_b { (p.n, p.k) } else { (p.k, p.n) };
    check_len("sgemm", "A", span(ar, ac, p.lda), a.len())?;
    check_len("sgemm", "B", span(br, bc, p.ldb), b.len())?;
    check_len("sgemm", "C", span(p.m, p.n, p.ldc), c.len())?;
    for i in 0..p.m {
        for j in 0..p.n {
            let mut acc = 0.0f32;
            for l in 0..p.k {
                let av = if p.trans_a {
                    a[l * p.lda + i]
                } else {
                    a[i * p.lda + l]
                };
                let bv = if p.trans_b {
                    b[j * p.ldb + l]
                } else {
                    b[l * p.ldb + j]
                };
                acc += av * bv;
            }
            let old = if p.beta == 0.0 {
                0.0
            } else {
                p.beta * c[i * p.ldc + j]
            };
            let mut v = p.alpha * acc + old + epi.bias.map_or(0.0, |bias| bias[j]);
            v = match epi.activation {
                Activation::None => v,
                Activation::Relu => v.max(0.0),
                Activation::Gelu | Activation::GeluTanh => {
                    0.5 * v * (1.0 + (0.797_884_6 * (v + 0.044715 * v * v * v)).tanh())
                }
            };
            c[i * p.ldc + j] = v + epi.residual.map_or(0.0, |r| r[i * p.ldc + j]);
        }
    }
    Ok(())
}
