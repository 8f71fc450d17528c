//! Test helpers: a fresh temporary directory per test, removed when the test ends, and random rows.

use std::path::{Path, PathBuf};

/// A scratch directory, removed when the test ends.
pub(crate) struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh, empty directory under the temp dir, unique to this test.
pub(crate) fn scratch(name: &str) -> Scratch {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("inkling-data-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// `n` bitmaps of uniformly random bytes from `seed`.
pub(crate) fn random_rows(seed: u64, n: usize) -> Vec<crate::types::Bitmap> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let mut b = [0u8; crate::types::IMAGE_PIXELS];
            rng.fill(&mut b[..]);
            b
        })
        .collect()
}
