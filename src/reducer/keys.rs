//! Typed keys of the reducer's indexes: ids that are unique only within a
//! thread (model-visible call ids, response ids, runtime cell ids) keyed with
//! their thread, a call id with an item kind, and an inter-agent delivery.
//!
//! Each key has an owned form (`String` parts), stored in the maps, and a
//! borrowed form (`&str` parts) that looks an entry up without allocating
//! ([`Equivalent`]); both hash alike, part by part.
//!
//! Saved state writes a key as the text the reducer keyed its maps with
//! before keys were typed: the parts joined by U+001F, so the saved state's
//! shape does not change. Reading one back splits it at the first U+001F
//! (and a delivery's author at the next, a kind at the last), so only the
//! id of an [`InThread`], the call id of a [`CallOfKind`] and the content of
//! a [`Delivery`] may themselves contain U+001F (a control character no
//! thread id or agent path has). These types never leave the reducer.

use std::fmt::{self, Write as _};

use indexmap::Equivalent;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::conversation::{kind_name, kind_named};
use crate::model::ConversationItemKind;

/// What joins a key's parts in saved state.
const SEPARATOR: char = '\u{1f}';

/// An id in its thread: a model-visible call id, a response id, a runtime
/// cell id or a turn id, which the log only promises to be unique per
/// thread.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct InThread<S = String> {
    pub thread_id: S,
    pub id: S,
}

impl<'a> InThread<&'a str> {
    /// The key of `id` in `thread_id`, for a lookup.
    pub(crate) fn new(thread_id: &'a str, id: &'a str) -> InThread<&'a str> {
        InThread { thread_id, id }
    }

    /// The key to store.
    pub(crate) fn owned(&self) -> InThread {
        InThread {
            thread_id: self.thread_id.to_string(),
            id: self.id.to_string(),
        }
    }
}

impl Equivalent<InThread> for InThread<&str> {
    fn equivalent(&self, key: &InThread) -> bool {
        self.thread_id == key.thread_id && self.id == key.id
    }
}

/// A model-visible call id in its thread, with the kind of an item that
/// carries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CallOfKind<S = String> {
    pub call: InThread<S>,
    pub kind: ConversationItemKind,
}

impl<'a> CallOfKind<&'a str> {
    /// The key of `call` and `kind`, for a lookup.
    pub(crate) fn new(call: InThread<&'a str>, kind: ConversationItemKind) -> CallOfKind<&'a str> {
        CallOfKind { call, kind }
    }

    /// The key to store.
    pub(crate) fn owned(&self) -> CallOfKind {
        CallOfKind {
            call: self.call.owned(),
            kind: self.kind,
        }
    }
}

impl Equivalent<CallOfKind> for CallOfKind<&str> {
    fn equivalent(&self, key: &CallOfKind) -> bool {
        self.kind == key.kind && self.call.equivalent(&key.call)
    }
}

/// An inter-agent message as its recipient thread sees it: the recipient
/// thread, the author's agent path and the content. A delivery edge and the
/// item it delivered meet by this key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Delivery<S = String> {
    pub thread_id: S,
    pub author: S,
    pub content: S,
}

impl<'a> Delivery<&'a str> {
    /// The key of a delivery, for a lookup.
    pub(crate) fn new(thread_id: &'a str, author: &'a str, content: &'a str) -> Delivery<&'a str> {
        Delivery {
            thread_id,
            author,
            content,
        }
    }

    /// The key to store.
    pub(crate) fn owned(&self) -> Delivery {
        Delivery {
            thread_id: self.thread_id.to_string(),
            author: self.author.to_string(),
            content: self.content.to_string(),
        }
    }
}

impl Equivalent<Delivery> for Delivery<&str> {
    fn equivalent(&self, key: &Delivery) -> bool {
        self.thread_id == key.thread_id && self.author == key.author && self.content == key.content
    }
}

/// A key's parts joined by [`SEPARATOR`], as saved state spells it.
struct Joined<'a, const N: usize>([&'a str; N]);

impl<const N: usize> fmt::Display for Joined<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, part) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_char(SEPARATOR)?;
            }
            f.write_str(part)?;
        }
        Ok(())
    }
}

/// The first part of a saved key and the rest, or an error naming the key.
fn split_first<'t, E: serde::de::Error>(
    text: &'t str,
    whole: &str,
) -> Result<(&'t str, &'t str), E> {
    text.split_once(SEPARATOR)
        .ok_or_else(|| too_few_parts(whole))
}

/// The error for a saved key with fewer parts than its type has.
fn too_few_parts<E: serde::de::Error>(whole: &str) -> E {
    E::custom(format!(
        "index key {whole:?} has too few U+001F-separated parts"
    ))
}

impl Serialize for InThread {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        serializer.collect_str(&Joined([&self.thread_id, &self.id]))
    }
}

impl<'de> Deserialize<'de> for InThread {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<InThread, D::Error> {
        let text = String::deserialize(deserializer)?;
        let (thread_id, id) = split_first::<D::Error>(&text, &text)?;
        Ok(InThread::new(thread_id, id).owned())
    }
}

impl Serialize for CallOfKind {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        let kind = kind_name(self.kind);
        serializer.collect_str(&Joined([&self.call.thread_id, &self.call.id, kind]))
    }
}

impl<'de> Deserialize<'de> for CallOfKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<CallOfKind, D::Error> {
        let text = String::deserialize(deserializer)?;
        let (thread_id, rest) = split_first::<D::Error>(&text, &text)?;
        let Some((call_id, kind)) = rest.rsplit_once(SEPARATOR) else {
            return Err(too_few_parts(&text));
        };
        let Some(kind) = kind_named(kind) else {
            return Err(D::Error::custom(format!(
                "index key {text:?} names no conversation item kind"
            )));
        };
        Ok(CallOfKind::new(InThread::new(thread_id, call_id), kind).owned())
    }
}

impl Serialize for Delivery {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        serializer.collect_str(&Joined([&self.thread_id, &self.author, &self.content]))
    }
}

impl<'de> Deserialize<'de> for Delivery {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Delivery, D::Error> {
        let text = String::deserialize(deserializer)?;
        let (thread_id, rest) = split_first::<D::Error>(&text, &text)?;
        let (author, content) = split_first::<D::Error>(rest, &text)?;
        Ok(Delivery::new(thread_id, author, content).owned())
    }
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
