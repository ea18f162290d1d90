//! Skimming a full request for its items, once per byte.
//!
//! A full request resends the conversation so far and appends to it, and
//! the store knows that: a request stored as a delta starts with the first
//! `prefix_bytes` of its base, byte for byte (`PayloadSource::shared_prefix`).
//! When the reducer skimmed that base, it remembers where the base's items
//! lie and the hash of each item's text ([`RequestLayout`]). The items
//! wholly inside the shared prefix are then the same bytes at the same
//! offsets, already hashed, and only the rest of the request is skimmed:
//! the cost of a conversation's requests grows with what each adds, not
//! with its length.
//!
//! The rest is skimmed as a document of its own, `{"input":[` (or `[`) and
//! a stand-in `0` for the reused items, then the request's bytes from the
//! end of the last reused item: it is well-formed exactly when the request
//! is (its beginning was, as the base's), and its other keys are the
//! request's keys after `input`. A base with a `previous_response_id` key
//! before `input` is never reused (the key would be left out).

use std::collections::VecDeque;

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::event::Hash;

/// Requests whose layout is kept: the bases a conversation's next requests
/// are stored against are its latest requests.
const LAYOUTS_MAX: usize = 16;

/// The top level of a request object, skimmed: the items stay JSON text.
/// Read as a derived `Deserialize` of the two fields would (each at most
/// once, `null` as absent, every other key's value checked and skipped),
/// noting besides whether `previous_response_id` came before `input`.
struct RequestSkim<'a> {
    input: Option<&'a RawValue>,
    previous_response_id: Option<&'a RawValue>,
    previous_before_input: bool,
}

impl<'de> Deserialize<'de> for RequestSkim<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(SkimVisitor)
    }
}

struct SkimVisitor;

impl<'de> Visitor<'de> for SkimVisitor {
    type Value = RequestSkim<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RequestSkim<'de>, A::Error> {
        let mut input: Option<Option<&'de RawValue>> = None;
        let mut previous: Option<Option<&'de RawValue>> = None;
        let mut previous_before_input = false;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "input" => {
                    if input.is_some() {
                        return Err(de::Error::duplicate_field("input"));
                    }
                    input = Some(map.next_value()?);
                }
                "previous_response_id" => {
                    if previous.is_some() {
                        return Err(de::Error::duplicate_field("previous_response_id"));
                    }
                    previous_before_input = input.is_none();
                    previous = Some(map.next_value()?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(RequestSkim {
            input: input.flatten(),
            previous_response_id: previous.flatten(),
            previous_before_input,
        })
    }
}

/// A request skimmed: each item's JSON text, the hash of that text when a
/// remembered layout already gives it, and `previous_response_id` when it
/// is a string.
pub(crate) struct Skimmed<'r> {
    pub items: Vec<&'r [u8]>,
    pub known_hashes: Vec<Option<Hash>>,
    pub previous: Option<String>,
    /// Where the items are, to remember once their hashes are known
    /// (`None`: a layout that cannot be reused).
    pub layout: Option<Layout>,
}

impl Skimmed<'_> {
    /// The layout to remember for this request, given every item's text
    /// hash in order.
    pub(crate) fn layout(&self, hashes: Vec<Hash>) -> Option<RequestLayout> {
        let layout = self.layout.clone()?;
        (hashes.len() == layout.spans.len()).then_some(RequestLayout { layout, hashes })
    }
}

/// Where a request's items lie (the redactor keeps it for the clean
/// payloads it saw: `redact/resend.rs`).
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// The request is a bare array of items (else an object with `input`).
    bare: bool,
    /// The offset just past the items array's `[`.
    open: usize,
    /// Each item's byte range.
    spans: Vec<(usize, usize)>,
}

/// Where a full request's items are, and their texts' hashes.
#[derive(Debug, Clone)]
pub(crate) struct RequestLayout {
    layout: Layout,
    hashes: Vec<Hash>,
}

/// The layouts of the latest full requests, by payload hash. A cache: what
/// it saves is skimming and hashing again, never a different answer.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestLayouts {
    entries: VecDeque<(Hash, RequestLayout)>,
    /// Items taken from a remembered layout instead of skimmed again.
    reused_items: u64,
}

impl RequestLayouts {
    pub(crate) fn remember(&mut self, payload: Hash, layout: RequestLayout) {
        if self.entries.iter().any(|(hash, _)| *hash == payload) {
            return;
        }
        if self.entries.len() >= LAYOUTS_MAX {
            self.entries.pop_front();
        }
        self.entries.push_back((payload, layout));
    }

    /// Items taken from a remembered layout so far.
    #[cfg(test)]
    pub(crate) fn reused_items(&self) -> u64 {
        self.reused_items
    }

    fn get(&self, payload: &Hash) -> Option<&RequestLayout> {
        self.entries
            .iter()
            .find(|(hash, _)| hash == payload)
            .map(|(_, layout)| layout)
    }
}

/// A request's items as JSON text, and its `previous_response_id` when that
/// is a string, without building the request's JSON tree. `shared` is the
/// base the request's first bytes are, when the payload source knows it:
/// the items of its remembered layout inside those bytes are reused. `None`
/// for anything but a well-formed object with an `input` array (or a bare
/// array): the caller then takes the full path, whose errors name the
/// problem.
pub(crate) fn skim_request<'r>(
    bytes: &'r [u8],
    shared: Option<(Hash, u64)>,
    layouts: &mut RequestLayouts,
) -> Option<Skimmed<'r>> {
    if let Some((base, prefix)) = shared
        && let Some(layout) = layouts.get(&base)
        && let Some((skimmed, _)) = resume(
            bytes,
            &layout.layout,
            Some(&layout.hashes),
            usize::try_from(prefix).unwrap_or(usize::MAX),
        )
    {
        layouts.reused_items += skimmed.known_hashes.iter().flatten().count() as u64;
        return Some(skimmed);
    }
    skim_whole(bytes)
}

/// A request document's top level: its items (the document itself when
/// `bare`, else its `input`), its `previous_response_id` when that is a
/// string, and whether that key came before `input`.
fn top_level(
    document: &[u8],
    bare: bool,
) -> Option<(Vec<&RawValue>, &RawValue, Option<String>, bool)> {
    let (input, previous, previous_before_input) = if bare {
        (
            serde_json::from_slice::<&RawValue>(document).ok()?,
            None,
            false,
        )
    } else {
        let skim: RequestSkim<'_> = serde_json::from_slice(document).ok()?;
        let previous = skim
            .previous_response_id
            .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok());
        (skim.input?, previous, skim.previous_before_input)
    };
    let items = serde_json::from_str(input.get()).ok()?;
    Some((items, input, previous, previous_before_input))
}

/// Skims every byte of the request.
pub(crate) fn skim_whole(bytes: &[u8]) -> Option<Skimmed<'_>> {
    let first = bytes.iter().find(|byte| !byte.is_ascii_whitespace())?;
    let bare = *first == b'[';
    let (items, input, previous, previous_before_input) = top_level(bytes, bare)?;
    let items: Vec<&[u8]> = items.into_iter().map(|raw| raw.get().as_bytes()).collect();
    let open = offset_in(bytes, input.get().as_bytes()) + 1;
    // A `previous_response_id` key before `input` would be left out of a
    // resumed skim: such a layout is not reused.
    let layout = (!previous_before_input).then(|| Layout {
        bare,
        open,
        spans: items
            .iter()
            .map(|item| {
                let start = offset_in(bytes, item);
                (start, start + item.len())
            })
            .collect(),
    });
    Some(Skimmed {
        known_hashes: vec![None; items.len()],
        items,
        previous,
        layout,
    })
}

/// Skims only what follows the items of `layout` (the base's, with their
/// text hashes `hashes` when known) wholly inside the first `prefix` bytes,
/// which equal the base's; returns the skim and the document skimmed (the
/// items array's stand-in head, then the request's bytes from the end of the
/// last reused item). `None` when nothing can be reused, or the rest does
/// not skim (the caller then skims the whole, which fails the same way or
/// names the problem).
pub(crate) fn resume<'r>(
    bytes: &'r [u8],
    layout: &Layout,
    hashes: Option<&[Hash]>,
    prefix: usize,
) -> Option<(Skimmed<'r>, Vec<u8>)> {
    let prefix = prefix.min(bytes.len());
    if layout.open > prefix {
        return None;
    }
    let reused = layout.spans.partition_point(|(_, end)| *end <= prefix);
    let from = if reused > 0 {
        layout.spans[reused - 1].1
    } else {
        layout.open
    };
    // A number or literal item may go on past the prefix (`1` in the base,
    // `1.5` here): the last reused item must end where the request's next
    // byte ends it.
    if reused > 0
        && bytes
            .get(from)
            .is_some_and(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | b',' | b']'))
    {
        return None;
    }
    let head: &[u8] = match (layout.bare, reused > 0) {
        (true, true) => b"[0",
        (true, false) => b"[",
        (false, true) => b"{\"input\":[0",
        (false, false) => b"{\"input\":[",
    };
    let mut rest = Vec::with_capacity(head.len() + bytes.len() - from);
    rest.extend_from_slice(head);
    rest.extend_from_slice(&bytes[from..]);
    let (new_items, _, previous, _) = top_level(&rest, layout.bare)?;
    let skip = usize::from(reused > 0);
    let mut items: Vec<&[u8]> = layout.spans[..reused]
        .iter()
        .map(|(start, end)| &bytes[*start..*end])
        .collect();
    let mut known_hashes: Vec<Option<Hash>> = match hashes {
        Some(hashes) => hashes.get(..reused)?.iter().copied().map(Some).collect(),
        None => vec![None; reused],
    };
    let mut spans = layout.spans[..reused].to_vec();
    for raw in new_items.into_iter().skip(skip) {
        // The same text in the request: `rest` is `head` and then the
        // request's bytes from `from`.
        let start = from + offset_in(&rest, raw.get().as_bytes()) - head.len();
        let end = start + raw.get().len();
        items.push(&bytes[start..end]);
        known_hashes.push(None);
        spans.push((start, end));
    }
    let skimmed = Skimmed {
        items,
        known_hashes,
        previous,
        layout: Some(Layout {
            bare: layout.bare,
            open: layout.open,
            spans,
        }),
    };
    Some((skimmed, rest))
}

/// Where `part` (a subslice of `whole`) starts in it.
fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(skimmed: &Skimmed<'_>) -> Vec<String> {
        skimmed
            .items
            .iter()
            .map(|item| String::from_utf8_lossy(item).into_owned())
            .collect()
    }

    /// Skims `base` whole, remembers its layout, then skims `next` as
    /// sharing its first `prefix` bytes: the result must equal a whole
    /// skim of `next`.
    fn resumed(
        base: &str,
        next: &str,
        prefix: usize,
    ) -> (Option<Vec<String>>, usize, Option<String>) {
        assert_eq!(base.as_bytes()[..prefix], next.as_bytes()[..prefix]);
        let whole = skim_whole(base.as_bytes()).expect("base skims");
        let hashes = whole.items.iter().map(|item| Hash::of(item)).collect();
        let mut layouts = RequestLayouts::default();
        layouts.remember(
            Hash::of(base.as_bytes()),
            whole.layout(hashes).expect("reusable"),
        );
        let shared = Some((Hash::of(base.as_bytes()), prefix as u64));
        let got = skim_request(next.as_bytes(), shared, &mut layouts);
        let want = skim_whole(next.as_bytes());
        assert_eq!(got.as_ref().map(texts), want.as_ref().map(texts), "{next}");
        assert_eq!(
            got.as_ref().map(|s| s.previous.clone()),
            want.as_ref().map(|s| s.previous.clone())
        );
        let known = got
            .as_ref()
            .map_or(0, |s| s.known_hashes.iter().filter(|h| h.is_some()).count());
        if let Some(got) = &got {
            for (item, hash) in got.items.iter().zip(&got.known_hashes) {
                if let Some(hash) = hash {
                    assert_eq!(*hash, Hash::of(item));
                }
            }
        }
        (got.as_ref().map(texts), known, got.and_then(|s| s.previous))
    }

    #[test]
    fn a_resumed_skim_equals_a_whole_one_and_reuses_what_the_prefix_holds() {
        let base = r#"{"model":"m","input":[{"a":1}, {"b":"x,]}"}],"tools":[]}"#;
        let next = r#"{"model":"m","input":[{"a":1}, {"b":"x,]}"}, {"c":3}],"tools":[],"previous_response_id":"r"}"#;
        // The prefix ends just after the second item: both reused.
        let prefix = base.find("}\"}").unwrap() + 3;
        let (items, known, previous) = resumed(base, next, prefix);
        assert_eq!(items.unwrap().len(), 3);
        assert_eq!(known, 2);
        assert_eq!(previous.as_deref(), Some("r"));
        // Ending inside the second item: only the first is reused.
        let (_, known, _) = resumed(base, next, prefix - 2);
        assert_eq!(known, 1);
        // Ending before any item, and at the very start of the array.
        let open = base.find('[').unwrap() + 1;
        assert_eq!(resumed(base, next, open).1, 0);
        // Before the array opens: nothing reused, a whole skim.
        assert_eq!(resumed(base, next, open - 1).1, 0);
        // Items removed after the prefix, and an empty array.
        let shorter = r#"{"model":"m","input":[{"a":1}]}"#;
        assert_eq!(resumed(base, shorter, shorter.find('}').unwrap() + 1).1, 1);
        let empty = r#"{"model":"m","input":[]}"#;
        assert_eq!(resumed(base, empty, open).0.unwrap().len(), 0);
        // A number item the request goes on with: not reused.
        let base = r#"{"input":[{"a":1},1]}"#;
        let next = r#"{"input":[{"a":1},1.5,2]}"#;
        let prefix = base.find(",1").unwrap() + 2;
        let (items, known, _) = resumed(base, next, prefix);
        assert_eq!((items.unwrap().len(), known), (3, 0));
        // A bare array.
        let base = r#"[{"a":1},{"b":2}]"#;
        let next = r#"[{"a":1},{"b":2} , {"c":[3]} ]"#;
        let (items, known, _) = resumed(base, next, 16);
        assert_eq!((items.unwrap().len(), known), (3, 2));
    }

    #[test]
    fn a_resumed_skim_fails_where_a_whole_one_does() {
        let base = r#"{"input":[{"a":1},{"b":2}]}"#;
        let prefix = base.find("},").unwrap() + 1;
        for broken in [
            r#"{"input":[{"a":1},{"b":2},]}"#,
            r#"{"input":[{"a":1},{"b":2}] trailing"#,
            r#"{"input":[{"a":1},{"b":2}],"input":[]}"#,
            r#"{"input":[{"a":1},{"b":2}],"x":tru}"#,
            r#"{"input":[{"a":1}{"b":2}]}"#,
        ] {
            let (items, _, _) = resumed(base, broken, prefix);
            assert_eq!(items, None, "{broken}");
        }
    }

    #[test]
    fn a_layout_with_previous_response_id_before_input_is_not_reused() {
        let base = r#"{"previous_response_id":null,"input":[{"a":1}]}"#;
        let whole = skim_whole(base.as_bytes()).unwrap();
        assert!(whole.layout(vec![Hash::of(b"{\"a\":1}")]).is_none());
        let after = r#"{"input":[{"a":1}],"previous_response_id":null}"#;
        let whole = skim_whole(after.as_bytes()).unwrap();
        assert!(whole.layout(vec![Hash::of(b"{\"a\":1}")]).is_some());
    }

    /// A source that forwards the store's payloads but not what it knows
    /// of their shared prefixes: every request is skimmed whole.
    #[cfg(feature = "demo")]
    struct Whole<'a>(&'a crate::Store);

    #[cfg(feature = "demo")]
    impl crate::reducer::PayloadSource for Whole<'_> {
        fn read_payload(
            &self,
            payload: &crate::event::PayloadRef,
        ) -> Result<std::sync::Arc<[u8]>, String> {
            crate::reducer::PayloadSource::read_payload(self.0, payload)
        }
    }

    #[cfg(feature = "demo")]
    fn state_json(
        store: &crate::Store,
        rollout_id: &str,
        src: &dyn crate::reducer::PayloadSource,
        reasoning_cache: bool,
    ) -> (String, u64, u64) {
        let manifest = store.manifest(rollout_id).expect("manifest");
        let mut reducer = crate::reducer::Reducer::new(rollout_id);
        reducer.conversation.reasoning_by_text.off = !reasoning_cache;
        for event in store.events_of(&manifest) {
            reducer.apply(&event.expect("event"), src).expect("reduces");
        }
        let reused = reducer.conversation.request_layouts.reused_items();
        let cached = reducer.conversation.reasoning_by_text.hits.get();
        (
            serde_json::to_string(&reducer.finish()).expect("json"),
            reused,
            cached,
        )
    }

    /// A demo's requests, stored as deltas of each other, reduce to the
    /// same state whether each is skimmed whole or past the items its base
    /// already had, from the hot tier and from the pack, and whether its
    /// resent reasoning items are parsed again or taken from the cache.
    #[cfg(feature = "demo")]
    #[test]
    fn a_stored_conversation_reduces_the_same_with_and_without_reuse() {
        use crate::demo::{DemoConfig, run};
        use crate::{Recorder, RecorderConfig, Store, StoreOptions};

        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
        let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
        let config = DemoConfig {
            turns: 30,
            agents: 2,
            seed: 11,
            compaction_threshold_bytes: 48 * 1024,
        };
        let rollout_id = run(&recorder, config).rollout_id;
        recorder.shutdown().expect("shutdown");
        drop(recorder);
        let mut store = store;
        for tier in ["hot", "pack"] {
            let (resumed, reused, cached) = state_json(&store, &rollout_id, &store, true);
            let (whole, none, _) = state_json(&store, &rollout_id, &Whole(&store), true);
            let (parsed, _, _) = state_json(&store, &rollout_id, &Whole(&store), false);
            assert_eq!(none, 0, "{tier}");
            assert!(
                cached > 100,
                "{tier}: only {cached} reasoning items from the cache"
            );
            assert!(reused > 100, "{tier}: only {reused} items reused");
            assert!(resumed == whole, "{tier}: the states differ");
            assert!(
                parsed == whole,
                "{tier}: the reasoning cache changes the state"
            );
            if tier == "hot" {
                store = store.compact().expect("compact").0;
                assert!(store.stats().expect("stats").pack_payloads > 0);
            }
        }
    }
}
