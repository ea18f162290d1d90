//! Payload preparation: content-defined chunking, BLAKE3 addressing and zstd
//! compression, plus the recipe that lists a payload's chunks.
//!
//! Preparing a payload is pure CPU work (no sled): it can run on any thread.
//! The store decides which prepared chunks are new and writes them.

use crate::event::Hash;

/// Content-defined chunk sizes (FastCDC 2020): about 4 KiB on average. Small
/// next to one conversation turn, so a request that resends the conversation
/// shares all but its last chunk or two with the previous request.
pub const CHUNK_MIN_BYTES: usize = 1024;
pub const CHUNK_AVG_BYTES: usize = 4096;
pub const CHUNK_MAX_BYTES: usize = 16384;

/// A recipe lists at most this many hashes; longer payloads get a second
/// level of index chunks, so no sled value grows past 128 KiB.
pub const RECIPE_FANOUT: usize = 4096;

/// zstd level for chunks: level 3 measured 2.6x on LLM JSON at ~120 MB/s.
const ZSTD_LEVEL: i32 = 3;

pub(crate) const CHUNK_RECORD_VERSION: u8 = 1;
pub(crate) const CHUNK_RAW: u8 = 0;
pub(crate) const CHUNK_ZSTD: u8 = 1;
/// Not a codec of the chunk's bytes: the value in sled is a location of the
/// chunk's record in the hot log (format 2, `hotlog.rs`).
pub(crate) const CHUNK_IN_LOG: u8 = 2;

/// The largest decoded chunk: a data chunk or an index chunk of hashes.
const CHUNK_DECODED_MAX_BYTES: usize = RECIPE_FANOUT * 32;

// What the format and the chunker rely on, checked when compiling.
const _: () = {
    use fastcdc::v2020 as cdc;
    assert!(CHUNK_MIN_BYTES < CHUNK_AVG_BYTES && CHUNK_AVG_BYTES < CHUNK_MAX_BYTES);
    assert!(CHUNK_MIN_BYTES >= cdc::MINIMUM_MIN && CHUNK_MIN_BYTES <= cdc::MINIMUM_MAX);
    assert!(CHUNK_AVG_BYTES >= cdc::AVERAGE_MIN && CHUNK_AVG_BYTES <= cdc::AVERAGE_MAX);
    assert!(CHUNK_MAX_BYTES >= cdc::MAXIMUM_MIN && CHUNK_MAX_BYTES <= cdc::MAXIMUM_MAX);
    // Every data chunk decodes within the limit a reader enforces.
    assert!(CHUNK_MAX_BYTES <= CHUNK_DECODED_MAX_BYTES);
    // A recipe of `RECIPE_FANOUT` hashes (32 bytes each, with room to
    // spare for the other fields) fits in one codec record.
    assert!(RECIPE_FANOUT * 33 + 128 <= crate::codec::RECORD_BODY_BYTES_MAX);
    // A base chain has room for one base; a base prefix spans whole chunks.
    assert!(BASE_DEPTH_MAX >= 1);
    assert!(BASE_PREFIX_MIN_BYTES >= CHUNK_MIN_BYTES);
    // The two codecs and the hot-log marker are distinct bytes.
    assert!(CHUNK_RAW != CHUNK_ZSTD && CHUNK_IN_LOG != CHUNK_RAW && CHUNK_IN_LOG != CHUNK_ZSTD);
};

/// One chunk ready to store: its hash and its stored (maybe compressed) form.
#[derive(Debug, Clone)]
pub struct PreparedChunk {
    pub hash: Hash,
    pub raw_len: usize,
    /// The full chunk record as stored under the chunk key.
    pub record: Vec<u8>,
}

/// A payload split into chunks, with its recipe.
#[derive(Debug, Clone)]
pub struct PreparedPayload {
    pub hash: Hash,
    pub size_bytes: u64,
    pub recipe: Recipe,
    /// Every chunk the recipe needs (data chunks and index chunks), in order,
    /// repeated chunks listed once.
    pub chunks: Vec<PreparedChunk>,
}

/// How a payload's bytes are rebuilt from chunks.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct Recipe {
    /// The payload's size in bytes.
    pub size_bytes: u64,
    /// 0: `entries` are data chunks. 1: `entries` are index chunks, each the
    /// concatenated 32-byte hashes of up to `RECIPE_FANOUT` data chunks.
    pub level: u8,
    /// The chunks of the bytes after the base's prefix (all bytes when
    /// there is no base).
    pub entries: Vec<Hash>,
    /// A payload this one extends: its bytes are the base's first
    /// `prefix_bytes` bytes followed by `entries`. LLM requests resend the
    /// previous request with new messages appended, so each one stores only
    /// what is new (the "parent + suffix" recipe of storage-facts §3.4).
    pub base: Option<RecipeBase>,
}

/// The payload a delta recipe extends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct RecipeBase {
    pub payload: Hash,
    pub prefix_bytes: u64,
    /// Length of the base chain through this recipe (1 for a base without a
    /// base). Bounded by `BASE_DEPTH_MAX`, which bounds read amplification.
    pub depth: u8,
}

/// Longest chain of delta recipes; a payload that would go deeper is stored
/// whole (its chunks still deduplicate against the base's).
pub const BASE_DEPTH_MAX: u8 = 8;

/// A shared prefix shorter than this is not worth a base.
pub const BASE_PREFIX_MIN_BYTES: usize = 4096;

/// Length of the common prefix of `a` and `b`.
pub fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    let limit = a.len().min(b.len());
    // Compare in blocks (vectorised memcmp), then finish byte by byte.
    const BLOCK: usize = 4096;
    let mut done = 0;
    while done + BLOCK <= limit && a[done..done + BLOCK] == b[done..done + BLOCK] {
        done += BLOCK;
    }
    done + a[done..limit]
        .iter()
        .zip(&b[done..limit])
        .take_while(|(x, y)| x == y)
        .count()
}

/// Splits `bytes` at content-defined boundaries.
pub fn chunk_boundaries(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    if bytes.len() <= CHUNK_MIN_BYTES {
        #[allow(clippy::single_range_in_vec_init)] // one chunk: the whole payload
        return vec![0..bytes.len()];
    }
    fastcdc::v2020::FastCDC::new(bytes, CHUNK_MIN_BYTES, CHUNK_AVG_BYTES, CHUNK_MAX_BYTES)
        .map(|chunk| chunk.offset..chunk.offset + chunk.length)
        .collect()
}

/// Prepares `bytes`, skipping the compression of chunks `is_known` says are
/// already stored (their record is left empty and must not be written).
#[cfg(test)]
pub fn prepare_payload(bytes: &[u8], is_known: &mut dyn FnMut(&Hash) -> bool) -> PreparedPayload {
    prepare_payload_on_base(bytes, None, is_known)
}

/// Prepares `bytes` as an extension of `base` when given: only the bytes
/// after `base.prefix_bytes` are chunked.
pub fn prepare_payload_on_base(
    bytes: &[u8],
    base: Option<RecipeBase>,
    is_known: &mut dyn FnMut(&Hash) -> bool,
) -> PreparedPayload {
    let hash = Hash::of(bytes);
    let start = base
        .map_or(0, |base| base.prefix_bytes as usize)
        .min(bytes.len());
    let suffix = &bytes[start..];
    let mut chunks: Vec<PreparedChunk> = Vec::new();
    let mut data_hashes = Vec::new();
    for range in chunk_boundaries(suffix) {
        let piece = &suffix[range];
        let chunk_hash = Hash::of(piece);
        data_hashes.push(chunk_hash);
        push_chunk(&mut chunks, chunk_hash, piece, is_known);
    }
    let recipe = if data_hashes.len() <= RECIPE_FANOUT {
        Recipe {
            size_bytes: bytes.len() as u64,
            level: 0,
            entries: data_hashes,
            base,
        }
    } else {
        let mut index_hashes = Vec::new();
        for group in data_hashes.chunks(RECIPE_FANOUT) {
            let mut index = Vec::with_capacity(group.len() * 32);
            for entry in group {
                index.extend_from_slice(&entry.0);
            }
            let index_hash = Hash::of(&index);
            index_hashes.push(index_hash);
            push_chunk(&mut chunks, index_hash, &index, is_known);
        }
        Recipe {
            size_bytes: bytes.len() as u64,
            level: 1,
            entries: index_hashes,
            base,
        }
    };
    PreparedPayload {
        hash,
        size_bytes: bytes.len() as u64,
        recipe,
        chunks,
    }
}

fn push_chunk(
    chunks: &mut Vec<PreparedChunk>,
    hash: Hash,
    piece: &[u8],
    is_known: &mut dyn FnMut(&Hash) -> bool,
) {
    if chunks.iter().any(|chunk| chunk.hash == hash) {
        return;
    }
    let record = if is_known(&hash) {
        Vec::new()
    } else {
        encode_chunk(piece)
    };
    chunks.push(PreparedChunk {
        hash,
        raw_len: piece.len(),
        record,
    });
}

/// Encodes a chunk record: `[version][codec][data]`, zstd when it helps.
pub fn encode_chunk(piece: &[u8]) -> Vec<u8> {
    if let Some(compressed) = compress(piece)
        && compressed.len() + 2 < piece.len()
    {
        let mut record = Vec::with_capacity(compressed.len() + 2);
        record.push(CHUNK_RECORD_VERSION);
        record.push(CHUNK_ZSTD);
        record.extend_from_slice(&compressed);
        return record;
    }
    let mut record = Vec::with_capacity(piece.len() + 2);
    record.push(CHUNK_RECORD_VERSION);
    record.push(CHUNK_RAW);
    record.extend_from_slice(piece);
    record
}

thread_local! {
    // One zstd context per thread: creating a context per chunk (what
    // `zstd::bulk::compress` does) dominated the writer's profile.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

fn compress(piece: &[u8]) -> Option<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = zstd::bulk::Compressor::new(ZSTD_LEVEL).ok();
        }
        slot.as_mut()?.compress(piece).ok()
    })
}

fn decompress(data: &[u8]) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new()?);
        }
        match slot.as_mut() {
            Some(decompressor) => decompressor.decompress(data, CHUNK_DECODED_MAX_BYTES),
            None => zstd::bulk::decompress(data, CHUNK_DECODED_MAX_BYTES),
        }
    })
}

/// Decodes a chunk record and checks it against its hash.
pub fn decode_chunk(hash: &Hash, record: &[u8]) -> Result<Vec<u8>, String> {
    let [version, codec, data @ ..] = record else {
        return Err(format!(
            "chunk {hash}: record of {} bytes is too short",
            record.len()
        ));
    };
    if *version != CHUNK_RECORD_VERSION {
        return Err(format!(
            "chunk {hash}: unsupported record version {version}"
        ));
    }
    let bytes = match *codec {
        CHUNK_RAW => data.to_vec(),
        CHUNK_ZSTD => decompress(data)
            .map_err(|err| format!("chunk {hash}: zstd data does not decompress: {err}"))?,
        CHUNK_IN_LOG => return Err(format!("chunk {hash}: a hot-log location, not a record")),
        other => return Err(format!("chunk {hash}: unknown codec {other}")),
    };
    let actual = Hash::of(&bytes);
    if actual != *hash {
        return Err(format!("chunk {hash}: content hashes to {actual}"));
    }
    Ok(bytes)
}

/// Splits an index chunk into its data-chunk hashes.
pub fn index_entries(hash: &Hash, bytes: &[u8]) -> Result<Vec<Hash>, String> {
    if !bytes.len().is_multiple_of(32) {
        return Err(format!(
            "index chunk {hash}: {} bytes is not a whole number of hashes",
            bytes.len()
        ));
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|entry| {
            let mut out = [0u8; 32];
            out.copy_from_slice(entry);
            Hash(out)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_files::pseudo_text as text;

    #[test]
    fn chunks_rebuild_the_payload() {
        for len in [0, 1, 1024, 1025, 50_000, 300_000] {
            let bytes = text(len, len as u64);
            let prepared = prepare_payload(&bytes, &mut |_| false);
            let mut rebuilt = Vec::new();
            let by_hash = |hash: &Hash| {
                prepared
                    .chunks
                    .iter()
                    .find(|chunk| chunk.hash == *hash)
                    .map(|chunk| decode_chunk(hash, &chunk.record).expect("decodes"))
                    .expect("chunk present")
            };
            assert_eq!(prepared.recipe.level, 0);
            for entry in &prepared.recipe.entries {
                rebuilt.extend(by_hash(entry));
            }
            assert_eq!(rebuilt, bytes);
            assert_eq!(prepared.hash, Hash::of(&bytes));
            for chunk in &prepared.chunks {
                assert!(chunk.raw_len <= CHUNK_MAX_BYTES);
            }
        }
    }

    #[test]
    fn a_growing_conversation_shares_its_prefix_chunks() {
        let first = text(40_000, 9);
        let mut second = first.clone();
        second.extend(text(3_000, 10));
        let one = prepare_payload(&first, &mut |_| false);
        let two = prepare_payload(&second, &mut |_| false);
        let shared = two
            .chunks
            .iter()
            .filter(|chunk| one.chunks.iter().any(|c| c.hash == chunk.hash))
            .count();
        assert!(
            shared + 2 >= one.chunks.len(),
            "shared {shared} of {}",
            one.chunks.len()
        );
    }

    #[test]
    fn a_flipped_byte_in_a_chunk_is_caught() {
        let bytes = text(5_000, 1);
        let prepared = prepare_payload(&bytes, &mut |_| false);
        let chunk = &prepared.chunks[0];
        let mut damaged = chunk.record.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert!(decode_chunk(&chunk.hash, &damaged).is_err());
    }
}
