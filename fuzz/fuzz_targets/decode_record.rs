//! Fuzz target: the bincode record decoder on arbitrary bytes, both as given
//! and with the CRC re-sealed so the body decoder itself is reached. The
//! first byte picks the key length; the rest is key then record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracefold::__internal::decode_record;
use tracefold::event::Event;
use tracefold::{Recipe, RolloutManifest};

fn decode_all(key: &[u8], bytes: &[u8]) {
    let _ = decode_record::<Event>(key, bytes);
    let _ = decode_record::<RolloutManifest>(key, bytes);
    let _ = decode_record::<Recipe>(key, bytes);
}

fuzz_target!(|data: &[u8]| {
    let Some((&key_len, rest)) = data.split_first() else {
        return;
    };
    let key_len = usize::from(key_len % 40).min(rest.len());
    let (key, record) = rest.split_at(key_len);
    decode_all(key, record);
    if record.len() >= 5 {
        let mut sealed = record.to_vec();
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(key);
        hasher.update(&sealed[5..]);
        sealed[0] = 1;
        sealed[1..5].copy_from_slice(&hasher.finalize().to_le_bytes());
        decode_all(key, &sealed);
    }
});
