//! The bytes inside a pack's event blocks and index, chosen for zstd.
//!
//! Both are sequences of bincode bodies (the frame around them carries the
//! checksum). They are written as columns and deltas, so that what repeats
//! becomes the same short bytes and what does not (the payloads' checks)
//! sits apart from what compresses:
//!
//! - an event states its thread and turn only when they differ from the
//!   previous event's in the block, its wall time as a delta, and each
//!   payload it cites as a delta from the previous citation's ordinal
//!   (payloads are numbered in the order first cited, so most deltas are 1);
//! - the index lists the payloads' bases (as distances), then their extents
//!   (as deltas), then the rollouts, and last each payload's check (the
//!   first bytes of its BLAKE3, which no compressor shrinks; the hash
//!   itself is derived from the stream, `derive.rs`). A payload's size is
//!   not stored: it is its base's shared prefix plus its extents.

use bincode::{Decode, Encode};

use super::derive::{CHECK_BYTES, check_of};
use super::{ColdBase, ColdPayload, ColdRollout, Extent, Piece};
use crate::codec::{self, CodecError};
use crate::event::{Event, EventPayload, Hash, PayloadKind, PayloadRef, Seq};

/// The head of the index: the columns follow, each `payloads` long, then
/// `rollouts` rollout bodies, then the checks.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub(super) struct IndexHead {
    pub generation: u64,
    pub frames: Vec<Piece>,
    pub payloads: u64,
    pub rollouts: u64,
}

/// A payload's base, as the index stores it: how far back (or ahead) its
/// ordinal is, and how many of the base's bytes it does not share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
struct StoredBase {
    distance: i64,
    unshared: u64,
    depth: u8,
}

/// Encodes the index: head, bases, extents, rollouts, checks.
pub(super) fn encode_index(
    head: &IndexHead,
    payloads: &[ColdPayload],
    rollouts: &[ColdRollout],
) -> Result<Vec<u8>, CodecError> {
    let mut raw = Vec::new();
    codec::encode_body(head, &mut raw)?;
    for (ordinal, payload) in payloads.iter().enumerate() {
        let base = payload.base.map(|base| {
            let base_size = payloads.get(base.ordinal as usize).map_or(0, |b| b.size);
            StoredBase {
                distance: ordinal as i64 - i64::from(base.ordinal),
                unshared: base_size.saturating_sub(base.prefix_bytes),
                depth: base.depth,
            }
        });
        codec::encode_body(&base, &mut raw)?;
    }
    let mut end = 0u64;
    for payload in payloads {
        codec::encode_body(&(payload.extents.len() as u64), &mut raw)?;
        for extent in &payload.extents {
            let delta = extent.start as i64 - end as i64;
            codec::encode_body(&(delta, extent.len), &mut raw)?;
            end = extent.start + u64::from(extent.len);
        }
    }
    for rollout in rollouts {
        codec::encode_body(rollout, &mut raw)?;
    }
    for payload in payloads {
        raw.extend_from_slice(&check_of(&payload.hash));
    }
    Ok(raw)
}

/// What an index decodes to. The payloads' hashes are not in it (they are
/// all zero here): `derive.rs` computes them and checks them against
/// `checks`.
pub(super) struct DecodedIndex {
    pub generation: u64,
    pub frames: Vec<Piece>,
    pub payloads: Vec<ColdPayload>,
    pub checks: Vec<[u8; CHECK_BYTES]>,
    pub rollouts: Vec<ColdRollout>,
}

/// Reads bincode bodies one after another from a buffer.
struct Reader<'a> {
    raw: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn next<T: Decode<()>>(&mut self, what: impl FnOnce() -> String) -> Result<T, String> {
        let (value, used) =
            codec::decode_body(&self.raw[self.at..]).map_err(|err| format!("{}: {err}", what()))?;
        self.at += used;
        Ok(value)
    }
}

/// Decodes an index [`encode_index`] wrote, checking that every base and
/// count is in range.
pub(super) fn decode_index(raw: &[u8]) -> Result<DecodedIndex, String> {
    let mut reader = Reader { raw, at: 0 };
    let head: IndexHead = reader.next(|| "head".into())?;
    let count = usize::try_from(head.payloads)
        .ok()
        .filter(|count| count.saturating_mul(CHECK_BYTES) <= raw.len())
        .ok_or_else(|| format!("{} payloads cannot fit in the index", head.payloads))?;
    let mut bases = Vec::with_capacity(count);
    for ordinal in 0..count {
        let stored: Option<StoredBase> =
            reader.next(|| format!("base of payload ordinal {ordinal}"))?;
        bases.push(match stored {
            None => None,
            Some(stored) => {
                let base = u32::try_from(ordinal as i64 - stored.distance)
                    .ok()
                    .filter(|base| (*base as usize) < count && *base as usize != ordinal)
                    .ok_or_else(|| format!("payload ordinal {ordinal}: base out of range"))?;
                Some((base, stored))
            }
        });
    }
    let mut extents_of = Vec::with_capacity(count);
    let mut end = 0u64;
    for ordinal in 0..count {
        let n: u64 = reader.next(|| format!("extent count of payload ordinal {ordinal}"))?;
        let n = usize::try_from(n)
            .ok()
            .filter(|n| *n <= raw.len())
            .ok_or_else(|| format!("payload ordinal {ordinal}: {n} extents"))?;
        let mut extents = Vec::with_capacity(n);
        for _ in 0..n {
            let (delta, len): (i64, u32) =
                reader.next(|| format!("extent of payload ordinal {ordinal}"))?;
            let start = u64::try_from(end as i64 + delta)
                .map_err(|_| format!("payload ordinal {ordinal}: extent before the stream"))?;
            extents.push(Extent { start, len });
            end = start + u64::from(len);
        }
        extents_of.push(extents);
    }
    let mut rollouts = Vec::new();
    for position in 0..head.rollouts {
        rollouts.push(reader.next::<ColdRollout>(|| format!("rollout entry {position}"))?);
    }
    let checks = &raw[reader.at..];
    if checks.len() != count * CHECK_BYTES {
        return Err(format!(
            "{} bytes of checks for {count} payloads",
            checks.len()
        ));
    }
    let checks = checks
        .chunks_exact(CHECK_BYTES)
        .map(|check| {
            let mut bytes = [0u8; CHECK_BYTES];
            bytes.copy_from_slice(check);
            bytes
        })
        .collect();
    let payloads = with_sizes(bases, extents_of)?;
    Ok(DecodedIndex {
        generation: head.generation,
        frames: head.frames,
        payloads,
        checks,
        rollouts,
    })
}

/// The payloads with their sizes: each is the prefix it shares with its
/// base (the base's size less what the base does not share) plus its own
/// bytes. Bases may come later in the index; a chain that loops or
/// shares more than its base has is corrupt.
fn with_sizes(
    bases: Vec<Option<(u32, StoredBase)>>,
    extents_of: Vec<Vec<Extent>>,
) -> Result<Vec<ColdPayload>, String> {
    let count = bases.len();
    let own: Vec<u64> = extents_of
        .iter()
        .map(|extents| extents.iter().map(|extent| u64::from(extent.len)).sum())
        .collect();
    let mut sizes: Vec<Option<u64>> = vec![None; count];
    let mut chain = Vec::new();
    for first in 0..count {
        let mut at = first;
        // Walk down to a payload whose size is known or that has no base.
        while sizes[at].is_none() {
            if chain.len() > count {
                return Err(format!("payload ordinal {first}: its bases form a loop"));
            }
            chain.push(at);
            match bases[at] {
                Some((base, _)) => at = base as usize,
                None => break,
            }
        }
        while let Some(ordinal) = chain.pop() {
            let size = match bases[ordinal] {
                None => own[ordinal],
                Some((base, stored)) => sizes[base as usize]
                    .and_then(|base_size| base_size.checked_sub(stored.unshared))
                    .ok_or_else(|| {
                        format!("payload ordinal {ordinal}: base shares more than it has")
                    })?
                    .checked_add(own[ordinal])
                    .ok_or_else(|| format!("payload ordinal {ordinal}: size overflows"))?,
            };
            sizes[ordinal] = Some(size);
        }
    }
    Ok(bases
        .into_iter()
        .zip(extents_of)
        .zip(sizes.into_iter().zip(own))
        .map(|((base, extents), (size, own))| {
            let size = size.unwrap_or_default();
            ColdPayload {
                hash: Hash([0; 32]),
                size,
                base: base.map(|(ordinal, stored)| ColdBase {
                    ordinal,
                    prefix_bytes: size - own,
                    depth: stored.depth,
                }),
                extents,
            }
        })
        .collect())
}

/// A thread or turn id relative to the previous event's in the block.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
enum Context {
    Same,
    Absent,
    New(String),
}

/// An event in a block: its seq is the block's first plus its position.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
struct ColdEvent {
    wall_time_delta: i64,
    thread_id: Context,
    codex_turn_id: Context,
    payload: EventPayload<ColdRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
struct ColdRef {
    kind: PayloadKind,
    /// The ordinal minus the previous citation's in the block (0 before
    /// the first).
    ordinal_delta: i64,
    /// The size the event cited, when it differs from the payload's.
    size_bytes: Option<u64>,
}

/// The state of a block being written or read: what the next event's
/// fields are relative to.
#[derive(Default)]
pub(super) struct BlockContext {
    wall_time: i64,
    thread_id: Option<String>,
    codex_turn_id: Option<String>,
    ordinal: i64,
}

fn relative(value: Option<String>, previous: &mut Option<String>) -> Context {
    let context = match &value {
        None if previous.is_none() => Context::Same,
        None => Context::Absent,
        Some(id) if previous.as_deref() == Some(id.as_str()) => Context::Same,
        Some(id) => Context::New(id.clone()),
    };
    *previous = value;
    context
}

fn absolute(context: Context, previous: &mut Option<String>) -> Option<String> {
    match context {
        Context::Same => {}
        Context::Absent => *previous = None,
        Context::New(id) => *previous = Some(id),
    }
    previous.clone()
}

impl BlockContext {
    /// Appends `event`, whose payload cites (ordinal, stored size) pairs
    /// `ordinals` gives in citation order.
    pub(super) fn encode(
        &mut self,
        event: Event,
        mut ordinal_of: impl FnMut(&PayloadRef) -> (u32, u64),
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let payload = event.payload.map_refs(|r| {
            let (ordinal, size) = ordinal_of(&r);
            let delta = i64::from(ordinal) - self.ordinal;
            self.ordinal = i64::from(ordinal);
            ColdRef {
                kind: r.kind,
                ordinal_delta: delta,
                size_bytes: (r.size_bytes != size).then_some(r.size_bytes),
            }
        });
        let cold = ColdEvent {
            wall_time_delta: event.wall_time_unix_ms.wrapping_sub(self.wall_time),
            thread_id: relative(event.thread_id, &mut self.thread_id),
            codex_turn_id: relative(event.codex_turn_id, &mut self.codex_turn_id),
            payload,
        };
        self.wall_time = event.wall_time_unix_ms;
        codec::encode_body(&cold, out)
    }

    /// Decodes the next event (of `seq`) from the front of `raw`; returns it
    /// and the bytes it took. `payload` resolves an ordinal to its hash and
    /// size, or says why it cannot: that event is then an error, and the
    /// next ones still decode (the outer error is a block that cannot go
    /// on).
    pub(super) fn decode(
        &mut self,
        raw: &[u8],
        seq: Seq,
        payload: impl Fn(u32) -> Result<(Hash, u64), String>,
    ) -> Result<(Result<Event, String>, usize), String> {
        let (cold, used): (ColdEvent, usize) =
            codec::decode_body(raw).map_err(|err| format!("corrupt block entry: {err}"))?;
        self.wall_time = self.wall_time.wrapping_add(cold.wall_time_delta);
        let thread_id = absolute(cold.thread_id, &mut self.thread_id);
        let codex_turn_id = absolute(cold.codex_turn_id, &mut self.codex_turn_id);
        let mut unresolved = None;
        let payload = cold.payload.map_refs(|r| {
            let ordinal = self.ordinal.wrapping_add(r.ordinal_delta);
            self.ordinal = ordinal;
            let resolved = u32::try_from(ordinal)
                .map_err(|_| format!("cites payload ordinal {ordinal}, beyond the pack's"))
                .and_then(&payload);
            let (hash, size) = resolved.unwrap_or_else(|message| {
                unresolved.get_or_insert(message);
                (Hash([0; 32]), 0)
            });
            PayloadRef {
                kind: r.kind,
                hash,
                size_bytes: r.size_bytes.unwrap_or(size),
            }
        });
        let event = match unresolved {
            Some(message) => Err(message),
            None => Ok(Event {
                seq,
                wall_time_unix_ms: self.wall_time,
                thread_id,
                codex_turn_id,
                payload,
            }),
        };
        Ok((event, used))
    }
}
