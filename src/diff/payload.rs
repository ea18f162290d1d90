//! Payload comparison: payload facts, their raw keys, and the normalised
//! content keys that decide, when both sides can read payloads, whether
//! payloads with different raw hashes are still the same.
//!
//! Equal raw BLAKE3 means equal. Only payloads whose raw hashes differ from
//! their aligned counterpart's are read, each distinct one once, on all
//! cores ([`Side::prefetch`]); a payload that cannot be read keeps its raw
//! key, so it stays different.

use serde_json::Value;

use super::align::Side;
use super::fact::{ComparedPayload, Entries, Fact};
use crate::event::PayloadRef;

impl Side<'_> {
    /// A fact of one optional payload.
    pub fn payload(&self, label: &'static str, payload_id: Option<&str>) -> Fact {
        let key = self.payload_key(payload_id);
        Fact {
            label,
            payloads: payload_id
                .map(|id| {
                    vec![ComparedPayload {
                        key: key.clone(),
                        id: id.to_string(),
                    }]
                })
                .unwrap_or_default(),
            key,
            shown: None,
        }
    }

    /// A fact of a list of payloads: equal when every payload is.
    pub fn payloads(&self, label: &'static str, ids: &[String]) -> Fact {
        let payloads: Vec<ComparedPayload> = ids
            .iter()
            .map(|id| ComparedPayload {
                key: self.payload_key(Some(id)),
                id: id.clone(),
            })
            .collect();
        let key = payloads
            .iter()
            .map(|payload| payload.key.as_str())
            .collect::<Vec<_>>()
            .join(",");
        Fact {
            label,
            key,
            payloads,
            shown: Some(format!("{} payload(s)", ids.len())),
        }
    }

    /// The raw comparison key of a payload: `none`, its BLAKE3, or
    /// `unknown payload` with its (normalised) id.
    fn payload_key(&self, payload_id: Option<&str>) -> String {
        let Some(id) = payload_id else {
            return "none".to_string();
        };
        let Some(entry) = self.trace.raw_payloads.get(id) else {
            return format!("unknown payload {}", self.normalize_text(id));
        };
        format!("blake3 {}", entry.blake3)
    }

    /// The normalised payload as JSON (or text), when readable.
    pub fn read_normalized(&self, payload_id: &str) -> Option<Value> {
        let reader = self.reader?;
        let entry = self.trace.raw_payloads.get(payload_id)?;
        let bytes = reader
            .read_payload(&PayloadRef {
                kind: entry.kind.clone(),
                hash: entry.blake3,
                size_bytes: entry.size_bytes,
            })
            .ok()?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(value) => Some(self.normalize_value(&value)),
            Err(_) => Some(Value::String(
                self.normalize_text(&String::from_utf8_lossy(&bytes)),
            )),
        }
    }

    /// The normalised content key of payload `id` (read and normalised
    /// now), or its raw key when it cannot be read.
    fn normalized_key(&self, id: &str) -> String {
        match self.read_normalized(id) {
            Some(value) => {
                let text = serde_json::to_string(&value).unwrap_or_default();
                format!("content {}", blake3::hash(text.as_bytes()).to_hex())
            }
            None => self.payload_key_raw(id),
        }
    }

    /// The raw key of payload `id` (its id unnormalised when unknown).
    fn payload_key_raw(&self, id: &str) -> String {
        self.trace
            .raw_payloads
            .get(id)
            .map(|entry| format!("blake3 {}", entry.blake3))
            .unwrap_or_else(|| format!("unknown payload {id}"))
    }

    /// Normalises `ids` (those whose raw hashes differ from their
    /// counterparts) on all cores, each distinct payload once.
    pub fn prefetch(&mut self, ids: Vec<String>) {
        let mut ids: Vec<String> = ids
            .into_iter()
            .filter(|id| !self.payload_cache.contains_key(id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return;
        }
        let workers = std::thread::available_parallelism()
            .map(std::num::NonZeroUsize::get)
            .unwrap_or(1)
            .clamp(1, 16);
        let chunk = ids.len().div_ceil(workers);
        let this = &*self;
        let results: Vec<Vec<(String, String)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = ids
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|id| (id.clone(), this.normalized_key(id)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for (id, key) in results.into_iter().flatten() {
            self.payload_cache.insert(id, key);
        }
    }

    /// The normalised key of `id` after [`Side::prefetch`].
    pub fn cached_key(&self, id: &str) -> Option<&str> {
        self.payload_cache.get(id).map(String::as_str)
    }
}

/// The payloads to read on each side: those of aligned payload facts whose
/// raw keys differ, pairwise (facts whose payload counts differ are
/// different whatever their content).
pub(super) fn payloads_to_read(a: &Entries, b: &Entries) -> (Vec<String>, Vec<String>) {
    let (mut need_a, mut need_b) = (Vec::new(), Vec::new());
    for (key, entry) in a {
        let Some(other) = b.get(key) else {
            continue;
        };
        for (x, y) in entry.facts.iter().zip(&other.facts) {
            if x.key != y.key && x.payloads.len() == y.payloads.len() {
                for (p, q) in x.payloads.iter().zip(&y.payloads) {
                    if p.key != q.key {
                        need_a.push(p.id.clone());
                        need_b.push(q.id.clone());
                    }
                }
            }
        }
    }
    (need_a, need_b)
}

/// The two sides of a comparison, and whether payloads compare by content.
pub(super) struct Comparison<'s, 'a> {
    pub a: &'s Side<'a>,
    pub b: &'s Side<'a>,
    /// Both sides can read payloads (and [`Side::prefetch`] has run).
    pub normalize: bool,
}

impl Comparison<'_, '_> {
    /// Whether two aligned facts are the same: equal keys, or (comparing
    /// content) equal payload lists where every pair has equal raw or
    /// normalised keys.
    pub fn same(&self, x: &Fact, y: &Fact) -> bool {
        if x.key == y.key {
            return true;
        }
        self.normalize
            && !x.payloads.is_empty()
            && x.payloads.len() == y.payloads.len()
            && x.payloads.iter().zip(&y.payloads).all(|(p, q)| {
                p.key == q.key
                    || matches!(
                        (self.a.cached_key(&p.id), self.b.cached_key(&q.id)),
                        (Some(ka), Some(kb)) if ka == kb
                    )
            })
    }
}

#[cfg(test)]
#[path = "payload_tests.rs"]
mod tests;
