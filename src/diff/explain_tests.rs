//! Tests for the explanation text of a difference.

use pretty_assertions::assert_eq;
use serde_json::json;

use super::{excerpt_pair, first_difference, short, short_hash};
use crate::diff::DiffPolicy;
use crate::diff::align::Side;
use crate::diff::fact::{ComparedPayload, Entries, Entry, Fact, plain};
use crate::diff::payload::{Comparison, payloads_to_read};
use crate::diff::test_support::small_run;
use crate::model::RolloutTrace;

fn entry(facts: Vec<Fact>) -> Entry {
    Entry {
        seq: 1,
        thread: "/root".to_string(),
        turn: None,
        subject: "tool call exec_command".to_string(),
        id: Some("tool-1".to_string()),
        facts,
    }
}

/// `(what, field)` of two entries compared on empty states.
fn differ(x: Vec<Fact>, y: Vec<Fact>) -> Option<(String, Option<String>)> {
    let trace = RolloutTrace::new("r");
    let policy = DiffPolicy::default();
    let side = Side::new(&trace, None, &policy);
    let comparison = Comparison {
        a: &side,
        b: &side,
        normalize: false,
    };
    comparison
        .differ(&entry(x), &entry(y))
        .map(|d| (d.what, d.field))
}

fn what(x: Vec<Fact>, y: Vec<Fact>) -> String {
    differ(x, y).map(|(what, _)| what).unwrap_or_default()
}

fn payload_fact(label: &'static str, keys: &[&str]) -> Fact {
    Fact {
        label,
        key: keys.join(","),
        payloads: keys
            .iter()
            .map(|key| ComparedPayload {
                key: key.to_string(),
                id: format!("id of {key}"),
            })
            .collect(),
        shown: None,
    }
}

#[test]
fn equal_entries_have_no_difference() {
    let facts = || vec![plain("status", "completed"), plain("arguments", "ls")];
    assert_eq!(differ(facts(), facts()), None);
}

#[test]
fn a_plain_fact_is_explained_by_both_values_with_a_verb_that_agrees() {
    assert_eq!(
        differ(
            vec![plain("arguments", "ls")],
            vec![plain("arguments", "ls -la")]
        ),
        Some((
            "arguments differ: `ls` vs `ls -la`".to_string(),
            Some("arguments".to_string())
        ))
    );
    assert_eq!(
        what(
            vec![plain("status", "completed")],
            vec![plain("status", "failed")]
        ),
        "status differs: `completed` vs `failed`"
    );
    assert_eq!(
        what(vec![plain("model", "a")], vec![plain("model", "b")]),
        "model differs: `a` vs `b`"
    );
}

#[test]
fn the_first_differing_fact_is_explained() {
    let x = vec![
        plain("kind", "message"),
        plain("body", "hi"),
        plain("role", "user"),
    ];
    let y = vec![
        plain("kind", "message"),
        plain("body", "ho"),
        plain("role", "tool"),
    ];
    assert_eq!(
        differ(x, y),
        Some((
            "body differs: `hi` vs `ho`".to_string(),
            Some("body".to_string())
        ))
    );
}

#[test]
fn entries_with_different_fact_counts_differ_in_shape_or_at_their_first_fact() {
    assert_eq!(
        differ(Vec::new(), vec![plain("status", "completed")]),
        Some(("differs in shape".to_string(), None))
    );
    // Same first facts, one more on B: explained at the first fact.
    assert_eq!(
        what(
            vec![plain("status", "completed")],
            vec![plain("status", "completed"), plain("error", "boom")]
        ),
        "status differs: `completed` vs `completed`"
    );
}

#[test]
fn payloads_without_readers_are_explained_by_short_hashes_or_counts() {
    let a = "blake3 0123456789abcdef0123";
    let b = "blake3 fedcba9876543210fedc";
    assert_eq!(
        what(
            vec![payload_fact("response payload", &[a])],
            vec![payload_fact("response payload", &[b])]
        ),
        "response payload differs (blake3 0123456789ab vs fedcba987654)"
    );
    assert_eq!(
        what(
            vec![payload_fact("runtime payloads", &[a, a])],
            vec![payload_fact("runtime payloads", &[a, b])]
        ),
        "runtime payloads [2] differ (blake3 0123456789ab vs fedcba987654)"
    );
    assert_eq!(
        what(
            vec![payload_fact("runtime payloads", &[a])],
            vec![payload_fact("runtime payloads", &[a, b])]
        ),
        "runtime payloads differ: 1 vs 2 payloads"
    );
    assert_eq!(
        what(
            vec![payload_fact("end payload", &[])],
            vec![payload_fact("end payload", &[b])]
        ),
        "end payload differs: 0 vs 1 payloads"
    );
}

/// The root's inference call `n`.
fn root_call(entries: &Entries, n: usize) -> Option<&Entry> {
    entries
        .values()
        .find(|e| e.thread == "/root" && e.subject == format!("inference call {n}"))
}

#[test]
fn read_payloads_are_explained_by_their_first_differing_json_field() {
    let (one, two) = (small_run(1, "done"), small_run(2, "not done"));
    let (trace_one, trace_two) = (one.trace(), two.trace());
    let policy = DiffPolicy::default();
    let mut a = Side::new(&trace_one, Some(&one.payloads), &policy);
    let mut b = Side::new(&trace_two, Some(&two.payloads), &policy);
    let (entries_a, entries_b) = (a.entries(), b.entries());
    let (need_a, need_b) = payloads_to_read(&entries_a, &entries_b);
    a.prefetch(need_a);
    b.prefetch(need_b);
    let comparison = Comparison {
        a: &a,
        b: &b,
        normalize: true,
    };
    let explain = |n| match (root_call(&entries_a, n), root_call(&entries_b, n)) {
        (Some(x), Some(y)) => comparison.differ(x, y).map(|d| d.what),
        _ => panic!("no inference call {n}"),
    };
    assert_eq!(explain(1), None);
    assert_eq!(
        explain(2).as_deref(),
        Some("response payload differs at `output_items[0].content[0].text`: `done` vs `not done`")
    );
}

#[test]
fn json_differences_are_found_at_their_first_differing_leaf() {
    let a = json!({"x": 1, "items": [{"text": "a"}, 2], "only_a": true});
    let b = json!({"x": 1, "items": [{"text": "b"}, 2]});
    assert_eq!(
        first_difference(&a, &b, String::new()),
        (
            "items[0].text".to_string(),
            "a".to_string(),
            "b".to_string()
        )
    );
    let b = json!({"x": 1, "items": [{"text": "a"}, 2]});
    assert_eq!(
        first_difference(&a, &b, String::new()),
        (
            "only_a".to_string(),
            "true".to_string(),
            "(absent)".to_string()
        )
    );
    assert_eq!(
        first_difference(&json!([1]), &json!([1, 2]), "list".to_string()),
        ("list.length".to_string(), "1".to_string(), "2".to_string())
    );
    assert_eq!(
        first_difference(&json!({}), &json!({"new": "v"}), String::new()),
        ("new".to_string(), "(absent)".to_string(), "v".to_string())
    );
}

#[test]
fn long_text_is_cut_around_its_first_difference() {
    let a = format!("{}X{}", "a".repeat(100), "z".repeat(100));
    let b = format!("{}Y{}", "a".repeat(100), "z".repeat(100));
    let (ea, eb) = excerpt_pair(&a, &b);
    // 21 characters before the difference, 60 in all.
    assert_eq!(ea, format!("…{}X{}…", "a".repeat(21), "z".repeat(38)));
    assert_eq!(eb, format!("…{}Y{}…", "a".repeat(21), "z".repeat(38)));
    // Short text is shown whole; JSON objects by their differing field.
    assert_eq!(
        excerpt_pair("ls", "ls -la"),
        ("ls".to_string(), "ls -la".to_string())
    );
    assert_eq!(
        excerpt_pair(r#"{"cmd":"ls","cwd":"/"}"#, r#"{"cmd":"pwd","cwd":"/"}"#),
        ("ls".to_string(), "pwd".to_string())
    );
    assert_eq!(short("abcdef", 3), "abc…");
    assert_eq!(short("abc", 3), "abc");
    assert_eq!(short_hash("blake3 0123456789abcdef"), "0123456789ab");
    assert_eq!(short_hash("content 0123456789abcdef"), "0123456789ab");
}
