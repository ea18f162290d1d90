//! Integration tests: the README works as written (issue 13, point 12).
//!
//! Every `console` block of the README is run: each `$ ` line is a command
//! (`tracefold ...` or `cargo run --release -- ...`, both run as the built
//! binary; `| head -N` keeps the first N lines; `2>&1` shows standard error
//! after standard output; `echo $?` prints the exit code of the command
//! before it, which then may be other than 0), in a fresh directory holding
//! a copy of `examples/` and no store, as on a fresh clone. What the README
//! shows under a command must be what it prints, where `...` and `…` stand
//! for any text. Values that differ from run to run (a new rollout's UUID,
//! a recording time, the bytes the writer's grouping happened to store) are
//! masked on both sides. The Rust snippet is a doc-test (`src/lib.rs`
//! includes the README), and this file checks that the README says how to
//! get `tracefold` on the PATH before it first uses it.

use std::path::Path;
use std::process::Command;

use crate::support::{copy_dir, example};

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md")
}

/// The README's `console` blocks, each as its lines.
fn console_blocks(text: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim_end() == "```console" => current = Some(Vec::new()),
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some(block) => block.push(line.to_string()),
        }
    }
    blocks
}

/// Whether `actual` matches `expected`, where `...` and `…` in `expected`
/// match any text.
fn matches(expected: &str, actual: &str) -> bool {
    let expected = expected.replace('…', "...");
    let pieces: Vec<&str> = expected.split("...").collect();
    let (first, rest) = pieces.split_first().expect("at least one piece");
    let Some(mut remaining) = actual.strip_prefix(first) else {
        return false;
    };
    for (index, piece) in rest.iter().enumerate() {
        if index == rest.len() - 1 {
            return remaining.ends_with(piece);
        }
        match remaining.find(piece) {
            Some(at) => remaining = &remaining[at + piece.len()..],
            None => return false,
        }
    }
    remaining.is_empty()
}

/// A line with run-dependent values masked: UUIDs, durations, and the
/// numbers of the demo's stored-bytes, disk and ratio lines.
fn masked(line: &str) -> String {
    let words: Vec<String> = line
        .split(' ')
        .map(|word| {
            let core = word.trim_matches(|c: char| "(),".contains(c));
            let is_uuid = core.len() == 36
                && core.char_indices().all(|(i, c)| {
                    [8, 13, 18, 23].contains(&i) == (c == '-')
                        && (c == '-' || c.is_ascii_hexdigit())
                });
            let is_duration = ["ms", "µs", "ns", "s"].iter().any(|unit| {
                core.strip_suffix(unit).is_some_and(|n| {
                    !n.is_empty() && n.chars().all(|c| c.is_ascii_digit() || c == '.')
                })
            });
            if is_uuid {
                word.replace(core, "<uuid>")
            } else if is_duration {
                word.replace(core, "<time>")
            } else {
                word.to_string()
            }
        })
        .collect();
    let line = words.join(" ");
    if line.contains("stored after chunk dedup")
        || line.contains("bytes before packing")
        || line.starts_with("dedup ratio")
        || line.starts_with("store on disk")
    {
        // Each number becomes one `#`, whatever its digit count: the stored
        // bytes hover around 100,000, so 5 or 6 digits from run to run.
        let mut out = String::new();
        for c in line.chars() {
            if c.is_ascii_digit() || c == '.' {
                if !out.ends_with('#') {
                    out.push('#');
                }
            } else {
                out.push(c);
            }
        }
        return out.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    line
}

/// Runs one README command line in `dir`; returns (exit code, stdout, stderr).
/// With `2>&1`, standard error is appended to stdout and returned empty.
fn run(dir: &Path, command: &str) -> (Option<i32>, String, String) {
    let (command, merged) = match command.strip_suffix(" 2>&1") {
        Some(command) => (command, true),
        None => (command, false),
    };
    let (command, head) = match command.split_once(" | head -") {
        Some((command, n)) => (
            command,
            Some(n.trim().parse::<usize>().expect("head count")),
        ),
        None => (command, None),
    };
    let args: Vec<&str> = if let Some(rest) = command.strip_prefix("tracefold ") {
        rest.split_whitespace().collect()
    } else if let Some(rest) = command.strip_prefix("cargo run --release -- ") {
        rest.split_whitespace().collect()
    } else {
        panic!("the README runs {command:?}, which this test does not know");
    };
    let out = Command::new(env!("CARGO_BIN_EXE_tracefold"))
        .current_dir(dir)
        .env_remove("TRACEFOLD_STORE")
        .args(&args)
        .output()
        .expect("runs");
    let mut stdout = String::from_utf8(out.stdout).expect("utf-8");
    if let Some(n) = head {
        stdout = stdout
            .lines()
            .take(n)
            .map(|line| format!("{line}\n"))
            .collect();
    }
    let mut stderr = String::from_utf8(out.stderr).expect("utf-8");
    if merged {
        stdout.push_str(&stderr);
        stderr.clear();
    }
    (out.status.code(), stdout, stderr)
}

#[test]
fn every_console_example_of_the_readme_prints_what_the_readme_shows() {
    let blocks = console_blocks(&readme());
    assert!(blocks.len() >= 2, "{blocks:?}");
    let mut commands_run = 0;
    for block in blocks {
        // Each block starts from a fresh clone: examples, no store.
        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(&example(""), &dir.path().join("examples"));
        let mut steps: Vec<(&str, Vec<String>)> = Vec::new();
        let mut lines = block.iter().peekable();
        while let Some(line) = lines.next() {
            let command = line
                .strip_prefix("$ ")
                .unwrap_or_else(|| panic!("output before any command: {line:?}"));
            let mut expected = Vec::new();
            while let Some(next) = lines.peek() {
                if next.starts_with("$ ") {
                    break;
                }
                expected.push(lines.next().expect("peeked").clone());
            }
            steps.push((command, expected));
        }
        let mut last_code = None;
        for (index, (command, expected)) in steps.iter().enumerate() {
            let command = *command;
            if command == "echo $?" {
                let code = last_code.take().expect("`echo $?` follows a command");
                assert_eq!(expected, &[format!("{code}")], "$ echo $?");
                continue;
            }
            let (code, stdout, stderr) = run(dir.path(), command);
            commands_run += 1;
            let is_error = expected
                .first()
                .is_some_and(|line| line.starts_with("error: "));
            let (shown, expected_code) = if is_error {
                (stderr.clone(), Some(2))
            } else {
                (stdout.clone(), Some(0))
            };
            let code_is_shown = steps
                .get(index + 1)
                .is_some_and(|(next, _)| *next == "echo $?");
            if code_is_shown {
                last_code = Some(code.expect("exit code"));
            } else {
                assert_eq!(code, expected_code, "$ {command}\n{stdout}{stderr}");
            }
            let shown: Vec<&str> = shown.lines().collect();
            assert_eq!(
                shown.len(),
                expected.len(),
                "$ {command}: the README shows {expected:#?}, it printed {shown:#?}"
            );
            for (want, got) in expected.iter().zip(&shown) {
                assert!(
                    matches(&masked(want), &masked(got)),
                    "$ {command}\nthe README shows: {want}\nit printed:       {got}"
                );
            }
        }
    }
    assert!(commands_run >= 7, "{commands_run}");
}

#[test]
fn the_readme_says_how_to_put_tracefold_on_the_path_before_using_it() {
    let text = readme();
    let install = text
        .find("cargo install --path .")
        .expect("the README documents `cargo install --path .`");
    let first_use = text
        .find("$ tracefold ")
        .expect("the README's examples call tracefold");
    assert!(
        install < first_use,
        "the install command comes after the examples"
    );
}

#[test]
fn the_readme_matcher_treats_ellipses_as_wildcards_and_nothing_else() {
    assert!(matches(
        "{\"seq\":2,...,\"x\":1}",
        "{\"seq\":2,\"a\":0,\"x\":1}"
    ));
    assert!(matches("a…z", "abcz"));
    assert!(!matches("a...z", "abcy"));
    assert!(!matches("exact", "exactly"));
    assert!(matches("exact", "exact"));
    assert_eq!(
        masked("rollout dbac9442-bab4-47fa-b1d2-a10ea7f1a69b (232 events, recorded in 38ms)"),
        "rollout <uuid> (232 events, recorded in <time>)"
    );
    // Stored bytes mask to the same text whatever their digit count.
    assert_eq!(
        masked("                    99124 stored after chunk dedup + zstd"),
        masked("                   100001 stored after chunk dedup + zstd"),
    );
}
