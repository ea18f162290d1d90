//! Ingest of wire-format JSONL and import of reference trace bundles.
//!
//! Both are all or nothing per file: every line is parsed, checked and its
//! payloads resolved inside one uncommitted store write; any error drops the
//! write, so the store is unchanged. Payload files are read only from inside
//! the JSONL file's (or bundle's) directory: absolute paths, `..`, symlinks
//! and non-regular files are refused, each file opened once (no follow, non
//! blocking) and checked on its open descriptor.
//!
//! **Idempotent.** A rollout the store already holds is compared, event by
//! event, with the input: the same events again store nothing; the same
//! events and more at the end append only the new ones (a log that grew);
//! anything else is an error naming the rollout and the first differing seq,
//! and nothing is stored. A duplicate start (rollout, thread, turn, call,
//! compaction, code cell) is refused at its line.
//!
//! **Bounded.** An import spills its staged records to the store in bounded
//! batches that stay invisible until the final commit publishes the
//! manifests (see `store/writes.rs`), so memory does not grow with the file
//! and a crash leaves no visible partial rollout. Nothing is held per line
//! but the line itself.
//!
//! This file holds the entry points and their options; the work is split by
//! concern: `lines.rs` reads JSONL line by line, `import.rs` is one import
//! in progress (alignment with the stored log, comparison, appends),
//! `seqs.rs` the seq rules, `payloads.rs` resolves payload references to
//! bytes, `confine.rs` opens payload files inside their directory, and
//! `bundle.rs` reads a reference bundle's manifest and imports it.

mod atif;
mod bundle;
mod claude_code;
mod codex_session;
mod confine;
mod emit;
mod import;
mod lines;
mod payloads;
mod seqs;
mod session_files;
mod sources;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::redact::Redactor;
use crate::store::{Store, StoreOptions};

pub(crate) use atif::convert_one as convert_atif;
pub use atif::import_atif;
#[cfg(feature = "cli")]
pub(crate) use atif::{looks_like_atif_dir, looks_like_atif_file};
pub use bundle::{BundleManifest, import_bundle, read_bundle_manifest};
pub(crate) use bundle::{
    check_manifest_rollout, check_manifest_schema_version, read_bundle_manifest_any_version,
};
pub use confine::read_payload_file;
pub(crate) use confine::{Confinement, open_no_follow_checked};
pub(crate) use lines::{WireLines, max_line_bytes, read_wire_lines};
pub(crate) use payloads::{WireBytes, wire_ref_bytes};
pub(crate) use seqs::{check_seq_increases, seq_gap_records};
pub use session_files::Importer;
pub use sources::{SourceFormat, discover, import_source};

/// What an ingest or import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Rollout ids, in order of first appearance.
    pub rollout_ids: Vec<String>,
    /// What happened to each rollout, in the same order.
    pub rollouts: Vec<RolloutOutcome>,
    /// Events stored (appended) by this import, all rollouts together.
    pub events: u64,
    /// Bytes of a torn last line that were dropped (`allow_torn_tail`).
    pub torn_tail_bytes: u64,
    /// Lines of a session file that are not records of its format (a
    /// damaged line), kept only as their source line: `FILE line N: why`.
    pub unconverted_lines: Vec<String>,
}

/// What an import did to one rollout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolloutOutcome {
    /// The rollout's id as stored (after redaction).
    pub rollout_id: String,
    /// The rollout was new to the store.
    pub created: bool,
    /// Events of the input the store already held (compared equal).
    pub already_stored: u64,
    /// Events appended.
    pub appended: u64,
}

/// Options shared by ingest and import.
pub struct IngestOptions<'a> {
    /// Keep every complete line when the last line is torn, instead of failing.
    pub allow_torn_tail: bool,
    /// Called with the number of input bytes consumed so far.
    pub progress: Option<&'a dyn Fn(u64)>,
    /// Secrets are redacted from payloads and every string of an event
    /// before hashing (on by default; `None` keeps everything byte-exact).
    pub redactor: Option<Redactor>,
    /// Largest payload read from a bundle that is not imported into a store
    /// (`reduce-bundle`, `diff`); an import uses its store's limit.
    pub max_payload_bytes: u64,
    /// Staged bytes past which an import applies them (invisibly) before
    /// its commit: bounds an import's memory.
    pub spill_threshold_bytes: usize,
}

/// sled's page cache for a store opened to import (`tracefold ingest`,
/// `import-codex`): an import reads little back (dedup lookups), and sled's
/// memory runs to several times its cache. A 1M-event file peaked at 468 MB
/// with the default 128 MiB and 358 MB with 64 MiB, 8% slower.
pub const IMPORT_CACHE_CAPACITY_BYTES: u64 = 64 * 1024 * 1024;

/// Default spill threshold. sled applies a batch under one pinned epoch, so
/// the garbage of every node version the batch makes is freed only after it:
/// peak memory measured about 20 times the batch (a 32 MiB batch peaked at
/// 736 MB, 4 MiB at 243 MB, 1 MiB at 164 MB for the same 40k payloads), for
/// no gain in time (BENCHMARKS.md, "Ingest scaling").
pub const SPILL_THRESHOLD_BYTES_DEFAULT: usize = 1024 * 1024;

impl Default for IngestOptions<'_> {
    fn default() -> Self {
        IngestOptions {
            allow_torn_tail: false,
            progress: None,
            redactor: Some(Redactor::new()),
            max_payload_bytes: StoreOptions::default().max_payload_bytes,
            spill_threshold_bytes: SPILL_THRESHOLD_BYTES_DEFAULT,
        }
    }
}

/// Where wire events come from.
pub struct JsonlSource<'a> {
    /// Name for error messages (`file.jsonl`, `<stdin>`).
    pub name: String,
    /// Directory payload `path`s are relative to.
    pub base_dir: PathBuf,
    /// The JSONL text, one wire event per line, read line by line (never
    /// whole into memory).
    pub reader: Box<dyn Read + 'a>,
}

impl JsonlSource<'_> {
    /// A JSONL file; payload paths are relative to its directory.
    pub fn file(path: &Path) -> Result<JsonlSource<'static>> {
        let file =
            File::open(path).map_err(|err| Error::io(format!("open {}", path.display()), err))?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(JsonlSource {
            name: path.display().to_string(),
            base_dir,
            reader: Box::new(file),
        })
    }
}

/// Appends the raw events of a JSONL source to the store, all or nothing.
pub fn ingest_jsonl(
    store: &Store,
    source: JsonlSource<'_>,
    options: &IngestOptions<'_>,
) -> Result<IngestReport> {
    let mut writes = store.writes()?;
    writes.set_spill_threshold(options.spill_threshold_bytes);
    let report = import::ingest_into(&mut writes, store, source, options, None)?;
    writes.commit(true)?;
    Ok(report)
}
