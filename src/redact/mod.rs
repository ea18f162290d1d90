//! Redaction of secrets before anything is hashed or stored.
//!
//! A [`Redactor`] replaces secrets in every string the store keeps: the
//! event fields and ids ([`Redactor::redact_event`]), JSON payloads (values
//! and object keys, [`Redactor::redact_json`]) and payloads that are text or
//! arbitrary bytes ([`Redactor::redact_bytes`]). What it replaces:
//!
//! - configured known values ([`Redactor::with_known_secret`]) and whole
//!   values under secret-looking JSON keys (`authorization`, `api_key`,
//!   `token`, `password`, `cookie`, `..._secret`, ...; strings, numbers,
//!   arrays and objects alike) become [`MARKER`], `[REDACTED]`;
//! - secrets found by the rules of `rules.toml` (provider key formats, JWTs,
//!   private keys, credentials in URLs and headers, generic `password=...`
//!   assignments) become `[REDACTED:<8 hex digits>]`, a keyed BLAKE3 digest
//!   of the secret ([`rule_marker`]). The same secret always gives the same
//!   marker and two secrets two markers, so an id that embeds a secret stays
//!   the same id everywhere it appears, and distinct from the others.
//!
//! The recorder's writer and ingest/import apply it before hashing, so a
//! secret never reaches disk. It counts what it redacted per rule
//! ([`Redactor::counts`]), shared by clones.
//!
//! It does no I/O, never fails and never recurses on input depth (JSON is
//! walked with an explicit stack). It is deterministic (the same input gives
//! the same output, so re-importing a file gives the same events) and
//! idempotent (no rule matches a marker, so redacting twice changes nothing).
//! It errs on the side of redacting.

mod resend;
mod rules;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aho_corasick::{AhoCorasick, MatchKind};
use serde_json::{Map, Value};

use crate::event::{EventPayload, EventString};

/// What known values and values under secret keys are replaced with.
pub const MARKER: &str = "[REDACTED]";

/// The count id of configured known values.
pub const KNOWN_VALUE: &str = "known-value";

/// The count id of values replaced because of their JSON key.
pub const SECRET_KEY: &str = "secret-key";

/// The count id of texts replaced whole because the rule set did not load
/// (never, for the rule file this crate is built with: a unit test loads it).
pub const RULES_UNAVAILABLE: &str = "rules-unavailable";

/// The ids counted outside the rule file, in count-slot order.
const FIXED_IDS: [&str; 3] = [KNOWN_VALUE, SECRET_KEY, RULES_UNAVAILABLE];
const SLOT_KNOWN_VALUE: usize = 0;
const SLOT_SECRET_KEY: usize = 1;
const SLOT_RULES_UNAVAILABLE: usize = 2;

/// The BLAKE3 key-derivation context of rule markers: the digest is of this
/// domain only, so it cannot be compared with a plain hash of the secret.
const MARKER_CONTEXT: &str = "tracefold 2026-11 redaction marker of a secret found by a rule";

/// Key names (lower-case, `-` and `_` removed) whose values are secrets.
const SECRET_KEYS: &[&str] = &[
    "authorization",
    "proxyauthorization",
    "apikey",
    "xapikey",
    "token",
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "sessiontoken",
    "authtoken",
    "bearertoken",
    "password",
    "passwd",
    "passphrase",
    "secret",
    "clientsecret",
    "secretkey",
    "privatekey",
    "cookie",
    "setcookie",
];

/// Key name endings that mark a secret (`openai_api_key`, `github_token`,
/// `aws_secret_access_key`).
const SECRET_KEY_SUFFIXES: &[&str] = &[
    "apikey",
    "token",
    "secret",
    "password",
    "privatekey",
    "secretkey",
    "accesskey",
];

/// The marker a secret found by a rule becomes: `[REDACTED:` and the first
/// 8 hex digits of a keyed BLAKE3 digest of the secret's bytes, then `]`.
/// Rule matches are high-entropy tokens, so 32 bits reveal nothing useful
/// about them while keeping distinct secrets (and the ids that embed them)
/// distinct.
pub fn rule_marker(secret: &[u8]) -> String {
    let digest = blake3::Hasher::new_derive_key(MARKER_CONTEXT)
        .update(secret)
        .finalize();
    let mut marker = String::with_capacity(19);
    marker.push_str("[REDACTED:");
    for byte in &digest.as_bytes()[..4] {
        marker.push(char::from(HEX[usize::from(byte >> 4)]));
        marker.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    marker.push(']');
    marker
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Known values and the automaton that finds them.
#[derive(Debug)]
struct KnownValues {
    values: Vec<String>,
    /// Leftmost-longest, so a value that contains another is replaced whole.
    /// `None` only if the automaton could not be built (a search by each
    /// value in turn is used instead).
    automaton: Option<AhoCorasick>,
}

/// Replaces secrets (see the module documentation). Cheap to clone; clones
/// share their counts.
#[derive(Debug, Clone)]
pub struct Redactor {
    known: Option<Arc<KnownValues>>,
    /// One counter per id: [`FIXED_IDS`], then the rules in file order.
    counts: Arc<[AtomicU64]>,
    /// BLAKE3 of texts of at least [`CLEAN_TEXT_MIN_BYTES`] this redactor
    /// (or a clone: same values, same rules) left unchanged, so a text seen
    /// again is not scanned again: a conversation's messages come back in
    /// every request, and the scan was a fifth of an import's time. At
    /// most [`CLEAN_TEXTS_MAX`], emptied when full. Exact: a text is skipped
    /// only when its 256-bit hash is one of a text found clean.
    clean: Arc<Mutex<BTreeSet<[u8; 32]>>>,
    /// The latest large payloads found clean, so one that resends their
    /// bytes is checked only past them (`resend.rs`).
    resent: resend::SharedCleanPayloads,
}

/// Shorter texts are scanned every time. 128: an import of the 200-turn
/// bundle took 930 ms of CPU without the memory, 847 ms with it from 128
/// bytes (medians of 5, alternating) and no less from 1 KiB (its strings
/// are mostly shorter).
const CLEAN_TEXT_MIN_BYTES: usize = 128;
/// Hashes remembered per redactor: 2 MiB of them.
const CLEAN_TEXTS_MAX: usize = 1 << 16;

impl Default for Redactor {
    fn default() -> Redactor {
        Redactor::new()
    }
}

impl Redactor {
    /// A redactor with the built-in key names and rules, and no known values.
    pub fn new() -> Redactor {
        let rules = rules::rule_set().map_or(0, |set| set.rules.len());
        Redactor {
            known: None,
            counts: (0..FIXED_IDS.len() + rules)
                .map(|_| AtomicU64::new(0))
                .collect(),
            clean: Arc::default(),
            resent: Arc::default(),
        }
    }

    /// Also redacts this exact value wherever it occurs. Values shorter than
    /// 4 bytes are ignored (they would redact noise), and so are values that
    /// could occur inside a marker (`DACT`, `ED]#2`): replacing them would
    /// make redaction change its own output.
    pub fn with_known_secret(mut self, value: impl Into<String>) -> Redactor {
        let value = value.into();
        let mut values = self
            .known
            .as_ref()
            .map_or_else(Vec::new, |known| known.values.clone());
        if value.len() >= 4 && !could_occur_in_a_marker(&value) && !values.contains(&value) {
            values.push(value);
            let automaton = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&values)
                .ok();
            self.known = Some(Arc::new(KnownValues { values, automaton }));
            // What was clean may hold this value.
            self.clean = Arc::default();
            self.resent = Arc::default();
        }
        self
    }

    /// How many values were redacted, per id (a rule id of `rules.toml`,
    /// `known-value`, `secret-key`), sorted by id, non-zero only. Clones
    /// of this redactor add to the same counts.
    pub fn counts(&self) -> Vec<(String, u64)> {
        let rules = rules::rule_set().ok();
        let mut counts: Vec<(String, u64)> = self
            .counts
            .iter()
            .enumerate()
            .filter_map(|(slot, count)| {
                let count = count.load(Ordering::Relaxed);
                let id = match slot.checked_sub(FIXED_IDS.len()) {
                    None => FIXED_IDS[slot],
                    Some(rule) => rules?.rules.get(rule)?.spec.id.as_str(),
                };
                (count > 0).then(|| (id.to_string(), count))
            })
            .collect();
        counts.sort();
        counts
    }

    fn clean_texts(&self) -> std::sync::MutexGuard<'_, BTreeSet<[u8; 32]>> {
        // A panic elsewhere cannot leave a wrong entry: an entry is one
        // insert of a text found clean.
        self.clean
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn count(&self, slot: usize, by: u64) {
        if let Some(counter) = self.counts.get(slot) {
            counter.fetch_add(by, Ordering::Relaxed);
        }
    }

    /// Whether a JSON object key names a secret.
    pub fn is_secret_key(&self, key: &str) -> bool {
        // Fast path without allocating: ASCII keys normalised on the stack.
        let mut buffer = [0u8; 64];
        if key.is_ascii() && key.len() <= buffer.len() {
            let mut len = 0;
            for byte in key.bytes().filter(|b| *b != b'-' && *b != b'_') {
                buffer[len] = byte.to_ascii_lowercase();
                len += 1;
            }
            let normal = &buffer[..len];
            return SECRET_KEYS.iter().any(|known| known.as_bytes() == normal)
                || SECRET_KEY_SUFFIXES
                    .iter()
                    .any(|suffix| normal.ends_with(suffix.as_bytes()));
        }
        let normal: String = key
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect();
        SECRET_KEYS.contains(&normal.as_str())
            || SECRET_KEY_SUFFIXES
                .iter()
                .any(|suffix| normal.ends_with(suffix))
    }

    /// `text` with known values and rule matches redacted; `None` when
    /// nothing changed.
    pub fn redact_str(&self, text: &str) -> Option<String> {
        let key =
            (text.len() >= CLEAN_TEXT_MIN_BYTES).then(|| *blake3::hash(text.as_bytes()).as_bytes());
        if let Some(key) = &key
            && self.clean_texts().contains(key)
        {
            return None;
        }
        let Some(redacted) = self.redact_text(text.as_bytes()) else {
            if let Some(key) = key {
                let mut clean = self.clean_texts();
                if clean.len() >= CLEAN_TEXTS_MAX {
                    clean.clear();
                }
                clean.insert(key);
            }
            return None;
        };
        // Replacements are ASCII and cover whole characters (the rules match
        // ASCII and the known values are whole strings), so this is UTF-8;
        // should it not be, the lossy conversion only loses bytes.
        Some(match String::from_utf8(redacted) {
            Ok(text) => text,
            Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
        })
    }

    /// Redacts `text` in place; returns whether it changed.
    pub(crate) fn redact_string(&self, text: &mut String) -> bool {
        match self.redact_str(text) {
            Some(redacted) => {
                *text = redacted;
                true
            }
            None => false,
        }
    }

    /// Redacts a JSON value in place: strings, object keys, and whole
    /// values under secret keys. Returns whether anything changed.
    ///
    /// A key that embeds a secret is redacted like any string; if it then
    /// equals another key of its object, it gets a `#2` (`#3`, ...) suffix,
    /// so no two members are merged.
    pub fn redact_json(&self, value: &mut Value) -> bool {
        let mut changed = false;
        let mut stack: Vec<&mut Value> = vec![value];
        while let Some(value) = stack.pop() {
            match value {
                Value::String(text) => changed |= self.redact_string(text),
                Value::Array(items) => stack.extend(items.iter_mut()),
                Value::Object(map) => {
                    changed |= self.redact_keys(map);
                    for (key, item) in map.iter_mut() {
                        if self.is_secret_key(key) {
                            if replace_secret_value(item) {
                                self.count(SLOT_SECRET_KEY, 1);
                                changed = true;
                            }
                            continue;
                        }
                        stack.push(item);
                    }
                }
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
        changed
    }

    /// Redacts the keys of one object, keeping their order; returns whether
    /// any changed.
    fn redact_keys(&self, map: &mut Map<String, Value>) -> bool {
        let mut renamed = map
            .keys()
            .enumerate()
            .filter_map(|(index, key)| self.redact_str(key).map(|new| (index, new)))
            .peekable();
        if renamed.peek().is_none() {
            return false;
        }
        // Unchanged keys keep their names; a redacted key that equals one of
        // them or an earlier redacted key takes a suffix. (A key equal to a
        // redacted key is itself unchanged: redaction is idempotent.)
        let mut keys: Vec<String> = Vec::with_capacity(map.len());
        let mut taken: Vec<String> = Vec::new();
        for (index, key) in map.keys().enumerate() {
            match renamed.next_if(|(at, _)| *at == index) {
                Some((_, new)) => {
                    let mut unique = new.clone();
                    let mut suffix = 2u64;
                    while map.contains_key(&unique) || taken.contains(&unique) {
                        unique = format!("{new}#{suffix}");
                        suffix += 1;
                    }
                    taken.push(unique.clone());
                    keys.push(unique);
                }
                None => keys.push(key.clone()),
            }
        }
        let old = std::mem::take(map);
        map.extend(keys.into_iter().zip(old.into_iter().map(|(_, item)| item)));
        true
    }

    /// Redacts payload bytes. JSON is parsed, redacted and re-serialised
    /// (compact, key order kept) only if something changed; anything else,
    /// UTF-8 or not, is scanned as bytes (the rules are ASCII) and known
    /// values are replaced bytewise. `None` when nothing changed, so
    /// unchanged payloads keep their exact bytes.
    ///
    /// A large JSON payload that starts with the bytes of one found clean
    /// lately (a model request resending the conversation) is checked only
    /// past the items those bytes hold, with the same answer.
    pub fn redact_bytes(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        if bytes.len() >= resend::RESEND_MIN_BYTES && self.clean_past_resent(bytes).is_some() {
            return None;
        }
        if let Ok(mut value) = serde_json::from_slice::<Value>(bytes) {
            if self.redact_json(&mut value) {
                // A parsed value always serialises (string keys only); the
                // whitespace around it (a line's ending) is kept.
                let text_start = bytes.len() - bytes.trim_ascii_start().len();
                let text_end = bytes.trim_ascii_end().len();
                let mut out = bytes[..text_start].to_vec();
                serde_json::to_writer(&mut out, &value).ok()?;
                out.extend_from_slice(&bytes[text_end..]);
                return Some(out);
            }
            self.keep_clean_whole(bytes);
            return None;
        }
        self.redact_text(bytes)
    }

    /// Redacts every string of one event in place: the rollout id, the envelope's
    /// thread and turn ids, and every field of the payload (ids, names, texts,
    /// unknown-event and `other` JSON, keys included). Payload references are
    /// left to the payload path. Returns how many values it changed.
    pub fn redact_event<R>(
        &self,
        rollout_id: &mut String,
        thread_id: &mut Option<String>,
        codex_turn_id: &mut Option<String>,
        payload: &mut EventPayload<R>,
    ) -> u64 {
        let mut changed = 0;
        let mut redact = |kind: EventString, text: &mut String| {
            let done = match kind {
                EventString::Json => self.redact_json_text(text),
                EventString::Id | EventString::Text => self.redact_string(text),
            };
            changed += u64::from(done);
        };
        redact(EventString::Id, rollout_id);
        for id in [thread_id, codex_turn_id].into_iter().flatten() {
            redact(EventString::Id, id);
        }
        payload.for_each_string_mut(&mut redact);
        changed
    }

    /// Redacts JSON text (unknown events, `other` metadata) as JSON, so it
    /// stays valid JSON; text that does not parse is redacted as a string.
    fn redact_json_text(&self, text: &mut String) -> bool {
        let Ok(mut value) = serde_json::from_str::<Value>(text) else {
            return self.redact_string(text);
        };
        if !self.redact_json(&mut value) {
            return false;
        }
        match serde_json::to_string(&value) {
            Ok(json) => {
                *text = json;
                true
            }
            Err(_) => self.redact_string(text),
        }
    }

    /// Known values, then rule matches, redacted in `text`; `None` when
    /// nothing changed.
    fn redact_text(&self, text: &[u8]) -> Option<Vec<u8>> {
        let known = self.replace_known(text);
        let source = known.as_deref().unwrap_or(text);
        match self.replace_rule_matches(source) {
            Some(redacted) => Some(redacted),
            None => known,
        }
    }

    fn replace_known(&self, text: &[u8]) -> Option<Vec<u8>> {
        let known = self.known.as_ref()?;
        let mut out: Vec<u8> = Vec::new();
        let mut copied = 0;
        let mut replaced = 0u64;
        let mut replace = |start: usize, end: usize| {
            out.extend_from_slice(&text[copied..start]);
            out.extend_from_slice(MARKER.as_bytes());
            copied = end;
            replaced += 1;
        };
        match &known.automaton {
            Some(automaton) => {
                for found in automaton.find_iter(text) {
                    replace(found.start(), found.end());
                }
            }
            None => {
                // Left to right, the longest value starting at each
                // position, as the automaton would.
                let mut index = 0;
                while index < text.len() {
                    let value = known
                        .values
                        .iter()
                        .filter(|value| text[index..].starts_with(value.as_bytes()))
                        .max_by_key(|value| value.len());
                    match value {
                        Some(value) => {
                            replace(index, index + value.len());
                            index += value.len();
                        }
                        None => index += 1,
                    }
                }
            }
        }
        if replaced == 0 {
            return None;
        }
        out.extend_from_slice(&text[copied..]);
        self.count(SLOT_KNOWN_VALUE, replaced);
        Some(out)
    }

    fn replace_rule_matches(&self, text: &[u8]) -> Option<Vec<u8>> {
        let set = match rules::rule_set() {
            Ok(set) => set,
            Err(_) => return self.replace_whole(text),
        };
        let found = set.find(text);
        if found.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(text.len());
        let mut copied = 0;
        for secret in &found {
            out.extend_from_slice(&text[copied..secret.start]);
            out.extend_from_slice(rule_marker(&text[secret.start..secret.end]).as_bytes());
            copied = secret.end;
            self.count(FIXED_IDS.len() + secret.rule, 1);
        }
        out.extend_from_slice(&text[copied..]);
        Some(out)
    }

    /// Without rules, a text that is not already a marker is replaced whole
    /// (failing closed: nothing that could hold a secret is kept).
    fn replace_whole(&self, text: &[u8]) -> Option<Vec<u8>> {
        let is_marker = text.starts_with(b"[REDACTED") && text.ends_with(b"]");
        if text.is_empty() || is_marker {
            return None;
        }
        self.count(SLOT_RULES_UNAVAILABLE, 1);
        Some(rule_marker(text).into_bytes())
    }
}

/// Whether `value` can be part of the text redaction writes: a marker
/// (`[REDACTED]`, `[REDACTED:` 8 lower-case hex digits `]`), possibly followed
/// by the `#2` suffix of a JSON key that collided.
fn could_occur_in_a_marker(value: &str) -> bool {
    // `h` stands for a hex digit, `n` for a decimal digit.
    const TEMPLATES: [&[u8]; 2] = [
        b"[REDACTED]#nnnnnnnnnnnnnnnnnnnn",
        b"[REDACTED:hhhhhhhh]#nnnnnnnnnnnnnnnnnnnn",
    ];
    let value = value.as_bytes();
    let fits = |byte: u8, template: u8| match template {
        b'h' => byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte),
        b'n' => byte.is_ascii_digit(),
        _ => byte == template,
    };
    TEMPLATES.iter().any(|template| {
        template.len() >= value.len()
            && (0..=template.len() - value.len()).any(|offset| {
                value
                    .iter()
                    .zip(&template[offset..])
                    .all(|(byte, template)| fits(*byte, *template))
            })
    })
}

/// Replaces a value under a secret key with [`MARKER`]; returns whether it
/// changed. Nulls, booleans, empty strings and the marker itself hold
/// nothing and stay.
fn replace_secret_value(value: &mut Value) -> bool {
    match value {
        Value::Null | Value::Bool(_) => false,
        Value::String(text) if text.is_empty() || text == MARKER => false,
        Value::String(_) | Value::Number(_) | Value::Array(_) | Value::Object(_) => {
            drop_without_recursion(std::mem::replace(value, Value::String(MARKER.to_string())));
            true
        }
    }
}

/// Drops a value with an explicit stack: serde_json's own drop recurses,
/// and a host may hand over a deeply nested value under a secret key.
fn drop_without_recursion(value: Value) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, item)| item)),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
        }
    }
}

#[cfg(test)]
#[path = "redact_tests.rs"]
mod tests;
