//! Tests for payload comparison: raw keys, which payloads are read, and
//! when payloads with different raw hashes are still the same.

use pretty_assertions::assert_eq;

use super::{Comparison, payloads_to_read};
use crate::diff::DiffPolicy;
use crate::diff::align::Side;
use crate::diff::fact::{Entries, Fact};
use crate::diff::test_support::small_run;

/// The fact `label` of the root's inference call `n`.
fn inference_fact<'e>(entries: &'e Entries, n: usize, label: &str) -> Option<&'e Fact> {
    entries
        .values()
        .find(|e| e.thread == "/root" && e.subject == format!("inference call {n}"))
        .and_then(|e| e.facts.iter().find(|f| f.label == label))
}

#[test]
fn a_payload_fact_is_keyed_by_raw_blake3_or_says_why_it_has_none() {
    let script = small_run(1, "done");
    let trace = script.trace();
    let policy = DiffPolicy::default();
    let side = Side::new(&trace, None, &policy);
    let none = side.payload("end payload", None);
    assert_eq!((none.key.as_str(), none.payloads.len()), ("none", 0));
    let id = trace
        .inference_calls
        .values()
        .next()
        .map(|call| call.raw_request_payload_id.clone())
        .unwrap_or_default();
    let known = side.payload("request payload", Some(&id));
    let blake3 = trace.raw_payloads.get(&id).map(|entry| entry.blake3);
    let blake3 = blake3.map(|hash| hash.to_string()).unwrap_or_default();
    assert_eq!(known.key, format!("blake3 {blake3}"));
    assert_eq!(known.payloads[0].id, id);
    let unknown = side.payload("result payload", Some(&script.id("gone")));
    assert_eq!(unknown.key, "unknown payload <uuid>");
    let list = side.payloads("runtime payloads", &[id.clone(), id]);
    assert_eq!(list.key, format!("{},{}", known.key, known.key));
    assert_eq!(list.shown.as_deref(), Some("2 payload(s)"));
}

#[test]
fn only_aligned_payloads_with_different_raw_hashes_are_read() {
    let (one, two) = (small_run(1, "done"), small_run(2, "done"));
    let (trace_one, trace_two) = (one.trace(), two.trace());
    let policy = DiffPolicy::default();
    let a = Side::new(&trace_one, None, &policy).entries();
    let b = Side::new(&trace_two, None, &policy).entries();
    let (need_a, need_b) = payloads_to_read(&a, &b);
    // Requests are identical; every response names its thread by id, so
    // the three responses differ by raw hash.
    assert_eq!((need_a.len(), need_b.len()), (3, 3));
    let response = |trace: &crate::model::RolloutTrace| -> Vec<String> {
        trace
            .inference_calls
            .values()
            .filter_map(|call| call.raw_response_payload_id.clone())
            .collect()
    };
    let (mut expected_a, mut got_a) = (response(&trace_one), need_a);
    expected_a.sort();
    got_a.sort();
    assert_eq!(got_a, expected_a);
}

#[test]
fn payloads_that_differ_only_in_generated_ids_are_the_same_when_read() {
    let (one, two) = (small_run(1, "done"), small_run(2, "done"));
    let (trace_one, trace_two) = (one.trace(), two.trace());
    let policy = DiffPolicy::default();
    let mut a = Side::new(&trace_one, Some(&one.payloads), &policy);
    let mut b = Side::new(&trace_two, Some(&two.payloads), &policy);
    let (entries_a, entries_b) = (a.entries(), b.entries());
    let (x, y) = (
        inference_fact(&entries_a, 1, "response payload"),
        inference_fact(&entries_b, 1, "response payload"),
    );
    let (Some(x), Some(y)) = (x, y) else {
        panic!("no response payload facts");
    };
    assert_ne!(x.key, y.key);
    let unread = Comparison {
        a: &a,
        b: &b,
        normalize: false,
    };
    assert!(!unread.same(x, y));
    // A fact is always the same as itself, read or not.
    assert!(unread.same(x, x));
    let (need_a, need_b) = payloads_to_read(&entries_a, &entries_b);
    a.prefetch(need_a);
    b.prefetch(need_b);
    assert!(
        a.cached_key(&x.payloads[0].id)
            .is_some_and(|k| k.starts_with("content "))
    );
    let read = Comparison {
        a: &a,
        b: &b,
        normalize: true,
    };
    assert!(read.same(x, y));
}

#[test]
fn payloads_with_different_content_stay_different_when_read() {
    let (one, two) = (small_run(1, "done"), small_run(2, "not done"));
    let (trace_one, trace_two) = (one.trace(), two.trace());
    let policy = DiffPolicy::default();
    let mut a = Side::new(&trace_one, Some(&one.payloads), &policy);
    let mut b = Side::new(&trace_two, Some(&two.payloads), &policy);
    let (entries_a, entries_b) = (a.entries(), b.entries());
    let (need_a, need_b) = payloads_to_read(&entries_a, &entries_b);
    a.prefetch(need_a);
    b.prefetch(need_b);
    let read = Comparison {
        a: &a,
        b: &b,
        normalize: true,
    };
    let same = |n| match (
        inference_fact(&entries_a, n, "response payload"),
        inference_fact(&entries_b, n, "response payload"),
    ) {
        (Some(x), Some(y)) => read.same(x, y),
        _ => panic!("no response payload facts for call {n}"),
    };
    assert!(same(1));
    assert!(!same(2));
}
