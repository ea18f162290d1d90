//! Tests for the compared objects: which entries a rollout has, under
//! which keys, and what `model_visible_only` leaves out.

use pretty_assertions::assert_eq;

use crate::diff::DiffPolicy;
use crate::diff::align::Side;
use crate::diff::fact::Entries;
use crate::diff::test_support::small_run;

/// `(thread, category, ordinal, subject, turn)` of every entry, in key
/// order.
fn keys(entries: &Entries) -> Vec<(String, &'static str, usize, String, Option<usize>)> {
    entries
        .iter()
        .map(|(key, entry)| {
            (
                key.thread.clone(),
                key.category.name(),
                key.ordinal,
                entry.subject.clone(),
                entry.turn,
            )
        })
        .collect()
}

fn row(
    thread: &str,
    category: &'static str,
    ordinal: usize,
    subject: &str,
    turn: Option<usize>,
) -> (String, &'static str, usize, String, Option<usize>) {
    (
        thread.to_string(),
        category,
        ordinal,
        subject.to_string(),
        turn,
    )
}

#[test]
fn model_visible_entries_are_the_rollout_threads_turns_and_items() {
    let trace = small_run(1, "done").trace();
    let policy = DiffPolicy {
        model_visible_only: true,
        ..DiffPolicy::default()
    };
    let entries = Side::new(&trace, None, &policy).entries();
    assert_eq!(
        keys(&entries),
        vec![
            row("", "rollout", 1, "end", None),
            row("/root", "thread", 1, "agent thread", None),
            row("/root", "turn", 1, "the turn", Some(1)),
            row("/root", "item", 1, "conversation item 1", Some(1)),
            row("/root", "item", 2, "conversation item 2", Some(1)),
            row("/root", "item", 3, "conversation item 3", Some(1)),
            row("/root/worker", "thread", 1, "agent thread", None),
            row("/root/worker", "turn", 1, "the turn", Some(1)),
            row("/root/worker", "item", 1, "conversation item 1", Some(1)),
            row("/root/worker", "item", 2, "conversation item 2", Some(1)),
        ]
    );
    // No metadata payload either: only what the model sees is compared.
    let thread = entries.values().find(|e| e.subject == "agent thread");
    let labels: Vec<&str> = thread
        .map(|e| e.facts.iter().map(|f| f.label).collect())
        .unwrap_or_default();
    assert_eq!(
        labels,
        ["origin", "nickname", "status", "resumes", "default model"]
    );
}

#[test]
fn conversation_items_compare_by_kind_role_body_and_producer() {
    let trace = small_run(1, "all done").trace();
    let policy = DiffPolicy::default();
    let entries = Side::new(&trace, None, &policy).entries();
    let answer = entries
        .values()
        .find(|e| e.thread == "/root" && e.subject == "conversation item 3");
    let facts: Vec<(&str, &str)> = answer
        .map(|e| e.facts.iter().map(|f| (f.label, f.key.as_str())).collect())
        .unwrap_or_default();
    assert_eq!(
        facts,
        [
            ("kind", "message"),
            ("role", "Assistant"),
            ("channel", "None"),
            ("agent message", ""),
            ("body", "all done"),
            ("call id", ""),
            ("producers", "/root inference 2"),
        ]
    );
}

#[test]
fn the_rollout_entry_compares_its_end_status_after_everything_else() {
    let trace = small_run(1, "done").trace();
    let policy = DiffPolicy::default();
    let entries = Side::new(&trace, None, &policy).entries();
    let end = entries.values().find(|e| e.subject == "end");
    assert_eq!(end.map(|e| e.seq), Some(u64::MAX));
    let facts: Vec<(&str, &str)> = end
        .map(|e| e.facts.iter().map(|f| (f.label, f.key.as_str())).collect())
        .unwrap_or_default();
    assert_eq!(facts, [("status", "\"completed\""), ("diagnostics", "")]);
}
