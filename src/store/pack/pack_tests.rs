//! A pack written with small limits (frames, blocks and dictionaries of a
//! few KiB), so that a test of a few hundred events crosses every boundary
//! the real sizes put megabytes apart.

use std::collections::HashMap;

use super::build::{Limits, PackBuilder, PayloadFeed};
use super::encoding::{IndexHead, decode_index, encode_index};
use super::{ColdBase, ColdPayload, Extent, PACK_ZSTD_LEVEL, Pack, PackPointer};
use crate::error::{Error, Result};
use crate::event::{Event, EventPayload, Hash, PayloadKind, PayloadRef};

/// Each block's payloads (about 32 KB of stream) take more than twice the
/// dictionary's limit, so the builder trims the bytes it keeps for it, and
/// every dictionary spans frames.
const LIMITS: Limits = Limits {
    frame_raw_bytes: 4 * 1024,
    block_events: 50,
    block_raw_bytes: 1024 * 1024,
    dict_max_bytes: 8 * 1024,
};

/// The payloads a pack is built from, as a store would give them.
#[derive(Default)]
struct Feed {
    bytes: HashMap<Hash, Vec<u8>>,
    bases: HashMap<Hash, (Hash, u64, u8)>,
}

impl Feed {
    fn add(&mut self, bytes: Vec<u8>) -> Hash {
        let hash = Hash::of(&bytes);
        self.bytes.insert(hash, bytes);
        hash
    }
}

impl PayloadFeed for Feed {
    fn size(&mut self, hash: &Hash) -> Result<u64> {
        self.bytes
            .get(hash)
            .map(|bytes| bytes.len() as u64)
            .ok_or(Error::UnknownPayload(*hash))
    }

    fn base(&mut self, hash: &Hash) -> Result<Option<(Hash, u64, u8)>> {
        Ok(self.bases.get(hash).copied())
    }

    fn bytes(&mut self, hash: &Hash) -> Result<Vec<u8>> {
        self.bytes
            .get(hash)
            .cloned()
            .ok_or(Error::UnknownPayload(*hash))
    }
}

/// Pseudo-random lowercase text (xorshift), the same for the same seed.
fn text(seed: &mut u64, len: usize) -> String {
    (0..len)
        .map(|n| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            if n % 6 == 5 {
                ' '
            } else {
                char::from(b'a' + (*seed % 26) as u8)
            }
        })
        .collect()
}

fn note(seq: u64, id: &str, hash: Hash, size: u64) -> Event {
    Event {
        seq,
        wall_time_unix_ms: 1_700_000_000_000 + seq as i64 * 17,
        thread_id: Some("root".into()),
        codex_turn_id: None,
        payload: EventPayload::ProtocolEventObserved {
            // An id the payload holds too: what the block's dictionary
            // is for.
            event_type: id.to_string(),
            event_payload: PayloadRef {
                kind: PayloadKind::ProtocolEvent,
                hash,
                size_bytes: size,
            },
        },
    }
}

/// Three rollouts: "long" cites a new payload per event (every fifth a
/// delta of the one before), "reuse" only payloads "long" wrote, "ticks"
/// none.
fn rollouts(feed: &mut Feed) -> Vec<Vec<Event>> {
    let mut seed = 0x9E37_79B9_7F4A_7C15;
    let mut long = Vec::new();
    let mut previous: Option<(Hash, Vec<u8>)> = None;
    for seq in 1..=180u64 {
        let id = format!("call_{}", text(&mut seed, 12).replace(' ', "x"));
        let bytes = match &previous {
            Some((base, base_bytes)) if seq % 5 == 0 => {
                let mut bytes = base_bytes.clone();
                bytes.extend_from_slice(format!(" then {id}").as_bytes());
                let hash = Hash::of(&bytes);
                feed.bases.insert(hash, (*base, base_bytes.len() as u64, 1));
                bytes
            }
            _ => format!("{{\"id\":\"{id}\",\"text\":\"{}\"}}", text(&mut seed, 600)).into_bytes(),
        };
        let size = bytes.len() as u64;
        let hash = feed.add(bytes.clone());
        long.push(note(seq, &id, hash, size));
        previous = Some((hash, bytes));
    }
    let reuse = (1..=30u64)
        .map(|seq| {
            let cited = &long[(seq * 5) as usize];
            let mut event = cited.clone();
            event.seq = seq;
            event
        })
        .collect();
    let ticks = (1..=70u64)
        .map(|seq| Event {
            seq,
            wall_time_unix_ms: seq as i64,
            thread_id: None,
            codex_turn_id: Some(format!("turn-{seq}")),
            payload: EventPayload::ThreadEnded {
                thread_id: "root".into(),
                status: crate::event::RolloutStatus::Completed,
            },
        })
        .collect();
    vec![long, reuse, ticks]
}

/// A pack of [`rollouts`] in a new directory: the directory, the rollouts'
/// events (rollout *i* is number *i* + 1) and the pack's pointer.
fn built() -> (tempfile::TempDir, Vec<Vec<Event>>, PackPointer) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut feed = Feed::default();
    let rollouts = rollouts(&mut feed);
    let mut builder = PackBuilder::with_limits(dir.path(), 1, LIMITS).expect("create");
    for (num, events) in rollouts.iter().enumerate() {
        builder
            .add_rollout(num as u64 + 1, events.iter().cloned().map(Ok), &mut feed)
            .expect("add rollout");
    }
    let pointer = builder.finish(&mut feed).expect("finish");
    (dir, rollouts, pointer)
}

#[test]
fn blocks_read_back_through_dictionaries_that_span_frames_and_never_overlap() {
    let (dir, rollouts, pointer) = built();
    let pack = Pack::open(dir.path(), &pointer).expect("open");
    assert!(pack.frames().len() > 5, "{} frames", pack.frames().len());
    for (num, events) in rollouts.iter().enumerate() {
        let rollout = pack.rollout(num as u64 + 1).expect("rollout");
        let mut read = Vec::new();
        for block in &rollout.blocks {
            for event in pack.read_block("r", block).expect("block") {
                read.push(event.expect("event"));
            }
        }
        assert!(read == *events, "rollout {num} reads back as written");
    }
    let blocks = |num: u64| pack.rollout(num).expect("rollout").blocks.clone();
    let long = blocks(1);
    assert_eq!(long.len(), 4);
    let mut dict_end = 0;
    for (position, block) in long.iter().enumerate() {
        let dict = block
            .dict
            .expect("a block citing new payloads has a dictionary");
        // The stream bytes written for the block, at most the limit
        // (each block's payloads take more): dictionaries never overlap,
        // so each stream byte is loaded as a dictionary once at most.
        assert_eq!(dict.len as usize, LIMITS.dict_max_bytes, "block {position}");
        assert!(dict.start >= dict_end, "block {position}");
        dict_end = dict.start + u64::from(dict.len);
        let first_frame = dict.start / LIMITS.frame_raw_bytes as u64;
        let last_frame = (dict_end - 1) / LIMITS.frame_raw_bytes as u64;
        assert!(last_frame > first_frame, "block {position} spans frames");
        // The dictionary is what makes the block small: the ids.
        let mut prefix = Vec::new();
        pack.read_stream(dict.start, dict.len as usize, &mut prefix)
            .expect("dictionary");
        let raw = super::read_piece(
            &pack.file,
            &block.piece,
            Some(block.piece.raw_len),
            "its index says",
            &prefix,
        )
        .expect("raw block");
        let alone = zstd::bulk::compress(&raw, PACK_ZSTD_LEVEL).expect("compress");
        assert!(
            (block.piece.len as usize) < alone.len(),
            "block {position}: {} bytes with its dictionary, {} alone",
            block.piece.len,
            alone.len()
        );
    }
    // The last block's dictionary ends at the end of the stream "long"
    // wrote; "reuse" and "ticks" wrote none, so theirs have none.
    assert_eq!(dict_end, pack.stream_bytes());
    assert!(blocks(2).iter().chain(&blocks(3)).all(|b| b.dict.is_none()));
}

#[test]
fn a_damaged_frame_in_a_dictionary_fails_that_block_naming_it_and_no_other() {
    let (dir, _, pointer) = built();
    let (first_dict, last_dict) = {
        let pack = Pack::open(dir.path(), &pointer).expect("open");
        let long = &pack.rollout(1).expect("rollout").blocks;
        (long[0].dict.expect("dict"), long[3].dict.expect("dict"))
    };
    // A byte of the frame holding the first block's dictionary's last
    // byte, which the last block's dictionary does not reach.
    let frame = ((first_dict.start + u64::from(first_dict.len) - 1) / LIMITS.frame_raw_bytes as u64)
        as usize;
    assert!((frame as u64 + 1) * (LIMITS.frame_raw_bytes as u64) <= last_dict.start);
    let path = dir.path().join(pointer.file_name());
    let piece = {
        let pack = Pack::open(dir.path(), &pointer).expect("open");
        pack.frames()[frame]
    };
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[(piece.offset + u64::from(piece.len) / 2) as usize] ^= 0x20;
    std::fs::write(&path, bytes).expect("write");

    let pack = Pack::open(dir.path(), &pointer).expect("the index still opens");
    let long = &pack.rollout(1).expect("rollout").blocks;
    let (seq, message) = pack.read_block("r", &long[0]).expect_err("block 0 fails");
    assert_eq!(seq, 1);
    assert!(
        message.contains("its dictionary in the stream")
            && message.contains(&format!("stream frame {frame}")),
        "{message}"
    );
    let last = pack
        .read_block("r", &long[3])
        .expect("the last block decodes");
    assert!(last.iter().all(Result::is_ok), "its payloads are whole");
    let ticks = &pack.rollout(3).expect("rollout").blocks;
    assert!(pack.read_block("t", &ticks[0]).is_ok());
}

/// Payloads for an index: (base ordinal, bytes shared), own bytes.
fn payloads(specs: &[(Option<(u32, u64)>, u32)]) -> Vec<ColdPayload> {
    let mut start = 0;
    let mut out = Vec::new();
    for (base, own) in specs {
        out.push(ColdPayload {
            hash: Hash([0; 32]),
            size: base.map_or(0, |(_, shared)| shared) + u64::from(*own),
            base: base.map(|(base, prefix_bytes)| ColdBase {
                ordinal: base,
                prefix_bytes,
                depth: 1,
            }),
            extents: vec![Extent { start, len: *own }],
        });
        start += u64::from(*own);
    }
    out
}

fn index_of(payloads: &[ColdPayload]) -> Vec<u8> {
    let head = IndexHead {
        generation: 1,
        frames: Vec::new(),
        payloads: payloads.len() as u64,
        rollouts: 0,
    };
    encode_index(&head, payloads, &[]).expect("encode")
}

#[test]
fn the_index_derives_each_size_from_its_base_and_extents_and_refuses_loops() {
    // A base numbered after the payload that continues it, a chain of
    // three, one sharing all of its base, none sharing nothing.
    let written = payloads(&[
        (Some((2, 30)), 5),
        (None, 0),
        (None, 40),
        (Some((0, 35)), 0),
        (Some((3, 10)), 7),
    ]);
    let decoded = decode_index(&index_of(&written)).expect("decode");
    assert_eq!(decoded.payloads, written);

    // Payload 0's base is 1 and 1's is 0.
    let mut looped = payloads(&[(Some((1, 2)), 3), (Some((0, 2)), 3)]);
    looped[0].size = 5;
    looped[1].size = 5;
    let message = decode_index(&index_of(&looped))
        .err()
        .expect("a loop is refused");
    assert!(message.contains("form a loop"), "{message}");
}

/// Session-log lines: each a new item of ~2 KB; then a "compaction" that
/// re-persists every item so far inside one line, and a "fork" that copies
/// each line with a new timestamp. Whole chunks barely repeat (the copies'
/// edges differ), but the matcher cites the repeats: the stream holds
/// about the new items once, every payload reads back, and the reopened
/// pack derives every hash.
#[test]
fn near_duplicates_far_apart_are_cited_not_stored_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut feed = Feed::default();
    let mut seed = 0x2545_F491_4F6C_DD1D;
    let items: Vec<String> = (0..60)
        .map(|n| {
            format!(
                "{{\"type\":\"message\",\"n\":{n},\"text\":\"{}\"}}",
                text(&mut seed, 2000)
            )
        })
        .collect();
    let line = |ts: u64, item: &str| format!("{{\"timestamp\":\"{ts}\",\"payload\":{item}}}\n");
    let mut events = Vec::new();
    let mut cite = |feed: &mut Feed, bytes: String| {
        let size = bytes.len() as u64;
        let hash = feed.add(bytes.into_bytes());
        events.push(note(events.len() as u64 + 1, "line", hash, size));
        hash
    };
    let mut hashes = Vec::new();
    for (n, item) in items.iter().enumerate() {
        hashes.push(cite(&mut feed, line(n as u64, item)));
    }
    hashes.push(cite(
        &mut feed,
        format!("{{\"replacement_history\":[{}]}}\n", items.join(",")),
    ));
    for (n, item) in items.iter().enumerate() {
        hashes.push(cite(&mut feed, line(1_000_000 + n as u64, item)));
    }
    let unique: usize = hashes.iter().map(|hash| feed.bytes[hash].len()).sum();
    let new: usize = items.iter().map(String::len).sum();

    let mut builder = PackBuilder::with_limits(dir.path(), 1, LIMITS).expect("create");
    builder
        .add_rollout(1, events.iter().cloned().map(Ok), &mut feed)
        .expect("add rollout");
    let pointer = builder.finish(&mut feed).expect("finish");
    let pack = Pack::open(dir.path(), &pointer).expect("open");
    let stream = pack.stream_bytes() as usize;
    assert!(
        stream < new + new / 10,
        "{stream} stream bytes for {new} bytes of new items ({unique} unique payload bytes)"
    );
    for hash in &hashes {
        let ordinal = pack.ordinal(hash).expect("its hash is derived");
        let mut bytes = Vec::new();
        let size = feed.bytes[hash].len();
        pack.append_prefix(ordinal, size, &mut bytes, 8, &|_| None)
            .expect("read");
        assert!(bytes == feed.bytes[hash], "payload {hash} reads back");
    }
}
