//! Writing an output file (state JSON, JSONL) where a user pointed, the way
//! a shell redirection would, without ever destroying what was there.
//!
//! The rules, applied to the path after following symbolic links to their
//! final target (a link stays a link; a dangling link creates its target):
//!
//! | the target | what happens |
//! |---|---|
//! | does not exist, or is a regular file | a synced temporary file beside it, renamed over it (an existing file's mode, and owner where allowed, are kept); a failed write leaves the target as it was |
//! | a FIFO, character or block device | opened for writing (never created, never renamed, never fsynced) and written in place |
//! | a directory, a socket, anything else | an error naming the path |
//!
//! Standard output (`-`) is the CLI's business: this module never prints.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// How many symbolic links a path may pass through (Linux's own limit).
const SYMLINK_HOPS_MAX: usize = 40;

/// Streams what `write` produces to `path` under the rules of this module
/// (see the table above): a new path or a regular file is replaced
/// atomically, a FIFO or device is written in place, a symbolic link is
/// followed and stays a link.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use tracefold::write_output;
///
/// # fn main() -> tracefold::Result<()> {
/// let dir = tempfile::tempdir().map_err(|err| tracefold::Error::io("tempdir", err))?;
/// let path = dir.path().join("out.txt");
/// write_output(&path, |out| out.write_all(b"hello\n"))?;
/// assert_eq!(std::fs::read_to_string(&path).ok().as_deref(), Some("hello\n"));
/// # Ok(())
/// # }
/// ```
pub fn write_output(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let target = resolve_output_path(path)?;
    let named = describe(path, &target);
    let meta = match std::fs::symlink_metadata(&target) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return replace_atomically(&target, &named, None, write);
        }
        Err(err) => return Err(Error::io(format!("inspect {named}"), err)),
    };
    let kind = meta.file_type();
    if kind.is_file() {
        return replace_atomically(&target, &named, Some(&meta), write);
    }
    if kind.is_dir() {
        return Err(Error::Other(format!(
            "{named} is a directory; give a file path"
        )));
    }
    if is_fifo_or_device(&kind) {
        return write_in_place(&target, &named, write);
    }
    Err(Error::Other(format!(
        "{named} is {}; output goes to a file, a FIFO or a device",
        describe_kind(&kind)
    )))
}

/// The path a write to `path` lands on: `path` itself, or, when it is a
/// symbolic link, the final target of the chain of links (which need not
/// exist: writing through a dangling link creates its target, as a shell
/// redirection does). Relative link targets are taken relative to the
/// link's directory, as the kernel does.
pub fn resolve_output_path(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..SYMLINK_HOPS_MAX {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = std::fs::read_link(&current).map_err(|err| {
                    Error::io(format!("read symbolic link {}", current.display()), err)
                })?;
                current = match current.parent() {
                    Some(parent) => parent.join(link),
                    None => link,
                };
            }
            Ok(_) => return Ok(current),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(current),
            Err(err) => return Err(Error::io(format!("inspect {}", current.display()), err)),
        }
    }
    Err(Error::Other(format!(
        "{}: more than {SYMLINK_HOPS_MAX} levels of symbolic links",
        path.display()
    )))
}

/// `path`, and the link target it resolves to when that differs.
fn describe(path: &Path, target: &Path) -> String {
    if path == target {
        path.display().to_string()
    } else {
        format!("{} (a link to {})", path.display(), target.display())
    }
}

#[cfg(unix)]
fn is_fifo_or_device(kind: &std::fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt;
    kind.is_fifo() || kind.is_char_device() || kind.is_block_device()
}

#[cfg(not(unix))]
fn is_fifo_or_device(_kind: &std::fs::FileType) -> bool {
    false
}

#[cfg(unix)]
fn describe_kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(not(unix))]
fn describe_kind(_kind: &std::fs::FileType) -> &'static str {
    "not a regular file"
}

/// Opens an existing FIFO or device for writing and writes to it as a shell
/// redirection would: no creation, no truncation, no rename, no fsync (which
/// devices refuse).
fn write_in_place(
    target: &Path,
    named: &str,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let mut options = OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // No link swapped in since the check is followed, and a terminal
        // device never becomes this process's controlling terminal.
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY);
    }
    let file = options
        .open(target)
        .map_err(|err| Error::io(format!("open {named}"), err))?;
    let meta = file
        .metadata()
        .map_err(|err| Error::io(format!("inspect {named}"), err))?;
    // Replaced by a regular file or directory between the check and the
    // open: writing in place would corrupt it, so stop.
    if !is_fifo_or_device(&meta.file_type()) {
        return Err(Error::Other(format!(
            "{named} changed while it was being opened; nothing was written"
        )));
    }
    let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
    write(&mut out)
        .and_then(|()| out.flush())
        .map_err(|err| Error::io(format!("write {named}"), err))
}

/// Streams what `write` produces into a synced temporary file beside
/// `target` and renames it over `target`, so no output is held in memory
/// whole and a failed write (a full disk, an error from `write`) leaves the
/// target as it was. `existing` is the metadata of the regular file being
/// replaced, whose mode (and owner, where the process may set it) the new
/// file keeps.
fn replace_atomically(
    target: &Path,
    named: &str,
    existing: Option<&std::fs::Metadata>,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .ok_or_else(|| Error::Other(format!("{named} does not name a file")))?;
    let temp = target.with_file_name(format!(".{name}.tracefold-{}", std::process::id()));
    // A temporary file left by an earlier crash of a process with this pid.
    let _ = std::fs::remove_file(&temp);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .map_err(|err| Error::io(format!("write {named}: create {}", temp.display()), err))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let written = write(&mut out)
        .and_then(|()| {
            out.into_inner()
                .map_err(std::io::IntoInnerError::into_error)
        })
        .and_then(|file| {
            if let Some(meta) = existing {
                keep_owner_and_mode(&file, meta)?;
            }
            file.sync_all()
        });
    if let Err(err) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(Error::io(format!("write {named}"), err));
    }
    std::fs::rename(&temp, target).map_err(|err| {
        let _ = std::fs::remove_file(&temp);
        Error::io(format!("rename into {named}"), err)
    })?;
    if let Some(parent) = target.parent() {
        sync_dir(parent);
    }
    Ok(())
}

/// Gives the new file the replaced file's mode, and its owner and group
/// when they differ and the process may set them (root; otherwise the new
/// file belongs to whoever wrote it, as with any editor's save).
fn keep_owner_and_mode(file: &File, existing: &std::fs::Metadata) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let current = file.metadata()?;
        if (current.uid(), current.gid()) != (existing.uid(), existing.gid()) {
            let _ = std::os::unix::fs::fchown(file, Some(existing.uid()), Some(existing.gid()));
        }
    }
    file.set_permissions(existing.permissions())
}

/// Fsyncs a directory so a rename in it is durable (best effort: some
/// platforms cannot open a directory for syncing).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) {
        let _ = handle.sync_all();
    }
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;
