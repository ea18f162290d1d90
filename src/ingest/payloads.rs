//! Payload references of an input resolved to bytes: a confined file's
//! exact bytes, an inline value, inline text or base64 (redacted first when
//! a redactor is given), or a payload the store already holds. Nothing over
//! the payload limit is accepted.

use crate::error::{Error, Result};
use crate::event::wire::WirePayloadRef;
use crate::event::{Hash, PayloadKind, PayloadRef};
use crate::redact::Redactor;
use crate::store::Writes;

use super::Confinement;

/// A wire payload reference read, redacted and hashed: the part of
/// resolving it that needs no store, so it can run ahead of the writes on
/// another thread.
pub(super) struct PreparedRef {
    wire: WireBytes,
    /// BLAKE3 of the bytes, or the hash a stored reference cites.
    hash: Hash,
}

/// Reads (a file confined to `base`), redacts and hashes one reference.
pub(super) fn prepare_ref(
    base: &Confinement,
    r: WirePayloadRef,
    limit_bytes: u64,
    redactor: Option<&Redactor>,
) -> Result<PreparedRef> {
    let wire = wire_ref_bytes(base, r, limit_bytes, redactor)?;
    let hash = match &wire {
        WireBytes::Bytes { bytes, .. } => Hash::of(bytes),
        WireBytes::Stored { blake3, .. } => *blake3,
    };
    Ok(PreparedRef { wire, hash })
}

/// Resolves a prepared reference against the store: stages its bytes when
/// `stage` (else only names them), or checks that the store holds a payload
/// it cites by hash.
pub(super) fn resolve_prepared(
    writes: &mut Writes<'_>,
    prepared: PreparedRef,
    stage: bool,
) -> Result<PayloadRef> {
    let hash = prepared.hash;
    match prepared.wire {
        WireBytes::Bytes { kind, bytes } if stage => writes.put_payload_hashed(kind, &bytes, hash),
        WireBytes::Bytes { kind, bytes } => Ok(PayloadRef {
            kind,
            hash,
            size_bytes: bytes.len() as u64,
        }),
        WireBytes::Stored {
            kind,
            blake3,
            size_bytes,
        } => match writes.payload_size(&blake3)? {
            None => Err(Error::Other(format!(
                "payload {blake3} is not in this store (export with inline payloads to move rollouts between stores)"
            ))),
            Some(stored) if stored != size_bytes => Err(Error::Other(format!(
                "payload {blake3} is {stored} bytes in this store, but the reference claims size_bytes {size_bytes}"
            ))),
            Some(_) => Ok(PayloadRef {
                kind,
                hash: blake3,
                size_bytes,
            }),
        },
    }
}

/// A wire payload reference made concrete: the bytes to store, or a
/// payload some store already holds.
pub(crate) enum WireBytes {
    Bytes {
        kind: PayloadKind,
        bytes: Vec<u8>,
    },
    Stored {
        kind: PayloadKind,
        blake3: Hash,
        size_bytes: u64,
    },
}

/// The bytes a wire payload reference stands for: a confined file's exact
/// bytes, an inline value as compact JSON (key order kept), inline text or
/// base64. With a redactor, secrets are replaced first (a file's bytes are
/// kept exactly unless something was redacted). Nothing over `limit_bytes`
/// is accepted.
pub(crate) fn wire_ref_bytes(
    base: &Confinement,
    r: WirePayloadRef,
    limit_bytes: u64,
    redactor: Option<&Redactor>,
) -> Result<WireBytes> {
    let (kind, bytes) = match r {
        WirePayloadRef::File {
            kind,
            path,
            raw_payload_id,
        } => {
            let bytes = base
                .read(&path, limit_bytes)
                .map_err(|err| Error::Other(format!("payload {raw_payload_id} ({path}): {err}")))?;
            (kind, redacted_bytes(redactor, bytes))
        }
        WirePayloadRef::Inline { kind, mut value } => {
            if let Some(redactor) = redactor {
                redactor.redact_json(&mut value);
            }
            let bytes = serde_json::to_vec(&value)
                .map_err(|err| Error::Other(format!("inline payload: {err}")))?;
            (kind, bytes)
        }
        // Text is redacted as payload bytes are: a JSON document by its
        // parsed strings (a match inside an escaped string must not cut its
        // escapes), anything else as text.
        WirePayloadRef::InlineText { kind, text } => {
            (kind, redacted_bytes(redactor, text.into_bytes()))
        }
        WirePayloadRef::InlineBase64 { kind, bytes } => (kind, redacted_bytes(redactor, bytes)),
        WirePayloadRef::Stored {
            kind,
            blake3,
            size_bytes,
            ..
        } => {
            return Ok(WireBytes::Stored {
                kind,
                blake3,
                size_bytes,
            });
        }
    };
    if bytes.len() as u64 > limit_bytes {
        return Err(Error::PayloadTooLarge {
            size_bytes: bytes.len() as u64,
            limit_bytes,
        });
    }
    Ok(WireBytes::Bytes { kind, bytes })
}

/// `bytes` as the store keeps them: redacted when `redactor` finds a
/// secret.
pub(super) fn redacted_bytes(redactor: Option<&Redactor>, bytes: Vec<u8>) -> Vec<u8> {
    match redactor.and_then(|redactor| redactor.redact_bytes(&bytes)) {
        Some(redacted) => redacted,
        None => bytes,
    }
}
