//! Reading the reference reducer's state JSON: every `reference-state.json`
//! of the reference crate's test scenarios (`../shared/conformance/
//! reference-tests/`, read in place) loads as a [`RolloutTrace`], although
//! it lacks the keys tracefold adds (they default on read) and spells the
//! reducer-minted ids without padding (`conversation_item:1`).

use std::path::{Path, PathBuf};

use tracefold::model::RolloutTrace;

fn reference_tests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/reference-tests")
}

#[test]
fn every_reference_state_loads_as_a_rollout_trace() {
    let root = reference_tests();
    let mut states: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|err| panic!("{}: {err} (CI has ../shared)", root.display()))
        .map(|entry| {
            entry
                .expect("dir entry")
                .path()
                .join("reference-state.json")
        })
        .filter(|path| path.exists())
        .collect();
    states.sort();
    // Five of the 43 scenarios end in an error and write no state.
    assert_eq!(states.len(), 38, "the reference's 38 states");
    let mut failures = Vec::new();
    for path in &states {
        let text = std::fs::read_to_string(path).expect("read");
        match serde_json::from_str::<RolloutTrace>(&text) {
            Err(err) => failures.push(format!("{}: {err}", path.display())),
            Ok(trace) => {
                // What was read is the reference's state, ids as spelled.
                let reference: serde_json::Value = serde_json::from_str(&text).expect("json");
                assert_eq!(
                    trace.conversation_items.len(),
                    reference["conversation_items"]
                        .as_object()
                        .map_or(0, |items| items.len()),
                    "{}",
                    path.display()
                );
                // Its unpadded ids are found, by their own keys and where
                // threads and payload citations name them.
                for (id, item) in &trace.conversation_items {
                    assert_eq!(trace.conversation_items.get(id), Some(item), "{id}");
                }
                for thread in trace.threads.values() {
                    for id in &thread.conversation_item_ids {
                        assert!(trace.conversation_items.contains_key(id), "{id}");
                    }
                }
                for call in trace.inference_calls.values() {
                    let id = &call.raw_request_payload_id;
                    assert!(trace.raw_payloads.contains_key(id), "{id}");
                }
                for (id, _) in &trace.terminal_operations {
                    assert!(trace.terminal_operations.contains_key(id), "{id}");
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} reference states do not load:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
