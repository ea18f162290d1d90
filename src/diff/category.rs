//! The kinds of compared object ([`Category`]) and the alignment key of one
//! object ([`Key`]).
//!
//! The variant order is the report's tie order: when several objects are
//! opened by the same event, the cause (thread, turn, call) is reported before
//! what it produced (items, edges). Changing the order changes which
//! divergence a report names first.

use std::fmt;

/// A kind of compared object, in tie order (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Category {
    Thread,
    Turn,
    Inference,
    Tool,
    Cell,
    Terminal,
    Session,
    Compaction,
    Item,
    Edge,
    /// The rollout itself (its end status and diagnostics).
    Rollout,
    /// Named for alignment only: a compaction's requests are facts of the
    /// compaction, never entries of their own.
    CompactionRequest,
}

impl Category {
    /// The category's name: `thread`, `turn`, ..., `compaction request`.
    pub(super) fn name(self) -> &'static str {
        match self {
            Category::Thread => "thread",
            Category::Turn => "turn",
            Category::Inference => "inference",
            Category::Tool => "tool",
            Category::Cell => "cell",
            Category::Terminal => "terminal",
            Category::Session => "session",
            Category::Compaction => "compaction",
            Category::Item => "item",
            Category::Edge => "edge",
            Category::Rollout => "rollout",
            Category::CompactionRequest => "compaction request",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where an object aligns: its thread's agent path, its category and its
/// 1-based ordinal among the thread's objects of that category.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Key {
    /// Agent path (`/root`, `/root/worker`, `/root#2`); empty for the
    /// rollout itself.
    pub thread: String,
    pub category: Category,
    pub ordinal: usize,
}

#[cfg(test)]
#[path = "category_tests.rs"]
mod tests;
