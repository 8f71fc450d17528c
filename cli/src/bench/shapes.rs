//! The GEMM shapes benchmarked: squares and the ViT-Tiny training shapes. The criterion benches
//! include this file too (`benches/main.rs`), so both measure the same shapes.

use inkling::kernels::gemm::GemmParams;

/// ViT-Tiny, batch 64 of 28×28 images with patch 4: 64 × (49 patches + CLS) tokens.
pub const VIT_TOKENS: usize = 64 * 50;

/// One GEMM shape: `C[m,n] = op(A)·op(B)` with inner dimension `k`.
#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    /// Short name, e.g. `vit_qkv` or `vit_qkv.dW`.
    pub name: String,
    /// Rows of C.
    pub m: usize,
    /// Inner dimension.
    pub k: usize,
    /// Columns of C.
    pub n: usize,
    /// A is stored k×m.
    pub trans_a: bool,
    /// B is stored n×k.
    pub trans_b: bool,
}

impl Shape {
    fn new(name: impl Into<String>, m: usize, k: usize, n: usize) -> Shape {
        Shape {
            name: name.into(),
            m,
            k,
            n,
            trans_a: false,
            trans_b: false,
        }
    }

    /// `nn`, `tn` or `nt`: which operands are used transposed.
    pub fn op(&self) -> &'static str {
        match (self.trans_a, self.trans_b) {
            (false, false) => "nn",
            (true, false) => "tn",
            (false, true) => "nt",
            (true, true) => "tt",
        }
    }

    /// Contiguous parameters for this shape (α = 1, β = 0).
    pub fn params(&self) -> GemmParams {
        let mut p = GemmParams::new(self.m, self.n, self.k);
        if self.trans_a {
            p = p.trans_a();
        }
        if self.trans_b {
            p = p.trans_b();
        }
        p
    }

    /// Multiply-adds × 2.
    pub fn ops(&self) -> f64 {
        2.0 * self.m as f64 * self.k as f64 * self.n as f64
    }
}

/// Forward shapes: squares 128..1024, then the four ViT-Tiny linears at batch 64.
pub fn forward() -> Vec<Shape> {
    let mut v: Vec<Shape> = [128, 256, 512, 1024]
        .into_iter()
        .map(|s| Shape::new(format!("sq{s}"), s, s, s))
        .collect();
    for (name, k, n) in [
        ("vit_qkv", 192, 576),
        ("vit_proj", 192, 192),
        ("vit_mlp_up", 192, 768),
        ("vit_mlp_down", 768, 192),
    ] {
        v.push(Shape::new(name, VIT_TOKENS, k, n));
    }
    v
}

/// The backward GEMMs of a linear `Y[M,N] = X[M,K]·W[K,N]`: `dW = Xᵀ·dY` (A transposed) and
/// `dX = dY·Wᵀ` (B transposed).
pub fn backward(fwd: &Shape) -> [Shape; 2] {
    let mut dw = Shape::new(format!("{}.dW", fwd.name), fwd.k, fwd.m, fwd.n);
    dw.trans_a = true;
    let mut dx = Shape::new(format!("{}.dX", fwd.name), fwd.m, fwd.n, fwd.k);
    dx.trans_b = true;
    [dw, dx]
}

/// Every f32 shape: squares, then each ViT linear followed by its two backward GEMMs.
pub fn f32_all() -> Vec<Shape> {
    let mut v = Vec::new();
    for s in forward() {
        let vit = s.name.starts_with("vit_");
        let bwd = backward(&s);
        v.push(s);
        if vit {
            v.extend(bwd);
        }
    }
    v
}
