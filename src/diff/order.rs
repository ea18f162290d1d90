//! Ordering: which divergence a report names first, and how many more
//! there are; and, for [`align`], every aligned object in the same order.
//!
//! Every differing object is a candidate ordered by (seq in A, A before
//! B-only, category, position in key order). An object only in B takes the
//! seq of A's last object of its category in its thread, so it sits right
//! after it (or last, when A has none there). The smallest candidate is the
//! first divergence; the rest are counted, not kept ([`report`]), or listed
//! with the equal objects in place order ([`align`]).

use std::collections::BTreeMap;

use super::category::{Category, Key};
use super::fact::{Entries, Entry};
use super::report::{AlignedObject, DiffAlignment, DiffReport, Divergence};

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

/// One aligned object as the walk meets it: its key, its place, its entry
/// on each side and how they differ (none when equal).
struct Met<'e> {
    key: &'e Key,
    place: Place,
    a: Option<&'e Entry>,
    b: Option<&'e Entry>,
    difference: Option<Difference>,
}

impl Met<'_> {
    /// The divergence this object is, when it differs.
    fn divergence(&self) -> Option<Divergence> {
        let Difference { what, field } = self.difference.as_ref()?;
        let entry = self.a.or(self.b)?;
        Some(Divergence {
            seq_a: self.a.map(|e| e.seq),
            seq_b: self.b.map(|e| e.seq),
            ..divergence(entry, what.clone(), field.clone())
        })
    }
}

/// Every object of A (in key order) then every object only in B, each with
/// its place in causal order; `differ` says how two entries with the same
/// key differ, if they do.
fn walk<'e>(
    a: &'e Entries,
    b: &'e Entries,
    differ: impl Fn(&Entry, &Entry) -> Option<Difference>,
    mut visit: impl FnMut(Met<'e>),
) {
    // Last A entry of each (thread, category), to place B-only entries.
    let mut last_a: BTreeMap<(&str, Category), u64> = BTreeMap::new();
    for (rank, (key, entry)) in a.iter().enumerate() {
        let slot = last_a
            .entry((key.thread.as_str(), key.category))
            .or_insert(0);
        *slot = (*slot).max(entry.seq);
        let other = b.get(key);
        let difference = match other {
            None => Some(Difference {
                what: "is missing from B".to_string(),
                field: None,
            }),
            Some(other) => differ(entry, other),
        };
        visit(Met {
            key,
            place: (entry.seq, 0, key.category, rank),
            a: Some(entry),
            b: other,
            difference,
        });
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
        visit(Met {
            key,
            place: (at, 1, key.category, rank),
            a: None,
            b: Some(entry),
            difference: Some(Difference {
                what: "exists only in B".to_string(),
                field: None,
            }),
        });
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
    walk(a, b, differ, |met| {
        if let Some(divergence) = met.divergence() {
            candidates.consider(met.place, divergence);
        }
    });
    candidates.into_report()
}

/// The report and every aligned object, equal or not, in causal order (the
/// report's order: a divergence's place is its object's place).
pub(super) fn align(
    a: &Entries,
    b: &Entries,
    differ: impl Fn(&Entry, &Entry) -> Option<Difference>,
) -> DiffAlignment {
    let mut candidates = Candidates::default();
    let mut objects: Vec<(Place, AlignedObject)> = Vec::with_capacity(a.len());
    walk(a, b, differ, |met| {
        if let Some(divergence) = met.divergence() {
            candidates.consider(met.place, divergence);
        }
        if let Some(entry) = met.a.or(met.b) {
            let (what, field) = met
                .difference
                .map(|d| (Some(d.what), d.field))
                .unwrap_or_default();
            let object = AlignedObject {
                thread_path: entry.thread.clone(),
                turn_index: entry.turn,
                category: met.key.category.name(),
                ordinal: met.key.ordinal,
                subject: entry.subject.clone(),
                a_id: met.a.and_then(|e| e.id.clone()),
                b_id: met.b.and_then(|e| e.id.clone()),
                seq_a: met.a.map(|e| e.seq),
                seq_b: met.b.map(|e| e.seq),
                difference: what,
                field,
            };
            objects.push((met.place, object));
        }
    });
    objects.sort_by_key(|(place, _)| *place);
    DiffAlignment {
        report: candidates.into_report(),
        objects: objects.into_iter().map(|(_, object)| object).collect(),
    }
}

#[cfg(test)]
#[path = "order_tests.rs"]
mod tests;
