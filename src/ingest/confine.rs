//! Confinement of payload files: a file an input names is opened once,
//! only from inside the input's directory. Absolute paths, `..`, symlinks
//! and non-regular files are refused; the file is opened without following
//! a symlink and without blocking, and checked on its open descriptor, so
//! nothing can be swapped between a check and the open.

use std::fs::File;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The directory an input's payload files must stay inside.
pub(crate) struct Confinement {
    base: PathBuf,
    /// The directory resolved once (`None` if it does not resolve; every
    /// read then fails naming it).
    canonical: std::result::Result<PathBuf, String>,
}

impl Confinement {
    pub(crate) fn new(base: &Path) -> Confinement {
        Confinement {
            base: base.to_path_buf(),
            canonical: base
                .canonicalize()
                .map_err(|err| format!("bundle directory {}: {err}", base.display())),
        }
    }

    /// Opens `relative` once, refusing anything that could read outside the
    /// directory or block: the path must be relative without `..`; the last
    /// component is opened without following a symlink and without blocking
    /// (a FIFO opens at once instead of waiting for a writer); the open
    /// descriptor must be a regular file; and where the system tells the
    /// open file's real path, it must lie inside the directory (a symlinked
    /// directory on the way cannot lead out). No check precedes the open, so
    /// nothing can be swapped between a check and the open.
    pub(crate) fn open(&self, relative: &str) -> Result<(File, u64)> {
        if relative.is_empty() {
            return Err(Error::Other("empty payload path".to_string()));
        }
        for component in Path::new(relative).components() {
            match component {
                Component::Normal(_) | Component::CurDir => {}
                Component::ParentDir => {
                    return Err(Error::Other(format!(
                        "path {relative} leaves the bundle directory (..)"
                    )));
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(Error::Other(format!("path {relative} is absolute")));
                }
            }
        }
        let base = self
            .canonical
            .as_ref()
            .map_err(|err| Error::Other(err.clone()))?;
        let full = self.base.join(relative);
        let file = open_no_follow_nonblocking(&full)?;
        let meta = file
            .metadata()
            .map_err(|err| Error::io(format!("stat payload file {}", full.display()), err))?;
        if !meta.is_file() {
            return Err(Error::Other(format!(
                "payload file {} is not a regular file",
                full.display()
            )));
        }
        let real = opened_path(&file)
            .map_or_else(|| full.canonicalize(), Ok)
            .map_err(|err| Error::io(format!("payload file {}", full.display()), err))?;
        if !real.starts_with(base) {
            return Err(Error::Other(format!(
                "path {relative} resolves outside the bundle directory (through a symlink)"
            )));
        }
        Ok((file, meta.len()))
    }

    /// Reads a confined file whole, refusing one over `limit_bytes`.
    pub(crate) fn read(&self, relative: &str, limit_bytes: u64) -> Result<Vec<u8>> {
        let (file, len) = self.open(relative)?;
        if len > limit_bytes {
            return Err(Error::PayloadTooLarge {
                size_bytes: len,
                limit_bytes,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        file.take(limit_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(|err| {
                Error::io(
                    format!("read payload file {}", self.base.join(relative).display()),
                    err,
                )
            })?;
        if bytes.len() as u64 > limit_bytes {
            return Err(Error::PayloadTooLarge {
                size_bytes: bytes.len() as u64,
                limit_bytes,
            });
        }
        Ok(bytes)
    }
}

/// Reads a payload file named by a bundle-relative path, refusing anything
/// that could read outside the bundle or block.
pub fn read_payload_file(base_dir: &Path, relative: &str, limit_bytes: u64) -> Result<Vec<u8>> {
    Confinement::new(base_dir).read(relative, limit_bytes)
}

#[cfg(unix)]
fn open_no_follow_nonblocking(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|err| {
            if err.raw_os_error() == Some(libc::ELOOP) {
                Error::Other(format!("payload file {} is a symlink", path.display()))
            } else {
                Error::io(format!("open payload file {}", path.display()), err)
            }
        })
}

#[cfg(not(unix))]
fn open_no_follow_nonblocking(path: &Path) -> Result<File> {
    if std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink()) {
        return Err(Error::Other(format!(
            "payload file {} is a symlink",
            path.display()
        )));
    }
    File::open(path).map_err(|err| Error::io(format!("open payload file {}", path.display()), err))
}

/// The real path of an open file, where the system tells it (Linux's
/// `/proc/self/fd`).
#[cfg(target_os = "linux")]
fn opened_path(file: &File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

#[cfg(not(target_os = "linux"))]
fn opened_path(_file: &File) -> Option<PathBuf> {
    None
}

/// Opens a bundle's file (its event log) under the payload rules; errors
/// name the file.
pub(crate) fn open_no_follow_checked(bundle_dir: &Path, relative: &str) -> Result<File> {
    Confinement::new(bundle_dir)
        .open(relative)
        .map(|(file, _)| file)
        .map_err(|err| {
            Error::input(
                bundle_dir.join(relative).display().to_string(),
                err.to_string(),
            )
        })
}
