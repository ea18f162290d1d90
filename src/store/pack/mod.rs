//! The cold tier: one immutable pack file per store (format 2).
//!
//! The hot tier is format 1's sled records (chunks, recipes, events), which
//! appends write with group commit. A compaction (`compact.rs`) moves every
//! live record into a new pack file: the store's unique payload bytes as
//! one stream cut into zstd frames of up to [`FRAME_RAW_BYTES`], compressed
//! together so that zstd sees their shared context; every rollout's events
//! in compressed blocks (each against the stream bytes written for it, as a
//! dictionary), citing payloads by their ordinal in the pack; and
//! an index. sled then keeps only the manifests, the rollout ids, and a
//! pointer to the pack (`Mpack`). See DESIGN.md, "On-disk format", for the
//! byte tables.
//!
//! The pack stores no payload hash: opening it derives every payload's
//! BLAKE3 from the stream (`derive.rs`) and checks it against the few
//! bytes of it the index keeps. Reads check every frame and block against
//! the CRC-32 its index entry holds, and every payload against its BLAKE3,
//! as in the hot tier.

// Hash maps of content hashes serve as lookups here; their order never
// reaches any output.
#![allow(clippy::disallowed_types)]

mod build;
mod derive;
mod encoding;
mod matcher;
#[cfg(test)]
mod pack_tests;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bincode::{Decode, Encode};

use crate::error::{Error, Result};
use crate::event::{Event, Hash, Seq};
pub(super) use build::{PackBuilder, PayloadFeed};

/// The first 8 bytes of a pack file: the last byte is the pack's version,
/// 4. Versions 2 (each payload's whole hash stored) and 3 (event blocks
/// compressed alone, sizes stored) were written only by development builds
/// of format 2; nothing reads them.
pub(super) const PACK_MAGIC: [u8; 8] = *b"TFPACK\x00\x04";
/// The last 8 bytes of a pack file.
pub(super) const FOOTER_MAGIC: [u8; 8] = *b"TFPKEND\x04";
/// Header: magic, then the pack's generation (u64 LE).
pub(super) const HEADER_BYTES: u64 = 16;
/// Footer: index offset (u64 LE), index length (u64 LE), CRC-32 of the
/// index frame (u32 LE), magic.
pub(super) const FOOTER_BYTES: u64 = 28;
/// Uncompressed bytes of payload stream per frame (the last may hold
/// fewer). A read decompresses only the frames its bytes span, each only up
/// to its last byte needed (see [`Pack::frame_upto`]). A writer's choice:
/// the index gives every frame's length. 1 MiB: 4 MiB frames took 7% less
/// disk on the 200-turn demo's stream but a read of one small payload of a
/// 100k-payload store took several milliseconds (BENCHMARKS.md).
pub(super) const FRAME_RAW_BYTES: usize = 1024 * 1024;
/// Events per block at most, and uncompressed bytes per block (a block
/// closes at the first event past it).
pub(super) const BLOCK_EVENTS_MAX: usize = 4096;
pub(super) const BLOCK_RAW_BYTES: usize = 1024 * 1024;
/// Stream bytes at most that an event block is compressed against (the
/// last of those written for it: its payloads and their bases). Reading
/// the block decompresses them first (up to five frames); 4 MiB covered the
/// whole 200-turn demo's stream (2.9 MB, one block), which saved 20 KB of
/// its 57 KB of events, against 14 KB with 2 MiB (BENCHMARKS.md).
pub(super) const DICT_MAX_BYTES: usize = 4 * 1024 * 1024;
/// zstd level of frames, blocks and the index: compaction is where the
/// store spends CPU to save disk.
pub(super) const PACK_ZSTD_LEVEL: i32 = 19;
/// Decompressed bytes of frames kept for the next read (a conversation's
/// requests, read in order, reuse the frames their bases were read from).
const FRAME_CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Decompressed frames kept while a pack's hashes are derived (on its first
/// use): the whole stream of most stores, each frame decompressed once.
const DERIVE_KEEP_BYTES: usize = 256 * 1024 * 1024;

/// The sled record (`Mpack`) that names the store's pack: written in the
/// same database swap that drops the records the pack replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub(super) struct PackPointer {
    /// The pack's generation: its file is `pack-{generation:016x}.tfpack`.
    pub generation: u64,
    /// The file's length, checked when it is opened.
    pub file_bytes: u64,
    /// The CRC-32 of its index frame (also in its footer).
    pub index_crc: u32,
    /// The largest rollout number in the pack (0: none): a new rollout
    /// takes a larger one, so it never inherits a deleted rollout's events.
    pub max_rollout_num: u64,
}

impl PackPointer {
    pub(super) fn file_name(&self) -> String {
        pack_file_name(self.generation)
    }
}

pub(super) fn pack_file_name(generation: u64) -> String {
    format!("pack-{generation:016x}.tfpack")
}

/// One compressed piece of a pack: a stream frame, an event block or the
/// index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub(super) struct Piece {
    /// Offset in the file.
    pub offset: u64,
    /// Compressed length.
    pub len: u32,
    /// Uncompressed length.
    pub raw_len: u32,
    /// CRC-32 of the compressed bytes.
    pub crc: u32,
}

/// A payload in the pack, named by its ordinal (its position in the index).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub(super) struct ColdPayload {
    /// Derived when the pack opens (zero when it could not be: see
    /// [`Pack::damage`]).
    pub hash: Hash,
    pub size: u64,
    /// The payload's first `prefix_bytes` are its base's (an ordinal in
    /// the same pack); its own bytes follow.
    pub base: Option<ColdBase>,
    /// The payload's own bytes: ranges of the stream, in order.
    pub extents: Vec<Extent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub(super) struct ColdBase {
    pub ordinal: u32,
    pub prefix_bytes: u64,
    pub depth: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub(super) struct Extent {
    pub start: u64,
    pub len: u32,
}

/// A rollout's events in the pack: seq `1..=event_count`, in blocks.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub(super) struct ColdRollout {
    pub rollout_num: u64,
    pub event_count: u64,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub(super) struct Block {
    pub piece: Piece,
    pub first_seq: Seq,
    pub count: u32,
    /// The stream bytes the block was compressed against (a raw-content
    /// zstd prefix), if any: reading the block needs them.
    pub dict: Option<Extent>,
}

/// An opened pack: its file and its decoded index.
pub(super) struct Pack {
    path: PathBuf,
    file: File,
    frames: Vec<Piece>,
    /// Stream offset at which each frame starts.
    frame_starts: Vec<u64>,
    stream_bytes: u64,
    payloads: Vec<ColdPayload>,
    by_hash: HashMap<Hash, u32>,
    /// Payloads whose hash could not be derived, and why.
    damaged: BTreeMap<u32, String>,
    rollouts: HashMap<u64, ColdRollout>,
    /// Frames decompressed lately, least recently used first: each the
    /// frame's first bytes (a prefix, or all of it).
    cache: Mutex<Vec<(usize, Arc<[u8]>)>>,
    file_bytes: u64,
}

impl Pack {
    /// Opens the pack `pointer` names in `dir` and reads its index.
    pub(super) fn open(dir: &Path, pointer: &PackPointer) -> Result<Pack> {
        let path = dir.join(pointer.file_name());
        let fail =
            |message: String| Error::CorruptData(format!("pack {}: {message}", path.display()));
        let file = File::open(&path).map_err(|err| fail(format!("cannot open: {err}")))?;
        let file_bytes = file
            .metadata()
            .map_err(|err| fail(format!("cannot inspect: {err}")))?
            .len();
        if file_bytes != pointer.file_bytes {
            return Err(fail(format!(
                "{file_bytes} bytes, the store's pointer says {}",
                pointer.file_bytes
            )));
        }
        if file_bytes < HEADER_BYTES + FOOTER_BYTES {
            return Err(fail(format!("{file_bytes} bytes, too short for a pack")));
        }
        let mut header = [0u8; HEADER_BYTES as usize];
        read_at(&file, 0, &mut header).map_err(&fail)?;
        if header[..8] != PACK_MAGIC {
            if header[..7] == PACK_MAGIC[..7] {
                return Err(fail(format!(
                    "pack version {} is not supported (this build reads version {}; \
                     versions 2 and 3 came from development builds: export its rollouts \
                     with that build and import them again)",
                    header[7], PACK_MAGIC[7]
                )));
            }
            return Err(fail("no pack header".into()));
        }
        let mut footer = [0u8; FOOTER_BYTES as usize];
        read_at(&file, file_bytes - FOOTER_BYTES, &mut footer).map_err(&fail)?;
        let footer = Footer::decode(&footer).ok_or_else(|| fail("no pack footer".into()))?;
        if footer.index_crc != pointer.index_crc {
            return Err(fail(format!(
                "index checksum {:08x}, the store's pointer says {:08x}",
                footer.index_crc, pointer.index_crc
            )));
        }
        let index_piece = Piece {
            offset: footer.index_offset,
            len: u32::try_from(footer.index_len).map_err(|_| fail("index too large".into()))?,
            raw_len: 0,
            crc: footer.index_crc,
        };
        let raw = read_piece(&file, &index_piece, None, "the footer says", &[])
            .map_err(|err| fail(format!("index: {err}")))?;
        let mut pack = encoding::decode_index(&raw).map_err(|err| fail(format!("index: {err}")))?;
        if pack.generation != pointer.generation {
            return Err(fail(format!(
                "generation {}, the store's pointer says {}",
                pack.generation, pointer.generation
            )));
        }
        let mut frame_starts = Vec::with_capacity(pack.frames.len());
        let mut stream_bytes = 0u64;
        for frame in &pack.frames {
            frame_starts.push(stream_bytes);
            stream_bytes += u64::from(frame.raw_len);
        }
        let rollouts = std::mem::take(&mut pack.rollouts)
            .into_iter()
            .map(|rollout| (rollout.rollout_num, rollout))
            .collect();
        let mut opened = Pack {
            path,
            file,
            frames: pack.frames,
            frame_starts,
            stream_bytes,
            payloads: pack.payloads,
            by_hash: HashMap::new(),
            damaged: BTreeMap::new(),
            rollouts,
            cache: Mutex::new(Vec::new()),
            file_bytes,
        };
        opened.derive_hashes(&pack.checks);
        Ok(opened)
    }

    /// Hashes every payload again from the stream (the index keeps only a
    /// check of each). Payloads cite stream bytes anywhere before their
    /// own (the matcher's references), so the frames read are kept for the
    /// whole pass, up to [`DERIVE_KEEP_BYTES`] of them; past that, reads go
    /// through the shared cache.
    fn derive_hashes(&mut self, checks: &[[u8; derive::CHECK_BYTES]]) {
        let derived = {
            let pack = &*self;
            let mut kept: Vec<Option<Arc<[u8]>>> = vec![None; pack.frames.len()];
            let mut kept_bytes = 0usize;
            let mut frame_whole = |index: usize, _: usize| -> Result<Arc<[u8]>> {
                if let Some(bytes) = &kept[index] {
                    return Ok(Arc::clone(bytes));
                }
                let bytes = pack.frame(index)?;
                if kept_bytes + bytes.len() <= DERIVE_KEEP_BYTES {
                    kept_bytes += bytes.len();
                    kept[index] = Some(Arc::clone(&bytes));
                }
                Ok(bytes)
            };
            let mut reader = |start: u64, len: usize, sink: &mut dyn FnMut(&[u8])| {
                pack.stream_range(start, len, &mut frame_whole, sink)
                    .map_err(|err| err.to_string())
            };
            derive::derive_hashes(&self.payloads, checks, &mut reader)
        };
        self.by_hash.reserve(derived.len());
        for (ordinal, result) in derived.into_iter().enumerate() {
            match result {
                Ok(hash) => {
                    self.payloads[ordinal].hash = hash;
                    self.by_hash.entry(hash).or_insert(ordinal as u32);
                }
                Err(message) => {
                    self.damaged.insert(ordinal as u32, message);
                }
            }
        }
    }

    pub(super) fn file_bytes(&self) -> u64 {
        self.file_bytes
    }

    pub(super) fn frames(&self) -> &[Piece] {
        &self.frames
    }

    pub(super) fn stream_bytes(&self) -> u64 {
        self.stream_bytes
    }

    pub(super) fn payloads(&self) -> &[ColdPayload] {
        &self.payloads
    }

    pub(super) fn rollouts(&self) -> impl Iterator<Item = &ColdRollout> {
        self.rollouts.values()
    }

    pub(super) fn rollout(&self, rollout_num: u64) -> Option<&ColdRollout> {
        self.rollouts.get(&rollout_num)
    }

    /// Why payload `ordinal`'s hash could not be derived, if it could not:
    /// the pack cannot give its bytes, nor the events that cite it.
    pub(super) fn damage(&self, ordinal: u32) -> Option<&str> {
        self.damaged.get(&ordinal).map(String::as_str)
    }

    /// The ordinal of the payload hashing to `hash`, if the pack holds it.
    pub(super) fn ordinal(&self, hash: &Hash) -> Option<u32> {
        self.by_hash.get(hash).copied()
    }

    pub(super) fn payload(&self, ordinal: u32) -> Result<&ColdPayload> {
        self.payloads.get(ordinal as usize).ok_or_else(|| {
            Error::CorruptData(format!(
                "pack {}: payload ordinal {ordinal} out of range",
                self.path.display()
            ))
        })
    }

    /// Payload `ordinal`, failing when the pack could not derive its hash.
    pub(super) fn sound_payload(&self, ordinal: u32) -> Result<&ColdPayload> {
        match self.damage(ordinal) {
            Some(message) => Err(Error::CorruptData(format!(
                "pack {}: payload ordinal {ordinal}: {message}",
                self.path.display()
            ))),
            None => self.payload(ordinal),
        }
    }

    /// Appends the first `limit` bytes of payload `ordinal` to `out`.
    /// `base_bytes` may supply a base's bytes already assembled (and
    /// verified); `depth_left` bounds the base chain.
    pub(super) fn append_prefix(
        &self,
        ordinal: u32,
        limit: usize,
        out: &mut Vec<u8>,
        depth_left: usize,
        cached: &dyn Fn(&Hash) -> Option<Arc<[u8]>>,
    ) -> Result<()> {
        let payload = self.sound_payload(ordinal)?;
        let mut own_start = 0usize;
        if let Some(base) = payload.base {
            if depth_left <= 1 {
                return Err(Error::CorruptData(format!(
                    "payload {}: base chain too deep in pack {}",
                    payload.hash,
                    self.path.display()
                )));
            }
            let prefix = usize::try_from(base.prefix_bytes).unwrap_or(usize::MAX);
            let wanted = prefix.min(limit);
            let base_hash = self.payload(base.ordinal)?.hash;
            match cached(&base_hash) {
                Some(bytes) if bytes.len() >= prefix => out.extend_from_slice(&bytes[..wanted]),
                _ => self.append_prefix(base.ordinal, wanted, out, depth_left - 1, cached)?,
            }
            own_start = prefix;
        }
        if limit <= own_start {
            return Ok(());
        }
        let mut remaining = limit - own_start;
        for extent in &payload.extents {
            if remaining == 0 {
                break;
            }
            let take = (extent.len as usize).min(remaining);
            self.read_stream(extent.start, take, out)?;
            remaining -= take;
        }
        if remaining > 0 {
            return Err(Error::CorruptData(format!(
                "payload {}: its extents end {remaining} bytes short in pack {}",
                payload.hash,
                self.path.display()
            )));
        }
        Ok(())
    }

    /// Appends `len` bytes of the stream from `start` to `out`.
    fn read_stream(&self, start: u64, len: usize, out: &mut Vec<u8>) -> Result<()> {
        self.stream_range(
            start,
            len,
            &mut |frame, to| self.frame_upto(frame, to),
            &mut |bytes| out.extend_from_slice(bytes),
        )
    }

    /// Hands `len` bytes of the stream from `start` to `sink`, a slice per
    /// frame; `frame_upto(i, n)` gives frame `i` decompressed at least to
    /// byte `n`.
    fn stream_range(
        &self,
        start: u64,
        len: usize,
        frame_upto: &mut dyn FnMut(usize, usize) -> Result<Arc<[u8]>>,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<()> {
        let end = start
            .checked_add(len as u64)
            .filter(|end| *end <= self.stream_bytes);
        let Some(end) = end else {
            return Err(Error::CorruptData(format!(
                "pack {}: extent {start}+{len} beyond the stream's {} bytes",
                self.path.display(),
                self.stream_bytes
            )));
        };
        let mut at = start;
        while at < end {
            let frame = self.frame_starts.partition_point(|s| *s <= at) - 1;
            let frame_start = self.frame_starts[frame];
            let raw_len = self.frames[frame].raw_len as usize;
            let from = (at - frame_start) as usize;
            let to = ((end - frame_start) as usize).min(raw_len);
            let bytes = frame_upto(frame, to)?;
            sink(&bytes[from..to]);
            at += (to - from) as u64;
        }
        Ok(())
    }

    /// Frame `index`, decompressed whole (checked to be as long as the
    /// index says).
    pub(super) fn frame(&self, index: usize) -> Result<Arc<[u8]>> {
        self.frame_upto(index, self.frames[index].raw_len as usize)
    }

    /// Frame `index` decompressed at least up to byte `needed` (at most its
    /// length): from the cache when there. A frame not in the cache is
    /// decompressed only up to `needed` (one small payload of a 1 MiB frame
    /// costs half the frame on average); a frame whose cached prefix falls
    /// short is decompressed whole, so reading a frame front to back costs
    /// at most one and a half decompressions of it.
    pub(super) fn frame_upto(&self, index: usize, needed: usize) -> Result<Arc<[u8]>> {
        let piece = self.frames[index];
        let needed = needed.min(piece.raw_len as usize);
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let cached = cache.iter().position(|(cached, _)| *cached == index);
        if let Some(position) = cached {
            let entry = cache.remove(position);
            if entry.1.len() >= needed {
                let bytes = Arc::clone(&entry.1);
                cache.push(entry);
                return Ok(bytes);
            }
        }
        drop(cache);
        let upto = if cached.is_some() {
            piece.raw_len as usize
        } else {
            needed
        };
        let bytes: Arc<[u8]> = read_frame_prefix(&self.file, &piece, upto)
            .map_err(|err| {
                Error::CorruptData(format!(
                    "pack {}: stream frame {index} at offset {}: {err}",
                    self.path.display(),
                    piece.offset
                ))
            })?
            .into();
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.retain(|(cached, _)| *cached != index);
        let mut kept: usize = cache.iter().map(|(_, bytes)| bytes.len()).sum();
        while !cache.is_empty() && kept + bytes.len() > FRAME_CACHE_BYTES {
            kept -= cache.remove(0).1.len();
        }
        cache.push((index, Arc::clone(&bytes)));
        Ok(bytes)
    }

    /// Decodes one event block of rollout `rollout_id` into events,
    /// resolving payload ordinals: one entry per event, an error for one
    /// that cites a damaged payload; the whole block fails when it cannot
    /// be decoded (nor when its dictionary, a range of the stream, cannot
    /// be read). Each block's context starts empty: its first event's wall
    /// time is a delta from 0.
    pub(super) fn read_block(
        &self,
        rollout_id: &str,
        block: &Block,
    ) -> std::result::Result<Vec<std::result::Result<Event, String>>, (Seq, String)> {
        let fail = |err: String| {
            (
                block.first_seq,
                format!(
                    "its block at offset {} of pack {}: {err}",
                    block.piece.offset,
                    self.path.display()
                ),
            )
        };
        let mut prefix = Vec::new();
        if let Some(dict) = block.dict {
            prefix.reserve(dict.len as usize);
            self.read_stream(dict.start, dict.len as usize, &mut prefix)
                .map_err(|err| fail(format!("its dictionary in the stream: {err}")))?;
        }
        let raw = read_piece(
            &self.file,
            &block.piece,
            Some(block.piece.raw_len),
            "its index says",
            &prefix,
        )
        .map_err(fail)?;
        let mut events = Vec::with_capacity((block.count as usize).min(raw.len()));
        let mut context = encoding::BlockContext::default();
        let mut at = 0usize;
        for position in 0..u64::from(block.count) {
            let seq = block.first_seq + position;
            let (event, used) = context
                .decode(&raw[at..], seq, |ordinal| {
                    if let Some(damage) = self.damage(ordinal) {
                        return Err(format!(
                            "cites payload ordinal {ordinal} of pack {}, whose hash cannot be \
                             derived: {damage}",
                            self.path.display()
                        ));
                    }
                    self.payloads
                        .get(ordinal as usize)
                        .map(|payload| (payload.hash, payload.size))
                        .ok_or_else(|| {
                            format!("cites payload ordinal {ordinal}, beyond the pack's")
                        })
                })
                .map_err(|message| (seq, message))?;
            at += used;
            events.push(event);
        }
        if at != raw.len() {
            return Err((
                block.first_seq,
                format!(
                    "{} trailing bytes after the block's events ({rollout_id})",
                    raw.len() - at
                ),
            ));
        }
        Ok(events)
    }
}

struct Footer {
    index_offset: u64,
    index_len: u64,
    index_crc: u32,
}

impl Footer {
    fn encode(&self) -> [u8; FOOTER_BYTES as usize] {
        let mut out = [0u8; FOOTER_BYTES as usize];
        out[..8].copy_from_slice(&self.index_offset.to_le_bytes());
        out[8..16].copy_from_slice(&self.index_len.to_le_bytes());
        out[16..20].copy_from_slice(&self.index_crc.to_le_bytes());
        out[20..].copy_from_slice(&FOOTER_MAGIC);
        out
    }

    fn decode(bytes: &[u8; FOOTER_BYTES as usize]) -> Option<Footer> {
        if bytes[20..] != FOOTER_MAGIC {
            return None;
        }
        Some(Footer {
            index_offset: u64::from_le_bytes(bytes[..8].try_into().ok()?),
            index_len: u64::from_le_bytes(bytes[8..16].try_into().ok()?),
            index_crc: u32::from_le_bytes(bytes[16..20].try_into().ok()?),
        })
    }
}

fn read_at(file: &File, offset: u64, buf: &mut [u8]) -> std::result::Result<(), String> {
    file.read_exact_at(buf, offset)
        .map_err(|err| format!("cannot read {} bytes at offset {offset}: {err}", buf.len()))
}

/// Reads a piece's compressed bytes and checks their CRC against the one
/// `source` (the index or the footer) gives.
fn read_checked(file: &File, piece: &Piece, source: &str) -> std::result::Result<Vec<u8>, String> {
    let mut compressed = vec![0u8; piece.len as usize];
    read_at(file, piece.offset, &mut compressed)?;
    let crc = crc32fast::hash(&compressed);
    if crc != piece.crc {
        return Err(format!("checksum {crc:08x}, {source} {:08x}", piece.crc));
    }
    Ok(compressed)
}

/// Reads a stream frame, checks its CRC and decompresses its first `upto`
/// bytes: the whole frame (checked to be `raw_len` bytes exactly) when
/// `upto` is its length, else stopping there.
fn read_frame_prefix(
    file: &File,
    piece: &Piece,
    upto: usize,
) -> std::result::Result<Vec<u8>, String> {
    if upto >= piece.raw_len as usize {
        return read_piece(file, piece, Some(piece.raw_len), "its index says", &[]);
    }
    let compressed = read_checked(file, piece, "its index says")?;
    let mut out = vec![0u8; upto];
    let mut decoder = zstd::stream::raw::Decoder::new()
        .map_err(|err| format!("cannot start a zstd decoder: {err}"))?;
    let (mut read, mut written) = (0, 0);
    while written < upto {
        let status = zstd::stream::raw::Operation::run_on_buffers(
            &mut decoder,
            &compressed[read..],
            &mut out[written..],
        )
        .map_err(|err| format!("does not decompress: {err}"))?;
        read += status.bytes_read;
        written += status.bytes_written;
        if status.bytes_read == 0 && status.bytes_written == 0 {
            return Err(format!(
                "decompresses to {written} bytes, its index says {}",
                piece.raw_len
            ));
        }
    }
    Ok(out)
}

/// Reads a piece, checks its CRC (against the one `source` gives) and
/// decompresses it (to `raw_len` bytes exactly, when given), with `prefix`
/// as its raw-content dictionary when it is not empty (an event block's).
fn read_piece(
    file: &File,
    piece: &Piece,
    raw_len: Option<u32>,
    source: &str,
    prefix: &[u8],
) -> std::result::Result<Vec<u8>, String> {
    let compressed = read_checked(file, piece, source)?;
    let capacity = match raw_len {
        Some(len) => len as usize,
        None => zstd::zstd_safe::get_frame_content_size(&compressed)
            .ok()
            .flatten()
            .and_then(|len| usize::try_from(len).ok())
            .filter(|len| *len <= 1 << 30)
            .ok_or("no plausible content size in its zstd frame")?,
    };
    let zstd_error = |code| zstd::zstd_safe::get_error_name(code).to_string();
    let mut dctx = zstd::zstd_safe::DCtx::create();
    if !prefix.is_empty() {
        dctx.ref_prefix(prefix)
            .map_err(|code| format!("cannot take its dictionary: {}", zstd_error(code)))?;
    }
    let mut raw = Vec::with_capacity(capacity);
    dctx.decompress(&mut raw, &compressed)
        .map_err(|code| format!("does not decompress: {}", zstd_error(code)))?;
    if raw_len.is_some_and(|len| raw.len() != len as usize) {
        return Err(format!(
            "decompresses to {} bytes, its index says {}",
            raw.len(),
            capacity
        ));
    }
    Ok(raw)
}

/// Compresses `raw` into a piece at `offset`, with `prefix` as a
/// raw-content dictionary when it is not empty.
fn compress_piece(raw: &[u8], offset: u64, prefix: &[u8]) -> Result<(Piece, Vec<u8>)> {
    let compressed = if prefix.is_empty() {
        zstd::bulk::compress(raw, PACK_ZSTD_LEVEL)
            .map_err(|err| Error::io("compress a pack frame", err))?
    } else {
        compress_with_prefix(raw, prefix).map_err(|code| {
            Error::Other(format!(
                "compress an event block: {}",
                zstd::zstd_safe::get_error_name(code)
            ))
        })?
    };
    let piece = Piece {
        offset,
        len: u32::try_from(compressed.len())
            .map_err(|_| Error::CorruptData("pack frame over 4 GiB".into()))?,
        raw_len: u32::try_from(raw.len())
            .map_err(|_| Error::CorruptData("pack frame over 4 GiB".into()))?,
        crc: crc32fast::hash(&compressed),
    };
    Ok((piece, compressed))
}

fn compress_with_prefix(raw: &[u8], prefix: &[u8]) -> std::result::Result<Vec<u8>, usize> {
    use zstd::zstd_safe::{CCtx, CParameter, compress_bound};
    let mut cctx = CCtx::create();
    cctx.set_parameter(CParameter::CompressionLevel(PACK_ZSTD_LEVEL))?;
    cctx.ref_prefix(prefix)?;
    let mut compressed = Vec::with_capacity(compress_bound(raw.len()));
    cctx.compress2(&mut compressed, raw)?;
    Ok(compressed)
}
