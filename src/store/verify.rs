//! `verify`: checks every chunk and payload against its hash, every log for
//! contiguity from seq 1, and that every payload an event cites is stored.
//!
//! It only reads. Each problem becomes one [`Finding`]; it never stops at the
//! first.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{
    PREFIX_CHUNK, PREFIX_EVENT, PREFIX_MANIFEST, PREFIX_PAYLOAD, Store, decode_event,
    decode_manifest, decode_num, describe_key, hash_from_key, payload,
};
use crate::codec;
use crate::error::Result;
use crate::event::Hash;
use crate::store::Recipe;

/// One problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What the finding is about: `chunk <hash>`, `rollout <id> seq <n>`, ...
    pub subject: String,
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

pub(super) fn verify(store: &Store) -> Result<Vec<Finding>> {
    let tree = store.tree();
    let mut findings = Vec::new();

    // Chunks: each decodes and hashes to its key.
    let mut chunks = BTreeSet::new();
    for entry in tree.scan_prefix([PREFIX_CHUNK]) {
        let (key, value) = entry?;
        let Some(hash) = hash_from_key(&key) else {
            findings.push(finding(describe_key(&key), "malformed chunk key"));
            continue;
        };
        match payload::decode_chunk(&hash, &value) {
            Ok(_) => {
                chunks.insert(hash);
            }
            Err(message) => findings.push(finding(format!("chunk {hash}"), message)),
        }
    }

    // Payloads: each recipe decodes, its chunks exist, and the whole payload
    // hashes to its key.
    let mut payloads = BTreeSet::new();
    for entry in tree.scan_prefix([PREFIX_PAYLOAD]) {
        let (key, value) = entry?;
        let Some(hash) = hash_from_key(&key) else {
            findings.push(finding(describe_key(&key), "malformed payload key"));
            continue;
        };
        let subject = format!("payload {hash}");
        let recipe: Recipe = match codec::decode_record(&key, &value) {
            Ok(recipe) => recipe,
            Err(err) => {
                findings.push(finding(subject, format!("recipe: {err}")));
                continue;
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
            continue;
        }
        match store.read_payload(&hash) {
            Ok(_) => {
                payloads.insert(hash);
            }
            Err(err) => findings.push(finding(subject, err.to_string())),
        }
    }

    // Logs: contiguous from 1 to the manifest's count; every record decodes;
    // every cited payload is stored.
    let mut manifests = Vec::new();
    for entry in tree.scan_prefix([PREFIX_MANIFEST]) {
        let (key, value) = entry?;
        match decode_manifest(&key, &value) {
            Ok(manifest) => manifests.push(manifest),
            Err(err) => findings.push(finding(describe_key(&key), err.to_string())),
        }
    }
    for manifest in &manifests {
        let id = &manifest.rollout_id;
        let mut prefix = vec![PREFIX_EVENT];
        prefix.extend_from_slice(&manifest.rollout_num.to_be_bytes());
        let mut expected = 1u64;
        for entry in tree.scan_prefix(&prefix) {
            let (key, value) = entry?;
            let seq = decode_num(&key[9..]).unwrap_or_default();
            if seq > manifest.event_count {
                findings.push(finding(
                    format!("rollout {id} seq {seq}"),
                    format!(
                        "stored beyond the manifest's last seq {} (an unfinished write)",
                        manifest.event_count
                    ),
                ));
                break;
            }
            if seq != expected {
                findings.push(finding(
                    format!("rollout {id} seq {expected}"),
                    format!("missing (next stored seq is {seq})"),
                ));
                expected = seq;
            }
            expected += 1;
            match decode_event(id, &key, &value) {
                Ok(event) => event.payload.for_each_ref(|r| {
                    if !payloads.contains(&r.hash) {
                        findings.push(finding(
                            format!("rollout {id} seq {seq}"),
                            format!("cites payload {} which is missing or damaged", r.hash),
                        ));
                    }
                }),
                Err(err) => {
                    findings.push(finding(format!("rollout {id} seq {seq}"), err.to_string()))
                }
            }
        }
        if expected <= manifest.event_count {
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
    Ok(findings)
}
