//! A minimal FlatBuffers builder with `flatc`'s layout rules.
//!
//! Like `flatc`'s builders it writes back to front: children are created first and sit at higher
//! addresses than the tables that refer to them, so every uoffset is unsigned and points forward.
//! The bytes are kept reversed while building (appending is cheap) and flipped once in
//! [`Builder::finish`]. Alignment is computed against the end of the buffer, and `finish` pads the
//! front so the total length is a multiple of the largest alignment used, which makes every
//! end-relative alignment an absolute one:
//! * scalars in tables are aligned to their size, and tables start 4-aligned;
//! * vectors are aligned to max(4, element size) (or more, e.g. `force_align: 16`) with the u32
//!   length right before the first element;
//! * strings are u32 length, bytes, NUL;
//! * vtables are 2-aligned, deduplicated, and referenced by the table's leading soffset.
//!
//! A union field is two ordinary fields: its `u8` type in slot k and its table offset in slot k+1.

use std::collections::HashMap;

use crate::error::format_err;
use crate::Result;

/// Largest buffer a FlatBuffer may be: offsets are 32-bit and soffsets signed.
pub const MAX_SIZE: usize = i32::MAX as usize;

/// A position in the buffer being built, counted from its end (what `flatc` calls an offset).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offset(usize);

/// A scalar that can be stored in a table or a vector, little-endian.
pub trait Scalar: Copy {
    /// Size (and alignment) in bytes.
    const SIZE: usize;
    /// Appends the little-endian bytes in reverse order (the builder's buffer is reversed).
    fn push_rev(self, out: &mut Vec<u8>);
}

macro_rules! scalar {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn push_rev(self, out: &mut Vec<u8>) {
                out.extend(self.to_le_bytes().iter().rev());
            }
        }
    )*};
}
scalar!(u8, i8, u16, i16, u32, i32, u64, i64, f32, f64);

impl Scalar for bool {
    const SIZE: usize = 1;
    fn push_rev(self, out: &mut Vec<u8>) {
        out.push(u8::from(self));
    }
}

/// One field of a table: a scalar or a reference to something built earlier.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Field {
    /// `bool`.
    Bool(bool),
    /// `ubyte` (also union type tags).
    U8(u8),
    /// `byte` (also byte-sized enums).
    I8(i8),
    /// `int`.
    I32(i32),
    /// `uint`.
    U32(u32),
    /// `float`.
    F32(f32),
    /// `long`.
    I64(i64),
    /// `ulong`.
    U64(u64),
    /// A table, vector or string built earlier.
    Ref(Offset),
}

impl Field {
    fn size(&self) -> usize {
        match self {
            Field::Bool(_) | Field::U8(_) | Field::I8(_) => 1,
            Field::I32(_) | Field::U32(_) | Field::F32(_) | Field::Ref(_) => 4,
            Field::I64(_) | Field::U64(_) => 8,
        }
    }
}

/// Builds one FlatBuffer, back to front.
#[derive(Default)]
pub struct Builder {
    /// The bytes built so far, in reverse order.
    rev: Vec<u8>,
    /// Largest alignment used; the finished buffer's length is a multiple of it.
    min_align: usize,
    /// Written vtables (their bytes, in file order) and where they are.
    vtables: HashMap<Vec<u8>, usize>,
    /// Set when a size or offset did not fit 32 bits; `finish` then fails.
    overflow: bool,
}

impl Builder {
    /// An empty builder.
    pub fn new() -> Builder {
        Builder {
            min_align: 1,
            ..Builder::default()
        }
    }

    /// Bytes written so far (the offset of the next thing written).
    fn len(&self) -> usize {
        self.rev.len()
    }

    /// Pads so that after `extra` more bytes the position is a multiple of `align` (a power of 2).
    fn prep(&mut self, align: usize, extra: usize) {
        self.min_align = self.min_align.max(align);
        let pad = (align - (self.len() + extra) % align) % align;
        self.rev.resize(self.len() + pad, 0);
    }

    fn u32_of(&mut self, x: usize) -> u32 {
        u32::try_from(x).unwrap_or_else(|_| {
            self.overflow = true;
            0
        })
    }

    /// Writes a uoffset to `target`, relative to where the uoffset itself lands.
    fn push_uoffset(&mut self, target: Offset) {
        self.prep(4, 0);
        // An Offset from another builder could lie ahead of this one; finish then fails.
        let rel = (self.len() + 4).checked_sub(target.0).unwrap_or_else(|| {
            self.overflow = true;
            0
        });
        let rel = self.u32_of(rel);
        rel.push_rev(&mut self.rev);
    }

    /// A vector of scalars, aligned to max(4, element size).
    pub fn vector<T: Scalar>(&mut self, items: &[T]) -> Offset {
        self.vector_aligned(items, T::SIZE.max(4))
    }

    /// A vector of scalars whose first element is aligned to `align` (a power of 2, ≥ the
    /// element size), as `force_align` asks.
    pub fn vector_aligned<T: Scalar>(&mut self, items: &[T], align: usize) -> Offset {
        let bytes = items.len().saturating_mul(T::SIZE);
        self.prep(4, bytes);
        self.prep(align.max(T::SIZE).max(4), bytes);
        for &x in items.iter().rev() {
            x.push_rev(&mut self.rev);
        }
        let n = self.u32_of(items.len());
        n.push_rev(&mut self.rev);
        Offset(self.len())
    }

    /// A vector of raw bytes whose first byte is aligned to `align` (e.g. `Buffer.data`, 16).
    pub fn bytes(&mut self, data: &[u8], align: usize) -> Offset {
        self.prep(4, data.len());
        self.prep(align.max(4), data.len());
        self.rev.extend(data.iter().rev());
        let n = self.u32_of(data.len());
        n.push_rev(&mut self.rev);
        Offset(self.len())
    }

    /// A vector of references (tables, strings or vectors built earlier).
    pub fn refs(&mut self, items: &[Offset]) -> Offset {
        self.prep(4, items.len().saturating_mul(4));
        for &x in items.iter().rev() {
            self.push_uoffset(x);
        }
        let n = self.u32_of(items.len());
        n.push_rev(&mut self.rev);
        Offset(self.len())
    }

    /// A string: u32 length, the UTF-8 bytes, then a NUL that the length does not count.
    pub fn string(&mut self, s: &str) -> Offset {
        self.prep(4, s.len() + 1);
        self.rev.push(0);
        self.rev.extend(s.bytes().rev());
        let n = self.u32_of(s.len());
        n.push_rev(&mut self.rev);
        Offset(self.len())
    }

    /// A table from `(slot, value)` pairs; slots left out read as the schema default.
    ///
    /// Fields are laid out largest first (as `flatc`-generated code adds them), so padding is
    /// minimal and the table is aligned to its largest field.
    pub fn table(&mut self, fields: &[(u16, Field)]) -> Offset {
        let mut order: Vec<&(u16, Field)> = fields.iter().collect();
        order.sort_by_key(|(slot, f)| (std::cmp::Reverse(f.size()), *slot));
        let slots = fields
            .iter()
            .map(|&(s, _)| usize::from(s) + 1)
            .max()
            .unwrap_or(0);
        let mut at = vec![0usize; slots];
        // Table contents, from the end backwards; remember where each field landed.
        let start = self.len();
        for &&(slot, f) in order.iter().rev() {
            match f {
                Field::Ref(o) => self.push_uoffset(o),
                _ => {
                    self.prep(f.size(), 0);
                    match f {
                        Field::Bool(v) => v.push_rev(&mut self.rev),
                        Field::U8(v) => v.push_rev(&mut self.rev),
                        Field::I8(v) => v.push_rev(&mut self.rev),
                        Field::I32(v) => v.push_rev(&mut self.rev),
                        Field::U32(v) => v.push_rev(&mut self.rev),
                        Field::F32(v) => v.push_rev(&mut self.rev),
                        Field::I64(v) => v.push_rev(&mut self.rev),
                        Field::U64(v) => v.push_rev(&mut self.rev),
                        Field::Ref(_) => {}
                    }
                }
            }
            at[usize::from(slot)] = self.len();
        }
        // The table starts with a 4-byte soffset to its vtable.
        self.prep(4, 0);
        let table = self.len() + 4;
        let vt_len = 4 + 2 * slots;
        let mut vt: Vec<u8> = Vec::with_capacity(vt_len);
        let head = [vt_len, table - start];
        let voffs = at.iter().map(|&pos| if pos == 0 { 0 } else { table - pos });
        for v in head.into_iter().chain(voffs) {
            let v = u16::try_from(v).unwrap_or_else(|_| {
                self.overflow = true;
                0
            });
            vt.extend(v.to_le_bytes());
        }
        // soffset = table address - vtable address = vtable offset - table offset (from the end).
        let soffset = match self.vtables.get(&vt) {
            Some(&old) => old as i64 - table as i64,
            None => {
                let vt_at = table + vt.len();
                self.vtables.insert(vt.clone(), vt_at);
                vt.len() as i64
            }
        };
        let soffset = i32::try_from(soffset).unwrap_or_else(|_| {
            self.overflow = true;
            0
        });
        soffset.push_rev(&mut self.rev);
        if soffset > 0 {
            self.rev.extend(vt.iter().rev());
        }
        Offset(table)
    }

    /// Finishes the buffer: root uoffset, optional 4-byte file identifier, then the tables.
    pub fn finish(mut self, root: Offset, ident: Option<&[u8; 4]>) -> Result<Vec<u8>> {
        let header = if ident.is_some() { 8 } else { 4 };
        self.prep(self.min_align.max(4), header);
        if let Some(id) = ident {
            self.rev.extend(id.iter().rev());
        }
        self.push_uoffset(root);
        if self.overflow || self.len() > MAX_SIZE {
            return Err(format_err(format!(
                "FlatBuffer too large ({} bytes; the format allows {MAX_SIZE}, tables 65535) \
                 or built from another builder's offsets",
                self.len()
            )));
        }
        let mut out = self.rev;
        out.reverse();
        Ok(out)
    }
}
