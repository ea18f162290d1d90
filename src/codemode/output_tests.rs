//! Unit tests for the output limit.

use pretty_assertions::assert_eq;

use super::{TRUNCATION_MARKER, limit_output};
use crate::codemode::types::ContentItem;

#[test]
fn output_within_the_budget_is_kept_whole() {
    let items = vec![ContentItem::text("abc"), ContentItem::text("def")];
    assert_eq!(limit_output(items.clone(), 0, Some(10)), items);
}

#[test]
fn output_over_the_budget_is_cut_and_marked() {
    let items = vec![ContentItem::text("a".repeat(10)), ContentItem::text("tail")];
    let out = limit_output(items, 0, Some(2));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0], ContentItem::text("a".repeat(8)));
    let ContentItem::InputText { text } = &out[1] else {
        panic!("{out:?}");
    };
    assert!(text.starts_with(TRUNCATION_MARKER), "{text}");
    assert!(text.contains(" 6 bytes "), "{text}");
}

#[test]
fn truncation_never_splits_a_utf8_character() {
    let out = limit_output(vec![ContentItem::text("ééééé")], 0, Some(1));
    assert_eq!(out[0], ContentItem::text("éé"));
}

#[test]
fn bytes_dropped_by_the_buffer_are_reported_even_within_the_budget() {
    let out = limit_output(vec![ContentItem::text("ok")], 5, Some(10));
    assert_eq!(out.len(), 2);
    assert!(matches!(&out[1], ContentItem::InputText { text } if text.contains(" 5 bytes ")));
}

#[test]
fn images_are_kept_and_not_counted() {
    let image = ContentItem::InputImage {
        image_url: "data:image/png;base64,".to_string() + &"A".repeat(100),
    };
    assert_eq!(limit_output(vec![image.clone()], 0, Some(1)), vec![image]);
}
