//! The house rules DESIGN.md states about the source itself, checked so they
//! stay true: no file in `src/` over 800 lines, and no library function over
//! 120 lines except the reducer's dispatch table.

use std::path::{Path, PathBuf};

const FILE_LINES_MAX: usize = 800;
const FN_LINES_MAX: usize = 120;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

fn src_files() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    rust_files(&root.join("src"), &mut paths);
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            (relative, text)
        })
        .collect()
}

/// Test-only code: sibling `*_tests.rs` files, `tests.rs` and the samples.
fn is_test_file(path: &str) -> bool {
    path.ends_with("_tests.rs") || path.ends_with("/tests.rs") || path.ends_with("/samples.rs")
}

/// A line with string and char literals blanked and any `//` comment cut,
/// so braces inside them are not counted.
fn code_of(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                out.push_str("\"\"");
            }
            '\'' => {
                // A char literal ('x', '\n', '{') or a lifetime ('a).
                let rest: String = chars.clone().take(3).collect();
                let mut it = rest.chars();
                match (it.next(), it.next(), it.next()) {
                    (Some('\\'), _, _) => {
                        chars.next();
                        chars.next();
                        for d in chars.by_ref() {
                            if d == '\'' {
                                break;
                            }
                        }
                    }
                    (Some(_), Some('\''), _) => {
                        chars.next();
                        chars.next();
                    }
                    _ => {}
                }
                out.push_str("''");
            }
            '/' if chars.peek() == Some(&'/') => break,
            _ => out.push(c),
        }
    }
    out
}

/// The name of the function a line declares, if it declares one.
fn declared_fn(code: &str) -> Option<String> {
    let mut words = code.split_whitespace().peekable();
    while let Some(word) = words.next() {
        if word == "fn" {
            let name = words.next()?;
            let name: String = name
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            return (!name.is_empty()).then_some(name);
        }
        let prefix = word.starts_with("pub")
            || matches!(word, "const" | "async" | "unsafe" | "extern" | "default");
        if !prefix {
            return None;
        }
    }
    None
}

/// Every function of `text` over `FN_LINES_MAX` lines: (name, first line, lines).
fn long_fns(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<String> = text.lines().map(code_of).collect();
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let Some(name) = declared_fn(line) else {
            continue;
        };
        let mut depth = 0i64;
        let mut opened = false;
        let mut end = None;
        'scan: for (index, code) in lines.iter().enumerate().skip(start) {
            for c in code.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    ';' if !opened => break 'scan, // a declaration without a body
                    _ => {}
                }
                if opened && depth == 0 {
                    end = Some(index);
                    break 'scan;
                }
            }
        }
        if let Some(end) = end {
            let length = end - start + 1;
            if length > FN_LINES_MAX {
                found.push((name, start + 1, length));
            }
        }
    }
    found
}

#[test]
fn no_source_file_is_over_800_lines() {
    let over: Vec<String> = src_files()
        .into_iter()
        .filter_map(|(path, text)| {
            let lines = text.lines().count();
            (lines > FILE_LINES_MAX).then(|| format!("{path}: {lines} lines"))
        })
        .collect();
    assert!(
        over.is_empty(),
        "files over {FILE_LINES_MAX} lines:\n{}",
        over.join("\n")
    );
}

#[test]
fn no_library_function_is_over_120_lines_except_the_dispatch_table() {
    let over: Vec<String> = src_files()
        .into_iter()
        .filter(|(path, _)| !is_test_file(path))
        .flat_map(|(path, text)| {
            long_fns(&text)
                .into_iter()
                .filter(|(name, _, _)| name != "dispatch")
                .map(move |(name, line, length)| {
                    format!("{path}:{line}: fn {name}, {length} lines")
                })
        })
        .collect();
    assert!(
        over.is_empty(),
        "functions over {FN_LINES_MAX} lines:\n{}",
        over.join("\n")
    );
}

#[test]
fn the_function_measure_counts_a_long_function_and_skips_braces_in_literals() {
    let body = "    let x = '{';\n    let s = \"}}}\"; // }\n".repeat(70);
    let text = format!("pub(crate) fn long_one() {{\n{body}}}\n\nfn short() {{}}\n");
    assert_eq!(long_fns(&text), vec![("long_one".to_string(), 1, 142)]);
    assert!(long_fns("fn short() {\n}\n").is_empty());
}
