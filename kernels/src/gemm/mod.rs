//! f32 GEMM: `C ← act(α·op(A)·op(B) + β·C + bias) + residual`, row-major with leading dimensions.
//!
//! BLIS structure: the N dimension is cut into `NC` blocks, K into `KC` blocks, M into `MC` blocks; B is
//! packed once per (NC, KC) block into `NR`-wide panels that stay in L1 while the `MR`-tall panels of
//! A (packed per MC block, or read in place when that is cheaper) stream from L2. Only the `MR×NR`
//! register-tile micro-kernel depends on the ISA; edge tiles go through a scratch tile, and the
//! epilogue (bias, ReLU / GELU, residual) runs on each tile while it is still in L1, after the last
//! K block. Threads take disjoint rectangles of C, so they never synchronise inside a call.

mod epilogue;
mod pack;
mod scalar;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "aarch64")]
mod neon;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::ops::Range;
use std::sync::OnceLock;

use rayon::prelude::*;

use crate::error::{check_len, check_matrix, span, Result};
use crate::isa::Isa;
use crate::KernelSet;

use epilogue::TileOut;
use pack::{pack_a, pack_b};

/// Micro-kernel: `C[0..MR, 0..NR] ← out(Σ_p A(i, p)·B(p, j))` for `p < kc`.
///
/// `A(i, p) = a[i·rs_a + p·cs_a]` (a packed panel has `rs_a = 1, cs_a = MR`), `B(p, j) = b[p·NR + j]`
/// (a packed panel), and C has row stride `ldc`. `out` says how to combine the sum
/// with C (see [`TileOut`]).
///
/// # Safety
/// The CPU supports the kernel's ISA; `a` is readable at every `A(i, p)` with `i < MR, p < kc`; `b` is
/// readable for `kc·NR` floats; `c` is writable (and readable unless β = 0) for
/// the full `MR×NR` tile with row stride `ldc`; the non-null pointers of `out` are readable for the
/// tile (`bias`: NR floats; `residual`: the tile with row stride `ldc`).
pub(crate) type F32GemmUkernel = unsafe fn(
    kc: usize,
    a: *const f32,
    rs_a: usize,
    cs_a: usize,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    out: &TileOut,
);

/// Largest `MR·NR` of any micro-kernel: the size of the scratch tile for edges.
const MAX_TILE: usize = 256;

/// The f32 GEMM entries of a [`KernelSet`].
#[derive(Clone, Copy, Debug)]
pub struct GemmKernels {
    /// Register tile (MR, NR) of the micro-kernel.
    pub tile: (usize, usize),
    /// Name of the micro-kernel, e.g. `f32_gemm_6x16__avx2`.
    pub name: &'static str,
    /// The micro-kernel.
    pub(crate) ukernel: F32GemmUkernel,
}

impl GemmKernels {
    pub(crate) fn for_isa(isa: Isa) -> GemmKernels {
        let k = match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 | Isa::Avx512Vnni => GemmKernels {
                tile: (avx2::MR, avx2::NR),
                name: "f32_gemm_6x16__avx2",
                ukernel: avx2::f32_gemm_6x16__avx2,
            },
            #[cfg(target_arch = "aarch64")]
            Isa::Neon | Isa::NeonDotprod => GemmKernels {
                tile: (neon::MR, neon::NR),
                name: "f32_gemm_8x12__neon",
                ukernel: neon::f32_gemm_8x12__neon,
            },
            _ => GemmKernels {
                tile: (scalar::MR, scalar::NR),
                name: "f32_gemm_4x8__scalar",
                ukernel: scalar::f32_gemm_4x8__scalar,
            },
        };
        debug_assert!(k.tile.0 * k.tile.1 <= MAX_TILE);
        k
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
/// When β = 0, C is not read. Errors (never panics) when a slice is too short for its dimensions and
/// leading dimension, a leading dimension is smaller than its row length, or the bias is shorter
/// than n.
pub fn sgemm(
    ks: &KernelSet,
    p: &GemmParams,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    epi: &Epilogue,
) -> Result<()> {
    let threads = crate::threads::num_threads();
    sgemm_with(
        ks,
        p,
        a,
        b,
        c,
        epi,
        threads,
        &Blocking::for_tile(ks.gemm.tile),
    )
}

/// Cache blocking: `mc` rows of A, `kc` depth, `nc` columns of B per block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Blocking {
    pub mc: usize,
    pub kc: usize,
    pub nc: usize,
    /// Untransposed A is read in place (not packed) when a task has at most this many columns: the A
    /// block is then reused over too few B panels for packing to pay back.
    pub in_place_max_n: usize,
}

impl Blocking {
    /// Block sizes for a register tile, derived from this CPU's cache sizes.
    ///
    /// A `KC×NR` panel of B is 1.5× L1d: it streams from L2 fast enough, and a deep K block means
    /// fewer passes over C (on Zen 4, KC = 768 beat KC = 256, which fills half of L1d, by 10–25 % on
    /// 512² to 1024² and on K = 768). An `MC×KC` block of A fills half of L2; a `KC×NC` block of B a
    /// share of L3.
    pub(crate) fn for_tile((mr, nr): (usize, usize)) -> Blocking {
        let caches = cache_sizes();
        let kc = (caches.l1d * 3 / 2 / (nr * 4)).clamp(128, 768) & !7;
        let mc = round_down((caches.l2 / 2 / (kc * 4)).clamp(4 * mr, 1024), mr);
        let nc = round_down((caches.l3 / 4 / (kc * 4)).clamp(4 * nr, 4096), nr);
        Blocking {
            mc,
            kc,
            nc,
            in_place_max_n: 256,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct CacheSizes {
    l1d: usize,
    l2: usize,
    l3: usize,
}

/// Per-core cache sizes from sysfs, or Zen 3-like defaults where they cannot be read.
fn cache_sizes() -> CacheSizes {
    static SIZES: OnceLock<CacheSizes> = OnceLock::new();
    *SIZES.get_or_init(|| {
        let mut s = CacheSizes {
            l1d: 32 << 10,
            l2: 512 << 10,
            l3: 16 << 20,
        };
        for idx in 0..8 {
            let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{idx}");
            let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).ok();
            let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size"))
            else {
                continue;
            };
            let size = size.trim();
            let bytes = match size.strip_suffix('K') {
                Some(v) => v.parse::<usize>().ok().map(|v| v << 10),
                None => match size.strip_suffix('M') {
                    Some(v) => v.parse::<usize>().ok().map(|v| v << 20),
                    None => size.parse::<usize>().ok(),
                },
            };
            let Some(bytes) = bytes.filter(|&b| b >= 4096) else {
                continue;
            };
            match (level.trim(), kind.trim()) {
                ("1", "Data") => s.l1d = bytes,
                ("2", "Unified") => s.l2 = bytes,
                ("3", "Unified") => s.l3 = bytes,
                _ => {}
            }
        }
        s
    })
}

fn round_down(x: usize, to: usize) -> usize {
    (x / to).max(1) * to
}

/// Below this many flops (2·m·n·k) one thread is faster than waking others.
#[cfg(not(test))]
const PAR_MIN_FLOPS: u128 = 8 << 20;
/// Tests use tiny shapes, so any non-empty product takes the threaded path.
#[cfg(test)]
const PAR_MIN_FLOPS: u128 = 1;

/// [`sgemm`] with an explicit thread count and blocking (tests use tiny blocks to reach block edges).
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm_with(
    ks: &KernelSet,
    p: &GemmParams,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    epi: &Epilogue,
    threads: usize,
    blk: &Blocking,
) -> Result<()> {
    let (ar, ac) = if p.trans_a { (p.k, p.m) } else { (p.m, p.k) };
    let (br, bc) = if p.trans_b { (p.n, p.k) } else { (p.k, p.n) };
    check_matrix("sgemm", "A", (ar, ac, p.lda), a.len())?;
    check_matrix("sgemm", "B", (br, bc, p.ldb), b.len())?;
    let c_span = span("sgemm", "C", p.m, p.n, p.ldc)?;
    check_len("sgemm", "C", c_span, c.len())?;
    if let Some(bias) = epi.bias {
        check_len("sgemm", "bias", p.n, bias.len())?;
    }
    if let Some(res) = epi.residual {
        check_len("sgemm", "residual", c_span, res.len())?;
    }
    if p.m == 0 || p.n == 0 {
        return Ok(());
    }
    let (mr, nr) = ks.gemm.tile;
    assert!(mr * nr <= MAX_TILE, "micro-kernel tile larger than scratch");
    let job = Job {
        ks,
        p,
        a,
        b,
        c: SendPtr(c.as_mut_ptr()),
        epi,
        blk: Blocking {
            mc: round_down(blk.mc, mr),
            kc: blk.kc.max(1),
            nc: round_down(blk.nc, nr),
            ..*blk
        },
    };
    let (tm, tn) = thread_grid(threads, p, mr, nr);
    if tm * tn == 1 {
        // SAFETY: the checks above cover every element of A, B, C, bias and residual that `run` touches,
        // and this thread is the only one writing C.
        unsafe { job.run(0..p.m, 0..p.n) };
        return Ok(());
    }
    crate::threads::install(tm * tn, || {
        (0..tm * tn).into_par_iter().for_each(|t| {
            let rows = part(p.m, tm, t / tn, mr);
            let cols = part(p.n, tn, t % tn, nr);
            // SAFETY: as above; the rectangles `rows × cols` of different tasks are disjoint, so no two
            // threads write the same element of C.
            unsafe { job.run(rows, cols) };
        })
    });
    Ok(())
}

/// Splits `threads` into a `tm × tn` grid over (M, N), or (1, 1) when the work is too small.
///
/// Each task packs all of its rows of A and columns of B, so the grid minimises the repeated packing
/// `tn·m·k + tm·k·n`, keeping at least one register tile per task.
fn thread_grid(threads: usize, p: &GemmParams, mr: usize, nr: usize) -> (usize, usize) {
    let flops = 2 * p.m as u128 * p.n as u128 * p.k as u128;
    if threads <= 1 || flops < PAR_MIN_FLOPS {
        return (1, 1);
    }
    let (mt, nt) = (p.m.div_ceil(mr), p.n.div_ceil(nr));
    let mut best = (1, 1);
    let mut best_cost = u128::MAX;
    for t in (1..=threads).rev() {
        for tm in (1..=t).filter(|tm| t % tm == 0) {
            let tn = t / tm;
            if tm > mt || tn > nt {
                continue;
            }
            let cost = tn as u128 * p.m as u128 + tm as u128 * p.n as u128;
            if cost < best_cost {
                best = (tm, tn);
                best_cost = cost;
            }
        }
        if best_cost != u128::MAX {
            break;
        }
    }
    best
}

/// The `i`-th of `parts` near-equal ranges of `0..len`, cut at multiples of `unit`.
fn part(len: usize, parts: usize, i: usize, unit: usize) -> Range<usize> {
    let units = len.div_ceil(unit);
    let at = |j: usize| (units * j / parts * unit).min(len);
    at(i)..at(i + 1)
}

/// C's base pointer, shared by tasks that write disjoint rectangles.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: tasks write disjoint parts of C through this pointer (see `sgemm_with`).
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

struct Job<'a> {
    ks: &'a KernelSet,
    p: &'a GemmParams,
    a: &'a [f32],
    b: &'a [f32],
    c: SendPtr,
    epi: &'a Epilogue<'a>,
    blk: Blocking,
}

/// A 64-byte aligned, reusable f32 buffer.
#[derive(Default)]
struct AlignedBuf(Vec<f32>);

impl AlignedBuf {
    fn get(&mut self, len: usize) -> &mut [f32] {
        if self.0.len() < len + 16 {
            self.0 = vec![0.0; len + 16];
        }
        let off = self.0.as_ptr().align_offset(64).min(15);
        &mut self.0[off..off + len]
    }
}

thread_local! {
    static PACK_BUFS: RefCell<(AlignedBuf, AlignedBuf)> = RefCell::default();
}

/// Whether the micro-kernel reads A in place instead of from a packed panel.
///
/// Packing A costs a pass over it per NC block, which a narrow C does not pay back; in place, the
/// rows of A must be contiguous (untransposed) and not a multiple of 4 KiB apart (they would all map
/// to the same L1 set).
fn read_a_in_place(p: &GemmParams, blk: &Blocking, ncols: usize) -> bool {
    !p.trans_a && ncols <= blk.in_place_max_n && !(p.lda * 4).is_multiple_of(4096)
}

impl Job<'_> {
    /// Computes `C[rows, cols]`.
    ///
    /// # Safety
    /// `sgemm_with` has checked every slice against the params; `self.c` points to C, and no other
    /// thread accesses `C[rows, cols]` during the call.
    unsafe fn run(&self, rows: Range<usize>, cols: Range<usize>) {
        if rows.is_empty() || cols.is_empty() {
            return;
        }
        PACK_BUFS.with(|cell| match cell.try_borrow_mut() {
            Ok(mut bufs) => {
                let (abuf, bbuf) = &mut *bufs;
                // SAFETY: forwarded from this function's contract.
                unsafe { self.run_with(rows, cols, abuf, bbuf) }
            }
            // SAFETY: as above.
            Err(_) => unsafe {
                self.run_with(
                    rows,
                    cols,
                    &mut AlignedBuf::default(),
                    &mut AlignedBuf::default(),
                )
            },
        })
    }

    /// # Safety
    /// As [`Job::run`].
    unsafe fn run_with(
        &self,
        rows: Range<usize>,
        cols: Range<usize>,
        abuf: &mut AlignedBuf,
        bbuf: &mut AlignedBuf,
    ) {
        let p = self.p;
        let (mr, nr) = self.ks.gemm.tile;
        let uk = self.ks.gemm.ukernel;
        let k = p.k;
        let k_blocks = k.div_ceil(self.blk.kc).max(1);
        let kc_step = k.div_ceil(k_blocks);
        let m_len = rows.len();
        let m_blocks = m_len.div_ceil(self.blk.mc);
        let mc_step = m_len.div_ceil(m_blocks).div_ceil(mr) * mr;
        let nc_max = self.blk.nc.min(cols.len().div_ceil(nr) * nr);
        let in_place = read_a_in_place(p, &self.blk, cols.len());
        let bbuf = bbuf.get(nc_max * kc_step);
        let abuf = abuf.get(mc_step * kc_step);
        let mut scratch = Scratch([0.0; MAX_TILE]);
        let gelu = match self.epi.activation {
            Activation::Gelu => Some(self.ks.rows.gelu),
            Activation::GeluTanh => Some(self.ks.rows.gelu_tanh),
            Activation::None | Activation::Relu => None,
        };
        let bias = self.epi.bias.map_or(std::ptr::null(), <[f32]>::as_ptr);
        let residual = self.epi.residual.map_or(std::ptr::null(), <[f32]>::as_ptr);

        for jc in cols.clone().step_by(nc_max) {
            let nc = nc_max.min(cols.end - jc);
            for kb in 0..k_blocks {
                let pc = kb * kc_step;
                let kc = kc_step.min(k - pc);
                let (first, last) = (kb == 0, kb + 1 == k_blocks);
                pack_b(self.b, p.ldb, p.trans_b, pc..pc + kc, jc..jc + nc, nr, bbuf);
                for ic in rows.clone().step_by(mc_step) {
                    let mc = mc_step.min(rows.end - ic);
                    let full_panels = if in_place { mc / mr } else { 0 };
                    let packed_from = ic + full_panels * mr;
                    pack_a(
                        self.a,
                        p.lda,
                        p.trans_a,
                        packed_from..ic + mc,
                        pc..pc + kc,
                        mr,
                        abuf,
                    );
                    for jr in (0..nc).step_by(nr) {
                        let nr_eff = nr.min(nc - jr);
                        let bp = bbuf.as_ptr().add(jr * kc);
                        let col = jc + jr;
                        for ir in (0..mc).step_by(mr) {
                            let mr_eff = mr.min(mc - ir);
                            let row = ic + ir;
                            let (ap, rs, cs) = if row < packed_from {
                                let at = row * p.lda + pc;
                                (self.a.as_ptr().add(at), p.lda, 1)
                            } else {
                                (abuf.as_ptr().add((row - packed_from) * kc), 1, mr)
                            };
                            let at = row * p.ldc + col;
                            let cp = self.c.0.add(at);
                            let out = TileOut {
                                alpha: p.alpha,
                                beta: if first { p.beta } else { 1.0 },
                                bias: if last && !bias.is_null() {
                                    bias.add(col)
                                } else {
                                    std::ptr::null()
                                },
                                relu: last && self.epi.activation == Activation::Relu,
                                residual: if last && gelu.is_none() && !residual.is_null() {
                                    residual.add(at)
                                } else {
                                    std::ptr::null()
                                },
                            };
                            if mr_eff == mr && nr_eff == nr {
                                uk(kc, ap, rs, cs, bp, cp, p.ldc, &out);
                            } else {
                                let sp = scratch.0.as_mut_ptr();
                                uk(kc, ap, rs, cs, bp, sp, nr, &TileOut::plain());
                                epilogue::store_tile(sp, nr, cp, p.ldc, mr_eff, nr_eff, &out);
                            }
                            if let (true, Some(act)) = (last, gelu) {
                                let res = if residual.is_null() {
                                    std::ptr::null()
                                } else {
                                    residual.add(at)
                                };
                                epilogue::activate_tile(act, cp, p.ldc, mr_eff, nr_eff, res);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The edge tile, aligned like C rows would be.
#[repr(align(64))]
struct Scratch([f32; MAX_TILE]);
