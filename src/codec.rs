//! The one bincode configuration and the record envelope around it.
//!
//! Every bincode record the store writes is
//! `[format version: u8][crc32: u32 LE][bincode body]`, where the CRC covers the
//! record's key and body. The version byte lets a later build read (or
//! refuse) old records; the CRC catches a flipped byte or a value stored under
//! the wrong key, independently of sled. Only this module touches bincode.

use bincode::{Decode, Encode};

/// Current record format version.
pub const FORMAT_VERSION: u8 = 1;

const HEADER_LEN: usize = 5;

/// The largest record body this build decodes, and so the largest it
/// encodes: a record that could not be read back is refused when written.
pub const RECORD_BODY_BYTES_MAX: usize = 64 * 1024 * 1024;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<RECORD_BODY_BYTES_MAX>()
}

/// Why a record could not be decoded ([`decode_record`]) or encoded
/// ([`encode_record`]: only [`CodecError::Encode`] and
/// [`CodecError::TooLarge`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The stored bytes (their length given) are too few to hold the 5-byte
    /// header, so there is no version or checksum to check.
    #[error("record is {0} bytes, shorter than its 5-byte header")]
    Truncated(usize),
    /// The record's version byte (given) is not [`FORMAT_VERSION`]: written
    /// by a build with another record format, or damaged.
    #[error("record format version {0} is not supported (this build reads {FORMAT_VERSION})")]
    Version(u8),
    /// The CRC32 over key and body does not match the header: a damaged
    /// byte, or a record read under another key than it was written under.
    #[error("record checksum mismatch (stored {stored:08x}, computed {computed:08x})")]
    Checksum {
        /// The CRC32 in the record's header.
        stored: u32,
        /// The CRC32 of the key asked for and the body as read.
        computed: u32,
    },
    /// The checksum matched but bincode could not decode the body as the
    /// requested type (bincode's message given), including a body whose
    /// decoding would claim more than [`RECORD_BODY_BYTES_MAX`] bytes.
    #[error("record body does not decode: {0}")]
    Body(String),
    /// The body decoded but left this many bytes unread, so it is not a
    /// value of the requested type.
    #[error("record body has {0} trailing bytes")]
    Trailing(usize),
    /// bincode could not encode the value (its message given).
    #[error("record body does not encode: {0}")]
    Encode(String),
    /// The encoded body (its length in bytes given) is over
    /// [`RECORD_BODY_BYTES_MAX`], so it could not be read back; refused at
    /// write time.
    #[error("record body of {0} bytes is over the limit of {RECORD_BODY_BYTES_MAX} bytes")]
    TooLarge(usize),
}

fn checksum(key: &[u8], body: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(key);
    hasher.update(body);
    hasher.finalize()
}

/// Encodes `value` as a record stored under `key`.
///
/// Fails with [`CodecError::Encode`] when bincode cannot encode the value
/// and [`CodecError::TooLarge`] when the body is over
/// [`RECORD_BODY_BYTES_MAX`].
pub fn encode_record<T: Encode>(key: &[u8], value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![FORMAT_VERSION, 0, 0, 0, 0];
    bincode::encode_into_std_write(value, &mut out, config())
        .map_err(|err| CodecError::Encode(err.to_string()))?;
    if out.len() - HEADER_LEN > RECORD_BODY_BYTES_MAX {
        return Err(CodecError::TooLarge(out.len() - HEADER_LEN));
    }
    let crc = checksum(key, &out[HEADER_LEN..]);
    out[1..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Decodes a record stored under `key`, checking version and checksum.
///
/// `key` must be the key the record was encoded for (the checksum covers
/// it). Fails, in the order checked, with [`CodecError::Truncated`],
/// [`CodecError::Version`], [`CodecError::Checksum`], [`CodecError::Body`]
/// or [`CodecError::Trailing`].
pub fn decode_record<T: Decode<()>>(key: &[u8], bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() < HEADER_LEN {
        return Err(CodecError::Truncated(bytes.len()));
    }
    if bytes[0] != FORMAT_VERSION {
        return Err(CodecError::Version(bytes[0]));
    }
    let stored = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    let body = &bytes[HEADER_LEN..];
    let computed = checksum(key, body);
    if stored != computed {
        return Err(CodecError::Checksum { stored, computed });
    }
    let (value, used) = bincode::decode_from_slice(body, config())
        .map_err(|err| CodecError::Body(err.to_string()))?;
    if used != body.len() {
        return Err(CodecError::Trailing(body.len() - used));
    }
    Ok(value)
}

/// Appends the bincode body of `value` (no header: the pack's frames and
/// blocks carry their own checksum) to `out`.
pub fn encode_body<T: Encode>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    bincode::encode_into_std_write(value, out, config())
        .map(|_| ())
        .map_err(|err| CodecError::Encode(err.to_string()))
}

/// Decodes one bincode body from the front of `bytes`; returns it and the
/// bytes it took.
pub fn decode_body<T: Decode<()>>(bytes: &[u8]) -> Result<(T, usize), CodecError> {
    bincode::decode_from_slice(bytes, config()).map_err(|err| CodecError::Body(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_detect_damage() {
        let value = (7u64, "text".to_string(), vec![1u8, 2, 3]);
        let bytes = encode_record(b"key", &value).expect("encodes");
        let back: (u64, String, Vec<u8>) = decode_record(b"key", &bytes).expect("decodes");
        assert_eq!(back, value);

        let other_key = decode_record::<(u64, String, Vec<u8>)>(b"other", &bytes);
        assert!(matches!(other_key, Err(CodecError::Checksum { .. })));

        for index in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[index] ^= 0x40;
            assert!(
                decode_record::<(u64, String, Vec<u8>)>(b"key", &damaged).is_err(),
                "flip at byte {index} went unnoticed"
            );
        }
        assert_eq!(
            decode_record::<u64>(b"key", &[1, 2]),
            Err(CodecError::Truncated(2))
        );
    }

    #[test]
    fn a_record_too_large_to_decode_is_refused_when_encoded() {
        let value = "x".repeat(RECORD_BODY_BYTES_MAX);
        let err = encode_record(b"key", &value).expect_err("refused");
        // The string's length prefix makes the body longer than the text.
        assert!(matches!(err, CodecError::TooLarge(len) if len > RECORD_BODY_BYTES_MAX));
        let fits = "x".repeat(RECORD_BODY_BYTES_MAX - 16);
        let bytes = encode_record(b"key", &fits).expect("fits");
        let back: String = decode_record(b"key", &bytes).expect("reads back");
        assert_eq!(back.len(), fits.len());
    }
}
