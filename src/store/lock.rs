//! Opening safely: the store's lock file, sled's own lock, and errors that
//! name the machine's fault (read-only, full, no permission) as such.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// Name of the lock file inside the store directory.
const LOCK_FILE_NAME: &str = "tracefold.lock";

/// Takes the store's lock file, retrying a held lock for up to `wait`.
///
/// `flock` locks belong to the open file description, which `fork` shares:
/// while any thread of the owner spawns a process, the child holds the lock
/// until its `exec` closes the descriptor, even after the owner has closed the
/// store. A one-shot attempt then refuses a store nobody uses any more, so a
/// held lock is retried with a short backoff, and only a holder that outlasts
/// `wait` is reported.
pub(super) fn acquire_lock(dir: &Path, wait: std::time::Duration) -> Result<File> {
    let lock_path = dir.join(LOCK_FILE_NAME);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|err| {
            let doing = format!("open the lock file {}", lock_path.display());
            environment_failure(dir, &doing, &err).unwrap_or_else(|| Error::io(doing, err))
        })?;
    let locked = retry_while_held(
        wait,
        || file.try_lock(),
        |err| matches!(err, std::fs::TryLockError::WouldBlock),
    );
    match locked {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let pid = holder.trim();
            return Err(Error::Locked {
                path: dir.to_path_buf(),
                pid: if pid.is_empty() {
                    "unknown".to_string()
                } else {
                    pid.to_string()
                },
            });
        }
        Err(std::fs::TryLockError::Error(err)) => {
            return Err(Error::io(format!("lock {}", lock_path.display()), err));
        }
    }
    let written = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .and_then(|()| file.flush());
    match written {
        Ok(()) => Ok(file),
        // The pid only names the holder to a second opener; a full disk must
        // not keep a reader out of its store. The lock itself is held.
        Err(err)
            if matches!(
                err.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) =>
        {
            Ok(file)
        }
        Err(err) => Err(Error::io(
            format!("write lock file {}", lock_path.display()),
            err,
        )),
    }
}

/// An I/O failure while opening a store whose cause is the machine, not the
/// store: a read-only file system, a full disk, a missing permission. Worded
/// by its cause and with what the user can do, never as damage. `None` for
/// any other failure.
pub(super) fn environment_failure(path: &Path, doing: &str, err: &std::io::Error) -> Option<Error> {
    let advice = match err.kind() {
        std::io::ErrorKind::ReadOnlyFilesystem => {
            "the file system holding the store is read-only, and sled 0.34 opens its database for writing even to read it; copy the store directory to a writable file system and use the copy"
        }
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
            "the device holding the store is full, and sled 0.34 writes up to one 512 KiB segment whenever it opens a database, even to read it; free at least 512 KiB there (or copy the store elsewhere) and retry"
        }
        std::io::ErrorKind::PermissionDenied => {
            "this user may not write the store's files, and sled 0.34 opens its database for writing even to read it; run as the store's owner or copy the store"
        }
        _ => return None,
    };
    Some(Error::Open {
        path: path.to_path_buf(),
        message: format!("cannot {doing}: {err}; {advice}"),
    })
}

/// The error for sled refusing to open the database: the machine's fault
/// (read-only, full, no permission) said as such; anything else may be
/// damage, and says how to recover.
pub(super) fn sled_open_failure(path: &Path, err: &sled::Error) -> Error {
    if let sled::Error::Io(io) = err
        && let Some(failure) = environment_failure(path, "open the database under db/", io)
    {
        return failure;
    }
    Error::Open {
        path: path.to_path_buf(),
        message: format!(
            "sled could not open the database: {err}; if the files under db/ are damaged, restore the store from a backup or re-import its rollouts into a new store"
        ),
    }
}

/// Opens sled, waiting out its own file lock for a bounded time.
///
/// We already hold the store's lock file, so no other process can have the
/// database open; a sled lock conflict can only be this process's previous
/// instance, whose background flusher thread may hold the lock for a moment
/// after the `Db` was dropped, or a child forked while it was open (see
/// [`acquire_lock`]).
pub(super) fn open_sled(config: &sled::Config) -> std::result::Result<sled::Db, sled::Error> {
    retry_while_held(
        std::time::Duration::from_secs(5),
        || config.open(),
        |err| matches!(err, sled::Error::Io(err) if err.to_string().contains("lock")),
    )
}

/// Runs `attempt` until it succeeds, fails other than `held`, or `wait` has
/// passed, sleeping 1 ms, then twice as long each time up to 50 ms.
fn retry_while_held<T, E>(
    wait: std::time::Duration,
    mut attempt: impl FnMut() -> std::result::Result<T, E>,
    held: impl Fn(&E) -> bool,
) -> std::result::Result<T, E> {
    let deadline = std::time::Instant::now() + wait;
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        match attempt() {
            Err(err) if held(&err) && std::time::Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// sled's segment size for a new database. sled pads its log file to a
/// whole segment whenever it opens a database, so the segment is the
/// smallest a store can be; sled's default (512 KiB) was larger than a
/// compacted 200-turn rollout. Values over a quarter of it are written as
/// separate blob files.
pub(super) const NEW_SEGMENT_BYTES: usize = 16 * 1024;

/// The segment size of the database in `db_dir`: the one its `conf` file
/// records (sled refuses to open a database with another), else
/// [`NEW_SEGMENT_BYTES`] for a new one. A format-1 store has sled's default,
/// 512 KiB.
pub fn segment_size(db_dir: &Path) -> usize {
    std::fs::read(db_dir.join("conf"))
        .ok()
        .and_then(|conf| {
            String::from_utf8_lossy(&conf)
                .lines()
                .find_map(|line| line.strip_prefix("segment_size: ")?.trim().parse().ok())
        })
        .unwrap_or(NEW_SEGMENT_BYTES)
}
