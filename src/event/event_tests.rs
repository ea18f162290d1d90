use pretty_assertions::assert_eq;

use super::samples::every_variant_with_planted_strings;
use super::wire::{WireError, WirePayloadRef, parse_line, to_line};
use super::*;

#[test]
fn hash_hex_round_trips() {
    let hash = Hash::of(b"hello");
    let parsed: Hash = hash.to_hex().parse().expect("hex parses");
    assert_eq!(parsed, hash);
    assert!("xyz".parse::<Hash>().is_err());
    assert!("g".repeat(64).parse::<Hash>().is_err());
}

#[test]
fn payload_kind_wire_shape_matches_the_reference() {
    let json = serde_json::to_string(&PayloadKind::InferenceRequest).expect("serialises");
    assert_eq!(json, r#"{"type":"inference_request"}"#);
    let other: PayloadKind = serde_json::from_str(r#"{"type":"future_kind"}"#).expect("parses");
    assert_eq!(other, PayloadKind::Other("future_kind".to_string()));
    assert_eq!(
        serde_json::to_string(&other).expect("serialises"),
        r#"{"type":"future_kind"}"#
    );
}

#[test]
fn reference_line_parses_with_file_payload_ref() {
    let line = r#"{"schema_version":1,"seq":3,"wall_time_unix_ms":10,"rollout_id":"r","thread_id":"t","codex_turn_id":"turn","payload":{"type":"inference_started","inference_call_id":"i","thread_id":"t","codex_turn_id":"turn","model":"m","provider_name":"p","request_payload":{"raw_payload_id":"raw_payload:1","kind":{"type":"inference_request"},"path":"payloads/1.json"}}}"#;
    let event = parse_line(line).expect("parses");
    let EventPayload::InferenceStarted {
        request_payload, ..
    } = &event.payload
    else {
        panic!("wrong variant: {:?}", event.payload);
    };
    assert_eq!(
        request_payload,
        &WirePayloadRef::File {
            raw_payload_id: "raw_payload:1".to_string(),
            kind: PayloadKind::InferenceRequest,
            path: "payloads/1.json".to_string(),
        }
    );
    // Written back, the line is the same JSON value.
    let back: serde_json::Value = serde_json::from_str(&to_line(&event)).expect("valid json");
    let original: serde_json::Value = serde_json::from_str(line).expect("valid json");
    assert_eq!(back, original);
}

#[test]
fn unknown_event_type_is_kept_verbatim() {
    let line = r#"{"schema_version":1,"seq":1,"wall_time_unix_ms":0,"rollout_id":"r","thread_id":null,"codex_turn_id":null,"payload":{"type":"brand_new","z":1,"a":[1,2]}}"#;
    let event = parse_line(line).expect("parses");
    assert_eq!(event.payload.type_name(), "brand_new");
    assert_eq!(to_line(&event), line);
}

#[test]
fn known_type_with_wrong_field_type_is_an_error() {
    let line = r#"{"schema_version":1,"seq":1,"wall_time_unix_ms":0,"rollout_id":"r","thread_id":null,"codex_turn_id":null,"payload":{"type":"rollout_started","trace_id":5,"root_thread_id":"x"}}"#;
    let err = parse_line(line).expect_err("must fail");
    assert!(
        matches!(&err, WireError::Json(message) if message.contains("rollout_started")),
        "{err}"
    );
}

#[test]
fn other_schema_versions_are_rejected() {
    let line = r#"{"schema_version":2,"seq":1,"wall_time_unix_ms":0,"rollout_id":"r","thread_id":null,"codex_turn_id":null,"payload":{"type":"rollout_ended","status":"completed"}}"#;
    assert_eq!(parse_line(line), Err(WireError::SchemaVersion(2)));
}

#[test]
fn payload_ref_forms_are_exclusive() {
    let both = r#"{"kind":{"type":"tool_result"},"path":"a","inline":1}"#;
    assert!(serde_json::from_str::<WirePayloadRef>(both).is_err());
    let none = r#"{"kind":{"type":"tool_result"}}"#;
    assert!(serde_json::from_str::<WirePayloadRef>(none).is_err());
}

#[test]
fn every_known_type_name_matches_its_variant() {
    let samples: Vec<EventPayload<u8>> = vec![
        EventPayload::RolloutEnded {
            status: RolloutStatus::Completed,
        },
        EventPayload::EventsDropped {
            count: 1,
            reason: "x".into(),
        },
        EventPayload::CodeCellStoredValues {
            runtime_cell_id: "1".into(),
            stored_values_payload: 0,
        },
    ];
    for sample in samples {
        let json = serde_json::to_value(&sample).expect("serialises");
        assert_eq!(json["type"], sample.type_name());
    }
}

#[test]
fn every_variant_has_its_serde_tag_as_type_name_and_its_known_name_in_variant_order() {
    let (samples, _) = every_variant_with_planted_strings();
    let index_of = |payload: &EventPayload<()>| {
        let bytes = bincode::encode_to_vec(payload, bincode::config::standard()).expect("encodes");
        usize::from(bytes[0])
    };
    // `Unknown` has a variant index but no known name: the variants added
    // after it (`source_line`) sit one position lower in the list.
    let unknown = index_of(&EventPayload::Unknown {
        type_name: "x".into(),
        json: JsonText("{\"type\":\"x\"}".to_string()),
    });
    for sample in samples {
        let json = serde_json::to_value(&sample).expect("serialises");
        assert_eq!(json["type"], sample.type_name());
        // The bincode variant index (one varint byte) is the position in
        // `KNOWN_EVENT_TYPES`, past `Unknown`'s.
        let index = index_of(&sample);
        assert_ne!(index, unknown);
        let position = if index > unknown { index - 1 } else { index };
        assert_eq!(KNOWN_EVENT_TYPES[position], sample.type_name());
    }
}

#[test]
fn bincode_round_trips_an_event() {
    let event = Event {
        seq: 7,
        wall_time_unix_ms: 1_767_225_600_000,
        thread_id: Some("t".into()),
        codex_turn_id: None,
        payload: EventPayload::ToolCallEnded {
            tool_call_id: "c".into(),
            status: ExecutionStatus::Failed,
            result_payload: Some(PayloadRef {
                kind: PayloadKind::ToolResult,
                hash: Hash::of(b"x"),
                size_bytes: 1,
            }),
        },
    };
    let bytes = bincode::encode_to_vec(&event, bincode::config::standard()).expect("encodes");
    let (back, used): (Event, usize) =
        bincode::decode_from_slice(&bytes, bincode::config::standard()).expect("decodes");
    assert_eq!(used, bytes.len());
    assert_eq!(back, event);
}

#[test]
fn for_each_string_mut_visits_every_string_of_every_variant() {
    let (mut events, planted) = every_variant_with_planted_strings();
    let mut visited = 0;
    for event in &mut events {
        event.for_each_string_mut(|kind, text| {
            visited += text.matches("planted-").count();
            *text = match kind {
                EventString::Json => "\"visited\"".to_string(),
                EventString::Id | EventString::Text => "visited".to_string(),
            };
        });
    }
    assert_eq!(visited, planted);
    // Nothing planted is left anywhere in the events (Unknown has no serde
    // form; it is checked below).
    let json = serde_json::to_string(&events).expect("serialises");
    assert!(!json.contains("planted-"), "{json}");
    let mut unknown: EventPayload<()> = EventPayload::Unknown {
        type_name: "planted-a".to_string(),
        json: JsonText("{\"type\":\"planted-a\"}".to_string()),
    };
    let mut seen = Vec::new();
    unknown.for_each_string_mut(|kind, text| seen.push((kind, text.clone())));
    assert_eq!(
        seen,
        vec![
            (EventString::Id, "planted-a".to_string()),
            (EventString::Json, "{\"type\":\"planted-a\"}".to_string()),
        ]
    );
}

#[test]
fn for_each_string_mut_says_which_strings_are_ids_texts_or_json() {
    let mut event: EventPayload<()> = EventPayload::ToolCallStarted {
        tool_call_id: "call".to_string(),
        model_visible_call_id: Some("visible".to_string()),
        code_mode_runtime_tool_id: None,
        requester: RawToolCallRequester::Model,
        kind: ToolCallKind::Other {
            name: "tool".to_string(),
        },
        summary: ToolCallSummary::Generic {
            label: "label".to_string(),
            input_preview: Some("input".to_string()),
            output_preview: None,
        },
        invocation_payload: None,
    };
    let mut seen = Vec::new();
    event.for_each_string_mut(|kind, text| seen.push((kind, text.clone())));
    let expected: Vec<(EventString, String)> = [
        (EventString::Id, "call"),
        (EventString::Id, "visible"),
        (EventString::Id, "tool"),
        (EventString::Text, "label"),
        (EventString::Text, "input"),
    ]
    .into_iter()
    .map(|(kind, text)| (kind, text.to_string()))
    .collect();
    assert_eq!(seen, expected);
}
