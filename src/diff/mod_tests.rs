//! End-to-end tests of the public comparison and alignment on scripted
//! rollouts.

use pretty_assertions::assert_eq;
use serde_json::json;

use super::test_support::{Script, small_run};
use super::{
    AlignedObject, DiffAlignment, DiffPolicy, Divergence, align, align_with_payloads,
    check_replay_equivalent, diff, diff_with_payloads,
};
use crate::event::{ExecutionStatus, RolloutStatus, ToolCallKind};

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

/// A root turn with a shell call invoked with `cmd`, and, when `extra`,
/// a second shell call after it.
fn shell_run(recording: u32, cmd: &str, extra: bool) -> Script {
    let mut script = Script::new(recording);
    script.turn("root", "turn-1");
    let result = json!({"exit_code": 0, "output": "ok"});
    let invocation = json!({"cmd": cmd});
    let shell = (ToolCallKind::ExecCommand, Some(&invocation));
    script.tool_invoked(("root", "turn-1"), "tool-1", shell.clone(), &result);
    if extra {
        script.tool_invoked(("root", "turn-1"), "tool-2", shell, &result);
    }
    script.end_turn("root", "turn-1", ExecutionStatus::Completed);
    script.end(RolloutStatus::Completed);
    script
}

/// The alignment of two scripts with both payload readers.
fn aligned(one: &Script, two: &Script) -> DiffAlignment {
    let policy = DiffPolicy::default();
    let (a, b) = (one.trace(), two.trace());
    align_with_payloads(&a, Some(&one.payloads), &b, Some(&two.payloads), &policy)
}

/// The objects that differ.
fn differing(alignment: &DiffAlignment) -> Vec<&AlignedObject> {
    alignment
        .objects
        .iter()
        .filter(|o| o.difference.is_some())
        .collect()
}

#[test]
fn an_alignment_of_equal_rollouts_pairs_every_object_with_both_ids() {
    let (one, two) = (small_run(1, "done"), small_run(2, "done"));
    let alignment = aligned(&one, &two);
    assert!(alignment.report.equivalent, "{}", alignment.report);
    assert!(differing(&alignment).is_empty());
    assert!(alignment.objects.iter().all(|o| o.field.is_none()));
    // Every object but the rollout has its own id on each side.
    let (rollout, objects) = alignment.objects.split_last().expect("objects");
    assert_eq!(
        (
            rollout.category,
            rollout.a_id.as_ref(),
            rollout.b_id.as_ref()
        ),
        ("rollout", None, None)
    );
    for object in objects {
        let (a_id, b_id) = (object.a_id.as_ref(), object.b_id.as_ref());
        assert!(a_id.is_some() && b_id.is_some(), "{object:?}");
        // The host's ids differ per recording; the reducer mints item ids.
        assert_eq!(a_id == b_id, object.category == "item", "{object:?}");
    }
    // In A's causal order, each naming its object in its own rollout.
    let seqs: Vec<u64> = alignment.objects.iter().filter_map(|o| o.seq_a).collect();
    assert!(seqs.is_sorted(), "{seqs:?}");
    let row = |o: &AlignedObject| {
        (
            o.category,
            o.thread_path.clone(),
            o.ordinal,
            o.a_id.clone(),
            o.b_id.clone(),
        )
    };
    let root = |script: &Script| Some(script.id("root"));
    let tool = |script: &Script| Some(script.id("tool-1"));
    assert_eq!(
        row(&alignment.objects[0]),
        ("thread", "/root".to_string(), 1, root(&one), root(&two))
    );
    let shell = alignment
        .objects
        .iter()
        .find(|o| o.category == "tool")
        .map(row);
    assert_eq!(
        shell,
        Some(("tool", "/root".to_string(), 1, tool(&one), tool(&two)))
    );
    // Without readers the objects are the same and the report is diff's.
    let (a, b) = (one.trace(), two.trace());
    let policy = DiffPolicy::default();
    let raw = align(&a, &b, &policy);
    assert_eq!(raw.report, diff(&a, &b, &policy));
    assert_eq!(raw.objects.len(), alignment.objects.len());
}

#[test]
fn a_changed_tool_argument_marks_exactly_that_object() {
    let (one, two) = (shell_run(1, "ls", false), shell_run(2, "ls -la", false));
    let alignment = aligned(&one, &two);
    let marked: Vec<_> = differing(&alignment)
        .into_iter()
        .map(|o| {
            (
                o.category,
                o.subject.as_str(),
                o.a_id.clone(),
                o.b_id.clone(),
                o.field.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        marked,
        [(
            "tool",
            "tool call exec_command",
            Some(one.id("tool-1")),
            Some(two.id("tool-1")),
            Some("invocation payload")
        )]
    );
    let what = differing(&alignment)[0].difference.clone();
    assert_eq!(
        what.as_deref(),
        Some("invocation payload differs at `cmd`: `ls` vs `ls -la`")
    );
}

#[test]
fn an_object_only_in_b_has_no_id_in_a_and_sits_after_as_last_of_its_kind() {
    let (one, two) = (shell_run(1, "ls", false), shell_run(2, "ls", true));
    let alignment = aligned(&one, &two);
    let marked = differing(&alignment);
    assert_eq!(marked.len(), 1);
    let only_b = marked[0];
    assert_eq!(
        (
            only_b.category,
            only_b.ordinal,
            only_b.a_id.as_ref(),
            only_b.seq_a
        ),
        ("tool", 2, None, None)
    );
    assert_eq!(only_b.b_id, Some(two.id("tool-2")));
    assert_eq!(only_b.difference.as_deref(), Some("exists only in B"));
    // Right after A's tool call 1.
    let at = alignment
        .objects
        .iter()
        .position(|o| o.b_id == only_b.b_id)
        .expect("placed");
    assert_eq!(alignment.objects[at - 1].a_id, Some(one.id("tool-1")));
    // Missing from A is the mirror image: no id in B.
    let alignment = aligned(&two, &one);
    let missing: Vec<_> = differing(&alignment)
        .into_iter()
        .map(|o| (o.a_id.clone(), o.b_id.clone(), o.difference.clone()))
        .collect();
    assert_eq!(
        missing,
        [(
            Some(two.id("tool-2")),
            None,
            Some("is missing from B".to_string())
        )]
    );
}

#[test]
fn the_first_differing_object_is_the_reports_first_divergence() {
    let pairs = [
        (small_run(1, "done"), small_run(2, "not done"), true),
        (small_run(1, "done"), small_run(2, "done"), false),
        (shell_run(1, "ls", false), shell_run(2, "ls", true), true),
    ];
    for (one, two, readers) in &pairs {
        let (a, b) = (one.trace(), two.trace());
        let policy = DiffPolicy::default();
        let (alignment, report) = if *readers {
            let (pa, pb) = (Some(&one.payloads as _), Some(&two.payloads as _));
            (
                align_with_payloads(&a, pa, &b, pb, &policy),
                diff_with_payloads(&a, pa, &b, pb, &policy),
            )
        } else {
            (align(&a, &b, &policy), diff(&a, &b, &policy))
        };
        assert_eq!(alignment.report, report);
        let marked = differing(&alignment);
        assert_eq!(marked.len(), report.further_differences + 1);
        let first = marked.first().map(|o| Divergence {
            thread_path: o.thread_path.clone(),
            turn_index: o.turn_index,
            subject: o.subject.clone(),
            what: o.difference.clone().unwrap_or_default(),
            field: o.field.clone(),
            seq_a: o.seq_a,
            seq_b: o.seq_b,
        });
        assert_eq!(first, report.first);
    }
}
