//! Record keys: one-byte prefixes, big-endian numbers, and their names in
//! messages (DESIGN.md, "On-disk format").

use crate::event::{Hash, Seq};

pub(super) const PREFIX_CHUNK: u8 = b'c';
pub(super) const PREFIX_PAYLOAD: u8 = b'p';
pub(super) const PREFIX_EVENT: u8 = b'e';
pub(super) const PREFIX_MANIFEST: u8 = b'm';
pub(super) const PREFIX_ROLLOUT_ID: u8 = b'r';
pub(super) const META_FORMAT_KEY: &[u8] = b"Mformat";
/// The pointer to the store's pack (format 2; absent: no pack).
pub(super) const META_PACK_KEY: &[u8] = b"Mpack";

pub(crate) fn chunk_key(hash: &Hash) -> [u8; 33] {
    let mut key = [0u8; 33];
    key[0] = PREFIX_CHUNK;
    key[1..].copy_from_slice(&hash.0);
    key
}

pub(crate) fn payload_key(hash: &Hash) -> [u8; 33] {
    let mut key = [0u8; 33];
    key[0] = PREFIX_PAYLOAD;
    key[1..].copy_from_slice(&hash.0);
    key
}

pub(crate) fn event_key(rollout_num: u64, seq: Seq) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[0] = PREFIX_EVENT;
    key[1..9].copy_from_slice(&rollout_num.to_be_bytes());
    key[9..].copy_from_slice(&seq.to_be_bytes());
    key
}

pub(crate) fn manifest_key(rollout_num: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = PREFIX_MANIFEST;
    key[1..].copy_from_slice(&rollout_num.to_be_bytes());
    key
}

pub(super) fn rollout_id_key(rollout_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(rollout_id.len() + 1);
    key.push(PREFIX_ROLLOUT_ID);
    key.extend_from_slice(rollout_id.as_bytes());
    key
}

pub(super) fn decode_num(bytes: &[u8]) -> Option<u64> {
    let array: [u8; 8] = bytes.try_into().ok()?;
    Some(u64::from_be_bytes(array))
}

pub(super) fn hash_from_key(key: &[u8]) -> Option<Hash> {
    let array: [u8; 32] = key.get(1..33)?.try_into().ok()?;
    Some(Hash(array))
}

/// A human-readable name for a raw key, for error messages.
pub(super) fn describe_key(key: &[u8]) -> String {
    match key.first() {
        Some(&PREFIX_CHUNK) => {
            hash_from_key(key).map_or("chunk ?".into(), |h| format!("chunk {h}"))
        }
        Some(&PREFIX_PAYLOAD) => {
            hash_from_key(key).map_or("payload ?".into(), |h| format!("payload {h}"))
        }
        Some(&PREFIX_EVENT) if key.len() == 17 => {
            let num = decode_num(&key[1..9]).unwrap_or_default();
            let seq = decode_num(&key[9..]).unwrap_or_default();
            format!("event rollout#{num} seq {seq}")
        }
        Some(&PREFIX_MANIFEST) => format!(
            "manifest rollout#{}",
            decode_num(&key[1..]).unwrap_or_default()
        ),
        _ => format!("key {key:02x?}"),
    }
}
