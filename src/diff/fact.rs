//! What is compared: an [`Entry`] per object, its [`Fact`]s (labelled
//! comparison keys), and the [`Sink`] that numbers entries per thread and
//! category as they are added.
//!
//! Two entries with the same [`Key`] are the same object in the two
//! rollouts; they are equal when their facts are.

use std::collections::BTreeMap;

use indexmap::IndexMap;

use super::category::{Category, Key};

/// One compared field: a label, the comparison key and, for payloads, each
/// payload's key and id (to explain a difference).
pub(super) struct Fact {
    pub label: &'static str,
    pub key: String,
    /// For payload facts: each payload's comparison key and id.
    pub payloads: Vec<ComparedPayload>,
    /// Human-readable value (for plain facts the key itself).
    pub shown: Option<String>,
}

/// One payload of a payload fact.
pub(super) struct ComparedPayload {
    /// Its raw comparison key (`blake3 <hex>`, `unknown payload <id>`).
    pub key: String,
    /// Its payload id in its own rollout, to read it.
    pub id: String,
}

/// One compared object.
pub(super) struct Entry {
    /// The seq that places it in causal order (its start).
    pub seq: u64,
    /// Agent path of its thread; empty for the rollout.
    pub thread: String,
    /// 1-based turn within the thread, when it belongs to a turn.
    pub turn: Option<usize>,
    /// What the report calls it: `inference call 2`, `tool call exec`.
    pub subject: String,
    /// Its id in its own rollout's state (thread id, turn id, item id, ...);
    /// `None` for the rollout itself.
    pub id: Option<String>,
    pub facts: Vec<Fact>,
}

/// Every compared object of one rollout, keyed for alignment.
pub(super) type Entries = BTreeMap<Key, Entry>;

/// A fact compared by its text alone.
pub(super) fn plain(label: &'static str, value: impl Into<String>) -> Fact {
    Fact {
        label,
        key: value.into(),
        payloads: Vec::new(),
        shown: None,
    }
}

/// The entries being built, with a per-(thread, category) ordinal.
#[derive(Default)]
pub(super) struct Sink {
    pub out: Entries,
    counters: IndexMap<(String, Category), usize>,
}

impl Sink {
    /// The ordinal the next `add` of `category` in the thread at `path` gets.
    pub fn peek(&self, path: &str, category: Category) -> usize {
        self.counters
            .get(&(path.to_string(), category))
            .copied()
            .unwrap_or(0)
            + 1
    }

    /// Adds `entry` under the next 1-based ordinal of `category` in its
    /// thread.
    pub fn add(&mut self, category: Category, entry: Entry) {
        let n = self
            .counters
            .entry((entry.thread.clone(), category))
            .or_insert(0);
        *n += 1;
        let key = Key {
            thread: entry.thread.clone(),
            category,
            ordinal: *n,
        };
        self.out.insert(key, entry);
    }
}

/// `items` sorted by `seq` (a stable sort: ties keep map order).
pub(super) fn in_order<'a, T>(
    items: impl Iterator<Item = &'a T>,
    seq: impl Fn(&T) -> u64,
) -> Vec<&'a T> {
    let mut items: Vec<&T> = items.collect();
    items.sort_by_key(|item| seq(item));
    items
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::{Category, Entry, Key, Sink, in_order, plain};

    fn entry(thread: &str, subject: &str) -> Entry {
        Entry {
            seq: 1,
            thread: thread.to_string(),
            turn: None,
            subject: subject.to_string(),
            id: Some(subject.to_string()),
            facts: vec![plain("status", "completed")],
        }
    }

    #[test]
    fn the_sink_numbers_entries_per_thread_and_category_from_one() {
        let mut sink = Sink::default();
        assert_eq!(sink.peek("/root", Category::Tool), 1);
        sink.add(Category::Tool, entry("/root", "a"));
        sink.add(Category::Tool, entry("/root/child", "b"));
        sink.add(Category::Item, entry("/root", "c"));
        assert_eq!(sink.peek("/root", Category::Tool), 2);
        sink.add(Category::Tool, entry("/root", "d"));
        let keys: Vec<(String, &str, usize, String)> = sink
            .out
            .iter()
            .map(
                |(
                    Key {
                        thread,
                        category,
                        ordinal,
                    },
                    entry,
                )| {
                    (
                        thread.clone(),
                        category.name(),
                        *ordinal,
                        entry.subject.clone(),
                    )
                },
            )
            .collect();
        assert_eq!(
            keys,
            vec![
                ("/root".to_string(), "tool", 1, "a".to_string()),
                ("/root".to_string(), "tool", 2, "d".to_string()),
                ("/root".to_string(), "item", 1, "c".to_string()),
                ("/root/child".to_string(), "tool", 1, "b".to_string()),
            ]
        );
    }

    #[test]
    fn in_order_sorts_by_seq_and_keeps_map_order_for_ties() {
        let items = [(5, "e"), (1, "a"), (3, "c1"), (3, "c2"), (2, "b")];
        let sorted: Vec<&str> = in_order(items.iter(), |item| item.0)
            .into_iter()
            .map(|item| item.1)
            .collect();
        assert_eq!(sorted, ["a", "b", "c1", "c2", "e"]);
    }
}
