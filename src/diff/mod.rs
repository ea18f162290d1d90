//! Replay-equivalence of two reduced rollouts: `tracefold diff`, and
//! [`assert_replay_equivalent`] for a host's own test suite.
//!
//! Two rollouts are equivalent when their reduced graphs have the same shape
//! and content once the things that always differ are set aside: wall-clock
//! times, seq numbers, UUIDs and generated ids (trace, rollout, thread, turn,
//! inference call, tool call, code cell, conversation item, edge and payload
//! ids), upstream request ids and response ids. Threads align by agent path;
//! turns, conversation items, inference calls, tool calls, code cells,
//! terminal operations, compactions and interaction edges align by their
//! order within the thread, and are compared by content: kinds, statuses,
//! body parts, terminal commands, code-cell source, references to other
//! objects mapped to their aligned names, and payloads by hash. When both
//! sides can read their payloads ([`diff_with_payloads`]), payloads whose
//! raw hashes differ are read and compare by a normalised content hash in
//! which every generated id is replaced by the aligned name of the object it
//! names (and any other UUID by `<uuid>`), and the keys in
//! [`DiffPolicy::ignored_payload_keys`] are dropped; without readers they
//! compare by their raw BLAKE3.
//!
//! The report names the earliest divergence in causal order (the seq order
//! of rollout A) and counts the further differing objects;
//! [`align_with_payloads`] also lists every aligned object, equal or not,
//! with its id in each rollout, for a side-by-side view. Work is linear in
//! the size of the two states plus the bytes of the payloads that differ by
//! raw hash, read once each, in parallel.
//!
//! A comparison runs in four steps, each in its own file: align and name
//! each side's objects (`align.rs`, with `category.rs` for the kinds of
//! object and the alignment key); turn each object into an entry of facts
//! (`entries.rs` and `runtime.rs`, one function per category, using
//! `normalize.rs` and `render.rs` for compared text, `fact.rs` for the
//! entry types); compare aligned facts (`payload.rs`, reading payloads only
//! where raw hashes differ); pick and explain the first divergence
//! (`order.rs`, `explain.rs`). `policy.rs` and `report.rs` hold the public
//! input and output types. Nothing here writes.

mod align;
mod category;
mod entries;
mod explain;
mod fact;
mod normalize;
mod order;
mod payload;
mod policy;
mod render;
mod report;
mod runtime;

#[cfg(test)]
mod test_support;

pub use policy::DiffPolicy;
pub use report::{AlignedObject, DiffAlignment, DiffReport, Divergence};

use crate::model::RolloutTrace;
use crate::reducer::PayloadSource;
use align::Side;
use fact::{Entries, Entry};
use order::Difference;
use payload::{Comparison, payloads_to_read};

/// Compares two rollouts by their states alone (payloads by raw BLAKE3).
///
/// [`diff_with_payloads`] also reads the payloads whose raw hashes differ
/// and compares them by normalised content; [`check_replay_equivalent`] and
/// [`assert_replay_equivalent`] turn the report into a result or a panic.
///
/// # Examples
///
/// The same work recorded twice is equivalent, although every generated id
/// and time differs; a run whose model answered differently diverges, and
/// the report names the object (its category and ordinal), its thread and
/// turn, and what differs:
///
/// ```
/// use serde_json::json;
/// use tracefold::event::{ExecutionStatus, RolloutStatus};
/// use tracefold::{
///     DiffPolicy, Recorder, RecorderConfig, RolloutStart, Store, StoreOptions, ThreadStart,
///     check_replay_equivalent, diff, diff_with_payloads, reduce_stored,
/// };
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path(), StoreOptions::default())?;
/// let recorder = Recorder::start(&store, RecorderConfig::default())?;
/// // One run: a turn whose model call answers `answer`.
/// let record = |id: &str, answer: &str| {
///     let rollout = recorder.start_rollout(RolloutStart {
///         rollout_id: Some(id.into()),
///         trace_id: None,
///         root: ThreadStart { thread_id: format!("{id}-root"), agent_path: "/root".into(), metadata: None },
///     });
///     let turn = rollout.root().start_turn(format!("{id}-turn"));
///     let call = turn.start_inference("gpt-5", "openai", || {
///         json!({"input": [{"type": "message", "role": "user",
///                           "content": [{"type": "input_text", "text": "Say hello."}]}]})
///     });
///     call.completed(Some("resp-1"), None, || {
///         json!({"output_items": [{"type": "message", "role": "assistant",
///                                  "content": [{"type": "output_text", "text": answer}]}]})
///     });
///     turn.end(ExecutionStatus::Completed);
///     rollout.end(RolloutStatus::Completed);
/// };
/// record("a", "Hello!");
/// record("b", "Hello!");
/// record("c", "Goodbye!");
/// recorder.shutdown()?;
/// let [a, b, c] = ["a", "b", "c"].map(|id| reduce_stored(&store, id));
/// let (a, b, c) = (a?, b?, c?);
///
/// let policy = DiffPolicy::default();
/// assert!(check_replay_equivalent(&a, &b, &policy).is_ok());
///
/// let report = diff(&a, &c, &policy);
/// assert!(!report.equivalent);
/// let first = report.first.expect("a divergence");
/// assert_eq!(first.thread_path, "/root");
/// assert_eq!(first.turn_index, Some(1));
/// assert_eq!(first.subject, "inference call 1");
/// assert_eq!(first.field.as_deref(), Some("response payload"));
/// // The model's answer, as a conversation item, differs too.
/// assert_eq!(report.further_differences, 1);
///
/// // With the store reading payloads on both sides, the report names the
/// // first differing JSON field of the two responses.
/// let report = diff_with_payloads(&a, Some(&store), &c, Some(&store), &policy);
/// let what = report.first.expect("a divergence").what;
/// assert_eq!(what, "response payload differs at `output_items[0].content[0].text`: `Hello!` vs `Goodbye!`");
/// # Ok(())
/// # }
/// ```
pub fn diff(a: &RolloutTrace, b: &RolloutTrace, policy: &DiffPolicy) -> DiffReport {
    diff_with_payloads(a, None, b, None, policy)
}

/// Compares two rollouts; when both payload readers are given, payloads
/// compare by normalised content (generated ids mapped to aligned names) and
/// divergences show the differing JSON field. With one reader or none, it
/// compares as [`diff`] does (payloads by raw BLAKE3). A payload a reader
/// cannot return is compared by its raw hash instead. See [`diff`]'s
/// example.
pub fn diff_with_payloads(
    a: &RolloutTrace,
    payloads_a: Option<&(dyn PayloadSource + Sync)>,
    b: &RolloutTrace,
    payloads_b: Option<&(dyn PayloadSource + Sync)>,
    policy: &DiffPolicy,
) -> DiffReport {
    compare(
        (a, payloads_a),
        (b, payloads_b),
        policy,
        |ea, eb, differ| order::report(ea, eb, differ),
    )
}

/// Aligns two rollouts by their states alone (payloads by raw BLAKE3): the
/// report [`diff`] gives, and every aligned object with its id on each side.
/// See [`align_with_payloads`].
pub fn align(a: &RolloutTrace, b: &RolloutTrace, policy: &DiffPolicy) -> DiffAlignment {
    align_with_payloads(a, None, b, None, policy)
}

/// Aligns two rollouts, comparing as [`diff_with_payloads`] does: its
/// `report` is the report that gives, and `objects` lists every compared
/// object (equal or not) in rollout A's causal order, with its id in each
/// rollout and, when it differs, how. For a side-by-side view of two runs.
///
/// # Examples
///
/// ```
/// use tracefold::{DiffPolicy, MemoryPayloads, align_with_payloads, reduce};
/// use tracefold::event::{Event, EventPayload, RolloutStatus};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // A rollout whose root thread starts and ends; its thread id differs
/// // per recording.
/// let run = |id: &str| -> Result<_, Box<dyn std::error::Error>> {
///     let event = |seq, payload| Event {
///         seq,
///         wall_time_unix_ms: 0,
///         thread_id: None,
///         codex_turn_id: None,
///         payload,
///     };
///     let events = vec![
///         event(1, EventPayload::RolloutStarted {
///             trace_id: format!("{id}-trace"),
///             root_thread_id: format!("{id}-root"),
///         }),
///         event(2, EventPayload::ThreadStarted {
///             thread_id: format!("{id}-root"),
///             agent_path: "/root".into(),
///             metadata_payload: None,
///         }),
///         event(3, EventPayload::RolloutEnded { status: RolloutStatus::Completed }),
///     ];
///     Ok(reduce(id, &events, &MemoryPayloads::new())?)
/// };
/// let (a, b) = (run("a")?, run("b")?);
/// let payloads = MemoryPayloads::new();
/// let alignment =
///     align_with_payloads(&a, Some(&payloads), &b, Some(&payloads), &DiffPolicy::default());
/// assert!(alignment.report.equivalent);
/// let thread = &alignment.objects[0];
/// assert_eq!((thread.category, thread.thread_path.as_str()), ("thread", "/root"));
/// assert_eq!(thread.a_id.as_deref(), Some("a-root"));
/// assert_eq!(thread.b_id.as_deref(), Some("b-root"));
/// assert_eq!(thread.difference, None);
/// # Ok(())
/// # }
/// ```
pub fn align_with_payloads(
    a: &RolloutTrace,
    payloads_a: Option<&(dyn PayloadSource + Sync)>,
    b: &RolloutTrace,
    payloads_b: Option<&(dyn PayloadSource + Sync)>,
    policy: &DiffPolicy,
) -> DiffAlignment {
    compare(
        (a, payloads_a),
        (b, payloads_b),
        policy,
        |ea, eb, differ| order::align(ea, eb, differ),
    )
}

/// A rollout and its optional payload reader.
type Input<'a> = (&'a RolloutTrace, Option<&'a (dyn PayloadSource + Sync)>);

/// The comparison pipeline shared by [`diff_with_payloads`] and
/// [`align_with_payloads`]: names both sides, builds their entries, reads
/// the payloads whose raw hashes differ (only when both sides have a
/// reader), and hands the entries and the comparison to `finish`.
fn compare<R>(
    (a, payloads_a): Input<'_>,
    (b, payloads_b): Input<'_>,
    policy: &DiffPolicy,
    finish: impl FnOnce(&Entries, &Entries, &dyn Fn(&Entry, &Entry) -> Option<Difference>) -> R,
) -> R {
    let (reader_a, reader_b) = match (payloads_a, payloads_b) {
        (Some(pa), Some(pb)) => (Some(pa), Some(pb)),
        _ => (None, None),
    };
    let mut side_a = Side::new(a, reader_a, policy);
    let mut side_b = Side::new(b, reader_b, policy);
    let entries_a = side_a.entries();
    let entries_b = side_b.entries();
    let normalize = reader_a.is_some() && reader_b.is_some();
    if normalize {
        // Only payloads whose raw hashes differ are read and normalised.
        let (need_a, need_b) = payloads_to_read(&entries_a, &entries_b);
        side_a.prefetch(need_a);
        side_b.prefetch(need_b);
    }
    let comparison = Comparison {
        a: &side_a,
        b: &side_b,
        normalize,
    };
    finish(&entries_a, &entries_b, &|x, y| comparison.differ(x, y))
}

/// `Ok` when equivalent, else the report (boxed: it is large).
///
/// Compares as [`diff`] does (payloads by raw BLAKE3); see its example.
///
/// # Errors
///
/// The [`DiffReport`] when the rollouts diverge: its `first` names the
/// earliest divergence, `further_differences` counts the rest.
pub fn check_replay_equivalent(
    a: &RolloutTrace,
    b: &RolloutTrace,
    policy: &DiffPolicy,
) -> Result<(), Box<DiffReport>> {
    let report = diff(a, b, policy);
    if report.equivalent {
        Ok(())
    } else {
        Err(Box::new(report))
    }
}

/// Panics with a readable message when `a` and `b` are not equivalent.
///
/// # Panics
///
/// When the rollouts diverge; the message names the first divergence.
#[allow(clippy::panic)] // an assertion for host test suites
pub fn assert_replay_equivalent(a: &RolloutTrace, b: &RolloutTrace, policy: &DiffPolicy) {
    if let Err(report) = check_replay_equivalent(a, b, policy) {
        panic!(
            "rollouts are not replay-equivalent\n  A: rollout {}\n  B: rollout {}\n  first divergence: {}\n  further differences: {}",
            a.rollout_id,
            b.rollout_id,
            report
                .first
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            report.further_differences
        );
    }
}

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;
