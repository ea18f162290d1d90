//! `verify`: checks every chunk and payload against its hash, every frame
//! and block of the pack against its checksum, every log for contiguity
//! from seq 1 across both tiers, and that every payload an event cites is
//! stored.
//!
//! It only reads. Each problem becomes one [`Finding`]; it never stops at the
//! first. A record sled cannot read (an I/O error, a damaged page, a panic
//! inside sled) is a finding too, naming the key range and the last key read,
//! and the walk goes on; a range that keeps failing is given up after
//! [`READ_ERRORS_IN_A_ROW_MAX`] errors in a row, so a broken iterator cannot
//! loop forever, and the other ranges are still checked.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use serde::Serialize;

use super::{
    PREFIX_CHUNK, PREFIX_EVENT, PREFIX_MANIFEST, PREFIX_PAYLOAD, Store, decode_event,
    decode_manifest, decode_num, describe_key, hash_from_key, panic_guard,
};
use crate::codec;
use std::sync::Arc;

use super::pack::Pack;
use crate::error::{Error, Result};
use crate::event::Hash;
use crate::store::{FaultPoint, Recipe, RolloutManifest};

/// Read errors in a row after which the walk of one key range stops: sled's
/// iterator returns the same error again when it cannot get past a page.
pub(super) const READ_ERRORS_IN_A_ROW_MAX: usize = 8;

/// One problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What the finding is about: `chunk <hash>`, `rollout <id> seq <n>`, ...
    pub subject: String,
    /// What is wrong with it, in words (a hash mismatch, a missing event or
    /// payload, a record that does not decode or could not be read).
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.subject, self.message)
    }
}

fn finding(subject: impl Into<String>, message: impl Into<String>) -> Finding {
    Finding {
        subject: subject.into(),
        message: message.into(),
    }
}

/// Walks every record under `prefix` (the key range called `range` in
/// findings) in key order, handing each to `visit`, which may stop the walk.
/// A read error becomes a finding and the walk goes on with the next record.
fn walk(
    store: &Store,
    prefix: &[u8],
    range: &str,
    findings: &mut Vec<Finding>,
    mut visit: impl FnMut(&[u8], &[u8], &mut Vec<Finding>) -> ControlFlow<()>,
) {
    let mut records = store.tree().scan_prefix(prefix);
    let mut last_key: Option<Vec<u8>> = None;
    let mut errors_in_a_row = 0usize;
    let position = |last_key: &Option<Vec<u8>>| match last_key {
        Some(key) => format!("{range} after {}", describe_key(key)),
        None => format!("{range} from its start"),
    };
    loop {
        let (subject, error) = match panic_guard::catch_sled_panic(|| records.next()) {
            Ok(None) => return,
            Ok(Some(Ok((key, value)))) => match store.inject(FaultPoint::Read) {
                Ok(()) => {
                    errors_in_a_row = 0;
                    let flow = visit(&key, &value, findings);
                    last_key = Some(key.to_vec());
                    if flow.is_break() {
                        return;
                    }
                    continue;
                }
                // An injected failure stands for this record's read.
                Err(err) => {
                    last_key = Some(key.to_vec());
                    (describe_key(&key), err.to_string())
                }
            },
            Ok(Some(Err(err))) => (position(&last_key), err.to_string()),
            Err(panic) => {
                findings.push(finding(
                    position(&last_key),
                    format!(
                        "sled panicked while reading ({panic}); the rest of the range was not checked"
                    ),
                ));
                return;
            }
        };
        findings.push(finding(subject, format!("read failed: {error}")));
        errors_in_a_row += 1;
        if errors_in_a_row >= READ_ERRORS_IN_A_ROW_MAX {
            findings.push(finding(
                position(&last_key),
                format!(
                    "{errors_in_a_row} read errors in a row; the rest of the range was not checked"
                ),
            ));
            return;
        }
    }
}

pub(super) fn verify(store: &Store) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    // Chunks: each decodes and hashes to its key.
    let chunks = verify_chunks(store, &mut findings);
    // Payloads: each recipe decodes, its chunks exist, and the whole payload
    // hashes to its key.
    let mut payloads = verify_payloads(store, &chunks, &mut findings);
    // The pack: every frame against its checksum, every payload in it
    // against its hash.
    let pack = verify_pack(store, &mut findings);
    if let Some((_, cold_payloads)) = &pack {
        payloads.extend(cold_payloads.iter().copied());
    }
    // Logs: contiguous from 1 to the manifest's count; every record decodes;
    // every cited payload is stored.
    for manifest in read_manifests(store, &mut findings) {
        let cold = match &pack {
            Some((pack, _)) => {
                ColdPart::Read(verify_cold_log(pack, &manifest, &payloads, &mut findings))
            }
            None if store.pack_pointer().is_some() => ColdPart::Unreadable,
            None => ColdPart::Read(0),
        };
        verify_log(store, &manifest, cold, &payloads, &mut findings);
    }
    Ok(findings)
}

/// Checks every chunk; returns the hashes of those that are sound.
fn verify_chunks(store: &Store, findings: &mut Vec<Finding>) -> BTreeSet<Hash> {
    let mut chunks = BTreeSet::new();
    walk(
        store,
        &[PREFIX_CHUNK],
        "chunks",
        findings,
        |key, value, findings| {
            let Some(hash) = hash_from_key(key) else {
                findings.push(finding(describe_key(key), "malformed chunk key"));
                return ControlFlow::Continue(());
            };
            match store.decode_chunk_value(&hash, value) {
                Ok(_) => {
                    chunks.insert(hash);
                }
                Err(message) => findings.push(finding(format!("chunk {hash}"), message)),
            }
            ControlFlow::Continue(())
        },
    );
    chunks
}

/// Checks every payload against `chunks`, the sound chunks; returns the
/// hashes of the payloads that are sound.
fn verify_payloads(
    store: &Store,
    chunks: &BTreeSet<Hash>,
    findings: &mut Vec<Finding>,
) -> BTreeSet<Hash> {
    let mut payloads = BTreeSet::new();
    walk(
        store,
        &[PREFIX_PAYLOAD],
        "payloads",
        findings,
        |key, value, findings| {
            let Some(hash) = hash_from_key(key) else {
                findings.push(finding(describe_key(key), "malformed payload key"));
                return ControlFlow::Continue(());
            };
            let subject = format!("payload {hash}");
            let recipe: Recipe = match codec::decode_record(key, value) {
                Ok(recipe) => recipe,
                Err(err) => {
                    findings.push(finding(subject, format!("recipe: {err}")));
                    return ControlFlow::Continue(());
                }
            };
            let missing: Vec<&Hash> = recipe
                .entries
                .iter()
                .filter(|entry| !chunks.contains(*entry))
                .collect();
            if let Some(first) = missing.first() {
                findings.push(finding(
                    subject,
                    format!(
                        "{} chunk(s) missing or damaged, first {first}",
                        missing.len()
                    ),
                ));
                return ControlFlow::Continue(());
            }
            match store.read_payload(&hash) {
                Ok(_) => {
                    payloads.insert(hash);
                }
                Err(err) => findings.push(finding(subject, err.to_string())),
            }
            ControlFlow::Continue(())
        },
    );
    payloads
}

/// Every manifest that decodes; each one that does not is a finding.
fn read_manifests(store: &Store, findings: &mut Vec<Finding>) -> Vec<RolloutManifest> {
    let mut manifests = Vec::new();
    walk(
        store,
        &[PREFIX_MANIFEST],
        "manifests",
        findings,
        |key, value, findings| {
            match decode_manifest(key, value) {
                Ok(manifest) => manifests.push(manifest),
                Err(err) => findings.push(finding(describe_key(key), err.to_string())),
            }
            ControlFlow::Continue(())
        },
    );
    manifests
}

/// What the pack holds of a rollout's log, for [`verify_log`].
enum ColdPart {
    /// Seq 1 to this (0: nothing), already checked.
    Read(u64),
    /// The store has a pack that does not open (a finding of its own): the
    /// log's first seqs, up to the first hot record, are in it.
    Unreadable,
}

/// One finding for the seqs a pack that does not open holds (1 to `last`).
fn unreadable_in_pack(id: &str, last: u64) -> Finding {
    finding(
        format!("rollout {id}"),
        format!("seq 1 to {last} are unreadable: they are in the pack, which does not open"),
    )
}

/// Checks the log of one rollout against its manifest and `payloads`, the
/// sound payloads.
fn verify_log(
    store: &Store,
    manifest: &RolloutManifest,
    cold: ColdPart,
    payloads: &BTreeSet<Hash>,
    findings: &mut Vec<Finding>,
) {
    let id = &manifest.rollout_id;
    let mut prefix = vec![PREFIX_EVENT];
    prefix.extend_from_slice(&manifest.rollout_num.to_be_bytes());
    let (cold_last, mut cold_unreadable) = match cold {
        ColdPart::Read(last) => (last, false),
        ColdPart::Unreadable => (0, true),
    };
    let mut expected = cold_last + 1;
    let range = format!("events of rollout {id}");
    walk(store, &prefix, &range, findings, |key, value, findings| {
        let seq = decode_num(&key[9..]).unwrap_or_default();
        if std::mem::take(&mut cold_unreadable) && seq > expected {
            findings.push(unreadable_in_pack(
                id,
                seq.min(manifest.event_count + 1) - 1,
            ));
            expected = seq;
        }
        if seq <= cold_last {
            findings.push(finding(
                format!("rollout {id} seq {seq}"),
                "stored in sled although the pack holds this seq",
            ));
            return ControlFlow::Continue(());
        }
        if seq > manifest.event_count {
            findings.push(finding(
                format!("rollout {id} seq {seq}"),
                format!(
                    "stored beyond the manifest's last seq {} (an unfinished write)",
                    manifest.event_count
                ),
            ));
            return ControlFlow::Break(());
        }
        if seq != expected {
            findings.push(finding(
                format!("rollout {id} seq {expected}"),
                format!("missing (next stored seq is {seq})"),
            ));
            expected = seq;
        }
        expected += 1;
        match decode_event(id, key, value) {
            Ok(event) => event.payload.for_each_ref(|r| {
                if !payloads.contains(&r.hash) {
                    findings.push(finding(
                        format!("rollout {id} seq {seq}"),
                        format!("cites payload {} which is missing or damaged", r.hash),
                    ));
                }
            }),
            Err(err) => findings.push(finding(format!("rollout {id} seq {seq}"), err.to_string())),
        }
        ControlFlow::Continue(())
    });
    if cold_unreadable && expected == 1 && manifest.event_count > 0 {
        findings.push(unreadable_in_pack(id, manifest.event_count));
    } else if expected <= manifest.event_count {
        findings.push(finding(
            format!("rollout {id}"),
            format!(
                "log ends at seq {} but the manifest counts {} events",
                expected - 1,
                manifest.event_count
            ),
        ));
    }
}

/// Checks the pack: that it opens, every stream frame, and every payload in
/// it. Returns it and its sound payloads; `None` when the store has no pack
/// or it does not open (a finding).
fn verify_pack(store: &Store, findings: &mut Vec<Finding>) -> Option<(Arc<Pack>, BTreeSet<Hash>)> {
    let pointer = store.pack_pointer()?;
    let pack = match store.pack() {
        Ok(Some(pack)) => pack,
        Ok(None) => return None,
        Err(err) => {
            findings.push(finding(
                format!("pack {}", pointer.file_name()),
                err.to_string(),
            ));
            return None;
        }
    };
    let subject = format!("pack {}", pointer.file_name());
    for index in 0..pack.frames().len() {
        if let Err(err) = pack.frame(index) {
            findings.push(finding(subject.clone(), err.to_string()));
        }
    }
    let mut sound = BTreeSet::new();
    for (ordinal, payload) in pack.payloads().iter().enumerate() {
        if let Some(damage) = pack.damage(ordinal as u32) {
            findings.push(finding(
                format!("payload at pack ordinal {ordinal}"),
                format!("its hash cannot be derived: {damage}"),
            ));
            continue;
        }
        let subject = format!("payload {} (pack ordinal {ordinal})", payload.hash);
        let mut bytes = Vec::new();
        let read = usize::try_from(payload.size)
            .map_err(|_| Error::CorruptData(format!("size {} is implausible", payload.size)))
            .and_then(|size| {
                pack.append_prefix(
                    ordinal as u32,
                    size,
                    &mut bytes,
                    usize::from(super::payload::BASE_DEPTH_MAX) + 1,
                    &|_| None,
                )
            });
        match read {
            Err(err) => findings.push(finding(subject, err.to_string())),
            Ok(()) if bytes.len() as u64 != payload.size => findings.push(finding(
                subject,
                format!("{} bytes, the index says {}", bytes.len(), payload.size),
            )),
            Ok(()) => {
                let actual = Hash::of(&bytes);
                if actual == payload.hash {
                    sound.insert(payload.hash);
                } else {
                    findings.push(finding(subject, format!("content hashes to {actual}")));
                }
            }
        }
    }
    Some((pack, sound))
}

/// Checks the part of a rollout's log the pack holds, block by block (a
/// damaged block is one finding; the next block is still read). Returns
/// the last seq the pack holds for it (0: none).
fn verify_cold_log(
    pack: &Pack,
    manifest: &RolloutManifest,
    payloads: &BTreeSet<Hash>,
    findings: &mut Vec<Finding>,
) -> u64 {
    let id = &manifest.rollout_id;
    let Some(rollout) = pack.rollout(manifest.rollout_num) else {
        return 0;
    };
    let mut expected = 1u64;
    for block in &rollout.blocks {
        if block.first_seq != expected {
            findings.push(finding(
                format!("rollout {id} seq {expected}"),
                format!(
                    "missing from the pack (its next block starts at seq {})",
                    block.first_seq
                ),
            ));
        }
        expected = block.first_seq + u64::from(block.count);
        match pack.read_block(id, block) {
            Ok(events) => {
                for (event, seq) in events.into_iter().zip(block.first_seq..) {
                    let event = match event {
                        Ok(event) => event,
                        Err(message) => {
                            findings.push(finding(format!("rollout {id} seq {seq}"), message));
                            continue;
                        }
                    };
                    event.payload.for_each_ref(|r| {
                        if !payloads.contains(&r.hash) {
                            findings.push(finding(
                                format!("rollout {id} seq {}", event.seq),
                                format!("cites payload {} which is missing or damaged", r.hash),
                            ));
                        }
                    });
                }
            }
            Err((seq, message)) => findings.push(finding(
                format!("rollout {id} seq {seq}"),
                format!(
                    "{message} (the block's {} events are unreadable)",
                    block.count
                ),
            )),
        }
    }
    if rollout.event_count > manifest.event_count {
        findings.push(finding(
            format!("rollout {id}"),
            format!(
                "the pack holds {} events but the manifest counts {}",
                rollout.event_count, manifest.event_count
            ),
        ));
    }
    rollout.event_count.min(manifest.event_count)
}
