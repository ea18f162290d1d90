//! Tests for alignment: thread paths, per-thread ordinals, and names that
//! agree across two recordings whose ids all differ.

use pretty_assertions::assert_eq;

use super::Side;
use crate::diff::DiffPolicy;
use crate::diff::test_support::{Script, small_run, user};

#[test]
fn threads_align_by_agent_path_and_a_repeated_path_is_numbered() {
    let mut script = Script::new(1);
    script.thread("first", "/root/worker");
    script.thread("second", "/root/worker");
    let trace = script.trace();
    let policy = DiffPolicy::default();
    let side = Side::new(&trace, None, &policy);
    assert_eq!(side.path(&script.id("root")), "/root");
    assert_eq!(side.path(&script.id("first")), "/root/worker");
    assert_eq!(side.path(&script.id("second")), "/root/worker#2");
    assert_eq!(side.name(&script.id("second")), "thread /root/worker#2");
    assert_eq!(side.path("no-such-thread"), "<unknown thread>");
}

#[test]
fn objects_are_named_by_their_order_among_their_kind_in_their_thread() {
    let script = small_run(1, "done");
    let trace = script.trace();
    let policy = DiffPolicy::default();
    let side = Side::new(&trace, None, &policy);
    let name = |object: &str| side.name(&script.id(object));
    assert_eq!(name("rollout"), "rollout");
    assert_eq!(name("trace"), "trace");
    assert_eq!(name("turn-1"), "/root turn 1");
    assert_eq!(name("turn-w"), "/root/worker turn 1");
    assert_eq!(name("inf-1"), "/root inference 1");
    assert_eq!(name("inf-2"), "/root inference 2");
    assert_eq!(name("inf-w"), "/root/worker inference 1");
    assert_eq!(name("tool-1"), "/root tool 1");
    assert_eq!(side.turn(Some(&script.id("turn-w"))), Some(1));
    assert_eq!(side.turn(None), None);
    assert_eq!(
        side.names_of(&[script.id("inf-2"), script.id("tool-1")]),
        "/root inference 2, /root tool 1"
    );
}

#[test]
fn two_recordings_of_the_same_run_give_every_object_the_same_name() {
    let (one, two) = (small_run(1, "done"), small_run(2, "done"));
    assert_ne!(one.id("inf-1"), two.id("inf-1"));
    let (trace_one, trace_two) = (one.trace(), two.trace());
    let policy = DiffPolicy::default();
    let side_one = Side::new(&trace_one, None, &policy);
    let side_two = Side::new(&trace_two, None, &policy);
    for object in [
        "root", "worker", "turn-1", "turn-w", "inf-1", "inf-2", "inf-w", "tool-1",
    ] {
        assert_eq!(
            side_one.name(&one.id(object)),
            side_two.name(&two.id(object)),
            "{object}"
        );
    }
    // An id the side does not know is only normalised.
    assert_eq!(side_one.name(&two.id("inf-1")), "<uuid>");
}

#[test]
fn an_inserted_call_shifts_the_ordinals_of_the_later_ones() {
    let mut script = Script::new(1);
    script.turn("root", "turn-1");
    script.inference(("root", "turn-1"), "inf-a", vec![user("a")], Vec::new());
    script.inference(
        ("root", "turn-1"),
        "inf-b",
        vec![user("a"), user("b")],
        Vec::new(),
    );
    let trace = script.trace();
    let policy = DiffPolicy::default();
    let side = Side::new(&trace, None, &policy);
    assert_eq!(side.name(&script.id("inf-b")), "/root inference 2");
}
