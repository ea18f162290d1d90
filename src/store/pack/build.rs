//! Writing a pack: the rollouts are walked block by block. A block's events
//! number the payloads they cite first (in citation order), the bytes of
//! those payloads and of their bases go into the stream, and then the block
//! is compressed with the stream bytes its rollout wrote since its previous
//! block (the last [`DICT_MAX_BYTES`] of them) as a raw-content prefix: the
//! ids an event carries are mostly in the payloads it cites, which zstd
//! then finds there. Each stream byte is a dictionary to one block at most,
//! so the dictionaries cost a compaction at most one more pass over the
//! stream. Stream frames and blocks are written to the file as they fill,
//! then the index and the footer. The file is written under a temporary
//! name, synced, and renamed; it counts only once a database swap has
//! installed its pointer (`compact.rs`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::encoding::{BlockContext, IndexHead, encode_index};
use super::matcher::{Cursor, Matcher, Piece as MatchPiece};
use super::{
    BLOCK_EVENTS_MAX, BLOCK_RAW_BYTES, Block, ColdBase, ColdPayload, ColdRollout, DICT_MAX_BYTES,
    Extent, FRAME_RAW_BYTES, Footer, HEADER_BYTES, PACK_MAGIC, PackPointer, Piece, compress_piece,
    pack_file_name,
};
use crate::error::{Error, Result};
use crate::event::{Event, Hash, Seq};
use crate::store::payload::chunk_boundaries;

/// Where a pack being written gets what it stores about a payload (the
/// store, for a compaction).
pub(in crate::store) trait PayloadFeed {
    /// The payload's stored size.
    fn size(&mut self, hash: &Hash) -> Result<u64>;
    /// Its delta base: (base, bytes of the base it starts with, depth).
    fn base(&mut self, hash: &Hash) -> Result<Option<(Hash, u64, u8)>>;
    /// Its whole bytes, checked against its hash.
    fn bytes(&mut self, hash: &Hash) -> Result<Vec<u8>>;
}

/// The sizes a writer chooses (a reader takes every length from the
/// index): the constants of `mod.rs`, smaller in tests.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub frame_raw_bytes: usize,
    pub block_events: usize,
    pub block_raw_bytes: usize,
    pub dict_max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            frame_raw_bytes: FRAME_RAW_BYTES,
            block_events: BLOCK_EVENTS_MAX,
            block_raw_bytes: BLOCK_RAW_BYTES,
            dict_max_bytes: DICT_MAX_BYTES,
        }
    }
}

/// A pack being written. Nothing is visible until [`PackBuilder::finish`]
/// renamed the file and the caller installed its pointer.
pub(in crate::store) struct PackBuilder {
    temp_path: PathBuf,
    final_path: PathBuf,
    file: BufWriter<File>,
    offset: u64,
    generation: u64,
    payloads: Vec<ColdPayload>,
    ordinals: HashMap<Hash, u32>,
    frames: Vec<Piece>,
    frame_buf: Vec<u8>,
    stream_len: u64,
    /// Where each distinct chunk's bytes are in the stream.
    chunks: HashMap<Hash, Vec<Extent>>,
    matcher: Matcher,
    rollouts: Vec<ColdRollout>,
    max_rollout_num: u64,
    /// Payloads below this ordinal have their bytes in the stream.
    written: u32,
    /// The stream bytes written since the last block (only ever trimmed to
    /// the dictionary's limit, once they pass twice it): the next block's
    /// dictionary is their tail.
    recent: Vec<u8>,
    limits: Limits,
}

/// A rollout's current event block.
struct OpenBlock {
    raw: Vec<u8>,
    first_seq: Seq,
    count: u32,
    context: BlockContext,
}

impl PackBuilder {
    /// Creates `pack-{generation}.tfpack.tmp` in `dir` (replacing a leftover
    /// of an interrupted compaction) and writes its header.
    pub(in crate::store) fn create(dir: &Path, generation: u64) -> Result<PackBuilder> {
        PackBuilder::with_limits(dir, generation, Limits::default())
    }

    pub(super) fn with_limits(dir: &Path, generation: u64, limits: Limits) -> Result<PackBuilder> {
        let final_path = dir.join(pack_file_name(generation));
        let temp_path = dir.join(format!("{}.tmp", pack_file_name(generation)));
        let file = File::create(&temp_path)
            .map_err(|err| Error::io(format!("create {}", temp_path.display()), err))?;
        let mut builder = PackBuilder {
            temp_path,
            final_path,
            file: BufWriter::with_capacity(1 << 20, file),
            offset: 0,
            generation,
            payloads: Vec::new(),
            ordinals: HashMap::new(),
            frames: Vec::new(),
            frame_buf: Vec::with_capacity(limits.frame_raw_bytes),
            stream_len: 0,
            chunks: HashMap::new(),
            matcher: Matcher::new(),
            rollouts: Vec::new(),
            max_rollout_num: 0,
            written: 0,
            recent: Vec::new(),
            limits,
        };
        let mut header = [0u8; HEADER_BYTES as usize];
        header[..8].copy_from_slice(&PACK_MAGIC);
        header[8..].copy_from_slice(&generation.to_le_bytes());
        builder.write(&header)?;
        Ok(builder)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all(bytes)
            .map_err(|err| Error::io(format!("write {}", self.temp_path.display()), err))?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// The ordinal of payload `hash` of `size` bytes, numbering it when new.
    fn ordinal_of(&mut self, hash: Hash, size: u64) -> u32 {
        if let Some(ordinal) = self.ordinals.get(&hash) {
            return *ordinal;
        }
        let ordinal = self.payloads.len() as u32;
        self.payloads.push(ColdPayload {
            hash,
            size,
            base: None,
            extents: Vec::new(),
        });
        self.ordinals.insert(hash, ordinal);
        ordinal
    }

    pub(in crate::store) fn temp_path(&self) -> &Path {
        &self.temp_path
    }

    /// Keeps rollout numbers up to `num` taken (the pointer carries it).
    pub(in crate::store) fn note_rollout_num(&mut self, num: u64) {
        self.max_rollout_num = self.max_rollout_num.max(num);
    }

    /// Bytes of the stream so far.
    pub(in crate::store) fn stream_bytes(&self) -> u64 {
        self.stream_len
    }

    /// Payloads numbered so far.
    pub(in crate::store) fn payload_count(&self) -> u32 {
        self.payloads.len() as u32
    }

    /// Writes a rollout's events (seq 1 onwards, contiguous) in blocks,
    /// and before each block the payloads it cites first and their bases.
    pub(in crate::store) fn add_rollout(
        &mut self,
        rollout_num: u64,
        events: impl Iterator<Item = Result<Event>>,
        feed: &mut dyn PayloadFeed,
    ) -> Result<()> {
        let mut rollout = ColdRollout {
            rollout_num,
            event_count: 0,
            blocks: Vec::new(),
        };
        let mut block = OpenBlock::new(1);
        for event in events {
            let event = event?;
            if event.seq != rollout.event_count + 1 {
                return Err(Error::CorruptData(format!(
                    "rollout #{rollout_num}: seq {} follows {}",
                    event.seq, rollout.event_count
                )));
            }
            rollout.event_count = event.seq;
            let mut cited = Vec::new();
            event.payload.for_each_ref(|r| cited.push(r.hash));
            let mut resolved = Vec::with_capacity(cited.len());
            for hash in cited {
                let size = feed.size(&hash)?;
                resolved.push((self.ordinal_of(hash, size), size));
            }
            let mut resolved = resolved.into_iter();
            let seq = event.seq;
            block
                .context
                .encode(
                    event,
                    |_| resolved.next().unwrap_or_default(),
                    &mut block.raw,
                )
                .map_err(|source| Error::Corrupt {
                    key: format!("event rollout#{rollout_num} seq {seq}"),
                    source,
                })?;
            block.count += 1;
            if block.count as usize >= self.limits.block_events
                || block.raw.len() >= self.limits.block_raw_bytes
            {
                let full = std::mem::replace(&mut block, OpenBlock::new(seq + 1));
                rollout.blocks.push(self.write_block(full, feed)?);
            }
        }
        if block.count > 0 {
            rollout.blocks.push(self.write_block(block, feed)?);
        }
        self.max_rollout_num = self.max_rollout_num.max(rollout_num);
        if rollout.event_count > 0 {
            self.rollouts.push(rollout);
        }
        Ok(())
    }

    /// Numbers the bases of the payloads not yet written (transitively: the
    /// list grows while it is walked), then writes their own bytes in
    /// ordinal order: a conversation's pieces sit together in the stream.
    fn write_new_payloads(&mut self, feed: &mut dyn PayloadFeed) -> Result<()> {
        let mut ordinal = self.written as usize;
        while ordinal < self.payloads.len() {
            let hash = self.payloads[ordinal].hash;
            if let Some((base, prefix_bytes, depth)) = feed.base(&hash)? {
                let base_ordinal = self.ordinal_of(base, feed.size(&base)?);
                self.payloads[ordinal].base = Some(ColdBase {
                    ordinal: base_ordinal,
                    prefix_bytes,
                    depth,
                });
            }
            ordinal += 1;
        }
        while (self.written as usize) < self.payloads.len() {
            let payload = &self.payloads[self.written as usize];
            let hash = payload.hash;
            let prefix = payload.base.map_or(0, |base| {
                usize::try_from(base.prefix_bytes).unwrap_or(usize::MAX)
            });
            let bytes = feed.bytes(&hash)?;
            self.add_payload_bytes(self.written, bytes.get(prefix..).unwrap_or_default())?;
            self.written += 1;
        }
        Ok(())
    }

    /// Writes the payloads `block` cites first, then the block, compressed
    /// with the stream bytes written for it as its dictionary.
    fn write_block(&mut self, block: OpenBlock, feed: &mut dyn PayloadFeed) -> Result<Block> {
        self.write_new_payloads(feed)?;
        let own = self.recent.len().min(self.limits.dict_max_bytes);
        let prefix = &self.recent[self.recent.len() - own..];
        let (piece, compressed) = compress_piece(&block.raw, self.offset, prefix)?;
        self.write(&compressed)?;
        let dict_end = self.stream_len;
        self.recent.clear();
        Ok(Block {
            piece,
            first_seq: block.first_seq,
            count: block.count,
            dict: (own > 0).then(|| Extent {
                start: dict_end - own as u64,
                len: own as u32,
            }),
        })
    }

    /// Stores payload `ordinal`'s own bytes (those after its base's
    /// prefix), chunked as the hot tier chunks: a chunk already in the
    /// stream is cited where it is; a new one is split by the matcher into
    /// repeats of earlier stream bytes, cited, and new bytes, appended.
    fn add_payload_bytes(&mut self, ordinal: u32, own: &[u8]) -> Result<()> {
        let mut extents: Vec<Extent> = Vec::new();
        for range in chunk_boundaries(own) {
            let piece = &own[range];
            if piece.is_empty() {
                continue;
            }
            let hash = Hash::of(piece);
            if !self.chunks.contains_key(&hash) {
                let chunk_extents = self.match_chunk(piece)?;
                self.chunks.insert(hash, chunk_extents);
            }
            for extent in self.chunks.get(&hash).into_iter().flatten() {
                push_extent(&mut extents, *extent);
            }
        }
        self.payloads[ordinal as usize].extents = extents;
        Ok(())
    }

    /// A new chunk's extents: its repeats of earlier stream bytes, and its
    /// new bytes, appended to the stream.
    fn match_chunk(&mut self, chunk: &[u8]) -> Result<Vec<Extent>> {
        let mut extents = Vec::new();
        let mut cursor = Cursor::default();
        while let Some(piece) = self.matcher.next_piece(chunk, &mut cursor) {
            let extent = match piece {
                MatchPiece::Literal { from, to } => {
                    let start = self.stream_len;
                    self.append_stream(&chunk[from..to])?;
                    Extent {
                        start,
                        len: (to - from) as u32,
                    }
                }
                MatchPiece::Match { start, len } => Extent {
                    start,
                    len: len as u32,
                },
            };
            push_extent(&mut extents, extent);
        }
        Ok(extents)
    }

    fn append_stream(&mut self, mut bytes: &[u8]) -> Result<()> {
        self.stream_len += bytes.len() as u64;
        self.matcher.append(bytes);
        self.recent.extend_from_slice(bytes);
        let dict_max = self.limits.dict_max_bytes;
        if self.recent.len() > 2 * dict_max {
            self.recent.drain(..self.recent.len() - dict_max);
        }
        while !bytes.is_empty() {
            let room = self.limits.frame_raw_bytes - self.frame_buf.len();
            let take = room.min(bytes.len());
            self.frame_buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.frame_buf.len() >= self.limits.frame_raw_bytes {
                self.flush_frame()?;
            }
        }
        Ok(())
    }

    fn flush_frame(&mut self) -> Result<()> {
        if self.frame_buf.is_empty() {
            return Ok(());
        }
        let (piece, compressed) = compress_piece(&self.frame_buf, self.offset, &[])?;
        self.frame_buf.clear();
        self.write(&compressed)?;
        self.frames.push(piece);
        Ok(())
    }

    /// Writes the last frame, the index and the footer, syncs the file and
    /// renames it to its final name; returns the pointer that installs it.
    pub(in crate::store) fn finish(mut self, feed: &mut dyn PayloadFeed) -> Result<PackPointer> {
        self.write_new_payloads(feed)?;
        self.flush_frame()?;
        let head = IndexHead {
            generation: self.generation,
            frames: std::mem::take(&mut self.frames),
            payloads: self.payloads.len() as u64,
            rollouts: self.rollouts.len() as u64,
        };
        let raw = encode_index(&head, &self.payloads, &self.rollouts).map_err(|source| {
            Error::Corrupt {
                key: "pack index".into(),
                source,
            }
        })?;
        let (index, compressed) = compress_piece(&raw, self.offset, &[])?;
        self.write(&compressed)?;
        let footer = Footer {
            index_offset: index.offset,
            index_len: u64::from(index.len),
            index_crc: index.crc,
        };
        self.write(&footer.encode())?;
        let file = self.file.into_inner().map_err(|err| {
            Error::io(
                format!("write {}", self.temp_path.display()),
                err.into_error(),
            )
        })?;
        file.sync_all()
            .map_err(|err| Error::io(format!("sync {}", self.temp_path.display()), err))?;
        drop(file);
        std::fs::rename(&self.temp_path, &self.final_path).map_err(|err| {
            Error::io(
                format!(
                    "rename {} to {}",
                    self.temp_path.display(),
                    self.final_path.display()
                ),
                err,
            )
        })?;
        Ok(PackPointer {
            generation: self.generation,
            file_bytes: self.offset,
            index_crc: index.crc,
            max_rollout_num: self.max_rollout_num,
        })
    }
}

/// Appends `extent` to `extents`, joined to the last one when it continues
/// it.
fn push_extent(extents: &mut Vec<Extent>, extent: Extent) {
    match extents.last_mut() {
        Some(last)
            if last.start + u64::from(last.len) == extent.start
                && u64::from(last.len) + u64::from(extent.len) <= u64::from(u32::MAX) =>
        {
            last.len += extent.len;
        }
        _ => extents.push(extent),
    }
}

impl OpenBlock {
    fn new(first_seq: Seq) -> OpenBlock {
        OpenBlock {
            raw: Vec::new(),
            first_seq,
            count: 0,
            context: BlockContext::default(),
        }
    }
}
