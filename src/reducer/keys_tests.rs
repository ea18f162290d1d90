//! Tests of the typed index keys: a borrowed key finds its owned twin, and
//! saved state spells each key as the joined text it had before keys were
//! typed, reading it back to the same key.

use pretty_assertions::assert_eq;

use super::{CallOfKind, Delivery, InThread};
use crate::model::ConversationItemKind;
use crate::reducer::FxIndexMap;

#[test]
fn borrowed_keys_find_their_owned_twins() {
    let mut calls: FxIndexMap<InThread, u32> = FxIndexMap::default();
    calls.insert(InThread::new("thread-1", "call-1").owned(), 1);
    calls.insert(InThread::new("thread-2", "call-1").owned(), 2);
    assert_eq!(calls.get(&InThread::new("thread-1", "call-1")), Some(&1));
    assert_eq!(calls.get(&InThread::new("thread-2", "call-1")), Some(&2));
    assert_eq!(calls.get(&InThread::new("thread-1", "call-2")), None);
    // Parts are kept apart, not joined: no two pairs of parts meet.
    assert_eq!(calls.get(&InThread::new("thread-1call-1", "")), None);

    let mut kinds: FxIndexMap<CallOfKind, u32> = FxIndexMap::default();
    let call = InThread::new("thread-1", "call-1");
    kinds.insert(
        CallOfKind::new(call.clone(), ConversationItemKind::FunctionCall).owned(),
        1,
    );
    let output = CallOfKind::new(call.clone(), ConversationItemKind::FunctionCallOutput);
    assert_eq!(kinds.get(&output), None);
    assert_eq!(
        kinds.get(&CallOfKind::new(call, ConversationItemKind::FunctionCall)),
        Some(&1)
    );

    let mut deliveries: FxIndexMap<Delivery, u32> = FxIndexMap::default();
    deliveries.insert(Delivery::new("thread-1", "/root", "hello").owned(), 1);
    assert_eq!(
        deliveries.get(&Delivery::new("thread-1", "/root", "hello")),
        Some(&1)
    );
    assert_eq!(
        deliveries.get(&Delivery::new("thread-1", "/root", "hell")),
        None
    );
}

#[test]
fn saved_keys_are_their_parts_joined_by_unit_separators_and_read_back() {
    let mut calls: FxIndexMap<InThread, u32> = FxIndexMap::default();
    calls.insert(InThread::new("thread-1", "call-1").owned(), 1);
    let text = serde_json::to_string(&calls).expect("json");
    assert_eq!(text, r#"{"thread-1\u001fcall-1":1}"#);
    let back: FxIndexMap<InThread, u32> = serde_json::from_str(&text).expect("read back");
    assert_eq!(back, calls);

    let mut kinds: FxIndexMap<CallOfKind, u32> = FxIndexMap::default();
    let call = InThread::new("thread-1", "call\u{1f}odd");
    kinds.insert(
        CallOfKind::new(call, ConversationItemKind::CustomToolCallOutput).owned(),
        1,
    );
    let text = serde_json::to_string(&kinds).expect("json");
    assert_eq!(
        text,
        r#"{"thread-1\u001fcall\u001fodd\u001fCustomToolCallOutput":1}"#
    );
    let back: FxIndexMap<CallOfKind, u32> = serde_json::from_str(&text).expect("read back");
    assert_eq!(back, kinds);

    let mut deliveries: FxIndexMap<Delivery, u32> = FxIndexMap::default();
    deliveries.insert(Delivery::new("thread-1", "/root", "a\u{1f}b").owned(), 1);
    let text = serde_json::to_string(&deliveries).expect("json");
    assert_eq!(text, r#"{"thread-1\u001f/root\u001fa\u001fb":1}"#);
    let back: FxIndexMap<Delivery, u32> = serde_json::from_str(&text).expect("read back");
    assert_eq!(back, deliveries);
}

#[test]
fn a_saved_key_with_too_few_parts_or_an_unknown_kind_is_refused_naming_it() {
    let err = serde_json::from_str::<FxIndexMap<InThread, u32>>(r#"{"thread-1":1}"#)
        .expect_err("refused");
    assert!(err.to_string().contains(r#"index key "thread-1""#), "{err}");
    let err = serde_json::from_str::<FxIndexMap<CallOfKind, u32>>(
        r#"{"thread-1\u001fcall-1\u001fHologram":1}"#,
    )
    .expect_err("refused");
    assert!(
        err.to_string().contains("names no conversation item kind"),
        "{err}"
    );
    let err = serde_json::from_str::<FxIndexMap<Delivery, u32>>(r#"{"thread-1\u001f/root":1}"#)
        .expect_err("refused");
    assert!(err.to_string().contains("too few"), "{err}");
}

#[test]
fn every_item_kind_is_read_back_from_its_name() {
    use crate::reducer::conversation::{kind_name, kind_named};
    use ConversationItemKind as Kind;
    let kinds = [
        Kind::Message,
        Kind::Reasoning,
        Kind::FunctionCall,
        Kind::FunctionCallOutput,
        Kind::CustomToolCall,
        Kind::CustomToolCallOutput,
        Kind::CompactionMarker,
    ];
    for kind in kinds {
        assert_eq!(kind_named(kind_name(kind)), Some(kind));
    }
    assert_eq!(kind_named("Hologram"), None);
}
