//! Bounds-checked FlatBuffers reading, for files we did not necessarily write.
//!
//! Every uoffset, soffset, vtable, vector length and string is checked against the buffer before
//! it is used, with checked arithmetic, and each failure is a [`crate::Error::Format`] that names
//! the table and field. Alignment is checked the way the FlatBuffers verifier does (relative to the
//! start of the buffer). Reading is schema-driven, so recursion depth is bounded by the schema;
//! shared or overlapping offsets cannot blow up either, because every table, vector and string
//! read is charged to a budget of twice the file size (a well-formed file reads each byte about
//! once).

use std::cell::Cell;

use crate::error::format_err;
use crate::Result;

/// A little-endian scalar that can be read out of a buffer.
pub(crate) trait Le: Sized + Copy {
    /// Size (and required alignment) in bytes.
    const SIZE: usize;
    /// Decodes `SIZE` bytes.
    fn from_le(b: &[u8]) -> Self;
}

macro_rules! le {
    ($($t:ty),*) => {$(
        impl Le for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn from_le(b: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(&b[..Self::SIZE]);
                <$t>::from_le_bytes(a)
            }
        }
    )*};
}
le!(u8, i8, u16, i32, u32, f32, i64, u64);

impl Le for bool {
    const SIZE: usize = 1;
    fn from_le(b: &[u8]) -> Self {
        b[0] != 0
    }
}

/// A buffer being read, with the budget that stops shared offsets from multiplying work.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    budget: Cell<usize>,
}

impl<'a> Reader<'a> {
    /// Starts reading `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader {
            buf,
            budget: Cell::new(buf.len().saturating_mul(2).saturating_add(1024)),
        }
    }

    /// The root table, after checking the 4-byte file identifier at bytes 4..8.
    pub(crate) fn root(&'a self, ident: &[u8; 4], name: &'static str) -> Result<Table<'a>> {
        if self.buf.len() < 8 {
            return Err(format_err(format!(
                "{name}: {} bytes is too short for a FlatBuffer",
                self.buf.len()
            )));
        }
        if &self.buf[4..8] != ident {
            return Err(format_err(format!(
                "{name}: file identifier {:?} is not {:?}",
                String::from_utf8_lossy(&self.buf[4..8]),
                String::from_utf8_lossy(ident)
            )));
        }
        let at = self.offset_target(0, name, "root")?;
        Table::new(self, at, name)
    }

    /// `len` bytes at `at`, or an error naming `what` when they are not all in the buffer.
    fn slice(&self, at: usize, len: usize, what: &dyn Fn() -> String) -> Result<&'a [u8]> {
        at.checked_add(len)
            .filter(|&end| end <= self.buf.len())
            .map(|end| &self.buf[at..end])
            .ok_or_else(|| {
                format_err(format!(
                    "{}: {len} bytes at offset {at} run past the end of the {}-byte buffer",
                    what(),
                    self.buf.len()
                ))
            })
    }

    /// A scalar at `at`, checked for bounds and alignment.
    fn read<T: Le>(&self, at: usize, what: &dyn Fn() -> String) -> Result<T> {
        if !at.is_multiple_of(T::SIZE) {
            return Err(format_err(format!(
                "{}: offset {at} is not aligned to {}",
                what(),
                T::SIZE
            )));
        }
        Ok(T::from_le(self.slice(at, T::SIZE, what)?))
    }

    /// Where the uoffset stored at `at` points, checked to be non-zero and inside the buffer.
    fn offset_target(&self, at: usize, table: &str, field: &str) -> Result<usize> {
        let what = || format!("{table}.{field}");
        let rel: u32 = self.read(at, &what)?;
        let target = at.checked_add(rel as usize).filter(|&t| t < self.buf.len());
        match target {
            Some(t) if rel != 0 => Ok(t),
            _ => Err(format_err(format!(
                "{table}.{field}: offset {rel} at byte {at} points outside the {}-byte buffer",
                self.buf.len()
            ))),
        }
    }

    /// Charges `n` bytes of reading to the budget.
    fn charge(&self, n: usize, what: &dyn Fn() -> String) -> Result<()> {
        let left = self.budget.get().checked_sub(n.max(1)).ok_or_else(|| {
            format_err(format!(
                "{}: the file refers to far more data than its {} bytes hold \
                 (shared or looping offsets)",
                what(),
                self.buf.len()
            ))
        })?;
        self.budget.set(left);
        Ok(())
    }
}

/// A checked view of one table.
#[derive(Clone, Copy)]
pub(crate) struct Table<'a> {
    r: &'a Reader<'a>,
    pos: usize,
    vt: usize,
    vt_len: usize,
    obj_len: usize,
    /// The schema name of this table, for error messages.
    name: &'static str,
}

impl<'a> Table<'a> {
    /// The table at `pos`, with its vtable checked.
    fn new(r: &'a Reader<'a>, pos: usize, name: &'static str) -> Result<Table<'a>> {
        let what = || format!("{name} table");
        let soffset: i32 = r.read(pos, &what)?;
        let vt = i64::try_from(pos)
            .ok()
            .and_then(|p| p.checked_sub(i64::from(soffset)))
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| {
                format_err(format!(
                    "{name} table at {pos}: vtable offset {soffset} points before the buffer"
                ))
            })?;
        let vwhat = || format!("{name} vtable");
        let vt_len = usize::from(r.read::<u16>(vt, &vwhat)?);
        let obj_len = usize::from(r.read::<u16>(vt + 2, &vwhat)?);
        if vt_len < 4 || !vt_len.is_multiple_of(2) || obj_len < 4 {
            return Err(format_err(format!(
                "{name} vtable at {vt}: sizes {vt_len}/{obj_len} are invalid"
            )));
        }
        r.slice(vt, vt_len, &vwhat)?;
        r.slice(pos, obj_len, &what)?;
        r.charge(obj_len, &what)?;
        Ok(Table {
            r,
            pos,
            vt,
            vt_len,
            obj_len,
            name,
        })
    }

    fn what(&self, field: &str) -> String {
        format!("{}.{field}", self.name)
    }

    /// Where a field of `size` bytes in `slot` sits, or `None` when the vtable leaves it out.
    fn field(&self, slot: u16, size: usize, field: &str) -> Result<Option<usize>> {
        let idx = 4 + 2 * usize::from(slot);
        if idx + 2 > self.vt_len {
            return Ok(None);
        }
        let voff = usize::from(self.r.read::<u16>(self.vt + idx, &|| self.what(field))?);
        if voff == 0 {
            return Ok(None);
        }
        if voff < 4 || voff + size > self.obj_len {
            return Err(format_err(format!(
                "{}: field offset {voff} lies outside its {}-byte table at {}",
                self.what(field),
                self.obj_len,
                self.pos
            )));
        }
        Ok(Some(self.pos + voff))
    }

    /// A scalar field, or `default` when absent.
    pub(crate) fn scalar<T: Le>(&self, slot: u16, field: &str, default: T) -> Result<T> {
        match self.field(slot, T::SIZE, field)? {
            Some(at) => self.r.read(at, &|| self.what(field)),
            None => Ok(default),
        }
    }

    /// Where the uoffset field in `slot` points.
    fn target(&self, slot: u16, field: &str) -> Result<Option<usize>> {
        match self.field(slot, 4, field)? {
            Some(at) => self.r.offset_target(at, self.name, field).map(Some),
            None => Ok(None),
        }
    }

    /// A sub-table field, named `child` in messages.
    pub(crate) fn table(
        &self,
        slot: u16,
        field: &str,
        child: &'static str,
    ) -> Result<Option<Table<'a>>> {
        match self.target(slot, field)? {
            Some(at) => Table::new(self.r, at, child).map(Some),
            None => Ok(None),
        }
    }

    /// Where the elements of the vector in `slot` start, and how many there are.
    pub(crate) fn vector_span(
        &self,
        slot: u16,
        field: &str,
        elem_size: usize,
    ) -> Result<Option<(usize, usize)>> {
        let Some(at) = self.target(slot, field)? else {
            return Ok(None);
        };
        let what = || self.what(field);
        let n = self.r.read::<u32>(at, &what)? as usize;
        let bytes = n
            .checked_mul(elem_size)
            .ok_or_else(|| format_err(format!("{}: vector length {n} is absurd", what())))?;
        let start = at + 4;
        self.r.slice(start, bytes, &|| {
            format!("{} (vector of {n} × {elem_size} bytes)", what())
        })?;
        if !start.is_multiple_of(elem_size.max(1)) {
            return Err(format_err(format!(
                "{}: vector at {start} is not aligned to {elem_size}",
                what()
            )));
        }
        self.r.charge(bytes + 4, &what)?;
        Ok(Some((start, n)))
    }

    /// A vector of scalars; empty when absent.
    pub(crate) fn vector<T: Le>(&self, slot: u16, field: &str) -> Result<Vec<T>> {
        let Some((start, n)) = self.vector_span(slot, field, T::SIZE)? else {
            return Ok(Vec::new());
        };
        let bytes = self.r.slice(start, n * T::SIZE, &|| self.what(field))?;
        Ok(bytes.chunks_exact(T::SIZE).map(T::from_le).collect())
    }

    /// A `[ubyte]` vector as a slice of the buffer; empty when absent.
    pub(crate) fn bytes(&self, slot: u16, field: &str) -> Result<&'a [u8]> {
        match self.vector_span(slot, field, 1)? {
            Some((start, n)) => self.r.slice(start, n, &|| self.what(field)),
            None => Ok(&[]),
        }
    }

    /// A string field (UTF-8, NUL-terminated); `None` when absent.
    pub(crate) fn string(&self, slot: u16, field: &str) -> Result<Option<&'a str>> {
        let Some((start, n)) = self.vector_span(slot, field, 1)? else {
            return Ok(None);
        };
        let what = || self.what(field);
        let with_nul = self.r.slice(start, n + 1, &what)?;
        if with_nul[n] != 0 {
            return Err(format_err(format!(
                "{}: string is not NUL-terminated",
                what()
            )));
        }
        std::str::from_utf8(&with_nul[..n])
            .map(Some)
            .map_err(|e| format_err(format!("{}: string is not UTF-8: {e}", what())))
    }

    /// A vector of tables, each named `child` in messages; empty when absent.
    pub(crate) fn tables(
        &self,
        slot: u16,
        field: &str,
        child: &'static str,
    ) -> Result<Vec<Table<'a>>> {
        let Some((start, n)) = self.vector_span(slot, field, 4)? else {
            return Ok(Vec::new());
        };
        (0..n)
            .map(|i| {
                let at = self.r.offset_target(start + 4 * i, self.name, field)?;
                Table::new(self.r, at, child)
            })
            .collect()
    }
}
