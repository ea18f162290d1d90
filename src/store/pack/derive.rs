//! Deriving the payloads' BLAKE3 hashes from a pack's stream.
//!
//! A pack stores no payload hash: a content address is a function of the
//! content, and 32 random bytes per payload were 17% of the 200-turn demo's
//! pack (nothing compresses them). The index keeps a [`CHECK_BYTES`]-byte
//! check per payload instead (the first bytes of its BLAKE3), and opening
//! the pack hashes every payload again.
//!
//! A payload is its base's first `prefix_bytes` bytes, then its own bytes.
//! BLAKE3 hashes incrementally, so the hasher of a base after its first
//! `prefix_bytes` bytes, cloned, continues into the payload's own bytes:
//! every byte of the stream is hashed once per payload that owns it, and
//! never again for the payloads that share it as a prefix. The cost is the
//! pack's own bytes (2.9 MB of the demo's 92 MB of payloads), not its
//! logical bytes.

use std::collections::BTreeMap;

use super::{ColdPayload, Extent};
use crate::event::Hash;

/// Bytes of each payload's BLAKE3 the index keeps, to check the hash it
/// derives (and with it the frames, extents and bases it read).
pub(super) const CHECK_BYTES: usize = 4;

/// A payload's check: the first [`CHECK_BYTES`] of its hash.
pub(super) fn check_of(hash: &Hash) -> [u8; CHECK_BYTES] {
    let mut check = [0u8; CHECK_BYTES];
    check.copy_from_slice(&hash.0[..CHECK_BYTES]);
    check
}

/// Reads `len` bytes of the stream from `start`, handing them to the sink
/// in one or more slices, in order.
pub(super) type StreamReader<'a> =
    dyn FnMut(u64, usize, &mut dyn FnMut(&[u8])) -> Result<(), String> + 'a;

/// Derives every payload's hash; an error names why one cannot be (a
/// frame that does not read, a check that does not match, a base that is
/// itself damaged, a base chain that loops). `payloads[i].hash` is ignored.
pub(super) fn derive_hashes(
    payloads: &[ColdPayload],
    checks: &[[u8; CHECK_BYTES]],
    stream: &mut StreamReader<'_>,
) -> Vec<Result<Hash, String>> {
    let count = payloads.len();
    let mut derived: Vec<Option<Result<Hash, String>>> = vec![None; count];
    // Payloads that start from another's hasher: (offset in it, ordinal).
    let mut requests: Vec<Vec<(u64, u32)>> = vec![Vec::new(); count];
    let mut fresh = Vec::new();
    for (ordinal, slot) in derived.iter_mut().enumerate() {
        match start_of(payloads, ordinal) {
            Ok(None) => fresh.push(ordinal as u32),
            Ok(Some((from, offset))) => requests[from as usize].push((offset, ordinal as u32)),
            Err(message) => *slot = Some(Err(message)),
        }
    }
    for list in &mut requests {
        list.sort_unstable();
    }
    // Hashers waiting for their payload, by ordinal: hashing in ordinal
    // order reads the stream front to back (ordinals are numbered as first
    // cited, and the stream is written in that order), and a base usually
    // comes just before the payloads that continue it, so few wait.
    let mut waiting: BTreeMap<u32, blake3::Hasher> = BTreeMap::new();
    let mut fresh = fresh.into_iter().peekable();
    loop {
        let from_waiting = match (fresh.peek(), waiting.first_key_value()) {
            (None, None) => break,
            (Some(next), Some((ordinal, _))) => ordinal < next,
            (None, Some(_)) => true,
            (Some(_), None) => false,
        };
        let (ordinal, hasher) = if from_waiting {
            match waiting.pop_first() {
                Some(entry) => entry,
                None => break,
            }
        } else {
            match fresh.next() {
                Some(ordinal) => (ordinal, blake3::Hasher::new()),
                None => break,
            }
        };
        let index = ordinal as usize;
        let result = hash_own(
            &payloads[index],
            hasher,
            &requests[index],
            &mut waiting,
            stream,
        )
        .and_then(|hash| {
            if check_of(&hash) == checks[index] {
                Ok(hash)
            } else {
                Err(format!(
                    "its bytes hash to {hash}, which the index's check {} does not match",
                    hex(&checks[index])
                ))
            }
        });
        if let Err(message) = &result {
            // Payloads that continue it and have no hasher yet cannot be
            // hashed; say why (those served before the failure go on, and
            // their own checks tell).
            let reason = format!("its base, pack ordinal {ordinal}, is damaged ({message})");
            let mut stack: Vec<u32> = requests[index]
                .iter()
                .map(|(_, child)| *child)
                .filter(|child| !waiting.contains_key(child))
                .collect();
            while let Some(child) = stack.pop() {
                let child_index = child as usize;
                if derived[child_index].is_none() && child != ordinal {
                    derived[child_index] = Some(Err(reason.clone()));
                    stack.extend(requests[child_index].iter().map(|(_, next)| *next));
                }
            }
        }
        if derived[index].is_none() {
            derived[index] = Some(result);
        }
    }
    derived
        .into_iter()
        .map(|result| {
            result.unwrap_or_else(|| Err("its base chain loops back to itself".to_string()))
        })
        .collect()
}

/// Where hashing payload `ordinal` starts: a fresh hasher (`None`), or the
/// hasher of payload `from` after its first `offset` bytes, `offset` past
/// `from`'s own base prefix (so the bytes are `from`'s own).
fn start_of(payloads: &[ColdPayload], ordinal: usize) -> Result<Option<(u32, u64)>, String> {
    let payload = &payloads[ordinal];
    let own: u64 = payload.extents.iter().map(|e| u64::from(e.len)).sum();
    let prefix = payload.base.map_or(0, |base| base.prefix_bytes);
    if prefix.checked_add(own) != Some(payload.size) {
        return Err(format!(
            "its base prefix ({prefix} bytes) and extents ({own} bytes) do not make its {} bytes",
            payload.size
        ));
    }
    let Some(base) = payload.base else {
        return Ok(None);
    };
    let (mut from, offset) = (base.ordinal, base.prefix_bytes);
    // A base's own base may supply all of the shared prefix: go up to the
    // payload whose own bytes hold its end.
    for _ in 0..=payloads.len() {
        if offset == 0 {
            return Ok(None);
        }
        let holder = payloads
            .get(from as usize)
            .ok_or_else(|| format!("its base, pack ordinal {from}, is beyond the pack's"))?;
        match holder.base {
            Some(up) if offset <= up.prefix_bytes => from = up.ordinal,
            _ => return Ok(Some((from, offset))),
        }
    }
    Err("its base chain loops back to itself".to_string())
}

/// Hashes a payload's own bytes into `hasher` (which holds its prefix),
/// leaving a clone in `waiting` for each payload that starts at an offset
/// of it; returns the payload's hash.
fn hash_own(
    payload: &ColdPayload,
    mut hasher: blake3::Hasher,
    requests: &[(u64, u32)],
    waiting: &mut BTreeMap<u32, blake3::Hasher>,
    stream: &mut StreamReader<'_>,
) -> Result<Hash, String> {
    let mut at = payload.base.map_or(0, |base| base.prefix_bytes);
    let mut next = requests.iter().peekable();
    for &Extent { start, len } in &payload.extents {
        stream(start, len as usize, &mut |mut slice: &[u8]| {
            while let Some(&&(offset, child)) = next.peek() {
                if offset > at + slice.len() as u64 {
                    break;
                }
                let cut = offset.saturating_sub(at) as usize;
                hasher.update(&slice[..cut]);
                at += cut as u64;
                slice = &slice[cut..];
                waiting.insert(child, hasher.clone());
                next.next();
            }
            hasher.update(slice);
            at += slice.len() as u64;
        })?;
    }
    for &(offset, child) in next {
        if offset != at {
            return Err(format!(
                "pack ordinal {child} continues it at byte {offset}, past its {at} bytes"
            ));
        }
        waiting.insert(child, hasher.clone());
    }
    Ok(Hash(*hasher.finalize().as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::pack::ColdBase;

    /// A payload to build: its base (ordinal, bytes shared) and own bytes.
    type Spec<'a> = (Option<(u32, u64)>, &'a [u8]);

    /// A stream and payloads built from specs, with their true hashes.
    fn build(specs: &[Spec<'_>]) -> (Vec<u8>, Vec<ColdPayload>, Vec<Hash>) {
        let mut stream = Vec::new();
        let mut payloads: Vec<ColdPayload> = Vec::new();
        let mut contents: Vec<Vec<u8>> = Vec::new();
        for (base, own) in specs {
            let mut content = Vec::new();
            if let Some((ordinal, shared)) = base {
                content.extend_from_slice(&contents[*ordinal as usize][..*shared as usize]);
            }
            content.extend_from_slice(own);
            // Two extents per payload when it has two bytes or more, so
            // requests fall inside, between and at the end of extents.
            let mut extents = Vec::new();
            let half = own.len() / 2;
            for part in [&own[..half], &own[half..]] {
                if !part.is_empty() {
                    extents.push(Extent {
                        start: stream.len() as u64,
                        len: part.len() as u32,
                    });
                    stream.extend_from_slice(part);
                }
            }
            payloads.push(ColdPayload {
                hash: Hash([0; 32]),
                size: content.len() as u64,
                base: base.map(|(ordinal, prefix_bytes)| ColdBase {
                    ordinal,
                    prefix_bytes,
                    depth: 1,
                }),
                extents,
            });
            contents.push(content);
        }
        let hashes = contents.iter().map(|c| Hash::of(c)).collect();
        (stream, payloads, hashes)
    }

    fn run(
        stream: &[u8],
        payloads: &[ColdPayload],
        checks: &[[u8; 4]],
    ) -> Vec<Result<Hash, String>> {
        let mut reader = |start: u64, len: usize, sink: &mut dyn FnMut(&[u8])| {
            let slice = stream
                .get(start as usize..start as usize + len)
                .ok_or("beyond the stream")?;
            // Hand it over in pieces of 3 bytes, as frames would.
            for piece in slice.chunks(3) {
                sink(piece);
            }
            Ok(())
        };
        derive_hashes(payloads, checks, &mut reader)
    }

    #[test]
    fn derives_hashes_through_bases_of_bases_in_any_order() {
        let (stream, payloads, hashes) = build(&[
            (None, b"system prompt, tools, first message"),
            (Some((0, 35)), b" and a reply"),
            // Shares only what its base's base supplies.
            (Some((1, 10)), b" stops early"),
            // Shares the whole of its base.
            (Some((1, 47)), b""),
            (None, b""),
            (Some((2, 0)), b"shares nothing"),
        ]);
        let checks: Vec<_> = hashes.iter().map(check_of).collect();
        let derived = run(&stream, &payloads, &checks);
        for (ordinal, (got, want)) in derived.iter().zip(&hashes).enumerate() {
            assert_eq!(got.as_ref().ok(), Some(want), "ordinal {ordinal}: {got:?}");
        }
        // A base numbered after the payload that continues it.
        let (stream, mut payloads, hashes) =
            build(&[(None, b"the base comes second"), (Some((0, 8)), b"!")]);
        payloads.swap(0, 1);
        payloads[0].base.as_mut().unwrap().ordinal = 1;
        let checks = [check_of(&hashes[1]), check_of(&hashes[0])];
        let derived = run(&stream, &payloads, &checks);
        assert_eq!(derived[0].as_ref().ok(), Some(&hashes[1]));
        assert_eq!(derived[1].as_ref().ok(), Some(&hashes[0]));
    }

    #[test]
    fn names_damage_and_what_it_takes_with_it() {
        let (mut stream, payloads, hashes) = build(&[
            (None, b"a first payload"),
            (Some((0, 15)), b", continued"),
            (Some((1, 26)), b", and again"),
            (None, b"unrelated"),
        ]);
        let checks: Vec<_> = hashes.iter().map(check_of).collect();
        // A flipped byte of payload 0's own bytes: its check fails, and so
        // do those of the payloads that share it.
        stream[3] ^= 1;
        let derived = run(&stream, &payloads, &checks);
        let message = derived[0].as_ref().unwrap_err();
        assert!(message.contains("does not match"), "{message}");
        assert!(derived[1].is_err() && derived[2].is_err());
        assert_eq!(derived[3].as_ref().ok(), Some(&hashes[3]));

        // A stream too short: payload 1 cannot be read, payload 2 is named
        // as continuing a damaged base.
        stream[3] ^= 1;
        stream.truncate(20);
        let derived = run(&stream, &payloads, &checks);
        assert_eq!(derived[0].as_ref().ok(), Some(&hashes[0]));
        assert_eq!(derived[1].as_ref().unwrap_err(), "beyond the stream");
        let message = derived[2].as_ref().unwrap_err();
        assert!(
            message.contains("its base, pack ordinal 1, is damaged"),
            "{message}"
        );

        // Bases that loop, and sizes that do not add up.
        let (stream, mut payloads, hashes) = build(&[(None, b"abc"), (Some((0, 2)), b"d")]);
        payloads[0].base = Some(ColdBase {
            ordinal: 1,
            prefix_bytes: 1,
            depth: 1,
        });
        payloads[0].size += 1;
        let checks: Vec<_> = hashes.iter().map(check_of).collect();
        let derived = run(&stream, &payloads, &checks);
        for result in &derived {
            assert!(result.as_ref().unwrap_err().contains("loops"), "{result:?}");
        }
        payloads[0].base = None;
        let derived = run(&stream, &payloads, &checks);
        assert!(
            derived[0]
                .as_ref()
                .unwrap_err()
                .contains("do not make its 4 bytes")
        );
    }
}
