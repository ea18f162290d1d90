//! The outcome of a comparison: [`DiffReport`] and its first
//! [`Divergence`], with the one-line text `tracefold diff` prints; and the
//! full alignment ([`DiffAlignment`], one [`AlignedObject`] per object) for
//! a side-by-side view.

use std::fmt;

use serde::Serialize;

/// The outcome of a comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffReport {
    /// Whether the two rollouts are replay-equivalent: no object differs
    /// (`first` is then `None` and `further_differences` 0).
    pub equivalent: bool,
    /// The earliest divergence in rollout A's seq order.
    pub first: Option<Divergence>,
    /// How many other objects differ (or exist on one side only).
    pub further_differences: usize,
}

/// One object that differs between the two rollouts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// Agent path of the thread (`/root`, `/root/worker`); empty for the
    /// rollout itself.
    pub thread_path: String,
    /// 1-based turn number within the thread, when the object is in a turn.
    pub turn_index: Option<usize>,
    /// What differs, e.g. `tool call exec_command`, `inference call 2`,
    /// `conversation item 5`.
    pub subject: String,
    /// How it differs, e.g. ``arguments differ: `ls` vs `ls -la` ``.
    pub what: String,
    /// The compared field, when the object exists on both sides.
    pub field: Option<String>,
    /// Seq of the object in rollout A (its start), when it exists there.
    pub seq_a: Option<u64>,
    /// Seq of the object in rollout B, when it exists there.
    pub seq_b: Option<u64>,
}

/// A comparison with every aligned object: the report, and each object
/// with its id on both sides and how it differs, if it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffAlignment {
    /// The same report [`diff_with_payloads`](crate::diff_with_payloads)
    /// gives for the same inputs.
    pub report: DiffReport,
    /// Every compared object, in rollout A's causal order (seq in A); an
    /// object only in B sits right after A's last object of its category in
    /// its thread (or last, when A has none there), as the report orders
    /// it. The first object with a `difference` is `report.first`.
    pub objects: Vec<AlignedObject>,
}

/// One object aligned across the two rollouts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlignedObject {
    /// Agent path of the thread (`/root`, `/root/worker`, `/root#2` for a
    /// repeated path); empty for the rollout itself.
    pub thread_path: String,
    /// 1-based turn number within the thread, when the object is in a turn.
    pub turn_index: Option<usize>,
    /// The kind of object: `thread`, `turn`, `inference`, `tool`, `cell`,
    /// `terminal`, `session`, `compaction`, `item`, `edge` or `rollout`.
    pub category: &'static str,
    /// 1-based position among the thread's objects of its category: what
    /// aligns it.
    pub ordinal: usize,
    /// What it is called, as in [`Divergence::subject`].
    pub subject: String,
    /// Its id in rollout A's state (thread id, turn id, conversation item
    /// id, inference call id, tool call id, code cell id, terminal
    /// operation or session id, compaction id, edge id); `None` when it is
    /// only in B, and for the rollout itself.
    pub a_id: Option<String>,
    /// Its id in rollout B's state; `None` when it is only in A, and for
    /// the rollout itself.
    pub b_id: Option<String>,
    /// Seq of the object in rollout A (its start), when it exists there.
    pub seq_a: Option<u64>,
    /// Seq of the object in rollout B, when it exists there.
    pub seq_b: Option<u64>,
    /// How it differs (as in [`Divergence::what`]); `None` when the two
    /// sides are equal.
    pub difference: Option<String>,
    /// The differing field, when the object exists on both sides and
    /// differs.
    pub field: Option<String>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.thread_path.is_empty() {
            write!(f, "rollout")?;
        } else {
            write!(f, "thread {}", self.thread_path)?;
        }
        if let Some(turn) = self.turn_index {
            write!(f, " turn {turn}")?;
        }
        write!(f, ": {} {}", self.subject, self.what)
    }
}

impl fmt::Display for DiffReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.first {
            None => write!(f, "equivalent"),
            Some(first) => write!(
                f,
                "{first}\n({} further difference{})",
                self.further_differences,
                if self.further_differences == 1 {
                    ""
                } else {
                    "s"
                }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::{DiffReport, Divergence};

    fn divergence(thread_path: &str, turn_index: Option<usize>) -> Divergence {
        Divergence {
            thread_path: thread_path.to_string(),
            turn_index,
            subject: "tool call exec_command".to_string(),
            what: "arguments differ: `ls` vs `ls -la`".to_string(),
            field: Some("arguments".to_string()),
            seq_a: Some(7),
            seq_b: Some(9),
        }
    }

    #[test]
    fn a_divergence_names_its_thread_and_turn_or_the_rollout() {
        assert_eq!(
            divergence("/root/worker", Some(2)).to_string(),
            "thread /root/worker turn 2: tool call exec_command arguments differ: `ls` vs `ls -la`"
        );
        assert_eq!(
            divergence("", None).to_string(),
            "rollout: tool call exec_command arguments differ: `ls` vs `ls -la`"
        );
    }

    #[test]
    fn a_report_counts_further_differences_in_the_singular_and_plural() {
        let report = |further_differences| DiffReport {
            equivalent: false,
            first: Some(divergence("/root", None)),
            further_differences,
        };
        assert!(report(1).to_string().ends_with("\n(1 further difference)"));
        assert!(report(0).to_string().ends_with("\n(0 further differences)"));
        assert!(report(3).to_string().ends_with("\n(3 further differences)"));
        let equivalent = DiffReport {
            equivalent: true,
            first: None,
            further_differences: 0,
        };
        assert_eq!(equivalent.to_string(), "equivalent");
    }
}
