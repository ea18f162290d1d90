//! Integration tests: the code-mode runtime through its public API.
//!
//! The behaviour suite is written once, generic over the engine, and
//! instantiated by `engine_suite!` for QuickJS (always) and V8 (with the
//! `v8` feature). Tests use small yield times and assert that blocking calls
//! return (generous bounds), never tight timings.

// The suite's bodies are generic helpers, not `#[test]` fns, so clippy's
// `allow-unwrap-in-tests` does not reach them; unwrapping is how tests fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tracefold::codemode::{
    CodeModeError, CodeModeService, CodeModeTraceSink, ContentItem, Engine, ExecuteRequest,
    NestedToolCall, NoopTraceSink, RuntimeResponse, STALLED_SCRIPT, TRUNCATION_MARKER,
    ToolDefinition, ToolHost, WaitOutcome, WaitRequest,
};
use tracefold::event::{
    CodeCellRuntimeStatus, EventPayload, ExecutionStatus, RawToolCallRequester, ToolCallKind,
};

/// Bound for "returns promptly": far above the expected time, far below a hang.
const PROMPT: Duration = Duration::from_secs(5);

/// Nested tools for the tests: `echo` answers its input, `fail` errors,
/// `hang` never answers (within the test's lifetime).
#[derive(Default)]
struct TestTools {
    calls: Mutex<Vec<NestedToolCall>>,
    notes: Mutex<Vec<String>>,
}

impl ToolHost for TestTools {
    fn call_tool(&self, call: NestedToolCall) -> Result<Value, String> {
        self.calls.lock().unwrap().push(call.clone());
        match call.tool_name.as_str() {
            "echo" => Ok(call.input),
            "fail" => Err("boom".to_string()),
            "hang" => {
                thread::sleep(Duration::from_secs(600));
                Err("gave up".to_string())
            }
            other => Err(format!("no such tool {other}")),
        }
    }

    fn notify(&self, _cell_id: &str, _exec_call_id: &str, text: &str) {
        self.notes.lock().unwrap().push(text.to_string());
    }
}

fn tools() -> Vec<ToolDefinition> {
    vec![
        ToolDefinition::new("echo", "answers its input"),
        ToolDefinition::new("fail", "always fails"),
        ToolDefinition::new("hang", "never answers"),
    ]
}

fn service<E: Engine + Default>() -> (CodeModeService<E>, Arc<TestTools>) {
    let host = Arc::new(TestTools::default());
    (CodeModeService::new(E::default(), host.clone()), host)
}

fn noop() -> Arc<dyn CodeModeTraceSink> {
    Arc::new(NoopTraceSink)
}

fn request<E: Engine>(service: &CodeModeService<E>, source: &str, yield_ms: u64) -> ExecuteRequest {
    let cell_id = service.allocate_cell_id();
    ExecuteRequest {
        tool_call_id: format!("call-{cell_id}"),
        cell_id,
        enabled_tools: tools(),
        source: source.to_string(),
        stored_values: Default::default(),
        yield_time_ms: Some(yield_ms),
        max_output_tokens: None,
    }
}

/// Runs a cell to its end (yielding cells are waited on, boundedly).
fn run<E: Engine>(service: &CodeModeService<E>, source: &str) -> RuntimeResponse {
    let mut response = service
        .execute(request(service, source, 2_000), noop())
        .unwrap();
    for _ in 0..10 {
        if !response.is_yield() {
            return response;
        }
        response = service
            .wait(WaitRequest::new(response.cell_id(), 2_000), noop())
            .unwrap()
            .into();
    }
    panic!("cell did not finish: {response:?}");
}

fn error_text(response: &RuntimeResponse) -> Option<&str> {
    match response {
        RuntimeResponse::Result { error_text, .. } => error_text.as_deref(),
        _ => None,
    }
}

fn assert_ok(response: &RuntimeResponse, text: &str) {
    assert!(
        matches!(
            response,
            RuntimeResponse::Result {
                error_text: None,
                ..
            }
        ),
        "{response:?}"
    );
    assert_eq!(response.text(), text);
}

fn assert_script_error(response: &RuntimeResponse, needle: &str) {
    let error = error_text(response).unwrap_or_else(|| panic!("no error: {response:?}"));
    assert!(error.contains(needle), "{error:?} lacks {needle:?}");
    assert!(response.text().contains("Script error:\n"), "{response:?}");
}

/// The service still runs a plain cell.
fn assert_usable<E: Engine>(service: &CodeModeService<E>) {
    assert_ok(&run(service, "text(1 + 1)"), "2");
}

// ---- the behaviour suite -------------------------------------------------

fn terminate_stops_a_cpu_bound_loop_promptly<E: Engine + Default>() {
    let (service, _) = service::<E>();
    let first = service
        .execute(
            request(&service, "text('spinning'); while (true) {}", 50),
            noop(),
        )
        .unwrap();
    assert!(first.is_yield(), "{first:?}");
    assert_eq!(first.text(), "spinning");
    let started = Instant::now();
    let outcome = service
        .wait(WaitRequest::terminate(first.cell_id()), noop())
        .unwrap();
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    assert!(
        matches!(
            outcome,
            WaitOutcome::LiveCell(RuntimeResponse::Terminated { .. })
        ),
        "{outcome:?}"
    );
    assert!(service.live_cell_ids().is_empty());
    assert_usable(&service);
}

fn execute_yields_after_the_yield_time_with_the_output_so_far<E: Engine + Default>() {
    let (service, _) = service::<E>();
    let source = "text('a'); await new Promise((r) => setTimeout(r, 300)); text('b');";
    let first = service
        .execute(request(&service, source, 30), noop())
        .unwrap();
    assert!(
        matches!(first, RuntimeResponse::Yielded { .. }),
        "{first:?}"
    );
    assert_eq!(first.text(), "a");
    let rest = service
        .wait(WaitRequest::new(first.cell_id(), 5_000), noop())
        .unwrap();
    assert!(matches!(rest, WaitOutcome::LiveCell(_)));
    assert_ok(rest.response(), "b");
}

fn yield_control_yields_before_the_yield_time<E: Engine + Default>() {
    let (service, _) = service::<E>();
    let source =
        "text('x'); yield_control(); await new Promise((r) => setTimeout(r, 200)); text('y');";
    let started = Instant::now();
    let first = service
        .execute(request(&service, source, 60_000), noop())
        .unwrap();
    assert!(started.elapsed() < PROMPT);
    assert!(first.is_yield(), "{first:?}");
    assert_eq!(first.text(), "x");
    let rest = service
        .wait(WaitRequest::new(first.cell_id(), 5_000), noop())
        .unwrap();
    assert_ok(rest.response(), "y");
}

fn wait_on_a_finished_cell_delivers_the_kept_result_once<E: Engine + Default>() {
    let (service, _) = service::<E>();
    let source = "await new Promise((r) => setTimeout(r, 50)); text('done');";
    let first = service
        .execute(request(&service, source, 1), noop())
        .unwrap();
    assert!(first.is_yield(), "{first:?}");
    // Let it finish with nobody observing.
    thread::sleep(Duration::from_millis(300));
    let kept = service
        .wait(WaitRequest::new(first.cell_id(), 0), noop())
        .unwrap();
    assert!(matches!(kept, WaitOutcome::LiveCell(_)), "{kept:?}");
    assert_ok(kept.response(), "done");
    let again = service
        .wait(WaitRequest::new(first.cell_id(), 0), noop())
        .unwrap();
    assert!(matches!(again, WaitOutcome::MissingCell(_)), "{again:?}");
}

fn wait_on_a_missing_cell_answers_missing_cell<E: Engine + Default>() {
    let (service, _) = service::<E>();
    let outcome = service.wait(WaitRequest::new("404", 10), noop()).unwrap();
    let WaitOutcome::MissingCell(response) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(error_text(&response), Some("exec cell 404 not found"));
    let terminate = service.wait(WaitRequest::terminate("404"), noop()).unwrap();
    assert!(matches!(terminate, WaitOutcome::MissingCell(_)));
    assert_usable(&service);
}

fn a_second_concurrent_wait_is_busy<E: Engine + Default>() {
    let (service, _) = service::<E>();
    let service = Arc::new(service);
    let first = service
        .execute(
            request(
                &service,
                "await new Promise((r) => setTimeout(r, 5000));",
                1,
            ),
            noop(),
        )
        .unwrap();
    let cell_id = first.cell_id().to_string();
    let observer = {
        let service = Arc::clone(&service);
        let cell_id = cell_id.clone();
        thread::spawn(move || service.wait(WaitRequest::new(cell_id, 1_500), noop()))
    };
    thread::sleep(Duration::from_millis(200));
    let second = service.wait(WaitRequest::new(cell_id.clone(), 10), noop());
    assert_eq!(second, Err(CodeModeError::Busy(cell_id.clone())));
    let first_wait = observer.join().unwrap().unwrap();
    assert!(first_wait.response().is_yield(), "{first_wait:?}");
    let end = service
        .wait(WaitRequest::terminate(cell_id), noop())
        .unwrap();
    assert!(matches!(end.response(), RuntimeResponse::Terminated { .. }));
}

fn a_nested_tool_result_resolves_its_promise<E: Engine + Default>() {
    let (service, host) = service::<E>();
    let response = run(
        &service,
        "const r = await tools.echo({ a: 1, s: 'x' }); text(r.a + r.s);",
    );
    assert_ok(&response, "1x");
    let calls = host.calls.lock().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].tool_name, "echo");
    assert_eq!(calls[0].runtime_tool_id, "tool-1");
    assert_eq!(calls[0].input, json!({"a": 1, "s": "x"}));
    assert!(calls[0].tool_call_id.starts_with("exec-"));
}

fn a_nested_tool_error_rejects_its_promise<E: Engine + Default>() {
    let (service, _) = service::<E>();
    let caught = run(
        &service,
        "try { await tools.fail({}); } catch (e) { text('caught ' + e.message); }",
    );
    assert_ok(&caught, "caught boom");
    let uncaught = run(&service, "await tools.fail({});");
    assert_script_error(&uncaught, "boom");
}

fn stored_values_are_kept_on_success<E: Engine + Default>() {
    let (service, _) = service::<E>();
    let first = run(&service, "store('k', { n: 1 }); text(load('k').n);");
    assert_ok(&first, "1");
    let RuntimeResponse::Result { stored_values, .. } = &first else {
        panic!("{first:?}");
    };
    assert_eq!(stored_values.get("k"), Some(&json!({"n": 1})));
    assert_eq!(service.stored_values().get("k"), Some(&json!({"n": 1})));
    assert_ok(&run(&service, "text(load('k').n + 1)"), "2");
    // A script error still commits (last writer wins).
    let failed = run(&service, "store('k', 7); throw new Error('late');");
    assert_script_error(&failed, "late");
    assert_eq!(service.stored_values().get("k"), Some(&json!(7)));
}

fn stored_values_are_dropped_on_terminate<E: Engine + Default>() {
    let (service, _) = service::<E>();
    let first = service
        .execute(
            request(&service, "store('t', 1); while (true) {}", 30),
            noop(),
        )
        .unwrap();
    assert!(first.is_yield());
    let end = service
        .wait(WaitRequest::terminate(first.cell_id()), noop())
        .unwrap();
    assert!(matches!(end.response(), RuntimeResponse::Terminated { .. }));
    assert_eq!(service.stored_values().get("t"), None);
    assert_ok(&run(&service, "text(String(load('t')))"), "undefined");
}

fn exit_counts_as_success<E: Engine + Default>() {
    let (service, _) = service::<E>();
    assert_ok(
        &run(&service, "text('before'); exit(); text('after');"),
        "before",
    );
    assert_ok(
        &run(
            &service,
            "await tools.echo(1); text('in'); exit(); text('after');",
        ),
        "in",
    );
    assert_ok(
        &run(
            &service,
            "setTimeout(() => { text('timer'); exit(); }, 10); await new Promise(() => {});",
        ),
        "timer",
    );
}

fn imports_are_rejected<E: Engine + Default>() {
    let (service, _) = service::<E>();
    let static_import = run(&service, "import fs from 'fs'; text('loaded');");
    assert_script_error(&static_import, "Unsupported import in exec");
    let dynamic_import = run(&service, "await import('./other.mjs'); text('loaded');");
    assert_script_error(&dynamic_import, "Unsupported import in exec");
    assert_usable(&service);
}

fn large_output_is_truncated_with_a_marker<E: Engine + Default>() {
    let (service, _) = service::<E>();
    let mut request = request(&service, "text('x'.repeat(100000)); text('tail');", 2_000);
    request.max_output_tokens = Some(100);
    let response = service.execute(request, noop()).unwrap();
    let text = response.text();
    assert!(text.contains(TRUNCATION_MARKER), "{text}");
    assert!(text.len() < 1_000, "{} bytes", text.len());
    assert!(!text.contains("tail"));
}

fn many_cells_run_concurrently<E: Engine + Default>() {
    let (service, _) = service::<E>();
    let service = Arc::new(service);
    let started = Instant::now();
    let workers: Vec<_> = (0..12)
        .map(|index| {
            let service = Arc::clone(&service);
            thread::spawn(move || {
                let source = format!(
                    "await new Promise((r) => setTimeout(r, 200)); store('cell{index}', {index}); text('{index}');"
                );
                let response = service
                    .execute(request(&service, &source, 5_000), noop())
                    .unwrap();
                (index, response)
            })
        })
        .collect();
    for worker in workers {
        let (index, response) = worker.join().unwrap();
        assert_ok(&response, &index.to_string());
    }
    assert!(started.elapsed() < PROMPT);
    assert_eq!(service.stored_values().len(), 12);
    assert!(service.live_cell_ids().is_empty());
}

fn the_sandbox_globals_are_removed_and_the_cell_globals_installed<E: Engine + Default>() {
    let (service, host) = service::<E>();
    let removed = run(
        &service,
        "text([typeof console, typeof Atomics, typeof SharedArrayBuffer, typeof WebAssembly].join(','))",
    );
    assert_ok(&removed, "undefined,undefined,undefined,undefined");
    let installed = run(
        &service,
        "text(ALL_TOOLS.map((t) => t.name).join(',')); text(typeof tools.echo); image('data:image/png;base64,AA=='); notify('hi');",
    );
    assert_eq!(installed.text(), "echo,fail,hang\nfunction");
    assert_eq!(*host.notes.lock().unwrap(), ["hi"]);
    assert!(
        installed
            .content_items()
            .contains(&ContentItem::InputImage {
                image_url: "data:image/png;base64,AA==".to_string()
            })
    );
}

fn clear_timeout_cancels_a_timer<E: Engine + Default>() {
    let (service, _) = service::<E>();
    let response = run(
        &service,
        "const id = setTimeout(() => text('fired'), 10); clearTimeout(id); \
         await new Promise((r) => setTimeout(r, 50)); text('end');",
    );
    assert_ok(&response, "end");
}

fn bad_scripts_give_defined_responses_and_the_host_stays_usable<E: Engine + Default>() {
    let (service, _) = service::<E>();
    assert_script_error(&run(&service, "let = ;"), "SyntaxError");
    assert_usable(&service);
    assert_script_error(
        &run(&service, "throw new TypeError('nope')"),
        "TypeError: nope",
    );
    assert_script_error(&run(&service, "throw 42"), "42");
    assert_script_error(&run(&service, "await tools.unknown({})"), "TypeError");
    assert_script_error(
        &run(&service, "await new Promise(() => {});"),
        STALLED_SCRIPT,
    );
    assert_script_error(
        &run(
            &service,
            "setTimeout(() => { throw new Error('in timer'); }, 1); await new Promise(() => {});",
        ),
        "in timer",
    );
    assert_script_error(&run(&service, "function f() { return f() + 1; } f();"), "");
    assert_usable(&service);
    let duplicate = service.allocate_cell_id();
    let mut first = request(&service, "await new Promise((r) => setTimeout(r, 100));", 1);
    first.cell_id = duplicate.clone();
    service.execute(first.clone(), noop()).unwrap();
    assert_eq!(
        service.execute(first, noop()),
        Err(CodeModeError::CellAlreadyExists(duplicate))
    );
    assert_usable(&service);
}

fn a_tool_that_never_answers_does_not_hang_the_service<E: Engine + Default>() {
    let (service, _) = service::<E>();
    let started = Instant::now();
    let first = service
        .execute(
            request(
                &service,
                "text('calling'); await tools.hang({}); text('never');",
                50,
            ),
            noop(),
        )
        .unwrap();
    assert!(first.is_yield());
    assert_eq!(first.text(), "calling");
    let again = service
        .wait(WaitRequest::new(first.cell_id(), 50), noop())
        .unwrap();
    assert!(again.response().is_yield(), "{again:?}");
    let end = service
        .wait(WaitRequest::terminate(first.cell_id()), noop())
        .unwrap();
    assert!(matches!(end.response(), RuntimeResponse::Terminated { .. }));
    assert!(started.elapsed() < PROMPT);
    assert_usable(&service);
}

fn huge_output_is_bounded_and_truncated<E: Engine + Default>() {
    let (service, _) = service::<E>();
    let response = run(
        &service,
        "const chunk = 'y'.repeat(1000000); for (let i = 0; i < 12; i++) text(chunk);",
    );
    let text = response.text();
    assert!(text.contains(TRUNCATION_MARKER));
    assert!(text.len() < 100_000, "{} bytes", text.len());
    assert_usable(&service);
}

fn terminate_stops_an_endless_microtask_loop<E: Engine + Default>() {
    let (service, _) = service::<E>();
    let source = "text('looping'); while (true) { await null; }";
    let first = service
        .execute(request(&service, source, 50), noop())
        .unwrap();
    assert!(first.is_yield(), "{first:?}");
    let started = Instant::now();
    let end = service
        .wait(WaitRequest::terminate(first.cell_id()), noop())
        .unwrap();
    assert!(started.elapsed() < PROMPT);
    assert!(matches!(end.response(), RuntimeResponse::Terminated { .. }));
    assert_usable(&service);
}

fn request_stored_values_are_visible_to_load<E: Engine + Default>() {
    let (service, _) = service::<E>();
    service.replace_stored_values([("a".to_string(), json!(1))].into_iter().collect());
    let mut request = request(&service, "text(load('a') + load('b'))", 2_000);
    request.stored_values.insert("b".to_string(), json!(2));
    let response = service.execute(request, noop()).unwrap();
    assert_ok(&response, "3");
    // Only a cell's own writes are committed to the session.
    assert_eq!(service.stored_values().get("b"), None);
}

fn odd_requests_give_defined_answers<E: Engine + Default>() {
    let (service, _) = service::<E>();
    let nul = run(&service, "text('a\u{0}b')");
    assert!(matches!(nul, RuntimeResponse::Result { .. }), "{nul:?}");
    let long_yield = service
        .execute(request(&service, "text('quick')", u64::MAX), noop())
        .unwrap();
    assert_ok(&long_yield, "quick");
    let mut huge_limit = request(&service, "text('x'.repeat(1000))", 2_000);
    huge_limit.max_output_tokens = Some(usize::MAX);
    assert_eq!(
        service.execute(huge_limit, noop()).unwrap().text().len(),
        1000
    );
    let mut zero_limit = request(&service, "text('abc')", 2_000);
    zero_limit.max_output_tokens = Some(0);
    assert!(
        service
            .execute(zero_limit, noop())
            .unwrap()
            .text()
            .starts_with(TRUNCATION_MARKER)
    );
    assert_script_error(
        &run(&service, "const a = []; a.push(a); store('cyclic', a);"),
        "TypeError",
    );
    assert_usable(&service);
}

// ---- tracing -------------------------------------------------------------

/// Collects every event; can delay `CodeCellStarted` to prove the gate.
#[derive(Default)]
struct CollectingSink {
    events: Mutex<Vec<EventPayload<Value>>>,
    delay_cell_started: Option<Duration>,
}

impl CodeModeTraceSink for CollectingSink {
    fn record(&self, payload: EventPayload<Value>) {
        if matches!(payload, EventPayload::CodeCellStarted { .. })
            && let Some(delay) = self.delay_cell_started
        {
            thread::sleep(delay);
        }
        self.events.lock().unwrap().push(payload);
    }
}

impl CollectingSink {
    fn names(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|event| event.type_name().to_string())
            .collect()
    }

    fn position(&self, predicate: impl Fn(&EventPayload<Value>) -> bool) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .position(predicate)
            .unwrap_or_else(|| panic!("no such event in {:?}", self.names()))
    }
}

fn tracing_records_the_cell_before_its_nested_calls_and_its_lifecycle_in_order<
    E: Engine + Default,
>() {
    let (service, _) = service::<E>();
    let sink = Arc::new(CollectingSink {
        delay_cell_started: Some(Duration::from_millis(150)),
        ..CollectingSink::default()
    });
    let source = "store('s', 1); const r = await tools.echo({ x: 1 }); text(JSON.stringify(r)); \
                  await new Promise((res) => setTimeout(res, 400)); text('end');";
    let first = service
        .execute(request(&service, source, 250), sink.clone())
        .unwrap();
    assert!(first.is_yield(), "{first:?}");
    let cell_id = first.cell_id().to_string();
    let wait = WaitRequest::new(cell_id.clone(), 5_000);
    let outcome = service.wait_traced("wait-1", wait, sink.clone()).unwrap();
    assert_ok(outcome.response(), "end");

    let started = sink.position(|e| matches!(e, EventPayload::CodeCellStarted { .. }));
    let nested = sink.position(|e| {
        matches!(
            e,
            EventPayload::ToolCallStarted {
                requester: RawToolCallRequester::CodeCell { .. },
                ..
            }
        )
    });
    let initial = sink.position(|e| matches!(e, EventPayload::CodeCellInitialResponse { .. }));
    let wait_started = sink.position(|e| {
        matches!(e, EventPayload::ToolCallStarted { tool_call_id, .. } if tool_call_id == "wait-1")
    });
    let stored = sink.position(|e| matches!(e, EventPayload::CodeCellStoredValues { .. }));
    let ended = sink.position(|e| matches!(e, EventPayload::CodeCellEnded { .. }));
    let wait_ended = sink.position(|e| {
        matches!(e, EventPayload::ToolCallEnded { tool_call_id, .. } if tool_call_id == "wait-1")
    });
    assert!(started < nested, "{:?}", sink.names());
    assert!(
        started < initial && initial < wait_started,
        "{:?}",
        sink.names()
    );
    assert!(
        wait_started < stored && stored < ended && ended < wait_ended,
        "{:?}",
        sink.names()
    );

    let events = sink.events.lock().unwrap();
    let EventPayload::CodeCellStarted {
        runtime_cell_id,
        model_visible_call_id,
        source_js,
    } = &events[started]
    else {
        unreachable!()
    };
    assert_eq!(runtime_cell_id, &cell_id);
    assert_eq!(model_visible_call_id, &format!("call-{cell_id}"));
    assert_eq!(source_js, source);
    let EventPayload::ToolCallStarted {
        tool_call_id,
        model_visible_call_id,
        code_mode_runtime_tool_id,
        requester,
        kind,
        invocation_payload,
        ..
    } = &events[nested]
    else {
        unreachable!()
    };
    assert!(tool_call_id.starts_with("exec-"));
    assert_eq!(model_visible_call_id, &None);
    assert_eq!(code_mode_runtime_tool_id.as_deref(), Some("tool-1"));
    assert_eq!(
        requester,
        &RawToolCallRequester::CodeCell {
            runtime_cell_id: cell_id.clone()
        }
    );
    assert_eq!(
        kind,
        &ToolCallKind::Other {
            name: "echo".to_string()
        }
    );
    let invocation = invocation_payload.as_ref().unwrap();
    assert_eq!(invocation["tool_name"], "echo");
    assert_eq!(
        invocation["payload"]["arguments"],
        json!({"x": 1}).to_string()
    );
    let nested_end = events
        .iter()
        .find_map(|e| match e {
            EventPayload::ToolCallEnded {
                tool_call_id: id,
                status,
                result_payload,
            } if id == tool_call_id => Some((*status, result_payload.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(nested_end.0, ExecutionStatus::Completed);
    assert_eq!(
        nested_end.1,
        Some(json!({"type": "code_mode_response", "value": {"x": 1}}))
    );
    let EventPayload::CodeCellInitialResponse {
        status,
        response_payload,
        ..
    } = &events[initial]
    else {
        unreachable!()
    };
    assert_eq!(status, &CodeCellRuntimeStatus::Yielded);
    assert_eq!(
        response_payload.as_ref().unwrap()["response"]["yielded"]["cell_id"],
        json!(cell_id)
    );
    let EventPayload::ToolCallStarted {
        model_visible_call_id,
        kind,
        invocation_payload,
        ..
    } = &events[wait_started]
    else {
        unreachable!()
    };
    assert_eq!(model_visible_call_id.as_deref(), Some("wait-1"));
    assert_eq!(
        kind,
        &ToolCallKind::Other {
            name: "wait".to_string()
        }
    );
    let arguments: Value = serde_json::from_str(
        invocation_payload.as_ref().unwrap()["payload"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(arguments["cell_id"], json!(cell_id));
    let EventPayload::CodeCellStoredValues {
        stored_values_payload,
        ..
    } = &events[stored]
    else {
        unreachable!()
    };
    assert_eq!(stored_values_payload, &json!({"stored_values": {"s": 1}}));
    let EventPayload::CodeCellEnded { status, .. } = &events[ended] else {
        unreachable!()
    };
    assert_eq!(status, &CodeCellRuntimeStatus::Completed);
    let ended_count = events
        .iter()
        .filter(|e| matches!(e, EventPayload::CodeCellEnded { .. }))
        .count();
    assert_eq!(ended_count, 1);
}

fn tracing_a_terminal_first_response_records_initial_response_then_end<E: Engine + Default>() {
    let (service, _) = service::<E>();
    let sink = Arc::new(CollectingSink::default());
    let response = service
        .execute(
            request(&service, "throw new Error('early')", 2_000),
            sink.clone(),
        )
        .unwrap();
    assert_script_error(&response, "early");
    assert_eq!(
        sink.names(),
        [
            "code_cell_started",
            "code_cell_initial_response",
            "code_cell_ended"
        ]
    );
    let events = sink.events.lock().unwrap();
    assert!(matches!(
        events[2],
        EventPayload::CodeCellEnded {
            status: CodeCellRuntimeStatus::Failed,
            ..
        }
    ));
}

fn tracing_a_missing_cell_wait_records_only_the_wait_call<E: Engine + Default>() {
    let (service, _) = service::<E>();
    let sink = Arc::new(CollectingSink::default());
    let outcome = service
        .wait_traced("wait-404", WaitRequest::new("404", 10), sink.clone())
        .unwrap();
    assert!(matches!(outcome, WaitOutcome::MissingCell(_)));
    assert_eq!(sink.names(), ["tool_call_started", "tool_call_ended"]);
}

fn tracing_a_terminate_records_the_end_without_stored_values<E: Engine + Default>() {
    let (service, _) = service::<E>();
    let sink = Arc::new(CollectingSink::default());
    let first = service
        .execute(
            request(&service, "store('x', 1); while (true) {}", 30),
            sink.clone(),
        )
        .unwrap();
    service
        .wait_traced(
            "wait-t",
            WaitRequest::terminate(first.cell_id()),
            sink.clone(),
        )
        .unwrap();
    assert_eq!(
        sink.names(),
        [
            "code_cell_started",
            "code_cell_initial_response",
            "tool_call_started",
            "code_cell_ended",
            "tool_call_ended"
        ]
    );
    let events = sink.events.lock().unwrap();
    assert!(matches!(
        events[3],
        EventPayload::CodeCellEnded {
            status: CodeCellRuntimeStatus::Terminated,
            ..
        }
    ));
}

/// Instantiates every suite test for one engine.
macro_rules! engine_suite {
    ($module:ident, $engine:ty, [$($name:ident),* $(,)?]) => {
        mod $module {
            $(
                #[test]
                fn $name() {
                    super::$name::<$engine>();
                }
            )*
        }
    };
}

/// The suite's test list, given once for every engine.
macro_rules! suite_for {
    ($module:ident, $engine:ty) => {
        engine_suite!(
            $module,
            $engine,
            [
                terminate_stops_a_cpu_bound_loop_promptly,
                execute_yields_after_the_yield_time_with_the_output_so_far,
                yield_control_yields_before_the_yield_time,
                wait_on_a_finished_cell_delivers_the_kept_result_once,
                wait_on_a_missing_cell_answers_missing_cell,
                a_second_concurrent_wait_is_busy,
                a_nested_tool_result_resolves_its_promise,
                a_nested_tool_error_rejects_its_promise,
                stored_values_are_kept_on_success,
                stored_values_are_dropped_on_terminate,
                exit_counts_as_success,
                imports_are_rejected,
                large_output_is_truncated_with_a_marker,
                many_cells_run_concurrently,
                the_sandbox_globals_are_removed_and_the_cell_globals_installed,
                clear_timeout_cancels_a_timer,
                bad_scripts_give_defined_responses_and_the_host_stays_usable,
                a_tool_that_never_answers_does_not_hang_the_service,
                huge_output_is_bounded_and_truncated,
                terminate_stops_an_endless_microtask_loop,
                request_stored_values_are_visible_to_load,
                odd_requests_give_defined_answers,
                tracing_records_the_cell_before_its_nested_calls_and_its_lifecycle_in_order,
                tracing_a_terminal_first_response_records_initial_response_then_end,
                tracing_a_missing_cell_wait_records_only_the_wait_call,
                tracing_a_terminate_records_the_end_without_stored_values
            ]
        );
    };
}

suite_for!(quickjs, tracefold::codemode::QuickJsEngine);
#[cfg(feature = "v8")]
suite_for!(v8, tracefold::codemode::V8Engine);

/// Issue 4's acceptance: a session with cells, nested tools and a wait,
/// recorded through the recorder and reduced, has its code cells linked to
/// their nested tool calls, waits and outputs.
mod traced_through_the_recorder {
    use std::sync::Arc;

    use serde_json::{Value, json};
    use tracefold::codemode::{
        CodeModeService, CodeModeTraceSink, ExecuteRequest, NestedToolCall, ToolDefinition,
        ToolHost, WaitRequest,
    };
    use tracefold::event::{CodeCellRuntimeStatus, ExecutionStatus, RolloutStatus};
    use tracefold::model::ToolCallRequester;
    use tracefold::reduce_stored;
    use tracefold::{Recorder, RecorderConfig, RolloutStart, ThreadStart, TurnRecorder};
    use tracefold::{Store, StoreOptions};

    struct Files;

    impl ToolHost for Files {
        fn call_tool(&self, call: NestedToolCall) -> Result<Value, String> {
            match call.tool_name.as_str() {
                "read_file" => {
                    Ok(json!({"content": format!("contents of {}", call.input["path"])}))
                }
                other => Err(format!("no tool {other}")),
            }
        }
    }

    fn infer(turn: &TurnRecorder, input: &[Value], output: Vec<Value>, response_id: &str) {
        let call = turn.start_inference("gpt", "openai", || json!({"input": input}));
        call.completed(Some(response_id), None, || json!({"output_items": output}));
    }

    #[test]
    fn a_recorded_session_reduces_to_cells_linked_to_nested_tools_waits_and_outputs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), StoreOptions::default()).expect("store");
        let recorder = Recorder::start(&store, RecorderConfig::default()).expect("recorder");
        let rollout = recorder.start_rollout(RolloutStart {
            rollout_id: Some("cells".into()),
            trace_id: None,
            root: ThreadStart {
                thread_id: "root".into(),
                agent_path: "/root".into(),
                metadata: None,
            },
        });
        let turn = rollout.root().start_turn("turn-1");
        let service = CodeModeService::quickjs(Arc::new(Files));
        let sink: Arc<dyn CodeModeTraceSink> = Arc::new(turn.clone());

        let source = "const a = await tools.read_file({path: 'a.rs'});\n\
                      text(a.content);\n\
                      await new Promise((resolve) => setTimeout(resolve, 200));\n\
                      const b = await tools.read_file({path: 'b.rs'});\n\
                      store('seen', 2);\n\
                      text(b.content);\n";
        let user = json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "read both files"}]});
        let exec = json!({"type": "custom_tool_call", "name": "exec", "input": source, "call_id": "call_exec"});
        infer(
            &turn,
            std::slice::from_ref(&user),
            vec![exec.clone()],
            "resp-1",
        );

        let cell_id = service.allocate_cell_id();
        let first = service
            .execute(
                ExecuteRequest {
                    cell_id: cell_id.clone(),
                    tool_call_id: "call_exec".into(),
                    enabled_tools: vec![ToolDefinition::new("read_file", "Reads a file.")],
                    source: source.into(),
                    stored_values: Default::default(),
                    yield_time_ms: Some(50),
                    max_output_tokens: None,
                },
                Arc::clone(&sink),
            )
            .expect("executes");
        assert!(first.is_yield(), "{first:?}");
        let exec_output = json!({"type": "custom_tool_call_output", "call_id": "call_exec", "output": first.text()});
        let wait = json!({"type": "function_call", "name": "wait", "call_id": "call_wait",
                          "arguments": json!({"cell_id": cell_id}).to_string()});
        infer(
            &turn,
            &[user.clone(), exec.clone(), exec_output.clone()],
            vec![wait.clone()],
            "resp-2",
        );
        let waited = service
            .wait_traced("call_wait", WaitRequest::new(cell_id.clone(), 5_000), sink)
            .expect("waits");
        assert!(!waited.response().is_yield(), "{waited:?}");
        let wait_output = json!({"type": "function_call_output", "call_id": "call_wait", "output": waited.response().text()});
        let done = json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "read both"}]});
        infer(
            &turn,
            &[user, exec, exec_output, wait, wait_output],
            vec![done],
            "resp-3",
        );
        turn.end(ExecutionStatus::Completed);
        rollout.end(RolloutStatus::Completed);
        recorder.shutdown().expect("shutdown");

        let state = reduce_stored(&store, "cells").expect("reduces");
        assert!(state.diagnostics.is_empty(), "{:?}", state.diagnostics);
        assert_eq!(state.code_cells.len(), 1);
        let cell = state.code_cells.values().next().expect("a cell");
        assert_eq!(cell.model_visible_call_id, "call_exec");
        assert_eq!(cell.runtime_cell_id.as_deref(), Some(cell_id.as_str()));
        assert_eq!(cell.runtime_status, CodeCellRuntimeStatus::Completed);
        assert_eq!(cell.source_js, source);
        // The model-visible exec item is the cell's source; its output items link back.
        let source_item = &state.conversation_items[&*cell.source_item_id];
        assert_eq!(source_item.call_id.as_deref(), Some("call_exec"));
        assert!(!cell.output_item_ids.is_empty());
        for output in &cell.output_item_ids {
            assert_eq!(
                state.conversation_items[&**output].call_id.as_deref(),
                Some("call_exec")
            );
        }
        // Both nested tool calls, requested by the cell, in order.
        assert_eq!(cell.nested_tool_call_ids.len(), 2);
        for id in &cell.nested_tool_call_ids {
            let tool = &state.tool_calls[id.as_str()];
            assert_eq!(
                tool.requester,
                ToolCallRequester::CodeCell {
                    code_cell_id: cell.code_cell_id.clone()
                }
            );
            assert_eq!(tool.execution.status, ExecutionStatus::Completed);
            assert!(tool.code_mode_runtime_tool_id.is_some());
        }
        // The wait is a model-visible tool call linked to the cell.
        assert_eq!(cell.wait_tool_call_ids, vec!["call_wait".to_string()]);
        let wait_tool = &state.tool_calls["call_wait"];
        assert!(!wait_tool.model_visible_output_item_ids.is_empty());
        // The stored values it committed.
        assert_eq!(cell.stored_values_raw_payload_ids.len(), 1);
    }
}
