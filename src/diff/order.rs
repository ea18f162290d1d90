//! Ordering: which divergence a report names first, and how many more
//! there are.
//!
//! Every differing object is a candidate ordered by (seq in A, A before
//! B-only, category, position in key order). An object only in B takes the
//! seq of A's last object of its category in its thread, so it sits right
//! after it (or last, when A has none there). The smallest candidate is the first divergence; the rest are
//! counted, not kept.

use std::collections::BTreeMap;

use super::category::Category;
use super::fact::{Entries, Entry};
use super::report::{DiffReport, Divergence};

/// How two aligned entries differ: the explanation and the differing
/// field's label (none when the entries differ in shape only).
pub(super) struct Difference {
    pub what: String,
    pub field: Option<String>,
}

/// A candidate's place in causal order: seq in A, 0 for objects of A and 1
/// for objects only in B, category, position among the side's entries.
type Place = (u64, u8, Category, usize);

/// The first divergence so far and how many candidates were seen.
#[derive(Default)]
struct Candidates {
    count: usize,
    first: Option<(Place, Divergence)>,
}

impl Candidates {
    fn consider(&mut self, place: Place, divergence: Divergence) {
        self.count += 1;
        if self.first.as_ref().is_none_or(|(best, _)| place < *best) {
            self.first = Some((place, divergence));
        }
    }

    fn into_report(self) -> DiffReport {
        match self.first {
            None => DiffReport {
                equivalent: true,
                first: None,
                further_differences: 0,
            },
            Some((_, divergence)) => DiffReport {
                equivalent: false,
                first: Some(divergence),
                further_differences: self.count.saturating_sub(1),
            },
        }
    }
}

/// A divergence about `entry`; the caller sets the seqs.
fn divergence(entry: &Entry, what: String, field: Option<String>) -> Divergence {
    Divergence {
        thread_path: entry.thread.clone(),
        turn_index: entry.turn,
        subject: entry.subject.clone(),
        what,
        field,
        seq_a: None,
        seq_b: None,
    }
}

/// The report over the aligned entries of A and B; `differ` says how two
/// entries with the same key differ, if they do.
pub(super) fn report(
    a: &Entries,
    b: &Entries,
    differ: impl Fn(&Entry, &Entry) -> Option<Difference>,
) -> DiffReport {
    let mut candidates = Candidates::default();
    // Last A entry of each (thread, category), to place B-only entries.
    let mut last_a: BTreeMap<(&str, Category), u64> = BTreeMap::new();
    for (rank, (key, entry)) in a.iter().enumerate() {
        let slot = last_a
            .entry((key.thread.as_str(), key.category))
            .or_insert(0);
        *slot = (*slot).max(entry.seq);
        let place = (entry.seq, 0, key.category, rank);
        match b.get(key) {
            None => candidates.consider(
                place,
                Divergence {
                    seq_a: Some(entry.seq),
                    ..divergence(entry, "is missing from B".to_string(), None)
                },
            ),
            Some(other) => {
                if let Some(Difference { what, field }) = differ(entry, other) {
                    candidates.consider(
                        place,
                        Divergence {
                            seq_a: Some(entry.seq),
                            seq_b: Some(other.seq),
                            ..divergence(entry, what, field)
                        },
                    );
                }
            }
        }
    }
    for (rank, (key, entry)) in b.iter().enumerate() {
        if a.contains_key(key) {
            continue;
        }
        // When A has no object of this category in the thread, last.
        let at = last_a
            .get(&(key.thread.as_str(), key.category))
            .copied()
            .unwrap_or(u64::MAX);
        candidates.consider(
            (at, 1, key.category, rank),
            Divergence {
                seq_b: Some(entry.seq),
                ..divergence(entry, "exists only in B".to_string(), None)
            },
        );
    }
    candidates.into_report()
}

#[cfg(test)]
#[path = "order_tests.rs"]
mod tests;
