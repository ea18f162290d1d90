//! Redacting a JSON payload only past what a clean one already had.
//!
//! A model request resends the previous request and appends to it. The
//! redactor keeps the last few large payloads it found clean, and where
//! their items lie (`reducer/request_skim.rs`). A payload that starts with
//! the same bytes as one of them has those items clean too: the same
//! strings, under the same keys. Only the rest is checked: the document
//! `{"input":[0` (a stand-in for the reused items) and the payload's bytes
//! from the end of the last of them, parsed and redacted like any payload
//! by a probe that shares this redactor's rules and memory but not its
//! counts. Unchanged, the payload is clean as it is. Changed, or not
//! parsed, the whole payload takes the ordinary path (which counts, and
//! writes the redacted JSON of the whole payload as before), so the answer
//! is always the ordinary path's.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::Redactor;
use crate::reducer::request_skim::{Layout, resume, skim_whole};
use crate::store::payload::common_prefix_len;

/// Payloads smaller than this are redacted whole (and not kept).
pub(super) const RESEND_MIN_BYTES: usize = 16 * 1024;
/// Bytes a payload must share with a kept one to be checked only past them.
const SHARED_MIN_BYTES: usize = 4 * 1024;
/// Clean payloads kept: the latest request of a few conversations.
const KEPT_MAX: usize = 4;

/// The latest large payloads found clean, with where their items lie.
#[derive(Default)]
pub(super) struct CleanPayloads {
    kept: VecDeque<(Arc<[u8]>, Layout)>,
    /// Payloads found clean past resent bytes.
    #[cfg(test)]
    hits: u64,
}

impl std::fmt::Debug for CleanPayloads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CleanPayloads({} kept)", self.kept.len())
    }
}

pub(super) type SharedCleanPayloads = Arc<Mutex<CleanPayloads>>;

impl Redactor {
    /// Whether `bytes`, a JSON payload, is clean, judged only past the
    /// bytes it shares with a clean payload kept: `Some(())` when it is
    /// (and it is kept in turn), `None` when this cannot tell (the caller
    /// redacts the whole).
    pub(super) fn clean_past_resent(&self, bytes: &[u8]) -> Option<()> {
        let (layout, shared) = {
            let payloads = self.resent.lock().ok()?;
            let (layout, shared) = payloads
                .kept
                .iter()
                .map(|(kept, layout)| (layout, common_prefix_len(kept, bytes)))
                .max_by_key(|(_, shared)| *shared)?;
            (layout.clone(), shared)
        };
        if shared < SHARED_MIN_BYTES {
            return None;
        }
        let (skimmed, document) = resume(bytes, &layout, None, shared)?;
        let mut rest: Value = serde_json::from_slice(&document).ok()?;
        if self.probe().redact_json(&mut rest) {
            return None;
        }
        #[cfg(test)]
        if let Ok(mut payloads) = self.resent.lock() {
            payloads.hits += 1;
        }
        if let Some(layout) = skimmed.layout {
            self.keep_clean(bytes, layout);
        }
        Some(())
    }

    /// Keeps a large payload found clean as a whole, with its layout (when
    /// it has an items array).
    pub(super) fn keep_clean_whole(&self, bytes: &[u8]) {
        if bytes.len() < RESEND_MIN_BYTES {
            return;
        }
        if let Some(layout) = skim_whole(bytes).and_then(|skimmed| skimmed.layout) {
            self.keep_clean(bytes, layout);
        }
    }

    fn keep_clean(&self, bytes: &[u8], layout: Layout) {
        let Ok(mut payloads) = self.resent.lock() else {
            return;
        };
        if payloads.kept.len() >= KEPT_MAX {
            payloads.kept.pop_front();
        }
        payloads.kept.push_back((Arc::from(bytes), layout));
    }

    /// This redactor's rules, known values and memory of clean texts, with
    /// counts of its own: what it finds is found again by the whole path,
    /// which counts it.
    fn probe(&self) -> Redactor {
        let mut probe = Redactor::new();
        probe.known.clone_from(&self.known);
        probe.clean = Arc::clone(&self.clean);
        probe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "tf-known-secret-0123456789";

    fn item(n: usize, text: &str) -> String {
        format!(
            r#"{{"type":"message","role":"user","content":[{{"type":"input_text","text":"turn {n}: {text}"}}]}}"#
        )
    }

    /// A request of `n` items of about 1 KiB, then `extra` items, then
    /// `tail` keys.
    fn request(n: usize, extra: &[String], tail: &str) -> Vec<u8> {
        let filler = "lorem ipsum dolor sit amet ".repeat(40);
        let mut items: Vec<String> = (0..n).map(|i| item(i, &filler)).collect();
        items.extend(extra.iter().cloned());
        format!(
            r#"{{"model":"m","instructions":"be brief","input":[{}],"tools":[]{tail}}}"#,
            items.join(",")
        )
        .into_bytes()
    }

    fn hits(redactor: &Redactor) -> u64 {
        redactor
            .resent
            .lock()
            .map(|payloads| payloads.hits)
            .unwrap_or(0)
    }

    /// What a redactor that never saw the earlier payloads makes of each.
    fn fresh(bytes: &[u8]) -> (Option<Vec<u8>>, Vec<(String, u64)>) {
        let redactor = Redactor::new().with_known_secret(SECRET);
        (redactor.redact_bytes(bytes), redactor.counts())
    }

    #[test]
    fn a_resent_request_is_checked_past_its_clean_prefix_with_the_same_answers() {
        let redactor = Redactor::new().with_known_secret(SECRET);
        let base = request(30, &[], "");
        assert_eq!(redactor.redact_bytes(&base), None);
        assert_eq!(hits(&redactor), 0);

        // Clean additions: found clean past the resent bytes.
        let clean = request(30, &[item(30, "more"), item(31, "and more")], "");
        assert_eq!(redactor.redact_bytes(&clean), None);
        assert_eq!(hits(&redactor), 1);
        // And the next request resends that one.
        let next = request(
            30,
            &[item(30, "more"), item(31, "and more"), item(32, "x")],
            "",
        );
        assert_eq!(redactor.redact_bytes(&next), None);
        assert_eq!(hits(&redactor), 2);

        // A secret in a new item, in a value or a key after `input`, or a
        // value under a secret key: the whole path's answer, counted once.
        for secret in [
            request(30, &[item(30, SECRET)], ""),
            request(30, &[], &format!(r#","note":"{SECRET}""#)),
            request(30, &[], r#","api_key":"abc""#),
            request(30, &[item(30, "more")], &format!(r#","{SECRET}":1"#)),
        ] {
            let redactor = Redactor::new().with_known_secret(SECRET);
            assert_eq!(redactor.redact_bytes(&base), None);
            let got = redactor.redact_bytes(&secret);
            let (want, counts) = fresh(&secret);
            assert!(
                want.is_some(),
                "{}",
                String::from_utf8_lossy(&secret[secret.len() - 80..])
            );
            assert_eq!(got, want);
            assert_eq!(redactor.counts(), counts);
            assert_eq!(hits(&redactor), 0);
        }

        // Not JSON past the shared bytes: the whole path says so too.
        let mut broken = request(30, &[item(30, "x")], "");
        broken.pop();
        let redactor = Redactor::new().with_known_secret(SECRET);
        assert_eq!(redactor.redact_bytes(&base), None);
        assert_eq!(redactor.redact_bytes(&broken), fresh(&broken).0);
        assert_eq!(hits(&redactor), 0);
    }

    #[test]
    fn a_known_secret_added_later_forgets_what_was_clean() {
        let base = request(30, &[], "");
        let redactor = Redactor::new();
        assert_eq!(redactor.redact_bytes(&base), None);
        // The prefix holds the new secret: it must not be taken as clean.
        let redactor = redactor.with_known_secret("lorem ipsum dolor");
        let next = request(30, &[item(30, "x")], "");
        assert!(redactor.redact_bytes(&next).is_some());
        assert_eq!(hits(&redactor), 0);
    }
}
