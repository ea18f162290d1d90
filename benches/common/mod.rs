//! Shared bench support: the demo workload captured as events with JSON
//! payloads, and the baselines tracefold is measured against.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;
use tracefold::__internal::{WireEvent, WirePayloadRef};
use tracefold::demo::{DemoConfig, run};
use tracefold::event::{EventPayload, PayloadKind};
use tracefold::{Recorder, RecorderConfig, Store, StoreOptions};

/// Conversation size at which the bench workload compacts.
pub const COMPACTION_THRESHOLD_BYTES: usize = 400 * 1024;

/// One recorded event with its payloads as JSON values.
pub struct WorkEvent {
    pub thread_id: Option<String>,
    pub codex_turn_id: Option<String>,
    pub payload: EventPayload<Value>,
}

/// The demo workload: what the simulated host records.
pub struct Workload {
    pub rollout_id: String,
    pub root_thread_id: String,
    pub events: Vec<WorkEvent>,
    /// Serialised payload bytes, repeats counted.
    pub logical_payload_bytes: u64,
}

/// Runs the demo once into a scratch store and captures its events, so every
/// writer under test gets exactly the same input (and no JavaScript runs
/// inside a measurement).
pub fn demo_workload(turns: u32, agents: u32, seed: u64) -> Workload {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("store");
    let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
    let report = run(
        &recorder,
        DemoConfig {
            turns,
            agents,
            seed,
            // A realistic context window (about 100k tokens of JSON) instead
            // of the CLI demo's small threshold, which exists so that a
            // 12-turn demo shows one compaction.
            compaction_threshold_bytes: COMPACTION_THRESHOLD_BYTES,
        },
    );
    recorder.shutdown().expect("shutdown");
    let mut logical = 0u64;
    let events = store
        .events(&report.rollout_id)
        .expect("rollout")
        .map(|event| {
            let event = event.expect("event");
            let payload = event
                .payload
                .try_map_refs(|r| {
                    let bytes = store.read_payload(&r.hash).expect("payload");
                    logical += bytes.len() as u64;
                    serde_json::from_slice::<Value>(&bytes)
                })
                .expect("json payloads");
            WorkEvent {
                thread_id: event.thread_id,
                codex_turn_id: event.codex_turn_id,
                payload,
            }
        })
        .collect();
    Workload {
        rollout_id: report.rollout_id,
        root_thread_id: report.root_thread_id,
        events,
        logical_payload_bytes: logical,
    }
}

/// Records the workload through the public recorder API into `store` and
/// waits until it is durable, with the default durability (group commit,
/// at most 2 ms behind).
pub fn record_with_tracefold(store: &Store, workload: &Workload) -> Recorder {
    record_with(store, workload, RecorderConfig::default())
}

/// The same with one flush at the end (`Durability::Buffered` + `flush()`),
/// the durability of the raw-sled ceiling, which flushes once per 1,000
/// records.
pub fn record_with_tracefold_batched(store: &Store, workload: &Workload) -> Recorder {
    let config = RecorderConfig {
        writer: tracefold::WriterConfig {
            durability: tracefold::Durability::Buffered,
            ..tracefold::WriterConfig::default()
        },
        ..RecorderConfig::default()
    };
    record_with(store, workload, config)
}

fn record_with(store: &Store, workload: &Workload, config: RecorderConfig) -> Recorder {
    let recorder = Recorder::start(store, config).expect("recorder");
    let rollout = recorder.attach_rollout(&workload.rollout_id, &workload.root_thread_id);
    let started = std::time::Instant::now();
    for event in &workload.events {
        rollout.record(
            event.thread_id.as_deref(),
            event.codex_turn_id.as_deref(),
            || event.payload.clone(),
        );
    }
    let enqueued = started.elapsed();
    recorder.flush().expect("flush");
    if std::env::var_os("TRACEFOLD_BENCH_TRACE").is_some() {
        eprintln!("enqueue {enqueued:?} durable {:?}", started.elapsed());
    }
    recorder
}

/// A faithful writer of the reference's bundle format (`rollout-trace`
/// `TraceWriter`): one mutex; per payload, the next ordinal, `File::create`
/// and `serde_json::to_writer_pretty` straight to the unbuffered file; per
/// event, one JSON line into a `BufWriter` that is flushed after every event
/// (one `write(2)` per event); no fsync anywhere.
pub struct ReferenceWriter {
    inner: Mutex<ReferenceInner>,
}

struct ReferenceInner {
    dir: PathBuf,
    rollout_id: String,
    log: BufWriter<File>,
    next_seq: u64,
    next_payload_ordinal: u64,
}

impl ReferenceWriter {
    pub fn create(dir: &Path, workload: &Workload) -> ReferenceWriter {
        std::fs::create_dir_all(dir.join("payloads")).expect("payloads dir");
        let manifest = serde_json::json!({
            "schema_version": 1, "trace_id": "trace", "rollout_id": workload.rollout_id,
            "root_thread_id": workload.root_thread_id, "started_at_unix_ms": 0,
            "raw_event_log": "trace.jsonl", "payloads_dir": "payloads"
        });
        let file = File::create(dir.join("manifest.json")).expect("manifest");
        serde_json::to_writer_pretty(file, &manifest).expect("manifest json");
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(dir.join("trace.jsonl"))
            .expect("log");
        ReferenceWriter {
            inner: Mutex::new(ReferenceInner {
                dir: dir.to_path_buf(),
                rollout_id: workload.rollout_id.clone(),
                log: BufWriter::new(log),
                next_seq: 1,
                next_payload_ordinal: 1,
            }),
        }
    }

    fn write_json_payload(&self, kind: PayloadKind, value: &Value) -> WirePayloadRef {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ordinal = inner.next_payload_ordinal;
        inner.next_payload_ordinal += 1;
        let path = format!("payloads/{ordinal}.json");
        let file = File::create(inner.dir.join(&path)).expect("payload file");
        serde_json::to_writer_pretty(file, value).expect("payload json");
        WirePayloadRef::File {
            raw_payload_id: format!("raw_payload:{ordinal}"),
            kind,
            path,
        }
    }

    /// Writes the event's payloads, then the event (payload before event).
    pub fn append(&self, event: &WorkEvent) {
        let kinds = event.payload.conventional_payload_kinds();
        let mut kinds = kinds.into_iter();
        let payload = event.payload.clone().map_refs(|value| {
            let kind = kinds.next().unwrap_or(PayloadKind::ToolResult);
            self.write_json_payload(kind, &value)
        });
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let line = WireEvent {
            schema_version: 1,
            seq,
            wall_time_unix_ms: 0,
            rollout_id: inner.rollout_id.clone(),
            thread_id: event.thread_id.clone(),
            codex_turn_id: event.codex_turn_id.clone(),
            payload,
        };
        serde_json::to_writer(&mut inner.log, &line).expect("event json");
        inner.log.write_all(b"\n").expect("newline");
        inner.log.flush().expect("flush");
    }
}

/// Every key and value tracefold wrote for a workload, read back from a
/// store: the input of the raw-sled ceiling.
pub fn store_records(store_dir: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let segment_size = tracefold::__internal::sled_segment_size(&store_dir.join("db"));
    let db = sled::Config::new()
        .path(store_dir.join("db"))
        .segment_size(segment_size)
        .open()
        .expect("sled");
    let tree = db.open_tree("tracefold").expect("tree");
    tree.iter()
        .map(|entry| {
            let (key, value) = entry.expect("entry");
            (key.to_vec(), value.to_vec())
        })
        .collect()
}

/// The store's own ceiling: the same encoded records written straight into
/// sled in batches of `batch` with a flush per batch, no tracefold logic.
pub fn write_raw_sled(dir: &Path, records: &[(Vec<u8>, Vec<u8>)], batch: usize) {
    let db = sled::Config::new()
        .path(dir)
        .segment_size(64 * 1024)
        .cache_capacity(128 * 1024 * 1024)
        .flush_every_ms(Some(1000))
        .open()
        .expect("sled");
    let tree = db.open_tree("tracefold").expect("tree");
    for group in records.chunks(batch) {
        let mut sled_batch = sled::Batch::default();
        for (key, value) in group {
            sled_batch.insert(key.as_slice(), value.as_slice());
        }
        tree.apply_batch(sled_batch).expect("batch");
        db.flush().expect("flush");
    }
}

/// Sum of file sizes under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok())
                .map(|entry| match entry.metadata() {
                    Ok(meta) if meta.is_dir() => dir_bytes(&entry.path()),
                    Ok(meta) => meta.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
