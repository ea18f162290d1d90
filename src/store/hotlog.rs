//! The hot log (format 2): the hot tier's chunk records, appended to one
//! file beside the database instead of stored as sled values.
//!
//! sled keeps, under the chunk's key, a 14-byte *location* (`[version]
//! [CHUNK_IN_LOG] [offset u64 LE] [len u32 LE]`) naming the record's bytes
//! in the log; the log holds the records themselves (`payload::encode_chunk`),
//! one after another, nothing else. The log's committed length is the sled
//! record `Mhotlog`, written in the same batch as the locations that point
//! into it, so the batch is the commit point: bytes past the committed length
//! belong to a write that never committed, and the next open cuts them off.
//! A durable commit writes and syncs the log before it applies the batch, so
//! no durable location points at bytes that are not on disk.
//!
//! Why: sled stores a value of more than a quarter of its segment as a blob
//! file of its own (written without fsync), and multiplies what it keeps in
//! its log by 2-4x (storage-facts §4: 86 MB/s and 2.84x for large values,
//! against 249 MB/s and 1.0x for a plain file). Chunks are the bulk of the
//! hot tier's bytes; the log keeps them at 1.0x, and leaves sled the small
//! records, so its segments can be small.
//!
//! The log is named by the pack's generation (`hot-{generation:016x}.tflog`,
//! generation 0 without a pack): a compaction moves every chunk into the
//! next pack and the database it swaps in starts the next generation's log
//! empty; `open` removes every other log.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::payload::{CHUNK_IN_LOG, CHUNK_RECORD_VERSION};
use crate::error::{Error, Result};
use crate::event::Hash;

/// The sled record holding the log's committed length (u64 LE).
pub(super) const HOT_LOG_LEN_KEY: &[u8] = b"Mhotlog";

/// Bytes of a location value in sled.
pub(super) const LOCATION_BYTES: usize = 14;

/// The file name of generation `generation`'s log.
pub(super) fn log_file_name(generation: u64) -> String {
    format!("hot-{generation:016x}.tflog")
}

/// Whether `name` is the name of some generation's log.
pub(super) fn is_log_file_name(name: &str) -> bool {
    name.starts_with("hot-") && name.ends_with(".tflog")
}

/// A location value for a record of `len` bytes at `offset`.
fn encode_location(offset: u64, len: u32) -> [u8; LOCATION_BYTES] {
    let mut value = [0u8; LOCATION_BYTES];
    value[0] = CHUNK_RECORD_VERSION;
    value[1] = CHUNK_IN_LOG;
    value[2..10].copy_from_slice(&offset.to_le_bytes());
    value[10..].copy_from_slice(&len.to_le_bytes());
    value
}

/// The (offset, len) a chunk value names in the log, `None` for a record
/// held in sled itself (every format-1 chunk).
pub(super) fn decode_location(value: &[u8]) -> Option<(u64, u32)> {
    match value {
        [CHUNK_RECORD_VERSION, CHUNK_IN_LOG, rest @ ..] if rest.len() == 12 => Some((
            u64::from_le_bytes(rest[..8].try_into().ok()?),
            u32::from_le_bytes(rest[8..].try_into().ok()?),
        )),
        _ => None,
    }
}

/// The bytes a chunk's record takes in the store: in the log when its value
/// is a location, else the value itself.
pub(super) fn stored_len(value: &[u8]) -> u64 {
    decode_location(value).map_or(value.len() as u64, |(_, len)| u64::from(len))
}

/// The writing side, part of the store's write state (under its lock).
pub(super) struct HotLogWriter {
    path: PathBuf,
    file: Option<File>,
    /// The length the database records (`Mhotlog`).
    committed: u64,
    /// Records staged by the open write, to go at `committed`.
    pending: Vec<u8>,
    /// Bytes were written since the last sync (a spill's, say).
    unsynced: bool,
}

impl HotLogWriter {
    /// Opens generation `generation`'s log in store directory `dir`, whose
    /// database records `committed` bytes: cuts off what lies past them (a
    /// write that did not commit). A log shorter than that is left alone:
    /// its missing records are found by `verify` and named by every read.
    pub(super) fn open(dir: &Path, generation: u64, committed: u64) -> Result<HotLogWriter> {
        let path = dir.join(log_file_name(generation));
        let file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(file) => {
                let len = file
                    .metadata()
                    .map_err(|err| Error::io(format!("inspect {}", path.display()), err))?
                    .len();
                if len > committed {
                    file.set_len(committed).map_err(|err| {
                        Error::io(
                            format!("cut {} back to its committed length", path.display()),
                            err,
                        )
                    })?;
                }
                Some(file)
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(Error::io(format!("open {}", path.display()), err)),
        };
        Ok(HotLogWriter {
            path,
            file,
            committed,
            pending: Vec::new(),
            unsynced: false,
        })
    }

    /// Stages `record` and returns the location value that names it.
    pub(super) fn stage(&mut self, record: &[u8]) -> Result<[u8; LOCATION_BYTES]> {
        let offset = self.committed + self.pending.len() as u64;
        let len = u32::try_from(record.len())
            .map_err(|_| Error::CorruptData(format!("a chunk record of {} bytes", record.len())))?;
        self.pending.extend_from_slice(record);
        Ok(encode_location(offset, len))
    }

    /// The committed length.
    pub(super) fn committed(&self) -> u64 {
        self.committed
    }

    /// Writes the staged records at the committed end and returns the
    /// length the batch must record, `None` when nothing is staged. When
    /// `durable`, syncs the log (also what earlier, non-durable writes left
    /// unsynced). The caller calls [`HotLogWriter::commit`] once its batch
    /// is applied, or [`HotLogWriter::discard`].
    pub(super) fn write_pending(&mut self, durable: bool) -> Result<Option<u64>> {
        if self.pending.is_empty() {
            if durable && self.unsynced {
                self.sync()?;
            }
            return Ok(None);
        }
        if self.file.is_none() {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&self.path)
                .map_err(|err| Error::io(format!("create {}", self.path.display()), err))?;
            self.file = Some(file);
        }
        let Some(file) = &self.file else {
            return Ok(None);
        };
        file.write_all_at(&self.pending, self.committed)
            .map_err(|err| Error::io(format!("append to {}", self.path.display()), err))?;
        self.unsynced = true;
        if durable {
            self.sync()?;
        }
        Ok(Some(self.committed + self.pending.len() as u64))
    }

    fn sync(&mut self) -> Result<()> {
        if let Some(file) = &self.file {
            file.sync_data()
                .map_err(|err| Error::io(format!("sync {}", self.path.display()), err))?;
        }
        self.unsynced = false;
        Ok(())
    }

    /// The batch that records `len` is applied: the staged records are in.
    pub(super) fn commit(&mut self, len: u64) {
        self.committed = len;
        self.pending.clear();
    }

    /// Forgets the staged records (their write failed or was dropped): the
    /// next write goes over them.
    pub(super) fn discard(&mut self) {
        self.pending.clear();
    }
}

/// The reading side: the log opened read-only on first use.
pub(super) struct HotLogReader {
    path: PathBuf,
    file: OnceLock<std::result::Result<File, String>>,
}

impl HotLogReader {
    pub(super) fn new(dir: &Path, generation: u64) -> HotLogReader {
        HotLogReader {
            path: dir.join(log_file_name(generation)),
            file: OnceLock::new(),
        }
    }

    /// The chunk record `value` stands for: the value itself, or the bytes
    /// its location names in the log.
    pub(super) fn resolve<'a>(
        &self,
        hash: &Hash,
        value: &'a [u8],
    ) -> std::result::Result<Cow<'a, [u8]>, String> {
        let Some((offset, len)) = decode_location(value) else {
            return Ok(Cow::Borrowed(value));
        };
        let file = self
            .file
            .get_or_init(|| {
                File::open(&self.path)
                    .map_err(|err| format!("cannot open {}: {err}", self.path.display()))
            })
            .as_ref()
            .map_err(|message| format!("chunk {hash}: {message}"))?;
        let mut record = vec![0u8; len as usize];
        file.read_exact_at(&mut record, offset).map_err(|err| {
            format!(
                "chunk {hash}: cannot read its {len} bytes at offset {offset} of {}: {err}",
                self.path.display()
            )
        })?;
        Ok(Cow::Owned(record))
    }
}
