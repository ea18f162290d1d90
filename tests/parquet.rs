//! `export --format parquet`: the files, read by DuckDB (the PyPI package,
//! in the venv `scripts/test` makes), hold what the reduced state holds
//! (row counts, token usage per call, payload hashes, the raw log as
//! `tracefold events` prints it), join across tables, have the columns
//! `docs/parquet-schema.md` documents, and answer the README's query on two
//! rollouts of one store with the README's numbers. An output path that is
//! not a new or empty directory is refused and left as it was.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use indexmap::IndexMap;
use serde_json::{Value, json};

use crate::support::{demo, fails, ok, venv_python};

/// Every file an export writes, in the order of `tracefold::PARQUET_TABLES`.
const FILES: [&str; 15] = [
    "rollouts",
    "threads",
    "codex_turns",
    "conversation_items",
    "inference_calls",
    "code_cells",
    "tool_calls",
    "terminal_sessions",
    "terminal_operations",
    "compactions",
    "compaction_requests",
    "interaction_edges",
    "raw_payloads",
    "diagnostics",
    "events",
];

/// Runs `queries` (name, SQL) with DuckDB in `dir`; returns each query's
/// rows, by name.
fn duckdb(dir: &Path, queries: &[(String, String)]) -> IndexMap<String, Vec<Vec<Value>>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/duckdb_query.py");
    let queries: serde_json::Map<String, Value> = queries
        .iter()
        .map(|(name, sql)| (name.clone(), Value::String(sql.clone())))
        .collect();
    let mut child = Command::new(venv_python())
        .arg(script)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(json!({ "queries": queries }).to_string().as_bytes())
        .expect("queries written");
    let out = child.wait_with_output().expect("python ends");
    assert!(
        out.status.success(),
        "duckdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    answer
        .as_object()
        .expect("object")
        .iter()
        .map(|(name, result)| {
            let rows = result["rows"]
                .as_array()
                .expect("rows")
                .iter()
                .map(|row| row.as_array().expect("row").clone())
                .collect();
            (name.clone(), rows)
        })
        .collect()
}

/// The single value of a one-row, one-column answer.
fn scalar(answers: &IndexMap<String, Vec<Vec<Value>>>, name: &str) -> Value {
    answers[name][0][0].clone()
}

fn export_parquet(store: &Path, rollout: Option<&str>, out: &Path) -> String {
    let out = out.to_str().expect("utf-8");
    let mut args = vec!["export"];
    args.extend(rollout.map_or(["--all"], |rollout| [rollout]));
    args.extend(["--format", "parquet", "--out", out]);
    let output = crate::support::tracefold(store, &args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stderr).expect("utf-8")
}

fn object_len(state: &Value, key: &str) -> usize {
    state[key].as_object().expect(key).len()
}

/// A state's token count of one call (`None`: no usage reported).
fn tokens(call: &Value, key: &str) -> Value {
    match call["usage"].is_null() {
        true => Value::Null,
        false => call["usage"][key].clone(),
    }
}

#[test]
fn a_demo_rollout_exports_as_parquet_tables_that_duckdb_reads_back_as_its_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let (rollout, state) = demo(&store, dir.path(), "7");
    let out = dir.path().join("pq");
    let said = export_parquet(&store, Some(&rollout), &out);

    // One file per table, each named on stderr with its rows.
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .expect("dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("utf-8")
        })
        .collect();
    names.sort();
    let mut expected: Vec<String> = FILES.iter().map(|f| format!("{f}.parquet")).collect();
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(FILES, tracefold::PARQUET_TABLES);
    assert_eq!(said.lines().count(), FILES.len(), "{said}");
    assert!(said.starts_with("rollouts.parquet: 1 row\n"), "{said}");

    let events = ok(&store, &["events", &rollout]);
    let mut queries: Vec<(String, String)> = FILES
        .iter()
        .map(|f| (f.to_string(), format!("SELECT count(*) FROM '{f}.parquet'")))
        .collect();
    let named = [
        (
            "calls",
            "SELECT inference_call_id, thread_id, input_tokens, cached_input_tokens, \
             output_tokens, reasoning_output_tokens, total_tokens, request_blake3, \
             request_size_bytes FROM 'inference_calls.parquet' ORDER BY started_seq"
                .to_string(),
        ),
        (
            "tool_calls_per_thread",
            "SELECT th.agent_path, count(*) FROM 'tool_calls.parquet' tc \
             JOIN 'inference_calls.parquet' ic \
               ON tc.rollout_id = ic.rollout_id AND tc.started_by_inference_call_id = ic.inference_call_id \
             JOIN 'threads.parquet' th ON ic.rollout_id = th.rollout_id AND ic.thread_id = th.thread_id \
             GROUP BY ALL ORDER BY 1"
                .to_string(),
        ),
        (
            "event_json",
            "SELECT event_json FROM 'events.parquet' ORDER BY seq".to_string(),
        ),
        (
            "cited",
            "SELECT sum(payload_count) FROM 'events.parquet'".to_string(),
        ),
        (
            "payloads",
            "SELECT p.raw_payload_id, p.blake3, p.size_bytes, e.event_type = p.event_type \
             FROM 'raw_payloads.parquet' p JOIN 'events.parquet' e USING (rollout_id, seq) \
             ORDER BY p.raw_payload_id"
                .to_string(),
        ),
        (
            "rollout_ids",
            FILES
                .iter()
                .map(|f| format!("SELECT DISTINCT rollout_id FROM '{f}.parquet'"))
                .collect::<Vec<_>>()
                .join(" UNION "),
        ),
        (
            "version",
            "SELECT decode(value) FROM parquet_kv_metadata('threads.parquet') \
             WHERE decode(key) = 'tracefold.parquet_schema_version'"
                .to_string(),
        ),
    ];
    queries.extend(named.map(|(name, sql)| (name.to_string(), sql)));
    let answers = duckdb(&out, &queries);

    // Row counts: one row per object of each state collection.
    for (file, key) in [
        ("threads", "threads"),
        ("codex_turns", "codex_turns"),
        ("conversation_items", "conversation_items"),
        ("inference_calls", "inference_calls"),
        ("code_cells", "code_cells"),
        ("tool_calls", "tool_calls"),
        ("terminal_sessions", "terminal_sessions"),
        ("terminal_operations", "terminal_operations"),
        ("compactions", "compactions"),
        ("compaction_requests", "compaction_requests"),
        ("interaction_edges", "interaction_edges"),
        ("raw_payloads", "raw_payloads"),
    ] {
        let rows = scalar(&answers, file);
        assert_eq!(rows, json!(object_len(&state, key)), "{file}");
        assert!(rows.as_u64() > Some(0), "the demo has {key}");
    }
    let diagnostics = state["diagnostics"].as_array().expect("diagnostics").len();
    assert_eq!(scalar(&answers, "diagnostics"), json!(diagnostics));
    assert_eq!(scalar(&answers, "rollouts"), json!(1));
    assert_eq!(scalar(&answers, "rollout_ids"), json!(rollout));
    assert_eq!(answers["rollout_ids"].len(), 1);
    assert_eq!(scalar(&answers, "version"), json!("1"));

    // Each call's usage as the state has it, and its request payload.
    let calls: Vec<&Value> = state["inference_calls"]
        .as_object()
        .expect("calls")
        .values()
        .collect();
    let rows = &answers["calls"];
    assert_eq!(rows.len(), calls.len());
    let mut input_total = 0;
    for (row, call) in rows.iter().zip(&calls) {
        let input = tokens(call, "input_tokens");
        let output = tokens(call, "output_tokens");
        let total = match (input.as_u64(), output.as_u64()) {
            (Some(input), Some(output)) => json!(input + output),
            _ => Value::Null,
        };
        input_total += input.as_u64().unwrap_or(0);
        let payload = &state["raw_payloads"][call["raw_request_payload_id"].as_str().expect("id")];
        assert_eq!(
            row,
            &vec![
                call["inference_call_id"].clone(),
                call["thread_id"].clone(),
                input,
                tokens(call, "cached_input_tokens"),
                output,
                tokens(call, "reasoning_output_tokens"),
                total,
                payload["blake3"].clone(),
                payload["size_bytes"].clone(),
            ]
        );
    }
    assert!(input_total > 0, "the demo reports usage");
    // A payload hash in the files names the payload in the store.
    let hash = rows[0][7].as_str().expect("hash");
    let bytes = crate::support::tracefold(&store, &["payload", hash]).stdout;
    assert_eq!(json!(bytes.len()), rows[0][8]);

    // tool_calls -> inference_calls -> threads: each thread's calls' tool calls.
    let mut per_thread: IndexMap<String, u64> = IndexMap::new();
    for call in &calls {
        let started = call["tool_call_ids_started_by_response"]
            .as_array()
            .expect("ids")
            .len() as u64;
        if started > 0 {
            let path = state["threads"][call["thread_id"].as_str().expect("thread")]["agent_path"]
                .as_str()
                .expect("path")
                .to_string();
            *per_thread.entry(path).or_default() += started;
        }
    }
    per_thread.sort_keys();
    let joined: Vec<Vec<Value>> = per_thread
        .iter()
        .map(|(path, count)| vec![json!(path), json!(count)])
        .collect();
    assert_eq!(answers["tool_calls_per_thread"], joined);
    // Every tool call the model asked for is reached through its call.
    let asked_by_model = state["tool_calls"]
        .as_object()
        .expect("tool calls")
        .values()
        .filter(|call| call["requester"]["type"] == "model")
        .count() as u64;
    assert!(asked_by_model > 0);
    assert_eq!(per_thread.values().sum::<u64>(), asked_by_model);

    // The raw log: every event as `tracefold events` prints it, and every
    // payload citation as the state numbers it.
    let printed: Vec<Value> = events.lines().map(|line| json!([line])).collect();
    let from_parquet: Vec<Value> = answers["event_json"].iter().map(|row| json!(row)).collect();
    assert_eq!(from_parquet, printed);
    assert_eq!(scalar(&answers, "events"), json!(printed.len()));
    let payloads: Vec<Vec<Value>> = state["raw_payloads"]
        .as_object()
        .expect("payloads")
        .iter()
        .map(|(id, p)| {
            vec![
                json!(id),
                p["blake3"].clone(),
                p["size_bytes"].clone(),
                json!(true),
            ]
        })
        .collect();
    assert_eq!(answers["payloads"], payloads);
    assert_eq!(scalar(&answers, "cited"), json!(payloads.len()));
}

/// The documented columns of each table: (name, DuckDB type, nullable).
fn documented_schema() -> IndexMap<String, Vec<(String, String, bool)>> {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/parquet-schema.md"),
    )
    .expect("docs/parquet-schema.md");
    let mut tables: IndexMap<String, Vec<(String, String, bool)>> = IndexMap::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        if let Some(name) = line
            .strip_prefix("### `")
            .and_then(|rest| rest.strip_suffix(".parquet`"))
        {
            current = Some(name.to_string());
            tables.insert(name.to_string(), Vec::new());
            continue;
        }
        let Some(table) = &current else { continue };
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 5 || !cells[1].starts_with('`') {
            continue;
        }
        let nullable = match cells[3] {
            "yes" => true,
            "no" => false,
            other => panic!("{table}.{}: null is {other:?}", cells[1]),
        };
        tables[table].push((
            cells[1].trim_matches('`').to_string(),
            cells[2].to_string(),
            nullable,
        ));
    }
    tables
}

#[test]
fn every_parquet_file_has_the_columns_types_and_nullability_its_schema_document_gives() {
    let documented = documented_schema();
    let listed: Vec<&str> = documented.keys().map(String::as_str).collect();
    assert_eq!(
        listed, FILES,
        "docs/parquet-schema.md lists every table, in order"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let (rollout, _) = demo(&store, dir.path(), "7");
    let out = dir.path().join("pq");
    export_parquet(&store, Some(&rollout), &out);
    let mut queries = Vec::new();
    for file in FILES {
        queries.push((
            file.to_string(),
            format!(
                "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '{file}.parquet')"
            ),
        ));
        // The leaf columns (the schema's root has children) with their
        // repetition: REQUIRED or OPTIONAL.
        queries.push((
            format!("{file}-null"),
            format!(
                "SELECT name, repetition_type = 'OPTIONAL' FROM parquet_schema('{file}.parquet') \
                 WHERE num_children IS NULL OR num_children = 0"
            ),
        ));
    }
    let answers = duckdb(&out, &queries);
    for file in FILES {
        let described = &answers[file];
        let nullability = &answers[&format!("{file}-null")];
        let actual: Vec<(String, String, bool)> = described
            .iter()
            .zip(nullability)
            .map(|(column, null)| {
                assert_eq!(column[0], null[0], "{file}: parquet_schema's order");
                (
                    column[0].as_str().expect("name").to_string(),
                    column[1].as_str().expect("type").to_string(),
                    null[1].as_bool().expect("bool"),
                )
            })
            .collect();
        assert_eq!(described.len(), nullability.len(), "{file}");
        pretty_assertions::assert_eq!(actual, documented[file], "{file}.parquet");
        assert_eq!(actual[0].0, "rollout_id", "{file}: rollout_id first");
    }
}

#[test]
fn a_parquet_export_refuses_a_file_a_non_empty_directory_and_standard_output_and_leaves_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let (rollout, _) = demo(&store, dir.path(), "7");
    let export = |out: &Path| {
        fails(
            &store,
            &[
                "export",
                &rollout,
                "--format",
                "parquet",
                "--out",
                out.to_str().expect("utf-8"),
            ],
        )
    };

    let file = dir.path().join("a-file");
    std::fs::write(&file, "keep me").expect("write");
    let err = export(&file);
    assert!(err.contains("exists and is not a directory"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "keep me");

    let full = dir.path().join("full");
    std::fs::create_dir(&full).expect("mkdir");
    std::fs::write(full.join("threads.parquet"), "not parquet").expect("write");
    let err = export(&full);
    assert!(err.contains("exists and is not empty"), "{err}");
    assert_eq!(crate::support::file_names(&full), ["threads.parquet"]);

    let err = export(Path::new("-"));
    assert!(err.contains("cannot go to standard output"), "{err}");

    // An unknown rollout writes nothing; `--all` is for parquet only.
    let missing = dir.path().join("missing");
    let err = fails(
        &store,
        &[
            "export",
            "no-such-rollout",
            "--format",
            "parquet",
            "--out",
            missing.to_str().expect("utf-8"),
        ],
    );
    assert!(err.contains("no-such-rollout"), "{err}");
    assert!(!missing.exists());
    let err = fails(
        &store,
        &[
            "export",
            "--all",
            "--format",
            "jsonl",
            "--out",
            missing.to_str().expect("utf-8"),
        ],
    );
    assert!(
        err.contains("--all applies to --format parquet only"),
        "{err}"
    );
    assert!(!missing.exists());

    // No staging directory is left beside the refused targets.
    let mut left = crate::support::file_names(dir.path());
    left.retain(|name| name.starts_with('.'));
    assert!(left.is_empty(), "{left:?}");

    // An empty directory is filled.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    export_parquet(&store, Some(&rollout), &empty);
    assert_eq!(crate::support::file_names(&empty).len(), FILES.len());
}

/// The README's Parquet query and the rows of the output it shows (each
/// row's cells, as text).
fn readme_query() -> (String, Vec<Vec<String>>) {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let section = &readme[readme
        .find("\n### Parquet: DuckDB, Spark, Polars\n")
        .expect("a Parquet section")..];
    let block = |fence: &str| {
        let start = section.find(fence).expect(fence) + fence.len();
        let end = start + section[start..].find("\n```").expect("closed");
        section[start..end].to_string()
    };
    let sql = block("```sql\n");
    let rows = block("```text\n")
        .lines()
        .filter(|line| line.starts_with('│'))
        // The column names and their types.
        .skip(2)
        .map(|line| {
            line.trim_matches('│')
                .split('│')
                .map(|cell| cell.trim().to_string())
                .collect()
        })
        .collect();
    (sql, rows)
}

#[test]
fn the_readme_query_gives_each_threads_tokens_and_tool_calls_across_two_rollouts_of_a_store() {
    let (sql, shown) = readme_query();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let (first, one) = demo(&store, dir.path(), "1");
    let (second, two) = demo(&store, dir.path(), "2");
    let said = export_parquet(&store, None, &dir.path().join("tracefold-parquet"));
    assert!(said.contains("\n2 rollouts in "), "{said}");
    let answers = duckdb(dir.path(), &[("readme".to_string(), sql)]);
    let rows = &answers["readme"];

    // What the two states say, thread by thread in start order.
    let mut expected = Vec::new();
    for (rollout, state) in [(&first, &one), (&second, &two)] {
        for thread in state["threads"].as_object().expect("threads").values() {
            let id = &thread["thread_id"];
            let calls: Vec<&Value> = state["inference_calls"]
                .as_object()
                .expect("calls")
                .values()
                .filter(|call| &call["thread_id"] == id)
                .collect();
            let sum = |key: &str| -> u64 {
                calls
                    .iter()
                    .map(|call| tokens(call, key).as_u64().unwrap_or(0))
                    .sum()
            };
            let tool_calls = state["tool_calls"]
                .as_object()
                .expect("tool calls")
                .values()
                .filter(|call| &call["thread_id"] == id)
                .count();
            expected.push(vec![
                json!(rollout[..8]),
                thread["agent_path"].clone(),
                json!(calls.len()),
                json!(sum("input_tokens")),
                json!(sum("cached_input_tokens")),
                json!(sum("output_tokens")),
                json!(tool_calls),
            ]);
        }
    }
    assert_eq!(rows.len(), 6, "three threads per demo rollout: {rows:?}");
    pretty_assertions::assert_eq!(rows, &expected);
    assert!(
        expected.iter().any(|row| row[6] != json!(0)),
        "tool calls counted"
    );

    // And the README shows these numbers (its rollout ids were other runs').
    let printed: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| match cell {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    let without_ids = |rows: &[Vec<String>]| -> Vec<Vec<String>> {
        rows.iter().map(|row| row[1..].to_vec()).collect()
    };
    assert_eq!(without_ids(&shown), without_ids(&printed));
}
