//! End-to-end tests of the public comparison on scripted rollouts.

use pretty_assertions::assert_eq;

use super::test_support::small_run;
use super::{DiffPolicy, Divergence, check_replay_equivalent, diff, diff_with_payloads};

#[test]
fn two_recordings_of_the_same_run_are_equivalent_when_payloads_are_read() {
    let (one, two) = (small_run(1, "done"), small_run(2, "done"));
    let (a, b) = (one.trace(), two.trace());
    let policy = DiffPolicy::default();
    let report = diff_with_payloads(&a, Some(&one.payloads), &b, Some(&two.payloads), &policy);
    assert!(report.equivalent, "{report}");
    assert_eq!(report.further_differences, 0);
    // One reader is as good as none: raw hashes are compared.
    let report = diff_with_payloads(&a, Some(&one.payloads), &b, None, &policy);
    assert_eq!(report, diff(&a, &b, &policy));
}

#[test]
fn without_readers_payloads_compare_by_raw_hash() {
    let (one, two) = (small_run(1, "done"), small_run(2, "done"));
    let report = diff(&one.trace(), &two.trace(), &DiffPolicy::default());
    assert!(!report.equivalent);
    let first = report.first.as_ref().map(|d| {
        (
            d.thread_path.as_str(),
            d.subject.as_str(),
            d.field.as_deref(),
        )
    });
    assert_eq!(
        first,
        Some(("/root", "inference call 1", Some("response payload")))
    );
    // The other two responses name their thread too.
    assert_eq!(report.further_differences, 2);
    assert!(check_replay_equivalent(&one.trace(), &two.trace(), &DiffPolicy::default()).is_err());
}

#[test]
fn a_different_answer_is_the_first_divergence_at_its_inference_call() {
    let (one, two) = (small_run(1, "done"), small_run(2, "not done"));
    let report = diff_with_payloads(
        &one.trace(),
        Some(&one.payloads),
        &two.trace(),
        Some(&two.payloads),
        &DiffPolicy::default(),
    );
    let first = report.first.clone().map(|d| Divergence {
        seq_a: None,
        seq_b: None,
        ..d
    });
    assert_eq!(
        first,
        Some(Divergence {
            thread_path: "/root".to_string(),
            turn_index: Some(1),
            subject: "inference call 2".to_string(),
            what: "response payload differs at `output_items[0].content[0].text`: `done` vs `not done`".to_string(),
            field: Some("response payload".to_string()),
            seq_a: None,
            seq_b: None,
        })
    );
    // The answer's conversation item differs too.
    assert_eq!(report.further_differences, 1);
    assert_eq!(
        report.to_string(),
        "thread /root turn 1: inference call 2 response payload differs at \
         `output_items[0].content[0].text`: `done` vs `not done`\n(1 further difference)"
    );
    // Comparing only what the model sees finds the item alone.
    let visible = DiffPolicy {
        model_visible_only: true,
        ..DiffPolicy::default()
    };
    let report = diff(&one.trace(), &two.trace(), &visible);
    let first = report.first.map(|d| (d.subject, d.what));
    assert_eq!(
        first,
        Some((
            "conversation item 3".to_string(),
            "body differs: `done` vs `not done`".to_string()
        ))
    );
    assert_eq!(report.further_differences, 0);
}
