//! Long-distance matching for a pack's stream: a new chunk's bytes become
//! references to earlier stream bytes wherever at least [`MIN_MATCH`] of
//! them repeat, and only what is left is appended.
//!
//! Content-defined chunks deduplicate whole chunks, but agent logs are full
//! of near-duplicates that no chunk boundary lines up with: a compaction
//! re-persists earlier items inside one long line, a fork copies its
//! parent's lines with new timestamps, a request repeats items next to new
//! ones. Their chunks differ at the edges, and the repeats lie megabytes
//! apart, beyond what a frame's compression sees (the stream is compressed
//! in independent frames so that a read decompresses one). The matcher
//! finds them the way `zstd --long` does, but without its window's limit on
//! distance within [`WINDOW_MAX_BYTES`], and records each as an extent: a
//! payload's bytes were already any ranges of the stream.
//!
//! A gear hash rolls over the stream as it is appended and over each chunk
//! being matched; at content-defined anchors (about one in
//! [`ANCHOR_SPACING`] positions, where the hash's top bits are zero) the
//! stream's position is remembered in a table by the hash, and a chunk's
//! anchors look it up. A candidate is checked byte by byte and extended
//! both ways, so the table may be lossy (the newest position wins a
//! bucket) and a false candidate costs a comparison.

/// Shortest repeat taken as a reference. An extent costs about three bytes
/// of compressed index and breaks the frame's compression context, which
/// would have encoded a short repeat nearby more cheaply. Measured on the
/// session-archive generator (205 MB): 64 bytes gave a 6.45 MB store
/// (302,652 extents, 777 KB of index), 128 bytes 6.26 MB, 256 bytes
/// 6.21 MB (128,441 extents, 419 KB), 512 bytes 6.32 MB, 1,024 bytes
/// 6.58 MB.
pub(super) const MIN_MATCH: usize = 256;

/// A literal this long is handed over (and so becomes matchable) without
/// waiting for the next match.
pub(super) const LITERAL_FLUSH: usize = 1024;

/// One anchor per this many positions on average (a power of two).
const ANCHOR_SPACING: u64 = 32;

/// Most recent stream bytes kept to match against. Older bytes still
/// deduplicate as whole chunks (the builder's chunk map covers the whole
/// stream).
pub(super) const WINDOW_MAX_BYTES: usize = 128 << 20;

/// The table holds one position per bucket: enough buckets for every
/// anchor of a full window.
const TABLE_BITS_MAX: u32 = 22;
const TABLE_BITS_MIN: u32 = 12;

/// 256 pseudo-random 64-bit values (splitmix64), one per byte value.
const GEAR: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut state: u64 = 0x7472_6163_6566_6f6c; // "tracefol"
    let mut i = 0;
    while i < 256 {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        table[i] = z ^ (z >> 31);
        i += 1;
    }
    table
};

const ANCHOR_SHIFT: u32 = 64 - ANCHOR_SPACING.trailing_zeros();

fn roll(hash: u64, byte: u8) -> u64 {
    (hash << 1).wrapping_add(GEAR[byte as usize])
}

fn is_anchor(hash: u64) -> bool {
    hash >> ANCHOR_SHIFT == 0
}

/// A piece of a chunk: bytes to append to the stream, or a range of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Piece {
    /// `chunk[from..to]` is new.
    Literal { from: usize, to: usize },
    /// `len` bytes repeat the stream's from `start`.
    Match { start: u64, len: usize },
}

/// Where [`Matcher::next_piece`] is in a chunk.
#[derive(Debug, Default)]
pub(super) struct Cursor {
    hash: u64,
    /// Chunk bytes before it are handed over.
    done: usize,
    /// Chunk bytes before it are rolled into `hash`.
    at: usize,
    /// A match found with the literal before it, handed over next.
    queued: Option<Piece>,
}

/// The stream's recent bytes and their anchors.
pub(super) struct Matcher {
    /// Stream bytes from `window_start` to the stream's end.
    window: Vec<u8>,
    window_start: u64,
    /// Stream position + 1 of the anchor last seen in each bucket (0:
    /// empty).
    table: Vec<u64>,
    table_bits: u32,
    /// The gear hash of the stream's last bytes.
    stream_hash: u64,
}

impl Matcher {
    pub(super) fn new() -> Matcher {
        Matcher {
            window: Vec::new(),
            window_start: 0,
            table: vec![0; 1 << TABLE_BITS_MIN],
            table_bits: TABLE_BITS_MIN,
            stream_hash: 0,
        }
    }

    fn stream_end(&self) -> u64 {
        self.window_start + self.window.len() as u64
    }

    fn bucket(&self, hash: u64) -> usize {
        // The hash's bits depend on the last 64 bytes, its low bits on
        // fewer: mix before taking the top bits.
        (hash.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - self.table_bits)) as usize
    }

    /// Appends bytes to the stream (the builder writes them too).
    pub(super) fn append(&mut self, bytes: &[u8]) {
        let mut position = self.stream_end();
        for &byte in bytes {
            self.stream_hash = roll(self.stream_hash, byte);
            position += 1;
            if is_anchor(self.stream_hash) {
                let bucket = self.bucket(self.stream_hash);
                self.table[bucket] = position;
            }
        }
        self.window.extend_from_slice(bytes);
        if self.window.len() > 2 * WINDOW_MAX_BYTES {
            let drop = self.window.len() - WINDOW_MAX_BYTES;
            self.window.drain(..drop);
            self.window_start += drop as u64;
        }
        self.grow_table();
    }

    /// Doubles the table while the window has more anchors than buckets,
    /// re-reading the window's anchors.
    fn grow_table(&mut self) {
        let wanted = (self.window.len() as u64 / ANCHOR_SPACING).max(1);
        if wanted <= self.table.len() as u64 || self.table_bits >= TABLE_BITS_MAX {
            return;
        }
        while (1u64 << self.table_bits) < wanted && self.table_bits < TABLE_BITS_MAX {
            self.table_bits += 1;
        }
        self.table = vec![0; 1 << self.table_bits];
        let mut hash = 0u64;
        for (at, &byte) in self.window.iter().enumerate() {
            hash = roll(hash, byte);
            if at >= 63 && is_anchor(hash) {
                let bucket = self.bucket(hash);
                self.table[bucket] = self.window_start + at as u64 + 1;
            }
        }
    }

    /// The next piece of `chunk` from `cursor` (a fresh [`Cursor`] for a
    /// new chunk), `None` at its end. The caller appends each literal to
    /// the stream ([`Matcher::append`]) before asking for the next piece:
    /// a later match may cite it. Matches are at least [`MIN_MATCH`]
    /// bytes; a literal longer than [`LITERAL_FLUSH`] is handed over in
    /// parts, so that a chunk's later bytes can match its earlier ones.
    pub(super) fn next_piece(&self, chunk: &[u8], cursor: &mut Cursor) -> Option<Piece> {
        if let Some(piece) = cursor.queued.take() {
            return Some(piece);
        }
        while cursor.at < chunk.len() {
            cursor.hash = roll(cursor.hash, chunk[cursor.at]);
            cursor.at += 1;
            if cursor.at < 64 || !is_anchor(cursor.hash) {
                continue;
            }
            let candidate = self.table[self.bucket(cursor.hash)];
            let Some((chunk_from, start, len)) =
                self.extend(chunk, cursor.done, cursor.at, candidate)
            else {
                if cursor.at - cursor.done >= LITERAL_FLUSH {
                    let from = std::mem::replace(&mut cursor.done, cursor.at);
                    return Some(Piece::Literal {
                        from,
                        to: cursor.at,
                    });
                }
                continue;
            };
            let literal = (chunk_from > cursor.done).then_some(Piece::Literal {
                from: cursor.done,
                to: chunk_from,
            });
            cursor.done = chunk_from + len;
            // Roll over the matched bytes without looking up anchors.
            while cursor.at < cursor.done {
                cursor.hash = roll(cursor.hash, chunk[cursor.at]);
                cursor.at += 1;
            }
            let matched = Piece::Match { start, len };
            return match literal {
                Some(literal) => {
                    cursor.queued = Some(matched);
                    Some(literal)
                }
                None => Some(matched),
            };
        }
        if cursor.done < chunk.len() {
            let from = std::mem::replace(&mut cursor.done, chunk.len());
            return Some(Piece::Literal {
                from,
                to: chunk.len(),
            });
        }
        None
    }

    /// The repeat around a candidate: chunk byte `at` (just past an
    /// anchor) against stream position `candidate - 1 + 1`; extended back
    /// no further than `done` and forward to the chunk's or the stream's
    /// end. `None` when the candidate is gone from the window, does not
    /// match, or is shorter than [`MIN_MATCH`].
    fn extend(
        &self,
        chunk: &[u8],
        done: usize,
        at: usize,
        candidate: u64,
    ) -> Option<(usize, u64, usize)> {
        if candidate == 0 || candidate <= self.window_start {
            return None;
        }
        let stream_at = (candidate - self.window_start) as usize;
        let window = &self.window;
        let forward = chunk[at..]
            .iter()
            .zip(&window[stream_at..])
            .take_while(|(a, b)| a == b)
            .count();
        let back_room = (at - done).min(stream_at);
        let backward = chunk[at - back_room..at]
            .iter()
            .rev()
            .zip(window[stream_at - back_room..stream_at].iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        let len = backward + forward;
        if len < MIN_MATCH {
            return None;
        }
        Some((
            at - backward,
            self.window_start + (stream_at - backward) as u64,
            len,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits `chunk`, appending literals, and rebuilds it from the pieces.
    fn split_and_rebuild(matcher: &mut Matcher, stream: &mut Vec<u8>, chunk: &[u8]) -> Vec<Piece> {
        let mut pieces = Vec::new();
        let mut cursor = Cursor::default();
        while let Some(piece) = matcher.next_piece(chunk, &mut cursor) {
            if let Piece::Literal { from, to } = piece {
                matcher.append(&chunk[from..to]);
                stream.extend_from_slice(&chunk[from..to]);
            }
            pieces.push(piece);
        }
        let mut rebuilt = Vec::new();
        for piece in &pieces {
            match *piece {
                Piece::Literal { from, to } => rebuilt.extend_from_slice(&chunk[from..to]),
                Piece::Match { start, len } => {
                    assert!(len >= MIN_MATCH);
                    rebuilt.extend_from_slice(&stream[start as usize..start as usize + len]);
                }
            }
        }
        assert_eq!(rebuilt, chunk);
        pieces
    }

    fn text(seed: u64, len: usize) -> Vec<u8> {
        crate::test_files::pseudo_text(len, seed)
    }

    #[test]
    fn a_repeat_with_an_edit_becomes_two_matches_around_a_literal() {
        let mut matcher = Matcher::new();
        let mut stream = Vec::new();
        let original = text(1, 8000);
        split_and_rebuild(&mut matcher, &mut stream, &original);
        let mut edited = text(2, 100);
        edited.extend_from_slice(&original[..3000]);
        edited.extend_from_slice(b"2026-11-30T20:00:00.000Z");
        edited.extend_from_slice(&original[3024..]);
        let pieces = split_and_rebuild(&mut matcher, &mut stream, &edited);
        let matched: usize = pieces
            .iter()
            .map(|piece| match piece {
                Piece::Match { len, .. } => *len,
                Piece::Literal { .. } => 0,
            })
            .sum();
        // Everything but the new head and the edit (and the anchor gaps
        // next to them) is a reference.
        assert!(matched >= 7000, "{pieces:?}");
        assert_eq!(stream.len(), 8000 + edited.len() - matched);
    }

    #[test]
    fn unrelated_bytes_stay_literal() {
        let mut matcher = Matcher::new();
        let mut stream = Vec::new();
        split_and_rebuild(&mut matcher, &mut stream, &text(1, 5000));
        let pieces = split_and_rebuild(&mut matcher, &mut stream, &text(3, 5000));
        assert!(
            pieces
                .iter()
                .all(|piece| matches!(piece, Piece::Literal { .. })),
            "{pieces:?}"
        );
    }

    #[test]
    fn a_chunk_matches_its_own_earlier_bytes() {
        let mut matcher = Matcher::new();
        let mut stream = Vec::new();
        let unit = text(4, 700);
        let chunk: Vec<u8> = unit.iter().cycle().take(700 * 400).copied().collect();
        split_and_rebuild(&mut matcher, &mut stream, &chunk);
        assert!(
            stream.len() < 2 * LITERAL_FLUSH,
            "{} bytes appended",
            stream.len()
        );
    }

    #[test]
    fn the_table_grows_with_the_window_and_still_finds_old_bytes() {
        let mut matcher = Matcher::new();
        let mut stream = Vec::new();
        let old = text(5, 3000);
        split_and_rebuild(&mut matcher, &mut stream, &old);
        for seed in 10..30 {
            split_and_rebuild(&mut matcher, &mut stream, &text(seed, 50_000));
        }
        assert!(matcher.table_bits > TABLE_BITS_MIN);
        let before = stream.len();
        split_and_rebuild(&mut matcher, &mut stream, &old);
        assert!(
            stream.len() - before < 200,
            "{} bytes appended",
            stream.len() - before
        );
    }
}
