use pretty_assertions::assert_eq;

use super::*;
use crate::reducer::MemoryPayloads;

fn cut(bytes: &[u8], max_body_bytes: usize) -> PagePayload {
    let mut source = MemoryPayloads::new();
    let hash = source.insert(bytes.to_vec());
    body(
        &source,
        &PayloadKind::ToolResult,
        hash,
        bytes.len() as u64,
        &PageOptions { max_body_bytes },
        PagePayload::default(),
    )
}

#[test]
fn a_body_is_cut_at_a_character_boundary_and_says_so() {
    // "é" is two bytes: a cut at 4 would split the second one.
    let text = "aéé"; // 1 + 2 + 2 bytes
    let whole = cut(text.as_bytes(), 64);
    assert_eq!(whole.text.as_deref(), Some(text));
    assert!(!whole.truncated);
    let at_4 = cut(text.as_bytes(), 4);
    assert_eq!(at_4.text.as_deref(), Some("aé"));
    assert!(at_4.truncated);
    let at_3 = cut(text.as_bytes(), 3);
    assert_eq!(at_3.text.as_deref(), Some("aé"));
    assert!(at_3.truncated);
}

#[test]
fn bytes_that_are_not_utf8_are_named_binary_not_shown() {
    let binary = cut(&[0x89, b'P', b'N', b'G', 0xff, 0xfe], 64);
    assert_eq!(binary.text, None);
    assert_eq!(binary.note.as_deref(), Some("binary: not UTF-8"));
    // Invalid UTF-8 after the cut is binary too, not a clean cut.
    let late = cut(&[b'a', b'b', b'c', 0xff], 2);
    assert_eq!(late.text, None);
}

#[test]
fn the_page_escapes_its_title_and_keeps_data_out_of_the_markup() {
    let mut trace = RolloutTrace::new("<script>alert(1)</script>");
    trace.diagnostics.push(crate::model::Diagnostic::new(
        Some(1),
        "reduce_error",
        "</script><b>not markup</b>".to_string(),
    ));
    let html = rollout_page(&trace, None, &PageOptions::default());
    assert!(
        html.contains("<title>tracefold · rollout &lt;script&gt;alert(1)&lt;/script&gt;</title>")
    );
    assert!(!html.contains("<b>not markup</b>"));
    // One script element of data, one of code.
    assert_eq!(html.matches("<script").count(), 2);
}
