//! The f32 GEMM case: ours, then the `gemm` and `matrixmultiply` crates, interleaved.

use inkling::kernels::gemm::{sgemm, Epilogue};
use inkling::kernels::KernelSet;

use super::data::check_sgemm;
use super::shapes::Shape;
use super::timing::Timing;
use super::Result;
use crate::rng::SplitMix;

/// Operands of one f32 GEMM, laid out as the shape's transposes require.
pub struct Operands {
    pub a: Vec<f32>,
    pub b: Vec<f32>,
    pub c: Vec<f32>,
}

impl Operands {
    /// Random operands for `s`.
    pub fn new(s: &Shape) -> Operands {
        let mut rng = SplitMix::new(0x5EED ^ (s.m * 31 + s.k * 17 + s.n) as u64);
        Operands {
            a: rng.f32s(s.m * s.k),
            b: rng.f32s(s.k * s.n),
            c: vec![0.0; s.m * s.n],
        }
    }
}

/// GFLOP/s of our sgemm and, when built with the `anchors` feature, of the two reference crates.
pub struct F32Rates {
    pub ours: f64,
    pub gemm: Option<f64>,
    pub matrixmultiply: Option<f64>,
}

/// Checks each result once, then times ours and the references with interleaved samples.
#[cfg(feature = "anchors")]
pub fn with_references(
    ks: &KernelSet,
    s: &Shape,
    threads: usize,
    timing: &Timing,
) -> Result<F32Rates> {
    use super::anchors;
    let p = s.params();
    let Operands { a, b, c } = Operands::new(s);
    let (mut c0, mut c1, mut c2) = (c.clone(), c.clone(), c);
    let epi = Epilogue::default();
    sgemm(ks, &p, &a, &b, &mut c0, &epi)?;
    check_sgemm("inkling sgemm", &p, &a, &b, &c0)?;
    anchors::gemm(&p, &a, &b, &mut c1, threads)?;
    check_sgemm("gemm crate", &p, &a, &b, &c1)?;
    anchors::matrixmultiply(&p, &a, &b, &mut c2)?;
    check_sgemm("matrixmultiply", &p, &a, &b, &c2)?;
    let r = timing.rates(
        s.ops(),
        &mut [
            &mut || Ok(sgemm(ks, &p, &a, &b, &mut c0, &epi)?),
            &mut || Ok(anchors::gemm(&p, &a, &b, &mut c1, threads)?),
            &mut || Ok(anchors::matrixmultiply(&p, &a, &b, &mut c2)?),
        ],
    )?;
    Ok(F32Rates {
        ours: r[0],
        gemm: Some(r[1]),
        matrixmultiply: Some(r[2]),
    })
}

/// Without the `anchors` feature there is nothing to compare against.
#[cfg(not(feature = "anchors"))]
pub fn with_references(
    ks: &KernelSet,
    s: &Shape,
    _threads: usize,
    timing: &Timing,
) -> Result<F32Rates> {
    let p = s.params();
    let Operands { a, b, mut c } = Operands::new(s);
    let epi = Epilogue::default();
    sgemm(ks, &p, &a, &b, &mut c, &epi)?;
    check_sgemm("inkling sgemm", &p, &a, &b, &c)?;
    let ours = timing.rates(
        s.ops(),
        &mut [&mut || Ok(sgemm(ks, &p, &a, &b, &mut c, &epi)?)],
    )?[0];
    Ok(F32Rates {
        ours,
        gemm: None,
        matrixmultiply: None,
    })
}
