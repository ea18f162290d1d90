//! Helpers the crate's unit tests share (the integration tests have their
//! own, in `tests/support.rs`).

use std::path::Path;

/// The names of the entries of `dir`, sorted.
pub(crate) fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// `len` bytes of text-like noise (a 64-bit LCG picking from 30 letters,
/// spaces and punctuation), the same for the same seed.
pub(crate) fn pseudo_text(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            b"abcdefghij klmnopqrstuvwxyz,.\n"[(state >> 59) as usize % 30]
        })
        .collect()
}
