//! A damaged pack is found and named, never a panic and never wrong bytes.
//!
//! The pack's layout is not known here (its encoding changes): bytes are
//! flipped at fractions of the file's length and just before its footer,
//! each on a fresh copy of a compacted store whose payload stream and event
//! blocks both take a good share of the file. Every command then either
//! gives back exactly what it gave before the damage or fails naming the
//! pack, a payload or a seq; `verify` lists the damage; across the flips,
//! both an event block and the payload stream were hit. A truncated or
//! missing pack is named by every read; stray pack files are removed by the
//! next open.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::json;
use tracefold::event::Hash;
use tracefold::{IngestOptions, JsonlSource, ingest_jsonl};

use super::{Contents, compact_checked, ingest_conversation, ingest_notes, open, the_pack};
use crate::support::{Words, copy_dir, line, ok, root_start_lines, tracefold};

/// The pack's footer: its last bytes, after the index.
const FOOTER_BYTES: u64 = 28;

/// A rollout of `turns` turns that cite no payload, with pseudo-random
/// turn ids: its events fill event blocks that do not compress to nothing.
fn ingest_ticks(store: &tracefold::Store, dir: &Path, turns: u64) {
    let mut words = Words::new(77);
    let mut lines = root_start_lines("ticks");
    for turn in 0..turns {
        let id = format!("{turn}-{}", words.sentence(3).replace(' ', "-"));
        lines.push(line(
            3 + 2 * turn,
            "ticks",
            Some("root"),
            Some(&id),
            json!({"type": "codex_turn_started", "codex_turn_id": id, "thread_id": "root"}),
        ));
        lines.push(line(
            4 + 2 * turn,
            "ticks",
            Some("root"),
            Some(&id),
            json!({"type": "codex_turn_ended", "codex_turn_id": id, "status": "completed"}),
        ));
    }
    let path = dir.join("ticks.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write jsonl");
    let source = JsonlSource::file(&path).expect("open jsonl");
    ingest_jsonl(store, source, &IngestOptions::default()).expect("ingest");
}

/// What the CLI gives back from a sound store: each read command with its
/// output.
struct Baseline {
    reads: Vec<(Vec<String>, Vec<u8>)>,
}

/// A compacted store under `dir/pristine` and what its read commands print.
fn compacted_store(dir: &Path) -> (PathBuf, Baseline) {
    let store_dir = dir.join("pristine");
    let store = open(&store_dir);
    ingest_conversation(&store, dir, "conv", 12, 3);
    ingest_notes(&store, dir, "notes", 40, 4);
    ingest_ticks(&store, dir, 3000);
    let store = compact_checked(store);
    let contents = Contents::read(&store);
    drop(store);
    let mut reads = Vec::new();
    for rollout in contents.rollouts.keys() {
        reads.push(vec!["events".to_string(), rollout.clone()]);
        reads.push(vec![
            "events".to_string(),
            rollout.clone(),
            "--inline-payloads".to_string(),
        ]);
    }
    // The conversation's first and last requests (a delta chain's two
    // ends) and a note.
    let conv = contents.events("conv");
    let cited: Vec<Hash> = conv
        .iter()
        .flat_map(|event| event.payload.payload_refs())
        .map(|cited| cited.hash)
        .collect();
    let notes = contents.events("notes");
    let note = notes[notes.len() / 2].payload.payload_refs()[0].hash;
    for hash in [cited[0], cited[cited.len() - 1], note] {
        reads.push(vec!["payload".to_string(), hash.to_string()]);
    }
    let reads = reads
        .into_iter()
        .map(|args| {
            let out = run(&store_dir, &args);
            assert!(out.status.success(), "{args:?} on the sound store");
            (args, out.stdout)
        })
        .collect();
    (store_dir, Baseline { reads })
}

fn run(store_dir: &Path, args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = tracefold(store_dir, &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("internal error"),
        "{args:?} panicked: {stderr}"
    );
    out
}

/// `verify` exits 1 with at least one finding naming the pack file, a
/// payload or a seq; returns its findings.
fn verify_finds_damage(store_dir: &Path, pack_name: &str, what: &str) -> String {
    let out = run(store_dir, &["verify".to_string()]);
    let findings = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{what}: verify says {findings}");
    assert!(
        findings
            .lines()
            .any(|finding| names_damage(finding, pack_name)),
        "{what}: no finding names the pack, a payload or a seq: {findings}"
    );
    findings
}

fn names_damage(text: &str, pack_name: &str) -> bool {
    text.contains(pack_name) || text.contains("payload ") || text.contains(" seq ")
}

/// Which reads failed: (every failed command, whether a plain `events`
/// failed).
struct Failed {
    commands: Vec<String>,
    events: bool,
}

/// Runs every baseline read on the damaged store: each gives back exactly
/// the baseline or fails (exit 2) naming what is damaged.
fn reads_are_exact_or_fail_naming_the_damage(
    store_dir: &Path,
    baseline: &Baseline,
    pack_name: &str,
    what: &str,
) -> Failed {
    let mut failed = Failed {
        commands: Vec::new(),
        events: false,
    };
    for (args, expected) in &baseline.reads {
        let out = run(store_dir, args);
        if out.status.success() {
            assert!(
                out.stdout == *expected,
                "{what}: {args:?} succeeded with other output than before the damage"
            );
            continue;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {args:?}: {stderr}");
        assert!(
            names_damage(&stderr, pack_name),
            "{what}: {args:?} fails without naming the damage: {stderr}"
        );
        failed.events |= args.len() == 2 && args[0] == "events";
        failed.commands.push(format!("{args:?}: {}", stderr.trim()));
    }
    failed
}

#[test]
fn a_flipped_byte_anywhere_in_the_pack_is_found_and_named_and_never_read_as_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pristine, baseline) = compacted_store(dir.path());
    let pack = the_pack(&pristine);
    let pack_name = pack
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let len = std::fs::metadata(&pack).expect("pack").len();
    // Every 5% of the file, so that both regions are hit whatever their
    // order and share.
    let mut offsets: Vec<u64> = (0..20).map(|step| len * (2 + 5 * step) / 100).collect();
    // The header's magic, and the last byte before the footer.
    offsets.extend([3, len - FOOTER_BYTES - 1]);
    let (mut blocks_hit, mut stream_hit) = (0, 0);
    for offset in offsets {
        let what = format!("byte {offset} of {len} flipped");
        let copy = dir.path().join(format!("flip-{offset}"));
        copy_dir(&pristine, &copy);
        let pack = copy.join(&pack_name);
        let mut bytes = std::fs::read(&pack).expect("read pack");
        bytes[offset as usize] ^= 0x5A;
        std::fs::write(&pack, bytes).expect("write pack");

        let findings = verify_finds_damage(&copy, &pack_name, &what);
        let failed = reads_are_exact_or_fail_naming_the_damage(&copy, &baseline, &pack_name, &what);
        assert!(!failed.commands.is_empty(), "{what}: every read succeeded");
        blocks_hit += usize::from(findings.contains("events are unreadable"));
        // A payload whose bytes are damaged has no hash the pack can
        // derive: verify names it by ordinal, and the events citing it
        // fail to read (the pack stores no hash to give instead).
        if findings.contains("its hash cannot be derived") {
            stream_hit += 1;
            assert!(
                failed.events,
                "{what}: the events citing a damaged payload read back"
            );
        }
    }
    // The flips hit both an event block and the payload stream.
    assert!(blocks_hit > 0, "no flip damaged an event block");
    assert!(stream_hit > 0, "no flip damaged the payload stream");
}

#[test]
fn a_truncated_missing_or_older_pack_is_named_by_verify_and_every_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pristine, baseline) = compacted_store(dir.path());
    let pack_name = the_pack(&pristine)
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    for damage in ["truncated", "missing", "version 2", "version 3"] {
        let copy = dir.path().join(damage);
        copy_dir(&pristine, &copy);
        let pack = copy.join(&pack_name);
        match damage {
            "truncated" => {
                let len = std::fs::metadata(&pack).expect("pack").len();
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&pack)
                    .expect("open pack");
                file.set_len(len / 2).expect("truncate");
            }
            "missing" => std::fs::remove_file(&pack).expect("remove pack"),
            // A pack of development builds (version 2 stored whole
            // hashes, version 3 compressed event blocks alone): its
            // header's version byte.
            _ => {
                let mut bytes = std::fs::read(&pack).expect("read pack");
                assert_eq!(&bytes[..8], b"TFPACK\x00\x04");
                bytes[7] = damage.as_bytes()[damage.len() - 1] - b'0';
                std::fs::write(&pack, bytes).expect("write pack");
            }
        }
        let findings = verify_finds_damage(&copy, &pack_name, damage);
        assert!(findings.contains(&pack_name), "{damage}: {findings}");
        if let Some(version) = damage.strip_prefix("version ") {
            assert!(
                findings.contains(&format!(
                    "pack version {version} is not supported (this build reads version 4"
                )),
                "{findings}"
            );
        }
        // Each rollout's packed seqs are one finding saying why, not a
        // log that "ends at seq 0".
        assert!(
            findings.contains("are unreadable: they are in the pack, which does not open")
                && !findings.contains("ends at seq 0"),
            "{damage}: {findings}"
        );
        let failed =
            reads_are_exact_or_fail_naming_the_damage(&copy, &baseline, &pack_name, damage);
        // Every read reaches the pack, and every error names its file.
        assert_eq!(failed.commands.len(), baseline.reads.len(), "{damage}");
        for command in &failed.commands {
            assert!(command.contains(&pack_name), "{damage}: {command}");
        }
        // The manifests live in sled: the rollouts are still listed.
        ok(&copy, &["rollouts"]);
    }
}

#[test]
fn stray_pack_files_are_removed_when_the_store_opens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store_dir, baseline) = compacted_store(dir.path());
    let pack = the_pack(&store_dir);
    let strays = [
        store_dir.join("pack-00000000000000ff.tfpack"),
        store_dir.join("pack-0000000000000002.tfpack.tmp"),
    ];
    for stray in &strays {
        std::fs::copy(&pack, stray).expect("stray pack");
    }
    let store = open(&store_dir);
    for stray in &strays {
        assert!(!stray.exists(), "{} is left", stray.display());
    }
    assert_eq!(the_pack(&store_dir), pack);
    assert_eq!(store.verify().expect("verify"), Vec::new());
    drop(store);
    for (args, expected) in &baseline.reads {
        let out = run(&store_dir, args);
        assert!(out.status.success() && out.stdout == *expected, "{args:?}");
    }
}
