//! `tracefold view`: a rollout (or two, side by side) as one self-contained
//! HTML page. The page is a template, a stylesheet and a script compiled
//! into the binary (`assets/`), and the data the script draws from, as JSON
//! in a `<script type="application/json">` element: the [`RolloutView`],
//! the state with each inference call's request written as a delta against
//! the thread's previous call, and the payload bodies the state cites, once
//! per BLAKE3 however many objects cite them. Nothing is fetched: the page
//! opens from `file://` with no network.

use std::io::Write;

use base64::prelude::{BASE64_STANDARD, Engine};
use flate2::Compression;
use flate2::write::GzEncoder;
use indexmap::IndexMap;
use serde::Serialize;

use super::RolloutView;
use crate::diff::DiffAlignment;
use crate::event::{Hash, PayloadKind, PayloadRef};
use crate::model::{ItemId, RolloutTrace};
use crate::reducer::PayloadSource;

const TEMPLATE: &str = include_str!("assets/page.html");
const STYLE: &str = include_str!("assets/viewer.css");
const SCRIPT: &str = include_str!("assets/viewer.js");

/// What goes into a page.
#[derive(Debug, Clone)]
pub struct PageOptions {
    /// Each payload body is cut to this many bytes in the page (the page
    /// says how many more there are and how to read them all).
    pub max_body_bytes: usize,
}

impl Default for PageOptions {
    fn default() -> PageOptions {
        PageOptions {
            max_body_bytes: 64 * 1024,
        }
    }
}

/// One rollout's data in a page.
#[derive(Serialize)]
struct RolloutData<'a> {
    view: RolloutView,
    /// The state, each inference call's `request_item_ids` emptied: the
    /// request is in `requests`.
    state: RolloutTrace,
    /// Each inference call's request as `{after, keep, add}`: the first
    /// `keep` items of call `after`'s request, then `add`.
    requests: IndexMap<&'a str, RequestDelta<'a>>,
    /// Payload bodies by BLAKE3 (hex).
    payloads: IndexMap<String, PagePayload>,
}

/// An inference call's request items relative to the thread's previous
/// call.
#[derive(Serialize)]
struct RequestDelta<'a> {
    after: Option<&'a str>,
    keep: usize,
    add: &'a [ItemId],
}

/// A payload body as the page holds it.
#[derive(Serialize, Default)]
struct PagePayload {
    kind: String,
    size_bytes: u64,
    /// The body (cut to `max_body_bytes`), when it is UTF-8 and not left
    /// out.
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    /// Whether `text` was cut.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
    /// Why there is no text: left out, not UTF-8, or unreadable.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// The page for one rollout. `payloads` reads the bodies the state cites;
/// without it (a state JSON file) the page lists payloads by hash and size.
pub fn rollout_page(
    trace: &RolloutTrace,
    payloads: Option<&dyn PayloadSource>,
    options: &PageOptions,
) -> String {
    let data = rollout_data(trace, payloads, options);
    let title = format!("rollout {}", trace.rollout_id);
    page(
        &title,
        &Page::Rollout {
            rollout: Box::new(data),
        },
    )
}

/// The page comparing `a` and `b`, aligned as `alignment` (from
/// [`crate::diff::align_with_payloads`]) says, its first divergence
/// selected on open.
pub fn diff_page(
    a: (&RolloutTrace, Option<&dyn PayloadSource>),
    b: (&RolloutTrace, Option<&dyn PayloadSource>),
    alignment: &DiffAlignment,
    options: &PageOptions,
) -> String {
    let title = format!("diff {} / {}", a.0.rollout_id, b.0.rollout_id);
    page(
        &title,
        &Page::Diff {
            a: Box::new(rollout_data(a.0, a.1, options)),
            b: Box::new(rollout_data(b.0, b.1, options)),
            alignment,
        },
    )
}

/// What the script draws.
#[derive(Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
enum Page<'a> {
    Rollout {
        rollout: Box<RolloutData<'a>>,
    },
    Diff {
        a: Box<RolloutData<'a>>,
        b: Box<RolloutData<'a>>,
        alignment: &'a DiffAlignment,
    },
}

fn rollout_data<'a>(
    trace: &'a RolloutTrace,
    payloads: Option<&dyn PayloadSource>,
    options: &PageOptions,
) -> RolloutData<'a> {
    let mut state = trace.clone();
    for call in state.inference_calls.values_mut() {
        call.request_item_ids = Vec::new();
    }
    RolloutData {
        view: RolloutView::of(trace),
        state,
        requests: request_deltas(trace),
        payloads: page_payloads(trace, payloads, options),
    }
}

/// Each call's request against the previous call of its thread: the common
/// prefix is counted, the rest listed. A thread's requests mostly grow by
/// appending, so the page holds each item id about once, not once per call.
fn request_deltas(trace: &RolloutTrace) -> IndexMap<&str, RequestDelta<'_>> {
    let mut last: IndexMap<&str, (&str, &[ItemId])> = IndexMap::new();
    let mut out = IndexMap::with_capacity(trace.inference_calls.len());
    for (id, call) in &trace.inference_calls {
        let items = call.request_item_ids.as_slice();
        let delta = match last.get(call.thread_id.as_str()) {
            Some((previous_id, previous)) => {
                let keep = previous
                    .iter()
                    .zip(items)
                    .take_while(|(x, y)| x == y)
                    .count();
                RequestDelta {
                    after: Some(previous_id),
                    keep,
                    add: &items[keep..],
                }
            }
            None => RequestDelta {
                after: None,
                keep: 0,
                add: items,
            },
        };
        out.insert(id.as_str(), delta);
        last.insert(call.thread_id.as_str(), (id.as_str(), items));
    }
    out
}

/// Whether the page leaves a kind's bodies out: requests repeat the
/// conversation the page shows as items, and source lines are an import's
/// copy of its file.
fn left_out(kind: &PayloadKind) -> Option<&'static str> {
    match kind {
        PayloadKind::InferenceRequest
        | PayloadKind::CompactionRequest
        | PayloadKind::CompactionCheckpoint => Some("a request: the page shows it as its items"),
        PayloadKind::SourceLine => Some("a line of the imported file"),
        _ => None,
    }
}

fn page_payloads(
    trace: &RolloutTrace,
    source: Option<&dyn PayloadSource>,
    options: &PageOptions,
) -> IndexMap<String, PagePayload> {
    let mut out: IndexMap<String, PagePayload> = IndexMap::new();
    for entry in trace.raw_payloads.values() {
        if entry.is_placeholder() {
            continue; // a reference state's payload: a path, no hash
        }
        let key = entry.blake3.to_hex();
        if out.get(&key).is_some_and(|known| known.text.is_some()) {
            continue;
        }
        let payload = PagePayload {
            kind: entry.kind.name().to_string(),
            size_bytes: entry.size_bytes,
            ..PagePayload::default()
        };
        let payload = match (left_out(&entry.kind), source) {
            (Some(why), _) => PagePayload {
                note: Some(format!("left out of the page: {why}")),
                ..payload
            },
            (None, None) => PagePayload {
                note: Some("no payload store: the page was made from a state JSON".to_string()),
                ..payload
            },
            (None, Some(source)) => body(
                source,
                &entry.kind,
                entry.blake3,
                entry.size_bytes,
                options,
                payload,
            ),
        };
        out.insert(key, payload);
    }
    out
}

fn body(
    source: &dyn PayloadSource,
    kind: &PayloadKind,
    hash: Hash,
    size_bytes: u64,
    options: &PageOptions,
    payload: PagePayload,
) -> PagePayload {
    let reference = PayloadRef {
        kind: kind.clone(),
        hash,
        size_bytes,
    };
    let bytes = match source.read_payload(&reference) {
        Ok(bytes) => bytes,
        Err(why) => {
            return PagePayload {
                note: Some(format!("unreadable: {why}")),
                ..payload
            };
        }
    };
    let max = options.max_body_bytes.min(bytes.len());
    // Cut at a character boundary: at most three bytes back.
    let text = (0..4)
        .filter_map(|back| max.checked_sub(back))
        .find_map(|end| std::str::from_utf8(&bytes[..end]).ok());
    match text {
        Some(text) if std::str::from_utf8(&bytes[text.len()..]).is_ok() => PagePayload {
            truncated: text.len() < bytes.len(),
            text: Some(text.to_string()),
            ..payload
        },
        _ => PagePayload {
            note: Some("binary: not UTF-8".to_string()),
            ..payload
        },
    }
}

/// The HTML: template, style, script and data. The data is JSON,
/// gzip-compressed and in base64 (the browser's `DecompressionStream`
/// reads it): a rollout's state repeats its keys and texts, and compressed
/// it is about a fifth of its size.
fn page(title: &str, data: &Page<'_>) -> String {
    let json = serde_json::to_vec(data).unwrap_or_else(|error| {
        serde_json::json!({"mode": "error", "error": error.to_string()})
            .to_string()
            .into_bytes()
    });
    let mut gzip = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::default());
    // Writing to a Vec cannot fail.
    let compressed = gzip
        .write_all(&json)
        .and_then(|()| gzip.finish())
        .unwrap_or_default();
    let encoded = BASE64_STANDARD.encode(compressed);
    let mut out =
        String::with_capacity(TEMPLATE.len() + STYLE.len() + SCRIPT.len() + encoded.len());
    // The template's placeholders in order; each is replaced once, so text
    // in the data can never be taken for one.
    let mut rest = TEMPLATE;
    for (marker, value) in [
        ("{{title}}", html_escape(title).as_str()),
        ("{{style}}", STYLE),
        ("{{data}}", encoded.as_str()),
        ("{{script}}", SCRIPT),
    ] {
        match rest.split_once(marker) {
            Some((before, after)) => {
                out.push_str(before);
                out.push_str(value);
                rest = after;
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
#[path = "page_tests.rs"]
mod tests;
