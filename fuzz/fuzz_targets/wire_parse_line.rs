//! Fuzz target: the wire-format line parser on arbitrary bytes. Owns nothing
//! but the call; must never assume the input is valid UTF-8 or JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = tracefold::__internal::parse_line(&text);
});
