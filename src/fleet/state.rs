//! What a worker has shipped, kept beside its store so shipping resumes
//! where it stopped: `{store}/fleet/{target}/rollouts.json` (per rollout,
//! the last event seq the stream acknowledged and that message's stream
//! sequence, rewritten atomically) and `objects.log` (the chunks and
//! recipes known to be in the bucket, 33 bytes each, appended).
//!
//! The record is a cache, never the truth: a missing or stale rollout
//! entry is re-read from the stream (its last message on the rollout's
//! subject), and an object missing from the log is checked with HEAD
//! before it is uploaded.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rustc_hash::FxHashSet;

use crate::error::{Error, Result};
use crate::event::Hash;

/// One rollout's shipping progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Shipped {
    /// The last event seq the stream holds.
    pub(crate) seq: u64,
    /// That message's sequence in the stream (the expected last subject
    /// sequence of the next publish); 0 before the first.
    pub(crate) stream_seq: u64,
}

const CHUNK: u8 = b'c';
const RECIPE: u8 = b'r';

pub(crate) struct ShipState {
    dir: PathBuf,
    pub(crate) rollouts: BTreeMap<String, Shipped>,
    chunks: FxHashSet<Hash>,
    recipes: FxHashSet<Hash>,
    log: File,
}

impl ShipState {
    /// Loads (or starts) the record of shipping `store_dir` to `target`.
    pub(crate) fn open(store_dir: &Path, target: &str) -> Result<ShipState> {
        let key = Hash::of(target.as_bytes()).to_hex();
        let dir = store_dir.join("fleet").join(&key[..16]);
        std::fs::create_dir_all(&dir)
            .map_err(|err| Error::io(format!("create {}", dir.display()), err))?;
        let _ = std::fs::write(dir.join("target.txt"), format!("{target}\n"));
        let rollouts_path = dir.join("rollouts.json");
        let rollouts = match std::fs::read(&rollouts_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            Err(_) => BTreeMap::new(),
        };
        let log_path = dir.join("objects.log");
        let mut chunks = FxHashSet::default();
        let mut recipes = FxHashSet::default();
        if let Ok(mut file) = File::open(&log_path) {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)
                .map_err(|err| Error::io(format!("read {}", log_path.display()), err))?;
            // A torn last record (a crash mid-append) is ignored.
            for record in bytes.chunks_exact(33) {
                let mut hash = [0u8; 32];
                hash.copy_from_slice(&record[1..]);
                match record[0] {
                    CHUNK => chunks.insert(Hash(hash)),
                    RECIPE => recipes.insert(Hash(hash)),
                    _ => false,
                };
            }
            if bytes.len() % 33 != 0 {
                let whole = (bytes.len() / 33 * 33) as u64;
                let file = OpenOptions::new()
                    .write(true)
                    .open(&log_path)
                    .map_err(|err| Error::io(format!("open {}", log_path.display()), err))?;
                file.set_len(whole)
                    .map_err(|err| Error::io(format!("truncate {}", log_path.display()), err))?;
            }
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|err| Error::io(format!("open {}", log_path.display()), err))?;
        Ok(ShipState {
            dir,
            rollouts,
            chunks,
            recipes,
            log,
        })
    }

    pub(crate) fn has_chunk(&self, hash: &Hash) -> bool {
        self.chunks.contains(hash)
    }

    pub(crate) fn has_recipe(&self, hash: &Hash) -> bool {
        self.recipes.contains(hash)
    }

    fn append(&mut self, tag: u8, hash: &Hash) -> Result<()> {
        let mut record = [0u8; 33];
        record[0] = tag;
        record[1..].copy_from_slice(&hash.0);
        self.log
            .write_all(&record)
            .map_err(|err| Error::io(format!("append to {}", self.dir.display()), err))
    }

    pub(crate) fn add_chunk(&mut self, hash: Hash) -> Result<()> {
        if self.chunks.insert(hash) {
            self.append(CHUNK, &hash)?;
        }
        Ok(())
    }

    pub(crate) fn add_recipe(&mut self, hash: Hash) -> Result<()> {
        if self.recipes.insert(hash) {
            self.append(RECIPE, &hash)?;
        }
        Ok(())
    }

    /// Writes the rollouts' progress (to a temporary file, then renamed).
    pub(crate) fn save(&mut self) -> Result<()> {
        let path = self.dir.join("rollouts.json");
        let tmp = self.dir.join("rollouts.json.tmp");
        let text = serde_json::to_vec(&self.rollouts)
            .map_err(|err| Error::Other(format!("ship state: {err}")))?;
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|err| Error::io(format!("write {}", path.display()), err))?;
        self.log
            .flush()
            .map_err(|err| Error::io(format!("flush {}", self.dir.display()), err))
    }
}
