//! `OrdinalMap`: the state's collections whose ids the reducer mints itself
//! (`conversation_item:000001`, `raw_payload:000001`,
//! `terminal_operation:000001`).
//!
//! Entry n (from 1) has id `{prefix}{n:06}` and sits at position n - 1, so the
//! collection is a plain `Vec`: a lookup parses the ordinal out of the id and
//! checks the entry there, with no hash table. A large rollout has hundreds of
//! thousands of these entries; an `IndexMap` would give each a random probe
//! into a table that outgrows the CPU cache, and a second copy of its id as
//! the key. The JSON is the same as an `IndexMap` of id to entry, and loading
//! one refuses any id that is not the next ordinal. Loading also takes the
//! ordinal without padding (`conversation_item:1`, as the reference reducer
//! writes it); such an entry keeps the id as written and is found by it.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Index;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// An entry of an [`OrdinalMap`]: it carries its own id.
pub trait OrdinalKeyed {
    /// The id before the ordinal, e.g. `"raw_payload:"`.
    const PREFIX: &'static str;
    /// This entry's id.
    fn id(&self) -> &str;
}

/// Entries in creation order, found by the ordinal in their ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrdinalMap<V> {
    entries: Vec<V>,
}

impl<V> Default for OrdinalMap<V> {
    fn default() -> Self {
        OrdinalMap {
            entries: Vec::new(),
        }
    }
}

/// The id of entry `ordinal` (from 1) under `prefix`.
fn ordinal_id(prefix: &str, ordinal: usize) -> String {
    format!("{prefix}{ordinal:06}")
}

/// Whether `id` is `prefix` then `ordinal` in decimal digits, with any
/// zero padding or none (`entry:000002`, `entry:2`); no sign, no other text.
fn names_ordinal(id: &str, prefix: &str, ordinal: usize) -> bool {
    id.strip_prefix(prefix).is_some_and(|digits| {
        !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && digits.parse::<usize>().is_ok_and(|n| n == ordinal)
    })
}

impl<V: OrdinalKeyed> OrdinalMap<V> {
    /// An empty collection.
    pub fn new() -> Self {
        OrdinalMap::default()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Room for `additional` more entries.
    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
    }

    /// The id the next pushed entry must carry.
    pub fn next_id(&self) -> String {
        ordinal_id(V::PREFIX, self.entries.len() + 1)
    }

    /// Appends `entry` and returns its position. The entry must carry
    /// [`OrdinalMap::next_id`]; one that does not is never found by id.
    pub fn push(&mut self, entry: V) -> usize {
        self.entries.push(entry);
        self.entries.len() - 1
    }

    /// Position of the entry with `id`: the ordinal, checked against the
    /// entry found there. Ids with another prefix, spelled otherwise than the
    /// entry's own id (zero-padded to six digits as minted, or as loaded), or
    /// beyond the end are absent.
    pub fn position_of(&self, id: &str) -> Option<usize> {
        let ordinal: usize = id.strip_prefix(V::PREFIX)?.parse().ok()?;
        let position = ordinal.checked_sub(1)?;
        let entry = self.entries.get(position)?;
        (entry.id() == id).then_some(position)
    }

    /// Whether an entry has `id`.
    pub fn contains_key(&self, id: &str) -> bool {
        self.position_of(id).is_some()
    }

    /// The entry with `id`.
    pub fn get(&self, id: &str) -> Option<&V> {
        self.position_of(id)
            .and_then(|position| self.entries.get(position))
    }

    /// The entry with `id`, to change it (not its id).
    pub fn get_mut(&mut self, id: &str) -> Option<&mut V> {
        let position = self.position_of(id)?;
        self.entries.get_mut(position)
    }

    /// The id and entry at `position`.
    pub fn get_index(&self, position: usize) -> Option<(&str, &V)> {
        self.entries.get(position).map(|entry| (entry.id(), entry))
    }

    /// The entry at `position`, to change it (not its id).
    pub fn get_index_mut(&mut self, position: usize) -> Option<&mut V> {
        self.entries.get_mut(position)
    }

    /// Ids and entries in creation order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&str, &V)> + ExactSizeIterator {
        self.entries.iter().map(|entry| (entry.id(), entry))
    }

    /// Ids in creation order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.entries.iter().map(V::id)
    }

    /// Entries in creation order.
    pub fn values(&self) -> std::slice::Iter<'_, V> {
        self.entries.iter()
    }

    /// Entries in creation order, to change them (not their ids).
    pub fn values_mut(&mut self) -> std::slice::IterMut<'_, V> {
        self.entries.iter_mut()
    }
}

/// `map[id]`, for tests and callers that know the id exists.
///
/// Panics when no entry has `id`, like `IndexMap`'s; use
/// [`OrdinalMap::get`] otherwise.
impl<V: OrdinalKeyed> Index<&str> for OrdinalMap<V> {
    type Output = V;

    fn index(&self, id: &str) -> &V {
        match self.get(id) {
            Some(entry) => entry,
            None => panic!("no entry with id {id:?}"),
        }
    }
}

impl<V: OrdinalKeyed + Serialize> Serialize for OrdinalMap<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for entry in &self.entries {
            map.serialize_entry(entry.id(), entry)?;
        }
        map.end()
    }
}

impl<'de, V: OrdinalKeyed + Deserialize<'de>> Deserialize<'de> for OrdinalMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(OrdinalVisitor(PhantomData))
    }
}

struct OrdinalVisitor<V>(PhantomData<V>);

impl<'de, V: OrdinalKeyed + Deserialize<'de>> Visitor<'de> for OrdinalVisitor<V> {
    type Value = OrdinalMap<V>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "a map from {}NNNNNN ids (or unpadded), in ordinal order, to entries",
            V::PREFIX
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = OrdinalMap {
            entries: Vec::with_capacity(access.size_hint().unwrap_or(0).min(4096)),
        };
        while let Some(key) = access.next_key::<String>()? {
            let ordinal = map.len() + 1;
            if !names_ordinal(&key, V::PREFIX, ordinal) {
                return Err(serde::de::Error::custom(format!(
                    "entry {ordinal} is {key:?}, expected {:?} or {:?} (ids are ordinals in creation order)",
                    map.next_id(),
                    format!("{}{ordinal}", V::PREFIX),
                )));
            }
            let entry: V = access.next_value()?;
            if entry.id() != key {
                return Err(serde::de::Error::custom(format!(
                    "entry {key:?} carries the id {:?}",
                    entry.id()
                )));
            }
            map.entries.push(entry);
        }
        Ok(map)
    }
}

impl<'a, V: OrdinalKeyed> IntoIterator for &'a OrdinalMap<V> {
    type Item = (&'a str, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, V>, fn(&'a V) -> (&'a str, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|entry| (entry.id(), entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    struct Entry {
        id: String,
        n: u32,
    }

    impl OrdinalKeyed for Entry {
        const PREFIX: &'static str = "entry:";
        fn id(&self) -> &str {
            &self.id
        }
    }

    fn three() -> OrdinalMap<Entry> {
        let mut map = OrdinalMap::new();
        for n in 1..=3 {
            map.push(Entry {
                id: map.next_id(),
                n,
            });
        }
        map
    }

    #[test]
    fn ids_are_zero_padded_ordinals_found_by_position() {
        let map = three();
        assert_eq!(map.next_id(), "entry:000004");
        assert_eq!(map.position_of("entry:000002"), Some(1));
        assert_eq!(map.get("entry:000003").map(|e| e.n), Some(3));
        assert_eq!(map["entry:000001"].n, 1);
        for absent in [
            "entry:2",
            "entry:000000",
            "entry:000004",
            "entry:x",
            "other:000001",
            "entry:+00001",
        ] {
            assert_eq!(map.get(absent), None, "{absent}");
        }
        assert_eq!(
            map.keys().collect::<Vec<_>>(),
            ["entry:000001", "entry:000002", "entry:000003"]
        );
        // Past 999,999 the ordinal simply gets longer, as `{:06}` does.
        assert_eq!(ordinal_id("entry:", 1_000_000), "entry:1000000");
    }

    #[test]
    fn an_entry_made_with_the_wrong_id_is_not_found_under_its_position() {
        let mut map = three();
        map.push(Entry {
            id: "entry:000009".into(),
            n: 4,
        });
        assert_eq!(map.get("entry:000004"), None);
        assert_eq!(map.get("entry:000009"), None);
    }

    #[test]
    fn json_is_a_map_in_order_and_loading_refuses_ids_out_of_step() {
        let map = three();
        let json = serde_json::to_string(&map).expect("json");
        assert_eq!(
            json,
            r#"{"entry:000001":{"id":"entry:000001","n":1},"entry:000002":{"id":"entry:000002","n":2},"entry:000003":{"id":"entry:000003","n":3}}"#
        );
        let back: OrdinalMap<Entry> = serde_json::from_str(&json).expect("load");
        assert_eq!(back, map);

        let reordered = r#"{"entry:000002":{"id":"entry:000002","n":2},"entry:000001":{"id":"entry:000001","n":1}}"#;
        let err = serde_json::from_str::<OrdinalMap<Entry>>(reordered).expect_err("refused");
        assert!(
            err.to_string()
                .contains(r#"entry 1 is "entry:000002", expected "entry:000001""#),
            "{err}"
        );
        let mislabelled = r#"{"entry:000001":{"id":"entry:000007","n":1}}"#;
        let err = serde_json::from_str::<OrdinalMap<Entry>>(mislabelled).expect_err("refused");
        assert!(
            err.to_string()
                .contains(r#"entry "entry:000001" carries the id "entry:000007""#),
            "{err}"
        );
    }

    #[test]
    fn loading_takes_unpadded_ordinals_at_their_position_and_finds_them_as_written() {
        let reference = r#"{"entry:1":{"id":"entry:1","n":1},"entry:02":{"id":"entry:02","n":2},"entry:000003":{"id":"entry:000003","n":3}}"#;
        let map: OrdinalMap<Entry> = serde_json::from_str(reference).expect("load");
        assert_eq!(map.len(), 3);
        assert_eq!(map.get("entry:1").map(|e| e.n), Some(1));
        assert_eq!(map.position_of("entry:02"), Some(1));
        assert_eq!(map.get("entry:000003").map(|e| e.n), Some(3));
        // Found by the id as written, not by another spelling.
        assert_eq!(map.get("entry:000001"), None);
        // Written back as read.
        assert_eq!(serde_json::to_string(&map).expect("json"), reference);

        for (json, message) in [
            (
                r#"{"entry:2":{"id":"entry:2","n":2}}"#,
                r#"entry 1 is "entry:2", expected "entry:000001" or "entry:1""#,
            ),
            (
                r#"{"entry:1":{"id":"entry:1","n":1},"entry:1":{"id":"entry:1","n":1}}"#,
                r#"entry 2 is "entry:1", expected "entry:000002" or "entry:2""#,
            ),
            (
                r#"{"entry:":{"id":"entry:","n":1}}"#,
                r#"entry 1 is "entry:""#,
            ),
            (
                r#"{"entry:+1":{"id":"entry:+1","n":1}}"#,
                r#"entry 1 is "entry:+1""#,
            ),
            (
                r#"{"entry:1x":{"id":"entry:1x","n":1}}"#,
                r#"entry 1 is "entry:1x""#,
            ),
            (
                r#"{"entry: 1":{"id":"entry: 1","n":1}}"#,
                r#"entry 1 is "entry: 1""#,
            ),
            (
                r#"{"other:1":{"id":"other:1","n":1}}"#,
                r#"entry 1 is "other:1""#,
            ),
            (
                r#"{"entry:99999999999999999999999":{"id":"x","n":1}}"#,
                r#"entry 1 is "entry:99999999999999999999999""#,
            ),
            (
                r#"{"entry:1":{"id":"entry:000001","n":1}}"#,
                r#"entry "entry:1" carries the id "entry:000001""#,
            ),
        ] {
            let err = serde_json::from_str::<OrdinalMap<Entry>>(json).expect_err(json);
            assert!(err.to_string().contains(message), "{json}: {err}");
        }
    }
}
