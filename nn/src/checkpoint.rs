//! Checkpoints as safetensors files (PyTorch users open them with `safetensors.torch.load_file`).
//!
//! A checkpoint is a list of named f32 tensors (model weights and buffers, optimizer state, …) plus
//! string metadata. The safetensors header carries three reserved metadata keys: `format` =
//! `inkling-checkpoint`, `version` = `1`, and `crc32`, eight lowercase hex digits of the CRC-32 (IEEE)
//! of the content, so that a flipped byte anywhere in a name, shape, metadata value or tensor is
//! detected. The CRC covers, as `len(u64 LE) ‖ bytes` for strings:
//!
//! 1. every metadata entry except `crc32`, sorted by key: key, value;
//! 2. every tensor, sorted by name: name, rank (u64 LE), each dimension (u64 LE), the data (f32 LE).
//!
//! Loading verifies in this order: the safetensors structure (the crate bounds the header length and
//! checks every offset before anything is read), the format marker, the version, every dtype (F32 only),
//! then the CRC. Saving writes `PATH.tmp`, syncs it and renames it over `PATH`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use inkling_autograd::Tensor;
use safetensors::{Dtype, SafeTensorError, SafeTensors, View};

use crate::error::list;
use crate::{Error, Module, Result};

/// Value of the `format` metadata key.
pub const FORMAT: &str = "inkling-checkpoint";
/// Value of the `version` metadata key this build reads and writes.
pub const VERSION: &str = "1";
/// Metadata keys the format owns; [`Checkpoint::metadata`] must not use them.
pub const RESERVED_KEYS: [&str; 3] = ["format", "version", "crc32"];

/// Named tensors and string metadata, as stored in one file.
#[derive(Clone, Debug, Default)]
pub struct Checkpoint {
    /// Tensors by name (unique names; stored sorted by name).
    pub tensors: Vec<(String, Tensor)>,
    /// Caller metadata (config JSON, step, class names, …), without the reserved keys.
    pub metadata: BTreeMap<String, String>,
}

impl Checkpoint {
    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// Writes the checkpoint to `path` atomically (`path.tmp`, `sync_all`, rename): a crash leaves the
    /// old file or the new one. Errors on duplicate tensor names or reserved metadata keys.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.to_bytes(path)?;
        write_atomic(path, &bytes)
    }

    /// Reads and verifies the checkpoint at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Checkpoint> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Checkpoint::from_bytes(&bytes, path)
    }

    /// The file contents; `origin` names the destination in errors.
    pub fn to_bytes(&self, origin: &Path) -> Result<Vec<u8>> {
        self.encode().map_err(|what| Error::Checkpoint {
            path: origin.to_path_buf(),
            what,
        })
    }

    /// Parses and verifies file contents; `origin` names the source in errors. Never panics.
    pub fn from_bytes(bytes: &[u8], origin: &Path) -> Result<Checkpoint> {
        decode(bytes).map_err(|what| Error::Checkpoint {
            path: origin.to_path_buf(),
            what,
        })
    }

    fn encode(&self) -> std::result::Result<Vec<u8>, String> {
        if let Some(k) = RESERVED_KEYS
            .iter()
            .find(|k| self.metadata.contains_key(**k))
        {
            return Err(format!("metadata key {k:?} is reserved for the format"));
        }
        let mut tensors: Vec<(&str, &Tensor)> =
            self.tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
        tensors.sort_by(|a, b| a.0.cmp(b.0));
        if let Some(w) = tensors.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(format!("tensor name {} appears twice", w[0].0));
        }
        let mut meta: HashMap<String, String> = self
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        meta.insert("format".into(), FORMAT.into());
        meta.insert("version".into(), VERSION.into());
        let crc = content_crc(
            &meta,
            tensors.iter().map(|(n, t)| (*n, t.shape(), t.data())),
        );
        meta.insert("crc32".into(), format!("{crc:08x}"));
        let views = tensors.iter().map(|(n, t)| (*n, F32View(t)));
        safetensors::serialize(views, Some(meta)).map_err(|e| format!("cannot serialize: {e}"))
    }
}

/// A tensor as safetensors sees it.
struct F32View<'a>(&'a Tensor);

impl View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        self.0.shape()
    }

    fn data(&self) -> Cow<'_, [u8]> {
        le_bytes(self.0.data())
    }

    fn data_len(&self) -> usize {
        self.0.numel() * 4
    }
}

/// The little-endian bytes of f32 values (borrowed on little-endian machines).
fn le_bytes(x: &[f32]) -> Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        Cow::Borrowed(bytemuck::cast_slice(x))
    } else {
        Cow::Owned(x.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
}

/// CRC-32 of the content as the module docs define it; `meta` may hold `crc32`, which is skipped.
fn content_crc<'a>(
    meta: &HashMap<String, String>,
    tensors: impl Iterator<Item = (&'a str, &'a [usize], &'a [f32])>,
) -> u32 {
    fn put(h: &mut crc32fast::Hasher, b: &[u8]) {
        h.update(&(b.len() as u64).to_le_bytes());
        h.update(b);
    }
    let mut h = crc32fast::Hasher::new();
    let mut keys: Vec<&String> = meta.keys().filter(|k| *k != "crc32").collect();
    keys.sort();
    for k in keys {
        put(&mut h, k.as_bytes());
        put(&mut h, meta.get(k).map_or(&[][..], |v| v.as_bytes()));
    }
    for (name, shape, data) in tensors {
        put(&mut h, name.as_bytes());
        h.update(&(shape.len() as u64).to_le_bytes());
        for &d in shape {
            h.update(&(d as u64).to_le_bytes());
        }
        h.update(&le_bytes(data));
    }
    h.finalize()
}

fn decode(bytes: &[u8]) -> std::result::Result<Checkpoint, String> {
    if bytes.is_empty() {
        return Err("the file is empty".into());
    }
    let (n, header) = SafeTensors::read_metadata(bytes).map_err(|e| match e {
        SafeTensorError::HeaderTooSmall => format!(
            "not a safetensors file: {} bytes, shorter than the 8-byte header length",
            bytes.len()
        ),
        SafeTensorError::InvalidHeaderLength | SafeTensorError::HeaderTooLarge => {
            "not a safetensors file, or truncated: the header length does not fit the file".into()
        }
        SafeTensorError::MetadataIncompleteBuffer => {
            "truncated or damaged: the tensor data does not match the header's offsets".into()
        }
        e => format!("not a safetensors file, or a damaged one: {e}"),
    })?;
    let data = 8usize
        .checked_add(n)
        .and_then(|start| bytes.get(start..))
        .ok_or("truncated: no room for the header")?;
    let meta = header.metadata().clone().unwrap_or_default();
    match meta.get("format").map(String::as_str) {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(format!(
                "not an Inkling checkpoint (format {other:?}, expected {FORMAT:?})"
            ))
        }
        None => {
            return Err(format!(
                "a safetensors file, but not an Inkling checkpoint (no \"format\": {FORMAT:?} metadata)"
            ))
        }
    }
    match meta.get("version").map(String::as_str) {
        Some(VERSION) => {}
        v => {
            return Err(format!(
                "checkpoint format version {v:?}, this build reads version {VERSION:?}"
            ))
        }
    }
    let mut infos: Vec<(String, &safetensors::tensor::TensorInfo)> =
        header.tensors().into_iter().collect();
    infos.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some((name, info)) = infos.iter().find(|(_, i)| i.dtype != Dtype::F32) {
        return Err(format!(
            "tensor {name} has dtype {:?}; checkpoints hold F32 only",
            info.dtype
        ));
    }
    let mut tensors = Vec::with_capacity(infos.len());
    for (name, info) in infos {
        let (s, e) = info.data_offsets;
        let raw = data
            .get(s..e)
            .ok_or_else(|| format!("tensor {name}: offsets {s}..{e} outside the data"))?;
        let (words, rest) = raw.as_chunks::<4>();
        if !rest.is_empty() {
            return Err(format!(
                "tensor {name}: {} bytes is not whole f32s",
                raw.len()
            ));
        }
        let values = words.iter().map(|w| f32::from_le_bytes(*w)).collect();
        let t = Tensor::new(&info.shape, values).map_err(|e| format!("tensor {name}: {e}"))?;
        tensors.push((name, t));
    }
    let want = content_crc(
        &meta,
        tensors
            .iter()
            .map(|(n, t)| (n.as_str(), t.shape(), t.data())),
    );
    let stored = meta.get("crc32").ok_or("no crc32 in the metadata")?;
    if u32::from_str_radix(stored, 16).ok() != Some(want) || stored.len() != 8 {
        return Err(format!(
            "damaged: content CRC-32 is {want:08x}, the header says {stored:?}"
        ));
    }
    let metadata = meta
        .into_iter()
        .filter(|(k, _)| !RESERVED_KEYS.contains(&k.as_str()))
        .collect();
    Ok(Checkpoint { tensors, metadata })
}

/// Writes `bytes` to `path.tmp`, syncs it, renames it over `path`, then syncs the directory (best
/// effort) so the rename itself survives a crash.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let written = File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .map_err(|source| Error::Io {
            path: tmp.clone(),
            source,
        })
        .and_then(|()| {
            std::fs::rename(&tmp, path).map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// All parameters and buffers of a model by name, in visiting order (sharing storage with the model).
pub fn model_tensors(m: &dyn Module) -> Vec<(String, Tensor)> {
    let mut out = Vec::new();
    m.visit("", &mut |name, p, _| {
        out.push((name.to_string(), p.value().detach()))
    });
    out
}

/// Sets every parameter and buffer of `m` from `tensors` by name. Errors, naming the tensors, on
/// missing names, unexpected names, duplicates and shape mismatches, and then writes nothing.
pub fn load_model_tensors(m: &mut dyn Module, tensors: &[(String, Tensor)]) -> Result<()> {
    let mut by_name: HashMap<&str, &Tensor> = HashMap::with_capacity(tensors.len());
    let mut dups = Vec::new();
    for (n, t) in tensors {
        if by_name.insert(n.as_str(), t).is_some() {
            dups.push(n.as_str());
        }
    }
    let (mut missing, mut shapes, mut seen) = (Vec::new(), Vec::new(), 0usize);
    m.visit("", &mut |name, p, _| match by_name.get(name) {
        None => missing.push(name.to_string()),
        Some(t) => {
            seen += 1;
            if t.shape() != p.value().shape() {
                shapes.push(format!(
                    "{name}: model {:?}, given {:?}",
                    p.value().shape(),
                    t.shape()
                ));
            }
        }
    });
    let mut problems = Vec::new();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(String::as_str).collect();
        problems.push(format!("missing {}", list(&names)));
    }
    if seen < by_name.len() {
        let mut model = std::collections::HashSet::new();
        m.visit("", &mut |name, _, _| {
            model.insert(name.to_string());
        });
        let mut extra: Vec<&str> = by_name
            .keys()
            .copied()
            .filter(|n| !model.contains(*n))
            .collect();
        extra.sort_unstable();
        problems.push(format!("unexpected {}", list(&extra)));
    }
    if !dups.is_empty() {
        problems.push(format!("given twice {}", list(&dups)));
    }
    if !shapes.is_empty() {
        let s: Vec<&str> = shapes.iter().map(String::as_str).collect();
        problems.push(format!("shape mismatch {}", list(&s)));
    }
    if !problems.is_empty() {
        return Err(Error::Mismatch {
            what: format!("loading model tensors: {}", problems.join("; ")),
        });
    }
    m.visit_mut("", &mut |name, p, _| {
        if let Some(t) = by_name.get(name) {
            *p.value_mut() = t.detach();
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::{AdamW, AdamWConfig, Optimizer};
    use crate::testutil::Tiny;
    use rand::{Rng, SeedableRng};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("inkling-ckpt-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("temp dir");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn sample() -> Checkpoint {
        let t = |shape: &[usize], v: &[f32]| Tensor::from_slice(shape, v).expect("shape");
        Checkpoint {
            tensors: vec![
                (
                    "blocks.0.w".into(),
                    t(
                        &[2, 3],
                        &[
                            1.5,
                            -0.0,
                            f32::INFINITY,
                            f32::MIN_POSITIVE / 8.0,
                            f32::MAX,
                            -7.25,
                        ],
                    ),
                ),
                ("a.scalar".into(), Tensor::scalar(0.1)),
                ("empty".into(), Tensor::zeros(&[0, 4])),
                ("nan".into(), t(&[1], &[f32::from_bits(0x7fc0_1234)])),
            ],
            metadata: BTreeMap::from([
                (
                    "config".to_string(),
                    r#"{"arch":"vit","depth":2}"#.to_string(),
                ),
                ("step".to_string(), "42".to_string()),
            ]),
        }
    }

    fn bits(c: &Checkpoint) -> Vec<(String, Vec<usize>, Vec<u32>)> {
        let mut v: Vec<_> = c
            .tensors
            .iter()
            .map(|(n, t)| {
                let b = t.data().iter().map(|x| x.to_bits()).collect();
                (n.clone(), t.shape().to_vec(), b)
            })
            .collect();
        v.sort();
        v
    }

    fn decode_err(bytes: &[u8]) -> String {
        match Checkpoint::from_bytes(bytes, Path::new("x.safetensors")) {
            Ok(_) => panic!("{} bytes decoded", bytes.len()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn round_trip_is_bit_exact() {
        let dir = TempDir::new("round-trip");
        let path = dir.0.join("last.safetensors");
        let c = sample();
        c.save(&path).expect("save");
        let back = Checkpoint::load(&path).expect("load");
        assert_eq!(bits(&back), bits(&c));
        assert_eq!(back.metadata, c.metadata);
        assert_eq!(
            back.tensors
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>(),
            ["a.scalar", "blocks.0.w", "empty", "nan"],
            "sorted by name"
        );
        // A plain safetensors reader sees our tensors and metadata.
        let bytes = std::fs::read(&path).expect("read");
        let st = SafeTensors::deserialize(&bytes).expect("safetensors");
        assert_eq!(st.tensor("blocks.0.w").expect("present").shape(), [2, 3]);
        let (_, header) = SafeTensors::read_metadata(&bytes).expect("header");
        let meta = header.metadata().clone().unwrap_or_default();
        assert_eq!(meta.get("format").map(String::as_str), Some(FORMAT));
        assert_eq!(meta.get("version").map(String::as_str), Some(VERSION));
        assert_eq!(meta.get("crc32").map(String::len), Some(8));
    }

    #[test]
    fn atomic_save_leaves_no_temporary_and_replaces_the_old_file() {
        let dir = TempDir::new("atomic");
        let path = dir.0.join("best.safetensors");
        sample().save(&path).expect("first save");
        let mut c = sample();
        c.metadata.insert("step".into(), "43".into());
        c.save(&path).expect("overwrite");
        let names: Vec<_> = std::fs::read_dir(&dir.0)
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["best.safetensors"]);
        let back = Checkpoint::load(&path).expect("load");
        assert_eq!(back.metadata.get("step").map(String::as_str), Some("43"));

        let missing = dir.0.join("no/such/dir/x.safetensors");
        let err = sample().save(&missing).expect_err("no directory");
        assert!(err.to_string().contains("x.safetensors.tmp"), "{err}");
        let err = Checkpoint::load(dir.0.join("absent.safetensors")).expect_err("absent");
        assert!(matches!(err, Error::Io { .. }), "{err}");
    }

    #[test]
    fn save_rejects_reserved_keys_and_duplicate_names() {
        let mut c = sample();
        c.metadata.insert("format".into(), "mine".into());
        let err = c.to_bytes(Path::new("c")).expect_err("reserved");
        assert!(err.to_string().contains("reserved"), "{err}");
        let mut c = sample();
        c.tensors.push(("empty".into(), Tensor::zeros(&[1])));
        let err = c.to_bytes(Path::new("c")).expect_err("dup");
        assert!(err.to_string().contains("empty appears twice"), "{err}");
    }

    #[test]
    fn truncated_empty_and_random_files_are_errors() {
        let bytes = sample().to_bytes(Path::new("c")).expect("encode");
        assert!(decode_err(&[]).contains("empty"));
        for len in 1..bytes.len() {
            decode_err(&bytes[..len]);
        }
        let mut extended = bytes.clone();
        extended.push(0);
        assert!(decode_err(&extended).contains("truncated or damaged"));
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        for i in 0..300 {
            let len = rng.gen_range(0..200);
            let mut junk: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            if i % 2 == 0 && len >= 8 {
                // A plausible header length, so the JSON parser sees the garbage.
                junk[..8].copy_from_slice(&((len as u64 - 8) / 2).to_le_bytes());
                if len > 9 {
                    junk[8] = b'{';
                }
            }
            decode_err(&junk);
        }
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let bytes = sample().to_bytes(Path::new("c")).expect("encode");
        let header_len = 8 + u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
        let mut crc_errors = 0;
        for i in 0..bytes.len() {
            for mask in [0x01u8, 0x80] {
                let mut b = bytes.clone();
                b[i] ^= mask;
                if decode_err(&b).contains("CRC-32") {
                    crc_errors += 1;
                }
            }
        }
        assert!(
            crc_errors >= 2 * (bytes.len() - header_len),
            "data flips caught by the CRC"
        );
    }

    #[test]
    fn foreign_files_are_named_clearly() {
        let t = Tensor::from_slice(&[2], &[1.0, 2.0]).expect("t");
        let plain = safetensors::serialize([("w", F32View(&t))], None).expect("plain");
        assert!(decode_err(&plain).contains("not an Inkling checkpoint"));

        let with_meta = |meta: &[(&str, &str)], dtype: Dtype| {
            let meta: HashMap<String, String> = meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let raw = [0u8; 16];
            let view =
                safetensors::tensor::TensorView::new(dtype, vec![2], &raw[..dtype.bitsize() / 4])
                    .expect("view");
            safetensors::serialize([("w", view)], Some(meta)).expect("serialize")
        };
        let crc = |meta: &[(&str, &str)]| {
            let meta: HashMap<String, String> = meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let z = [0.0f32; 2];
            format!(
                "{:08x}",
                content_crc(&meta, [("w", &[2usize][..], &z[..])].into_iter())
            )
        };
        let err = decode_err(&with_meta(&[("format", "onnx")], Dtype::F32));
        assert!(err.contains("format \"onnx\""), "{err}");
        let err = decode_err(&with_meta(
            &[("format", FORMAT), ("version", "2")],
            Dtype::F32,
        ));
        assert!(err.contains("version Some(\"2\")"), "{err}");
        let err = decode_err(&with_meta(
            &[("format", FORMAT), ("version", "1")],
            Dtype::F64,
        ));
        assert!(err.contains("dtype F64"), "{err}");
        let err = decode_err(&with_meta(
            &[("format", FORMAT), ("version", "1")],
            Dtype::F32,
        ));
        assert!(err.contains("no crc32"), "{err}");
        let good = crc(&[("format", FORMAT), ("version", "1")]);
        let file = with_meta(
            &[("format", FORMAT), ("version", "1"), ("crc32", &good)],
            Dtype::F32,
        );
        let c = Checkpoint::from_bytes(&file, Path::new("ok")).expect("hand-made file loads");
        assert_eq!(c.get("w").map(Tensor::data), Some(&[0.0, 0.0][..]));
        let upper = good.to_uppercase();
        let padded = format!("0{good}");
        for bad in ["zzzzzzzz", &padded, "", &upper[..7]] {
            let file = with_meta(
                &[("format", FORMAT), ("version", "1"), ("crc32", bad)],
                Dtype::F32,
            );
            assert!(decode_err(&file).contains("CRC-32"), "{bad}");
        }
    }

    #[test]
    fn model_tensors_load_back_and_mismatches_change_nothing() {
        let src = Tiny::new(&[2, 2], &[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0]);
        let saved = model_tensors(&src);
        assert_eq!(
            saved.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["fc.weight", "fc.bias", "bn.running_mean"]
        );
        let mut dst = Tiny::small();
        load_model_tensors(&mut dst, &saved).expect("same architecture");
        assert_eq!((dst.w(), dst.b()), (src.w(), src.b()));
        assert_eq!(dst.running.value().data(), src.running.value().data());

        let mut dst = Tiny::small();
        let before = (dst.w(), dst.b());
        type Edit<'a> = dyn Fn(&mut Vec<(String, Tensor)>) + 'a;
        let bad = |edit: &Edit<'_>, dst: &mut Tiny| {
            let mut t = saved.clone();
            edit(&mut t);
            load_model_tensors(dst, &t)
                .expect_err("mismatch")
                .to_string()
        };
        let err = bad(&|t| t[0].1 = Tensor::zeros(&[4]), &mut dst);
        assert!(err.contains("fc.weight: model [2, 2], given [4]"), "{err}");
        let err = bad(&|t| drop(t.remove(1)), &mut dst);
        assert!(err.contains("missing fc.bias"), "{err}");
        let err = bad(
            &|t| t.push(("head.w".into(), Tensor::zeros(&[1]))),
            &mut dst,
        );
        assert!(err.contains("unexpected head.w"), "{err}");
        let err = bad(&|t| t.push(saved[2].clone()), &mut dst);
        assert!(err.contains("given twice bn.running_mean"), "{err}");
        assert_eq!((dst.w(), dst.b()), before, "nothing written on error");
    }

    /// Weights and optimizer state through a file: training continues bit for bit.
    #[test]
    fn training_resumes_exactly_from_a_checkpoint() {
        let dir = TempDir::new("resume");
        let path = dir.0.join("last.safetensors");
        let grads = |m: &Tiny, k: usize| {
            let k = k as f32;
            m.grads(&[0.1 * k, -0.2, 0.3 - k, 0.05], Some(&[k, -1.0]))
        };
        let mut a = Tiny::small();
        let mut opt_a = AdamW::new(AdamWConfig::default()).expect("adamw");
        for k in 0..3 {
            let g = grads(&a, k);
            opt_a.step(&mut a, &g, 0.01).expect("step");
        }
        let mut tensors = model_tensors(&a);
        tensors.extend(
            opt_a
                .state()
                .into_iter()
                .map(|(n, t)| (format!("optim.{n}"), t)),
        );
        Checkpoint {
            tensors,
            metadata: BTreeMap::new(),
        }
        .save(&path)
        .expect("save");

        let loaded = Checkpoint::load(&path).expect("load");
        let (optim, model): (Vec<_>, Vec<_>) = loaded
            .tensors
            .into_iter()
            .partition(|(n, _)| n.starts_with("optim."));
        let mut b = Tiny::small();
        load_model_tensors(&mut b, &model).expect("weights");
        let mut opt_b = AdamW::new(AdamWConfig::default()).expect("adamw");
        let state = optim
            .into_iter()
            .map(|(n, t)| (n["optim.".len()..].to_string(), t))
            .collect();
        opt_b.load_state(state).expect("state");
        for k in 3..6 {
            let (ga, gb) = (grads(&a, k), grads(&b, k));
            opt_a.step(&mut a, &ga, 0.01).expect("step");
            opt_b.step(&mut b, &gb, 0.01).expect("step");
        }
        let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
        assert_eq!(bits(a.w()), bits(b.w()));
        assert_eq!(bits(a.b()), bits(b.b()));
    }
}
