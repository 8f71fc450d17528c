//! A minimal `.npy` (format 1.0, C order) writer for runtime tensors: inputs and outputs beside an
//! exported model, for checkers such as LiteRT's.

use std::path::Path;

use crate::runtime::{Buf, Data};
use crate::{Error, Result};

/// The `.npy` bytes of `b` (`<f4`, `|i1` or `<i4`).
pub fn npy_bytes(b: &Buf) -> Vec<u8> {
    let descr = match b.data {
        Data::F32(_) => "<f4",
        Data::I8(_) => "|i1",
        Data::I32(_) => "<i4",
    };
    let dims: Vec<String> = b.shape.iter().map(|d| format!("{d},")).collect();
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': ({}), }}",
        dims.join(" ")
    );
    // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    match &b.data {
        Data::F32(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
        Data::I8(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
        Data::I32(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
    }
    out
}

/// Writes `b` to `path` as `.npy`.
pub fn write_npy(path: &Path, b: &Buf) -> Result<()> {
    std::fs::write(path, npy_bytes(b)).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_padded_and_data_follows() {
        let b = npy_bytes(&Buf::i8(&[2, 3], vec![1, -2, 3, -4, 5, -6]));
        assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
        let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hl) % 64, 0);
        let h = std::str::from_utf8(&b[10..10 + hl]).unwrap();
        assert!(
            h.contains("'descr': '|i1'") && h.contains("'shape': (2, 3,)"),
            "{h}"
        );
        assert_eq!(&b[10 + hl..], &[1u8, 254, 3, 252, 5, 250]);
    }
}
