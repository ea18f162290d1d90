//! Tests for the report's order: the earliest divergence by A's seq, the
//! category tie order, and where objects only in B are placed.

use pretty_assertions::assert_eq;

use super::{Difference, align, report};
use crate::diff::category::{Category, Key};
use crate::diff::fact::{Entries, Entry, plain};
use crate::diff::report::DiffReport;

/// An entry in `thread` at `seq` with one fact, `value`.
fn put(
    entries: &mut Entries,
    (thread, category, ordinal): (&str, Category, usize),
    seq: u64,
    value: &str,
) {
    let key = Key {
        thread: thread.to_string(),
        category,
        ordinal,
    };
    let entry = Entry {
        seq,
        thread: thread.to_string(),
        turn: Some(1),
        subject: format!("{category} {ordinal}"),
        id: Some(format!("{category}-{ordinal}")),
        facts: vec![plain("value", value)],
    };
    entries.insert(key, entry);
}

/// Entries differ when their facts' keys do.
fn differ(x: &Entry, y: &Entry) -> Option<Difference> {
    (x.facts[0].key != y.facts[0].key).then(|| Difference {
        what: format!("{} vs {}", x.facts[0].key, y.facts[0].key),
        field: Some("value".to_string()),
    })
}

fn compare(a: &Entries, b: &Entries) -> DiffReport {
    report(a, b, differ)
}

/// `(subject, what, seq_a, seq_b)` of the first divergence.
fn first(report: &DiffReport) -> Option<(String, String, Option<u64>, Option<u64>)> {
    report
        .first
        .as_ref()
        .map(|d| (d.subject.clone(), d.what.clone(), d.seq_a, d.seq_b))
}

fn named(
    subject: &str,
    what: &str,
    seq_a: Option<u64>,
    seq_b: Option<u64>,
) -> Option<(String, String, Option<u64>, Option<u64>)> {
    Some((subject.to_string(), what.to_string(), seq_a, seq_b))
}

#[test]
fn equal_entries_are_equivalent_with_no_further_differences() {
    let mut a = Entries::new();
    put(&mut a, ("/root", Category::Turn, 1), 3, "x");
    let report = compare(&a, &a);
    assert!(report.equivalent);
    assert_eq!((report.first, report.further_differences), (None, 0));
}

#[test]
fn the_first_divergence_is_the_earliest_in_a_and_the_rest_are_counted() {
    let (mut a, mut b) = (Entries::new(), Entries::new());
    // Key order puts the `/a` thread first; seq order puts `/b` first.
    put(&mut a, ("/a", Category::Tool, 1), 9, "x");
    put(&mut b, ("/a", Category::Tool, 1), 2, "y");
    put(&mut a, ("/b", Category::Tool, 1), 4, "x");
    put(&mut b, ("/b", Category::Tool, 1), 20, "z");
    put(&mut a, ("/b", Category::Item, 1), 5, "same");
    put(&mut b, ("/b", Category::Item, 1), 5, "same");
    let report = compare(&a, &b);
    assert!(!report.equivalent);
    assert_eq!(first(&report), named("tool 1", "x vs z", Some(4), Some(20)));
    assert_eq!(
        report.first.as_ref().map(|d| d.thread_path.as_str()),
        Some("/b")
    );
    assert_eq!(report.further_differences, 1);
}

#[test]
fn objects_opened_by_the_same_event_report_the_cause_first() {
    let (mut a, mut b) = (Entries::new(), Entries::new());
    put(&mut a, ("/root", Category::Edge, 1), 7, "x");
    put(&mut b, ("/root", Category::Edge, 1), 7, "y");
    put(&mut a, ("/root", Category::Item, 1), 7, "x");
    put(&mut b, ("/root", Category::Item, 1), 7, "y");
    put(&mut a, ("/root", Category::Inference, 1), 7, "x");
    put(&mut b, ("/root", Category::Inference, 1), 7, "y");
    let report = compare(&a, &b);
    assert_eq!(
        first(&report),
        named("inference 1", "x vs y", Some(7), Some(7))
    );
    assert_eq!(report.further_differences, 2);
}

#[test]
fn an_object_missing_from_b_is_reported_at_its_seq_in_a() {
    let (mut a, mut b) = (Entries::new(), Entries::new());
    put(&mut a, ("/root", Category::Turn, 1), 3, "x");
    put(&mut b, ("/root", Category::Turn, 1), 3, "x");
    put(&mut a, ("/root", Category::Turn, 2), 8, "x");
    let report = compare(&a, &b);
    assert_eq!(
        first(&report),
        named("turn 2", "is missing from B", Some(8), None)
    );
    assert_eq!(report.first.as_ref().and_then(|d| d.field.clone()), None);
}

#[test]
fn an_object_only_in_b_sits_after_as_last_object_of_its_kind_in_the_thread() {
    let (mut a, mut b) = (Entries::new(), Entries::new());
    put(&mut a, ("/root", Category::Item, 1), 5, "x");
    put(&mut b, ("/root", Category::Item, 1), 5, "x");
    put(&mut b, ("/root", Category::Item, 2), 6, "extra");
    // A difference at seq 6 in A comes after the extra item (placed at 5).
    put(&mut a, ("/root", Category::Tool, 1), 6, "x");
    put(&mut b, ("/root", Category::Tool, 1), 6, "y");
    let report = compare(&a, &b);
    assert_eq!(
        first(&report),
        named("item 2", "exists only in B", None, Some(6))
    );
    assert_eq!(report.further_differences, 1);
    // An A object at the same seq as the placed B-only one comes first.
    put(&mut a, ("/root", Category::Turn, 1), 5, "x");
    put(&mut b, ("/root", Category::Turn, 1), 5, "y");
    assert_eq!(
        first(&compare(&a, &b)),
        named("turn 1", "x vs y", Some(5), Some(5))
    );
}

#[test]
fn an_object_only_in_b_of_a_kind_a_lacks_in_the_thread_goes_last() {
    let (mut a, mut b) = (Entries::new(), Entries::new());
    put(&mut a, ("/root", Category::Thread, 1), 1, "x");
    put(&mut b, ("/root", Category::Thread, 1), 1, "x");
    put(&mut b, ("/root", Category::Cell, 1), 2, "new");
    put(&mut a, ("", Category::Rollout, 1), u64::MAX, "completed");
    put(&mut b, ("", Category::Rollout, 1), u64::MAX, "failed");
    let report = compare(&a, &b);
    assert_eq!(
        first(&report),
        named(
            "rollout 1",
            "completed vs failed",
            Some(u64::MAX),
            Some(u64::MAX)
        )
    );
    assert_eq!(report.further_differences, 1);
}

#[test]
fn an_alignment_lists_every_object_in_the_reports_order() {
    let (mut a, mut b) = (Entries::new(), Entries::new());
    put(&mut a, ("/root", Category::Thread, 1), 1, "x");
    put(&mut b, ("/root", Category::Thread, 1), 1, "x");
    put(&mut a, ("/root", Category::Item, 1), 5, "x");
    put(&mut b, ("/root", Category::Item, 1), 5, "x");
    put(&mut b, ("/root", Category::Item, 2), 6, "extra");
    put(&mut a, ("/root", Category::Tool, 1), 4, "x");
    put(&mut b, ("/root", Category::Tool, 1), 4, "y");
    put(&mut a, ("/root", Category::Turn, 1), 9, "gone");
    let alignment = align(&a, &b, differ);
    assert_eq!(alignment.report, compare(&a, &b));
    let rows: Vec<_> = alignment
        .objects
        .iter()
        .map(|o| {
            (
                o.subject.as_str(),
                o.a_id.as_deref(),
                o.b_id.as_deref(),
                o.difference.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("thread 1", Some("thread-1"), Some("thread-1"), None),
            ("tool 1", Some("tool-1"), Some("tool-1"), Some("x vs y")),
            ("item 1", Some("item-1"), Some("item-1"), None),
            ("item 2", None, Some("item-2"), Some("exists only in B")),
            ("turn 1", Some("turn-1"), None, Some("is missing from B")),
        ]
    );
}
