//! int8 and int4 GEMM for inference with XNNPACK's requantization, bit for bit.
//!
//! `Y[M,N] = X[M,K]·Wᵀ` where X holds int8 activations (per-tensor, zero point `zp_x`) and W is a
//! TFLite FULLY_CONNECTED filter `[N, K]` of int8 weights in [−127, 127] (symmetric per output
//! channel). Accumulation is int32 and wraps modulo 2³² identically on every path (it is exact while
//! `K·255·127 < 2³¹`, i.e. K ≤ 66,000). Outputs are either the int32 accumulators
//! `Σ(x−zp_x)·w + bias` ([`qs8_gemm_i32`]) or int8 requantized as XNNPACK does ([`qs8_gemm`]).
//!
//! W is packed once ([`pack_qs8_weights`]) into the layout of one kernel table: panels of NR columns,
//! K padded and grouped as the micro-kernel reads it, plus the column sums Σ_k w[c,k]. The zero-point
//! correction is folded at run time, once per call and per column, into an effective bias
//! `b[c] − (zp_x + shift)·Σw[c]`, where `shift` is 128 on the VNNI path (which feeds `x + 128` to the
//! unsigned operand of `vpdpbusd`) and 0 elsewhere; keeping `zp_x` out of the packed weights lets one
//! packing serve every activation zero point.
//!
//! Micro-kernels (`family_tile__isa`, one file per ISA): `qs8_gemm_4x4c4__scalar` (reference and
//! fallback), `qs8_gemm_6x16c2__avx2` (i16 `vpmaddwd`, cannot saturate), `qs8_gemm_8x32c4__avx512vnni`
//! (`vpdpbusd`), `qs8_gemm_2x8c16__neon` (`smull`/`smlal`/`sadalp`), `qs8_gemm_4x16c4__neon_dotprod`
//! (`sdot`). int4 weights live in [`int4`] (nibble packing, int8×int4) and [`f32_int4`] (weight-only).

pub mod f32_int4;
pub mod int4;
mod scalar;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512vnni;
#[cfg(target_arch = "aarch64")]
mod neon;
#[cfg(target_arch = "aarch64")]
mod neon_dotprod;

#[cfg(test)]
mod tests;

use crate::error::{Error, Result};
use crate::isa::Isa;
use crate::KernelSet;

/// How a kernel table wants the activations copied into its row-major, K-padded A buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActLayout {
    /// int8 as is.
    I8,
    /// `x + 128` as u8 (for `vpdpbusd`, whose activation operand is unsigned).
    U8Shifted,
    /// Widened to i16 (for `vpmaddwd`).
    I16,
}

impl ActLayout {
    fn elem_bytes(self) -> usize {
        match self {
            ActLayout::I8 | ActLayout::U8Shifted => 1,
            ActLayout::I16 => 2,
        }
    }
    fn shift(self) -> i32 {
        match self {
            ActLayout::U8Shifted => 128,
            _ => 0,
        }
    }
}

/// What a micro-kernel does with its MR×NR accumulator tile after the K loop.
pub(crate) struct Tile {
    /// Rows (≤ MR) and columns (≤ NR) of the tile that exist in Y.
    pub rows: usize,
    pub cols: usize,
    /// NR effective biases (padded with zeros past N).
    pub bias: *const i32,
    /// Y at the tile's first element: `i32` when `rq` is None, else `i8`.
    pub out: *mut u8,
    /// Leading dimension of Y in elements.
    pub ldo: usize,
    pub rq: Option<TileRq>,
}

/// Requantization of one tile: NR scales and the clamp bounds relative to the output zero point.
#[derive(Clone, Copy)]
pub(crate) struct TileRq {
    pub scale: *const f32,
    pub lo: f32,
    pub hi: f32,
    pub zp: i32,
}

/// An int8 GEMM micro-kernel: `kp` (padded K) steps of an MR-row A panel (row-major, `lda` bytes apart)
/// against one packed W panel, then bias, optional requantization and the store described by `t`.
///
/// # Safety
/// `a` spans MR rows of `kp` elements (`lda` bytes apart), `w` one packed panel of NR×`kp`, `t.bias`
/// (and `t.rq.scale`) NR values, and `t.out` a `t.rows × t.cols` block with leading dimension `t.ldo`;
/// the CPU supports the kernel's ISA.
pub(crate) type Qs8Ukernel = unsafe fn(kp: usize, a: *const u8, lda: usize, w: *const u8, t: &Tile);

/// The int8/int4 GEMM entries of a [`crate::KernelSet`].
#[derive(Clone, Copy, Debug)]
pub struct QgemmKernels {
    /// Name of the micro-kernel, e.g. `qs8_gemm_8x32c4__avx512vnni`.
    pub name: &'static str,
    /// Register tile (MR, NR) and the K grouping KR of the packed weights.
    pub tile: (usize, usize, usize),
    /// How activations are laid out for the kernel.
    pub act: ActLayout,
    /// Bytes per packed weight (1, or 2 when widened to i16).
    pub w_bytes: usize,
    pub(crate) ukernel: Qs8Ukernel,
}

impl QgemmKernels {
    pub(crate) fn for_isa(isa: Isa) -> QgemmKernels {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => avx2::KERNELS,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => avx512vnni::KERNELS,
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => neon::KERNELS,
            #[cfg(target_arch = "aarch64")]
            Isa::NeonDotprod => neon_dotprod::KERNELS,
            _ => scalar::KERNELS,
        }
    }
}

/// int8 weights `[N, K]` packed once for one kernel table, with their column sums.
#[derive(Clone, Debug)]
pub struct Qs8Weights {
    n: usize,
    k: usize,
    kp: usize,
    kernel: &'static str,
    nr: usize,
    kr: usize,
    w_bytes: usize,
    data: Vec<u8>,
    colsum: Vec<i32>,
}

impl Qs8Weights {
    /// Output channels N.
    pub fn n(&self) -> usize {
        self.n
    }
    /// Input channels K.
    pub fn k(&self) -> usize {
        self.k
    }
    /// The micro-kernel this packing is laid out for.
    pub fn kernel(&self) -> &'static str {
        self.kernel
    }
    /// Σ_k w[c, k] per output channel (N values).
    pub fn column_sums(&self) -> &[i32] {
        &self.colsum[..self.n]
    }
    /// Unpacks to the original `[N, K]` row-major weights (for tests and inspection).
    pub fn unpack(&self) -> Vec<i8> {
        let mut out = vec![0i8; self.n * self.k];
        for c in 0..self.n {
            for kk in 0..self.k {
                let i = self.index(c, kk);
                out[c * self.k + kk] = if self.w_bytes == 2 {
                    i16::from_le_bytes([self.data[i], self.data[i + 1]]) as i8
                } else {
                    self.data[i] as i8
                };
            }
        }
        out
    }
    /// Byte offset of w[c, kk] in the packed data.
    fn index(&self, c: usize, kk: usize) -> usize {
        let (p, cc) = (c / self.nr, c % self.nr);
        let (g, t) = (kk / self.kr, kk % self.kr);
        ((p * self.kp + g * self.kr) * self.nr + cc * self.kr + t) * self.w_bytes
    }
}

/// Rounds `v` up to a multiple of `m` (m > 0), or errors on overflow.
fn round_up(op: &'static str, v: usize, m: usize) -> Result<usize> {
    v.checked_next_multiple_of(m)
        .ok_or_else(|| Error::BadShape {
            op,
            what: format!("size {v} overflows"),
        })
}

fn bad(op: &'static str, what: String) -> Error {
    Error::BadShape { op, what }
}

/// Packs int8 weights `w[N, K]` (row-major, leading dimension `ldw`, values in [−127, 127]) for `ks`.
///
/// Errors on short slices, `ldw < k`, a weight of −128 (the AVX2 and NEON schemes rely on |w| ≤ 127),
/// or when the packed copy cannot be allocated.
pub fn pack_qs8_weights(
    ks: &KernelSet,
    w: &[i8],
    n: usize,
    k: usize,
    ldw: usize,
) -> Result<Qs8Weights> {
    const OP: &str = "pack_qs8_weights";
    crate::error::check_matrix(OP, "W", (n, k, ldw), w.len())?;
    let q = &ks.qgemm;
    let (_, nr, kr) = q.tile;
    let np = round_up(OP, n, nr)?;
    let kp = round_up(OP, k, kr)?;
    let bytes = np
        .checked_mul(kp)
        .and_then(|v| v.checked_mul(q.w_bytes))
        .ok_or_else(|| bad(OP, format!("{n}×{k} weights overflow")))?;
    let mut out = Qs8Weights {
        n,
        k,
        kp,
        kernel: q.name,
        nr,
        kr,
        w_bytes: q.w_bytes,
        data: crate::error::try_vec(OP, "packed weights", bytes, 0u8)?,
        colsum: crate::error::try_vec(OP, "column sums", np, 0i32)?,
    };
    // With k = 0 the weights may be empty whatever n is: there is nothing to pack.
    for c in (0..n).filter(|_| k > 0) {
        let row = &w[c * ldw..c * ldw + k];
        if let Some(kk) = row.iter().position(|&v| v == i8::MIN) {
            return Err(bad(
                OP,
                format!("w[{c}, {kk}] = -128 is outside [-127, 127]"),
            ));
        }
        let sum = row.iter().map(|&v| v as i32).sum();
        // Row c is stored KR values at a time, NR·KR elements apart (see `index`); this is called
        // per inference for BATCH_MATMUL's B, so it copies runs instead of placing single values.
        let stride = nr * kr * q.w_bytes;
        let start = out.index(c, 0);
        let runs = out.data[start..].chunks_mut(stride).zip(row.chunks(kr));
        for (dst, src) in runs {
            if q.w_bytes == 2 {
                for (d, &v) in dst.chunks_exact_mut(2).zip(src) {
                    d.copy_from_slice(&(v as i16).to_le_bytes());
                }
            } else {
                // Element by element: KR is 2 to 16 bytes, too short for a memcpy call to pay.
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d = v as u8;
                }
            }
        }
        out.colsum[c] = sum;
    }
    Ok(out)
}

/// Per-channel requantization to int8, XNNPACK's qs8-qc8w formula.
///
/// `y = clamp(rint_half_even(f32(acc)·scale_c), qmin − zp_y, qmax − zp_y) + zp_y`.
#[derive(Clone, Debug, PartialEq)]
pub struct Requant {
    scales: Vec<f32>,
    zp_y: i8,
    qmin: i8,
    qmax: i8,
}

impl Requant {
    /// `scale_c = f32(f32(s_x·s_w[c]) / s_y)` for every channel (per-tensor weights: repeat s_w N times).
    ///
    /// Errors when a scale_c is not finite, not positive, or ≥ 256 (XNNPACK's limit), or qmin > qmax.
    pub fn new(s_x: f32, s_w: &[f32], s_y: f32, zp_y: i8, qmin: i8, qmax: i8) -> Result<Requant> {
        Requant::from_scales(
            s_w.iter().map(|&sw| (s_x * sw) / s_y).collect(),
            zp_y,
            qmin,
            qmax,
        )
    }

    /// Uses the given per-channel `scale_c` as they are (same checks as [`Requant::new`]).
    pub fn from_scales(scales: Vec<f32>, zp_y: i8, qmin: i8, qmax: i8) -> Result<Requant> {
        const OP: &str = "Requant";
        if qmin > qmax {
            return Err(bad(OP, format!("qmin {qmin} > qmax {qmax}")));
        }
        if let Some((c, s)) = scales
            .iter()
            .enumerate()
            .find(|(_, s)| !(s.is_finite() && **s > 0.0 && **s < 256.0))
        {
            return Err(bad(OP, format!("scale_c[{c}] = {s} is not in (0, 256)")));
        }
        Ok(Requant {
            scales,
            zp_y,
            qmin,
            qmax,
        })
    }

    /// The per-channel output scales `scale_c`.
    pub fn scales(&self) -> &[f32] {
        &self.scales
    }

    /// Requantizes one accumulator of channel `c` (the scalar definition every kernel matches).
    ///
    /// Errors when `c` is not a channel.
    pub fn apply(&self, acc: i32, c: usize) -> Result<i8> {
        let (lo, hi, zp) = self.bounds();
        let scale = self.scales.get(c).ok_or_else(|| {
            bad(
                "Requant::apply",
                format!("channel {c} of {}", self.scales.len()),
            )
        })?;
        Ok(requant(acc, *scale, lo, hi, zp))
    }

    fn bounds(&self) -> (f32, f32, i32) {
        let zp = self.zp_y as i32;
        (
            (self.qmin as i32 - zp) as f32,
            (self.qmax as i32 - zp) as f32,
            zp,
        )
    }
}

/// XNNPACK's fp32 requantization; the bounds are integers, so clamping before rounding is the same as
/// after, and clamping first keeps the float→int conversion in range.
#[inline]
pub(crate) fn requant(acc: i32, scale: f32, lo: f32, hi: f32, zp: i32) -> i8 {
    ((acc as f32 * scale).clamp(lo, hi).round_ties_even() as i32 + zp) as i8
}

/// `Y[M,N] = requant(Σ_k (X[m,k] − zp_x)·W[n,k] + bias[n])` as int8, using `ks`'s kernels.
///
/// X is `m × K` with leading dimension `ldx`, Y `m × N` with `ldy`; `bias` (N values) is optional.
/// Errors when a slice is too short, a leading dimension is below its row length, `w` was packed for
/// another kernel table, or `bias`/`rq` do not have N channels.
#[allow(clippy::too_many_arguments)]
pub fn qs8_gemm(
    ks: &KernelSet,
    m: usize,
    x: &[i8],
    ldx: usize,
    zp_x: i8,
    w: &Qs8Weights,
    bias: Option<&[i32]>,
    rq: &Requant,
    y: &mut [i8],
    ldy: usize,
) -> Result<()> {
    if rq.scales.len() != w.n {
        return Err(bad(
            "qs8_gemm",
            format!(
                "{} requantization scales for {} channels",
                rq.scales.len(),
                w.n
            ),
        ));
    }
    let threads = crate::threads::num_threads();
    run(
        "qs8_gemm",
        ks,
        m,
        x,
        ldx,
        zp_x,
        w,
        bias,
        y,
        ldy,
        Some(rq),
        threads,
    )
}

/// `Y[M,N] = Σ_k (X[m,k] − zp_x)·W[n,k] + bias[n]` as int32 (wrapping), using `ks`'s kernels.
///
/// Same layout and errors as [`qs8_gemm`].
#[allow(clippy::too_many_arguments)]
pub fn qs8_gemm_i32(
    ks: &KernelSet,
    m: usize,
    x: &[i8],
    ldx: usize,
    zp_x: i8,
    w: &Qs8Weights,
    bias: Option<&[i32]>,
    y: &mut [i32],
    ldy: usize,
) -> Result<()> {
    let threads = crate::threads::num_threads();
    run(
        "qs8_gemm_i32",
        ks,
        m,
        x,
        ldx,
        zp_x,
        w,
        bias,
        y,
        ldy,
        None,
        threads,
    )
}

/// Rows of Y each task computes: about 96 KiB of X (`kp_bytes` a packed row) a task, so threads get
/// several tasks each.
fn block_rows(kp_bytes: usize, mr: usize) -> usize {
    let rows = (96 * 1024 / kp_bytes.max(1)).clamp(mr, 128);
    rows / mr * mr
}

/// Work (MACs) below which threading does not pay. Handing tasks to the pool and waiting for them
/// costs about 13 µs on a 2-core Zen 4 VM (more when other processes keep the cores busy), so a
/// split pays only once one thread needs well over twice that: 2²³ MACs take ~50 µs with VNNI. At
/// M = 50 and 5.5–7.4 M MACs two threads were slower than one on that machine under load.
#[cfg(not(test))]
const PAR_MACS: usize = 1 << 23;
/// Tests use small shapes, so any non-empty product takes the threaded path.
#[cfg(test)]
const PAR_MACS: usize = 1;

/// How many column groups to split each of the `blocks` row blocks into for `threads` threads, or
/// None when the work is too small to thread (1 when row blocks alone give every thread one).
///
/// Column groups are runs of whole NR panels. A task packs its rows of X itself, so a split into `g`
/// groups packs X `g` times; that is M·K bytes against M·N·K/g MACs, and each thread reads only its
/// share of the weights. Which task computes a tile does not change the tile's arithmetic, so Y is
/// the same for every thread count.
fn column_groups(threads: usize, macs: usize, blocks: usize, panels: usize) -> Option<usize> {
    (threads > 1 && macs >= PAR_MACS).then(|| threads.div_ceil(blocks).min(panels))
}

#[allow(clippy::too_many_arguments)]
fn run<T: Copy + Send>(
    op: &'static str,
    ks: &KernelSet,
    m: usize,
    x: &[i8],
    ldx: usize,
    zp_x: i8,
    w: &Qs8Weights,
    bias: Option<&[i32]>,
    y: &mut [T],
    ldy: usize,
    rq: Option<&Requant>,
    threads: usize,
) -> Result<()> {
    let q = &ks.qgemm;
    if w.kernel != q.name {
        return Err(bad(
            op,
            format!(
                "weights packed for {} but the kernel set uses {}",
                w.kernel, q.name
            ),
        ));
    }
    let (n, k) = (w.n, w.k);
    crate::error::check_matrix(op, "X", (m, k, ldx), x.len())?;
    let ny = crate::error::span(op, "Y", m, n, ldy)?;
    crate::error::check_len(op, "Y", ny, y.len())?;
    if let Some(b) = bias {
        if b.len() != n {
            return Err(bad(
                op,
                format!("bias has {} values for {n} channels", b.len()),
            ));
        }
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    let (mr, nr, _) = q.tile;
    let np = w.colsum.len();
    // Effective bias: the zero-point (and VNNI shift) correction folded per call; see the module doc.
    let corr = zp_x as i32 + q.act.shift();
    let beff: Vec<i32> = (0..np)
        .map(|c| {
            let b = bias.map_or(0, |b| b.get(c).copied().unwrap_or(0));
            b.wrapping_sub(corr.wrapping_mul(w.colsum[c]))
        })
        .collect();
    let mut scales = vec![0f32; np];
    let bounds = rq.map(|rq| {
        scales[..n].copy_from_slice(&rq.scales);
        rq.bounds()
    });
    let lda = w.kp * q.act.elem_bytes();
    let mc = block_rows(lda, mr);
    let ctx = Ctx {
        q,
        x,
        ldx,
        w,
        beff: &beff,
        scales: &scales,
        bounds,
        ldy,
        lda,
        mr,
        nr,
    };
    let (blocks, panels) = (m.div_ceil(mc), n.div_ceil(nr));
    let macs = m.saturating_mul(n).saturating_mul(k);
    let split = column_groups(threads, macs, blocks, panels);
    let groups = split.unwrap_or(1);
    let yp = YPtr(y.as_mut_ptr());
    // Task t computes row block t / groups against column group t % groups.
    let task = |store: &mut Vec<u64>, t: usize| {
        let (i, g) = (t / groups, t % groups);
        let p = panels * g / groups..panels * (g + 1) / groups;
        // SAFETY: Y spans `ny` elements (checked above) and tasks write disjoint tiles.
        unsafe { ctx.block(store, i * mc, mc.min(m - i * mc), p, yp) };
    };
    if split.is_some() && blocks * groups > 1 {
        use rayon::prelude::*;
        crate::threads::install(threads, || {
            (0..blocks * groups)
                .into_par_iter()
                .for_each_init(|| ctx.scratch(), task);
        });
    } else {
        let mut store = ctx.scratch();
        (0..blocks).for_each(|t| task(&mut store, t));
    }
    Ok(())
}

/// Y's base pointer, shared by tasks that write disjoint tiles of it.
#[derive(Clone, Copy)]
struct YPtr<T>(*mut T);
// SAFETY: tasks write disjoint tiles of Y through this pointer (see `run`).
unsafe impl<T: Send> Send for YPtr<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for YPtr<T> {}

/// Everything one row block needs; shared read-only between threads.
struct Ctx<'a> {
    q: &'a QgemmKernels,
    x: &'a [i8],
    ldx: usize,
    w: &'a Qs8Weights,
    beff: &'a [i32],
    scales: &'a [f32],
    bounds: Option<(f32, f32, i32)>,
    ldy: usize,
    lda: usize,
    mr: usize,
    nr: usize,
}

impl Ctx<'_> {
    /// A zeroed A buffer for one MR-row panel, reused panel after panel: what a panel leaves in the
    /// K padding and in rows past the end of X is harmless (K padding meets zero weights, those rows
    /// are never stored), so it is zeroed once, not per panel. u64 storage keeps it aligned for the
    /// i16 view.
    fn scratch(&self) -> Vec<u64> {
        vec![0u64; (self.mr * self.lda).div_ceil(8)]
    }

    /// Copies rows `r0..r0+rows` of X into the first `rows` rows of `a` (lda bytes apart) in the
    /// layout the kernel table wants.
    fn pack(&self, a: &mut [u8], r0: usize, rows: usize) {
        let k = self.w.k;
        if k == 0 {
            return;
        }
        let rows_x = self.x[r0 * self.ldx..].chunks(self.ldx).take(rows);
        match self.q.act {
            ActLayout::I8 => {
                for (dst, src) in a.chunks_exact_mut(self.lda).zip(rows_x) {
                    for (d, &s) in dst.iter_mut().zip(&src[..k]) {
                        *d = s as u8;
                    }
                }
            }
            ActLayout::U8Shifted => {
                for (dst, src) in a.chunks_exact_mut(self.lda).zip(rows_x) {
                    for (d, &s) in dst.iter_mut().zip(&src[..k]) {
                        *d = (s as u8) ^ 0x80;
                    }
                }
            }
            ActLayout::I16 => {
                let a16: &mut [i16] = bytemuck::cast_slice_mut(a);
                for (dst, src) in a16.chunks_exact_mut(self.w.kp).zip(rows_x) {
                    widen_i16(&src[..k], &mut dst[..k]);
                }
            }
        }
    }

    /// Computes rows `r0..r0+rows` of Y for the W panels `panels` (NR columns each), packing X one
    /// MR-row panel at a time into `store` (from [`Ctx::scratch`]) right before it is used, so it is
    /// still in L1; each MR-row panel is packed once per call whatever the number of W panels.
    ///
    /// # Safety
    /// `y` is Y's first element and Y spans `(m−1)·ldy + N` elements (as the checks in [`run`]
    /// guarantee); no other thread writes these rows and columns meanwhile.
    unsafe fn block<T>(
        &self,
        store: &mut [u64],
        r0: usize,
        rows: usize,
        panels: std::ops::Range<usize>,
        y: YPtr<T>,
    ) {
        let (w, mr, nr) = (self.w, self.mr, self.nr);
        let n = w.n;
        let a: &mut [u8] = &mut bytemuck::cast_slice_mut(store)[..mr * self.lda];
        let panel_bytes = nr * w.kp * w.w_bytes;
        let size = std::mem::size_of::<T>();
        // Each MR-row panel of A runs against every W panel in turn, so a tile's output rows are written
        // left to right (streams the hardware prefetcher follows) while the A panel stays in L1.
        for ir in (0..rows).step_by(mr) {
            self.pack(a, r0 + ir, mr.min(rows - ir));
            for p in panels.clone() {
                let c0 = p * nr;
                let off = (r0 + ir) * self.ldy + c0;
                let tile = Tile {
                    rows: mr.min(rows - ir),
                    cols: nr.min(n - c0),
                    bias: self.beff[c0..].as_ptr(),
                    // SAFETY: off < (m−1)·ldy + N because r0 + ir < m and c0 < N (panels end by N).
                    out: unsafe { y.0.add(off) as *mut u8 },
                    ldo: self.ldy,
                    rq: self.bounds.map(|(lo, hi, zp)| TileRq {
                        scale: self.scales[c0..].as_ptr(),
                        lo,
                        hi,
                        zp,
                    }),
                };
                debug_assert_eq!(size, if tile.rq.is_some() { 1 } else { 4 });
                // SAFETY: `a` holds MR rows of lda bytes (kp elements); the panel is
                // inside w.data (p < Np/NR); beff and scales hold Np ≥ c0 + NR values; the tile's
                // rows × cols block with leading dimension ldy lies inside Y (see `block`'s contract);
                // the table was built for an ISA this CPU has.
                unsafe {
                    (self.q.ukernel)(
                        w.kp,
                        a.as_ptr(),
                        self.lda,
                        w.data.as_ptr().add(p * panel_bytes),
                        &tile,
                    )
                }
            }
        }
    }
}

/// `dst[i] = src[i]` widened to i16 (the ActLayout::I16 packing), with AVX2 where the CPU has it.
fn widen_i16(src: &[i8], dst: &mut [i16]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { avx2::widen_i16(src, dst) };
    }
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = s as i16;
    }
}

/// Adds the bias to a raw MR×NR accumulator tile (row-major, `nr` apart) and stores its valid part.
///
/// Shared by the scalar kernel and by the SIMD kernels for partial edge tiles.
///
/// # Safety
/// As for [`Qs8Ukernel`]: `t.bias` (and `t.rq.scale`) hold `t.cols` values, `t.out` a `t.rows × t.cols`
/// block with leading dimension `t.ldo`.
pub(crate) unsafe fn store_tile(acc: &[i32], nr: usize, t: &Tile) {
    for r in 0..t.rows {
        for c in 0..t.cols {
            // SAFETY: c < t.cols ≤ NR bias values; r < rows and c < cols stay inside the output block.
            unsafe {
                let v = acc[r * nr + c].wrapping_add(*t.bias.add(c));
                match t.rq {
                    Some(rq) => {
                        let y = requant(v, *rq.scale.add(c), rq.lo, rq.hi, rq.zp);
                        *(t.out as *mut i8).add(r * t.ldo + c) = y;
                    }
                    None => *(t.out as *mut i32).add(r * t.ldo + c) = v,
                }
            }
        }
    }
}
