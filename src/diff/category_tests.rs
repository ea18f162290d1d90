//! Tests for the category tie order, names and key order.

use pretty_assertions::assert_eq;

use super::{Category, Key};

const ALL: [Category; 12] = [
    Category::Thread,
    Category::Turn,
    Category::Inference,
    Category::Tool,
    Category::Cell,
    Category::Terminal,
    Category::Session,
    Category::Compaction,
    Category::Item,
    Category::Edge,
    Category::Rollout,
    Category::CompactionRequest,
];

#[test]
fn categories_order_causes_before_what_they_produce_as_design_md_lists_them() {
    let mut shuffled = ALL.to_vec();
    shuffled.reverse();
    shuffled.sort();
    let names: Vec<&str> = shuffled.iter().map(|c| c.name()).collect();
    // DESIGN.md: "ties: thread, turn, inference, tool, cell, terminal,
    // session, compaction, item, edge"; the rollout's end comes after all.
    assert_eq!(
        names,
        [
            "thread",
            "turn",
            "inference",
            "tool",
            "cell",
            "terminal",
            "session",
            "compaction",
            "item",
            "edge",
            "rollout",
            "compaction request",
        ]
    );
}

#[test]
fn a_category_prints_as_its_name() {
    for category in ALL {
        assert_eq!(category.to_string(), category.name());
    }
    assert_eq!(
        Category::CompactionRequest.to_string(),
        "compaction request"
    );
}

#[test]
fn keys_order_by_thread_then_category_then_ordinal() {
    let key = |thread: &str, category, ordinal| Key {
        thread: thread.to_string(),
        category,
        ordinal,
    };
    let mut keys = vec![
        key("/root/b", Category::Thread, 1),
        key("/root", Category::Item, 2),
        key("/root", Category::Item, 10),
        key("/root", Category::Turn, 3),
        key("", Category::Rollout, 1),
    ];
    keys.sort();
    assert_eq!(
        keys,
        vec![
            key("", Category::Rollout, 1),
            key("/root", Category::Turn, 3),
            key("/root", Category::Item, 2),
            key("/root", Category::Item, 10),
            key("/root/b", Category::Thread, 1),
        ]
    );
}
