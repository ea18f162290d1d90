//! Integration tests: the hot log (store format 2), the file beside the
//! database where the hot tier appends its chunk records, sled keeping only
//! where each one is. Bytes past the length the database committed are a
//! write that never committed: the next open cuts them off and the next
//! write goes over them. Damage to the log is found by `verify`, named by
//! every read that needs it, and never a panic. A format-1 store a format-2
//! build writes to becomes format 2.

use std::io::Write;
use std::path::{Path, PathBuf};

use tracefold::{Store, StoreOptions};

use crate::pack::{
    Contents, compact_checked, golden_format_1_store, ingest_notes, open, pack_files,
    recorded_format,
};
use crate::support::{copy_dir, file_names, ok, tracefold};

/// The one hot log of a store directory.
fn the_log(store_dir: &Path) -> PathBuf {
    let logs: Vec<String> = file_names(store_dir)
        .into_iter()
        .filter(|name| name.starts_with("hot-") && name.ends_with(".tflog"))
        .collect();
    assert_eq!(logs.len(), 1, "one hot log: {logs:?}");
    store_dir.join(&logs[0])
}

fn len(path: &Path) -> u64 {
    std::fs::metadata(path).expect("metadata").len()
}

#[test]
fn bytes_past_the_committed_length_are_cut_off_on_open_and_written_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store_dir = dir.path().join("store");
    let store = open(&store_dir);
    ingest_notes(&store, dir.path(), "first", 60, 1);
    let first = Contents::read(&store);
    drop(store);
    let log = the_log(&store_dir);
    let committed = len(&log);
    assert!(committed > 10_000, "the notes' chunks are in the log");
    // What a write killed between its log bytes and its batch leaves.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open log");
    file.write_all(&[0xa5; 12_345]).expect("append");
    drop(file);

    let store = open(&store_dir);
    assert_eq!(len(&log), committed, "cut back on open");
    Contents::read(&store).assert_same(&first, "after the cut");
    ingest_notes(&store, dir.path(), "second", 60, 2);
    let both = Contents::read(&store);
    assert_eq!(both.rollouts.len(), 2);
    assert!(len(&log) > committed, "the second write went to the log");
    assert_eq!(store.verify().expect("verify"), Vec::new());
    drop(store);
    let store = open(&store_dir);
    Contents::read(&store).assert_same(&both, "reopened");

    // A compaction empties the log into the pack; the next generation's log
    // starts with the next write.
    let store = compact_checked(store);
    drop(store);
    assert!(!log.exists(), "the old generation's log is removed");
    assert_eq!(pack_files(&store_dir).len(), 1);
    let store = open(&store_dir);
    ingest_notes(&store, dir.path(), "third", 20, 3);
    let new_log = the_log(&store_dir);
    assert_ne!(new_log, log);
    assert_eq!(store.verify().expect("verify"), Vec::new());
    let all = Contents::read(&store);
    for (hash, bytes) in &both.payloads {
        assert_eq!(&all.payloads[hash], bytes, "payload {hash}");
    }
}

#[test]
fn a_damaged_or_missing_hot_log_is_named_by_verify_and_reads_fail_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pristine = dir.path().join("pristine");
    let store = open(&pristine);
    ingest_notes(&store, dir.path(), "notes", 80, 4);
    let baseline = Contents::read(&store);
    drop(store);
    let log_name = the_log(&pristine)
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    for damage in ["flipped", "truncated", "missing"] {
        let copy = dir.path().join(damage);
        copy_dir(&pristine, &copy);
        let log = copy.join(&log_name);
        match damage {
            "flipped" => {
                let mut bytes = std::fs::read(&log).expect("read log");
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0x40;
                std::fs::write(&log, bytes).expect("write log");
            }
            "truncated" => {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&log)
                    .expect("open log");
                file.set_len(len(&log) / 2).expect("truncate");
            }
            _ => std::fs::remove_file(&log).expect("remove log"),
        }
        let out = tracefold(&copy, &["verify"]);
        let findings = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{damage}: {findings}");
        assert!(findings.contains("chunk "), "{damage}: {findings}");
        if damage != "flipped" {
            assert!(findings.contains(&log_name), "{damage}: {findings}");
        }
        // Every payload reads back identical or fails naming what is wrong.
        let store = open(&copy);
        let mut failed = 0;
        for (hash, bytes) in &baseline.payloads {
            match store.read_payload(hash) {
                Ok(read) => assert!(read == *bytes, "{damage}: payload {hash} read wrong"),
                Err(err) => {
                    failed += 1;
                    let message = err.to_string();
                    assert!(message.contains("chunk "), "{damage}: {message}");
                }
            }
        }
        assert!(failed > 0, "{damage}: no read reached the damage");
        drop(store);
        // The manifests and events live in sled: the rollouts are listed.
        ok(&copy, &["rollouts"]);
    }
}

#[test]
fn a_format_1_store_a_write_reaches_becomes_format_2_and_reads_back_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store_dir = dir.path().join("store");
    golden_format_1_store(&store_dir);
    assert_eq!(recorded_format(&store_dir), [1]);
    let store = Store::open_existing(&store_dir, StoreOptions::default()).expect("opens");
    let before = Contents::read(&store);
    ingest_notes(&store, dir.path(), "new", 30, 5);
    let after = Contents::read(&store);
    for (hash, bytes) in &before.payloads {
        assert_eq!(&after.payloads[hash], bytes, "format-1 payload {hash}");
    }
    assert_eq!(store.verify().expect("verify"), Vec::new());
    drop(store);
    the_log(&store_dir);
    // A format-1 build cannot read a location: the store says format 2.
    assert_eq!(recorded_format(&store_dir), [2]);
    let store = Store::open_existing(&store_dir, StoreOptions::default()).expect("reopens");
    Contents::read(&store).assert_same(&after, "reopened");
}
