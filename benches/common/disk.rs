//! Measuring directories the way a user would: the sum of their files'
//! sizes, `du -sb` (checked against each other), and `tar cf - ... | zstd
//! -LEVEL --long=27` run with the real binaries. Used by
//! `benches/storage.rs`; `scripts/storage-numbers` does the same in bash.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a directory takes.
#[derive(Debug, Clone, Copy, Default)]
pub struct DirSize {
    /// Sum of the sizes of the files under it (what `Store::stats` calls
    /// disk bytes).
    pub files: u64,
    /// What `du -sb` prints: the files plus each directory's own size
    /// (4,096 bytes per directory on ext4).
    pub du_sb: u64,
}

/// Measures `dir`, runs `du -sb` on it and checks that the two agree (du's
/// figure is the files plus every directory's own length).
pub fn dir_size(dir: &Path) -> DirSize {
    let (files, dirs) = walk(dir);
    let output = Command::new("du")
        .arg("-sb")
        .arg(dir)
        .output()
        .expect("run du -sb");
    assert!(output.status.success(), "du -sb {}", dir.display());
    let du_sb: u64 = String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .and_then(|field| field.parse().ok())
        .expect("du -sb prints a byte count");
    assert_eq!(
        du_sb,
        files + dirs,
        "du -sb {} disagrees with the sum of its files ({files}) and directories ({dirs})",
        dir.display()
    );
    DirSize { files, du_sb }
}

/// (bytes of files, bytes of directories) under `dir`, `dir` included.
fn walk(dir: &Path) -> (u64, u64) {
    let mut files = 0;
    let mut dirs = std::fs::symlink_metadata(dir).expect("stat dir").len();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let entry = entry.expect("dir entry");
        let meta = entry.metadata().expect("stat entry");
        if meta.is_dir() {
            let (f, d) = walk(&entry.path());
            files += f;
            dirs += d;
        } else {
            files += meta.len();
        }
    }
    (files, dirs)
}

/// Size of `tar cf - -C base NAMES... | zstd -LEVEL --long=27`, and the wall
/// time of the pipeline (both processes, the bytes counted as they arrive).
pub fn tar_zstd(base: &Path, names: &[String], level: u32) -> (u64, Duration) {
    let started = Instant::now();
    let mut tar = Command::new("tar")
        .arg("cf")
        .arg("-")
        .arg("-C")
        .arg(base)
        .args(names)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run tar");
    let mut zstd = Command::new("zstd")
        .arg(format!("-{level}"))
        .arg("--long=27")
        .arg("-q")
        .arg("-c")
        .stdin(tar.stdout.take().expect("tar stdout"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("run zstd (is it installed?)");
    let mut compressed = zstd.stdout.take().expect("zstd stdout");
    let mut buffer = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let read = compressed.read(&mut buffer).expect("read zstd output");
        if read == 0 {
            break;
        }
        bytes += read as u64;
    }
    assert!(tar.wait().expect("wait tar").success(), "tar failed");
    assert!(zstd.wait().expect("wait zstd").success(), "zstd failed");
    (bytes, started.elapsed())
}

/// Copies the directory tree `from` to `to` (which must not exist).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target: PathBuf = to.join(entry.file_name());
        if entry.metadata().expect("stat").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// `n` with thousands separators: 6,321,709.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
