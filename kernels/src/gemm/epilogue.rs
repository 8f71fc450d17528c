//! The GEMM epilogue: how a finished register tile is combined with C, biased, activated and added to
//! the residual while it is still in L1.

/// How a micro-kernel stores its `MR×NR` sum `s` into C:
/// `C ← max?(α·s + β·C + bias[j]) + residual[i, j]`, where `max?` is ReLU when `relu` is set.
///
/// β = 0 means C is not read (NaN there does not propagate). A null `bias` / `residual` means none.
/// The driver passes bias, ReLU and residual only with the last K block, and never the residual
/// together with GELU (that residual is added by [`activate_tile`] after the activation).
pub(crate) struct TileOut {
    pub alpha: f32,
    pub beta: f32,
    pub bias: *const f32,
    pub relu: bool,
    pub residual: *const f32,
}

impl TileOut {
    /// `C ← s`: for the scratch tile of an edge.
    pub(crate) fn plain() -> TileOut {
        TileOut {
            alpha: 1.0,
            beta: 0.0,
            bias: std::ptr::null(),
            relu: false,
            residual: std::ptr::null(),
        }
    }

    /// One output element from the sum `s` and the old `c` (ignored when β = 0).
    ///
    /// # Safety
    /// `j` is inside `bias` and `at` inside `residual` when those are non-null.
    #[inline(always)]
    pub(crate) unsafe fn apply(&self, s: f32, c: impl FnOnce() -> f32, j: usize, at: usize) -> f32 {
        let mut v = self.alpha * s;
        if self.beta != 0.0 {
            v += self.beta * c();
        }
        if !self.bias.is_null() {
            v += *self.bias.add(j);
        }
        if self.relu {
            v = v.max(0.0);
        }
        if !self.residual.is_null() {
            v += *self.residual.add(at);
        }
        v
    }
}

/// Stores the `mr×nr` corner of a sum tile `s` (row stride `lds`) into C per `out`.
///
/// # Safety
/// `s` is readable and `c` writable (readable unless β = 0) for `mr×nr` elements at their strides;
/// `out.bias` is readable for `nr` floats and `out.residual` for the tile at stride `ldc`, if non-null.
pub(crate) unsafe fn store_tile(
    s: *const f32,
    lds: usize,
    c: *mut f32,
    ldc: usize,
    mr: usize,
    nr: usize,
    out: &TileOut,
) {
    for i in 0..mr {
        for j in 0..nr {
            let at = i * ldc + j;
            let cp = c.add(at);
            // SAFETY: inside the tile, per this function's contract.
            unsafe { *cp = out.apply(*s.add(i * lds + j), || *cp, j, at) };
        }
    }
}

/// Applies a row activation to an `mr×nr` tile of C in place, then adds the residual (if non-null).
///
/// # Safety
/// `c` is writable for `mr` rows of `nr` floats at stride `ldc`, and `residual` (if non-null) readable
/// for the same tile; `c`'s tile is not aliased by anything else during the call.
pub(crate) unsafe fn activate_tile(
    act: fn(&mut [f32]),
    c: *mut f32,
    ldc: usize,
    mr: usize,
    nr: usize,
    residual: *const f32,
) {
    for i in 0..mr {
        // SAFETY: one row of the tile, exclusively ours per the contract.
        let row = unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc), nr) };
        act(row);
        if !residual.is_null() {
            // SAFETY: the residual row matching `row`.
            let res = unsafe { std::slice::from_raw_parts(residual.add(i * ldc), nr) };
            for (v, r) in row.iter_mut().zip(res) {
                *v += r;
            }
        }
    }
}
