//! Numbers as a payload spells them.
//!
//! The reference reads payloads with serde_json's `arbitrary_precision`, so
//! a JSON part's summary writes each number as the payload spelled it
//! (`1.50`, `1e+2`, a 30-digit integer), where a plain `serde_json::Value`
//! holds an `f64` and writes its shortest form (`1.5`, `100.0`, `1e29`).
//! That feature cannot be turned on here: it is global to the build, and it
//! makes numbers inside internally tagged enums (the wire event payloads)
//! fail to deserialise. So a payload is parsed as usual and keeps its text;
//! only when a JSON part to be written holds a float (the only numbers whose
//! form can differ: integers in 64 bits are written as spelled) are the
//! number tokens of the text read, once, in document order, and paired with
//! the value's numbers. A pairing
//! that does not agree in value (a duplicated object key moves a value, and
//! the orders part) is given up: the numbers are then written as serde_json
//! writes them.
//!
//! A spelling is normalised as `arbitrary_precision` does it (serde_json
//! 1.0.154): the exponent marker is written `e`, and an unsigned exponent
//! gets a `+`.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use rustc_hash::FxHashMap;
use serde_json::Value;

/// A payload's parsed JSON with its text, from which the spelling of each
/// number serde_json would write differently is read when first asked for.
/// `'t` is the text's lifetime when it is borrowed (a JSON string inside
/// another payload); a payload's own bytes are shared.
#[derive(Debug)]
pub(crate) struct ParsedJson<'t> {
    value: Value,
    text: Text<'t>,
    /// By the address of a number node inside `value`'s containers (their
    /// heap storage does not move with `ParsedJson`), the root under
    /// [`ROOT`]; read from `text` on first use, so a payload whose JSON parts
    /// hold no float never pays.
    spellings: OnceLock<FxHashMap<usize, Box<str>>>,
}

/// The key of the root node in `ParsedJson::spellings`: its address moves
/// with the struct. No node inside a container has address 0.
const ROOT: usize = 0;

#[derive(Debug)]
enum Text<'t> {
    Shared(Arc<[u8]>),
    Borrowed(&'t str),
}

impl ParsedJson<'static> {
    /// Parses `bytes`, kept for the numbers' spellings.
    pub(crate) fn parse(bytes: Arc<[u8]>) -> serde_json::Result<ParsedJson<'static>> {
        let value = serde_json::from_slice(&bytes)?;
        Ok(ParsedJson {
            value,
            text: Text::Shared(bytes),
            spellings: OnceLock::new(),
        })
    }
}

impl<'t> ParsedJson<'t> {
    /// [`ParsedJson::parse`] of a text already known to be UTF-8 (not
    /// checked again), borrowed.
    /// [`ParsedJson::parse_str`] of bytes that must be UTF-8.
    pub(crate) fn parse_utf8(text: &'t [u8]) -> Result<ParsedJson<'t>, String> {
        let text = std::str::from_utf8(text).map_err(|err| err.to_string())?;
        ParsedJson::parse_str(text).map_err(|err| err.to_string())
    }

    pub(crate) fn parse_str(text: &'t str) -> serde_json::Result<ParsedJson<'t>> {
        let value = serde_json::from_str(text)?;
        Ok(ParsedJson {
            value,
            text: Text::Borrowed(text),
            spellings: OnceLock::new(),
        })
    }

    fn spellings(&self) -> &FxHashMap<usize, Box<str>> {
        self.spellings.get_or_init(|| {
            let text = match &self.text {
                Text::Shared(bytes) => &bytes[..],
                Text::Borrowed(text) => text.as_bytes(),
            };
            spellings_of(&self.value, text)
        })
    }

    /// The payload's own spelling of `number`, a node of this value, when
    /// serde_json would write it otherwise.
    pub(crate) fn spelling(&self, number: &Value) -> Option<&str> {
        let spellings = self.spellings();
        if spellings.is_empty() {
            return None;
        }
        let key = if std::ptr::eq(number, &self.value) {
            ROOT
        } else {
            number as *const Value as usize
        };
        spellings.get(&key).map(|spelled| &**spelled)
    }

    /// Whether any number is written otherwise than serde_json would.
    #[cfg(test)]
    fn has_spellings(&self) -> bool {
        !self.spellings().is_empty()
    }
}

impl Deref for ParsedJson<'_> {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.value
    }
}

/// The spellings of `value`'s numbers that differ from serde_json's, read
/// from `text` (the JSON `value` was parsed from); empty when there are none
/// or they cannot be paired with certainty.
fn spellings_of(value: &Value, text: &[u8]) -> FxHashMap<usize, Box<str>> {
    let mut spellings = FxHashMap::default();
    if !has_float(value) {
        return spellings;
    }
    let mut numbers = Vec::new();
    collect_numbers(value, &mut numbers);
    let tokens = number_tokens(text);
    if tokens.len() != numbers.len() {
        return FxHashMap::default();
    }
    for (node, token) in numbers.into_iter().zip(tokens) {
        let Value::Number(number) = node else {
            return FxHashMap::default();
        };
        let written = number.to_string();
        if !number.is_f64() {
            // Integers are written as spelled: a token that differs means
            // the pairing is off.
            if written.as_bytes() != token {
                return FxHashMap::default();
            }
            continue;
        }
        let Ok(token) = std::str::from_utf8(token) else {
            return FxHashMap::default();
        };
        if token.parse::<f64>().ok() != number.as_f64() {
            return FxHashMap::default();
        }
        let spelled = normalise(token);
        if spelled != written {
            let key = if std::ptr::eq(node, value) {
                ROOT
            } else {
                node as *const Value as usize
            };
            spellings.insert(key, spelled.into_boxed_str());
        }
    }
    spellings
}

/// Whether `value` holds a float (a number serde_json read as `f64`): the
/// only numbers whose spelling can differ from serde_json's.
pub(crate) fn has_float(value: &Value) -> bool {
    match value {
        Value::Number(number) => number.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(map) => map.values().any(has_float),
        Value::Null | Value::Bool(_) | Value::String(_) => false,
    }
}

/// Every number node of `value`, in document order (an object's entries in
/// their order: serde_json's `preserve_order` keeps it).
fn collect_numbers<'v>(value: &'v Value, out: &mut Vec<&'v Value>) {
    match value {
        Value::Number(_) => out.push(value),
        Value::Array(items) => {
            for item in items {
                collect_numbers(item, out);
            }
        }
        Value::Object(map) => {
            for item in map.values() {
                collect_numbers(item, out);
            }
        }
        Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
}

/// The number tokens of valid JSON `text`, in order.
fn number_tokens(text: &[u8]) -> Vec<&[u8]> {
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < text.len() {
        match text[at] {
            b'"' => {
                at += 1;
                while at < text.len() && text[at] != b'"' {
                    at += if text[at] == b'\\' { 2 } else { 1 };
                }
                at += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = at;
                while at < text.len()
                    && matches!(text[at], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    at += 1;
                }
                tokens.push(&text[start..at]);
            }
            _ => at += 1,
        }
    }
    tokens
}

/// A number token as `arbitrary_precision` keeps it: `e` for the exponent
/// marker, and `+` before an unsigned exponent.
fn normalise(token: &str) -> String {
    let Some(at) = token.find(['e', 'E']) else {
        return token.to_string();
    };
    let (mantissa, exponent) = (&token[..at], &token[at + 1..]);
    if exponent.starts_with(['+', '-']) {
        format!("{mantissa}e{exponent}")
    } else {
        format!("{mantissa}e+{exponent}")
    }
}

/// How [`write_json`] orders an object's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyOrder {
    /// As the object has them: serde_json's compact form (a summary).
    AsGiven,
    /// Sorted: canonical JSON (what identities hash).
    Sorted,
}

/// Writes `value` as JSON without whitespace, keys in `order`, straight into
/// `out`; strings and scalars as serde_json's compact serialiser writes them,
/// each number as `json` spells it when `value` is part of `json`.
pub(crate) fn write_json(
    value: &Value,
    json: Option<&ParsedJson<'_>>,
    order: KeyOrder,
    out: &mut Vec<u8>,
) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            if order == KeyOrder::Sorted {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            out.push(b'{');
            for (index, (name, inner)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                // Writing into a Vec cannot fail, and a str always serialises.
                let _ = serde_json::to_writer(&mut *out, name);
                out.push(b':');
                write_json(inner, json, order, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (index, inner) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_json(inner, json, order, out);
            }
            out.push(b']');
        }
        scalar => {
            if let Some(spelled) = json.and_then(|json| json.spelling(scalar)) {
                out.extend_from_slice(spelled.as_bytes());
            } else {
                let _ = serde_json::to_writer(&mut *out, scalar);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compact(text: &str) -> String {
        let json = ParsedJson::parse_str(text).expect("json");
        let mut out = Vec::new();
        write_json(&json, Some(&json), KeyOrder::AsGiven, &mut out);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn numbers_keep_their_spelling_normalised_as_arbitrary_precision_does() {
        assert_eq!(
            compact(r#"{"a": 1.50, "b": [1E2, 1e-2, 2.5e+3], "c": -0, "d": 1e2, "e": 7}"#),
            r#"{"a":1.50,"b":[1e+2,1e-2,2.5e+3],"c":-0,"d":1e+2,"e":7}"#
        );
        assert_eq!(
            compact("123456789012345678901234567890"),
            "123456789012345678901234567890"
        );
        // Without the spellings, serde_json's forms.
        let json =
            ParsedJson::parse_str(r#"[1.50, 123456789012345678901234567890]"#).expect("json");
        assert_eq!(json.to_string(), "[1.5,1.2345678901234568e+29]");
    }

    #[test]
    fn strings_and_keys_that_look_like_numbers_are_not_numbers() {
        assert_eq!(
            compact(r#"{"1.50": "2.50", "x\"1.0": [3.10, "\\", 4.0]}"#),
            r#"{"1.50":"2.50","x\"1.0":[3.10,"\\",4.0]}"#
        );
    }

    #[test]
    fn a_payload_without_floats_or_whose_numbers_cannot_be_paired_has_no_spellings() {
        let ints = ParsedJson::parse_str(r#"{"a": 1, "b": [-2, 3]}"#).expect("json");
        assert!(!ints.has_spellings());
        // A duplicated key moves its value: the orders differ, so nothing is
        // paired and serde_json's forms are written.
        let duplicated =
            ParsedJson::parse_str(r#"{"a": 1.50, "b": 2.50, "a": 3.50}"#).expect("json");
        assert!(!duplicated.has_spellings());
        let mut out = Vec::new();
        write_json(&duplicated, Some(&duplicated), KeyOrder::AsGiven, &mut out);
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            r#"{"a":3.5,"b":2.5}"#
        );
    }

    #[test]
    fn a_value_outside_the_parsed_payload_is_written_as_serde_json_writes_it() {
        let json = ParsedJson::parse_str(r#"{"a": 1.50}"#).expect("json");
        let copy: Value = (*json).clone();
        let mut out = Vec::new();
        write_json(&copy, Some(&json), KeyOrder::AsGiven, &mut out);
        assert_eq!(String::from_utf8(out).expect("utf-8"), r#"{"a":1.5}"#);
    }
}
