//! ATIF trajectories (Harbor's Agent Trajectory Interchange Format,
//! `ATIF-v1.5` to `ATIF-v1.8`) read into a rollout: one thread per
//! trajectory, its sub-agents' trajectories threads spawned from the step
//! that references them.
//!
//! A source is a trajectory file, or a directory of them: each file no
//! other file of the directory references is a root, and a rollout. A
//! `subagent_trajectory_ref` is resolved, in this order, to an embedded
//! trajectory (`subagent_trajectories`, by `trajectory_id`), to the file
//! its `trajectory_path` names (relative to the referencing file's
//! directory, never outside it), or to a file of that directory whose
//! `trajectory_id` or `session_id` the reference names (a v1.5 or v1.6
//! reference may carry only `session_id`; Harbor's own files name paths
//! that differ from the files it writes). A reference that resolves to
//! nothing is an error naming the file and the JSON path of the
//! reference, unless the import is told to keep such references as
//! observations only.
//!
//! The trajectories become wire events (`convert.rs`) that the ordinary
//! JSONL ingest stores, all or nothing, redacted and idempotent like any
//! other import; `diff`, `show` and `view` read the same events into memory
//! instead ([`read_atif`]). Nothing here writes to the store itself, and a
//! file that breaks the format is an error naming the file and the JSON
//! path (`steps[3] (step_id 4).tool_calls[0].arguments`), never a panic.

mod convert;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::{IngestOptions, IngestReport, JsonlSource, ingest_jsonl};
use crate::error::{Error, Result};
use crate::store::Store;

pub(crate) use convert::Conversion;

/// The versions the import reads (`ATIF-v1.{minor}`).
const MINOR_VERSIONS: std::ops::RangeInclusive<u32> = 5..=8;

/// Largest trajectory file read (a trajectory is parsed whole).
const FILE_BYTES_MAX: u64 = 1 << 30;

/// How many trajectories one root may reach (embedded and referenced).
const TRAJECTORIES_MAX: usize = 100_000;

/// One trajectory document, where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    /// The file, as messages name it.
    pub(crate) file: String,
    /// Where in the file: empty for the whole file, else the JSON path of
    /// an embedded trajectory (`subagent_trajectories[0]`).
    pub(crate) at: String,
    /// The directory references in it are relative to.
    pub(crate) dir: PathBuf,
    pub(crate) value: Value,
}

impl Doc {
    /// `path` inside this trajectory, as an error location.
    pub(crate) fn location(&self, path: &str) -> String {
        match (self.at.is_empty(), path.is_empty()) {
            (true, _) => format!("{}: {path}", self.file),
            (false, true) => format!("{}: {}", self.file, self.at),
            (false, false) => format!("{}: {}.{path}", self.file, self.at),
        }
    }

    /// An error at `path` inside this trajectory.
    pub(crate) fn error(&self, path: &str, message: impl std::fmt::Display) -> Error {
        Error::Other(format!("{}: {message}", self.location(path)))
    }
}

/// A file's text parsed as JSON, or an error naming the file and where the
/// JSON breaks.
fn read_json(path: &Path) -> Result<Value> {
    let file = std::fs::File::open(path)
        .map_err(|err| Error::io(format!("open {}", path.display()), err))?;
    let mut text = String::new();
    file.take(FILE_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .map_err(|err| Error::io(format!("read {}", path.display()), err))?;
    if text.len() as u64 > FILE_BYTES_MAX {
        return Err(Error::Other(format!(
            "{}: larger than {FILE_BYTES_MAX} bytes, the most an ATIF trajectory may hold here",
            path.display()
        )));
    }
    serde_json::from_str(&text)
        .map_err(|err| Error::Other(format!("{}: not a JSON document: {err}", path.display())))
}

/// Whether `path` is an ATIF trajectory file: a JSON object whose first
/// 64 KiB hold `"schema_version": "ATIF-v...` (the whole file is read by
/// the import). A state JSON or wire JSONL has a number there.
pub(crate) fn looks_like_atif_file(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = Vec::new();
    if file.take(64 * 1024).read_to_end(&mut head).is_err() {
        return false;
    }
    let head = String::from_utf8_lossy(&head);
    if !head.trim_start().starts_with('{') {
        return false;
    }
    const KEY: &str = "\"schema_version\"";
    head.match_indices(KEY).any(|(at, _)| {
        head[at + KEY.len()..]
            .trim_start()
            .strip_prefix(':')
            .is_some_and(|value| value.trim_start().starts_with("\"ATIF-v"))
    })
}

/// Whether `dir` holds ATIF trajectory files (and is no bundle).
pub(crate) fn looks_like_atif_dir(dir: &Path) -> bool {
    !dir.join("manifest.json").is_file()
        && json_files(dir)
            .iter()
            .any(|path| looks_like_atif_file(path))
}

/// The `.json` files directly in `dir` (hidden ones left out), sorted.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| {
                    path.file_name()
                        .and_then(|name| name.to_str())
                        .is_some_and(|name| !name.starts_with('.') && name.ends_with(".json"))
                        && path.is_file()
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Checks that a trajectory's version is one this build reads.
pub(crate) fn check_version(doc: &Doc) -> Result<()> {
    let version = match doc.value.get("schema_version") {
        Some(Value::String(version)) => version.as_str(),
        Some(_) => return Err(doc.error("schema_version", "not a string")),
        None => return Err(doc.error("schema_version", "missing")),
    };
    let minor = version
        .strip_prefix("ATIF-v1.")
        .and_then(|minor| minor.parse::<u32>().ok());
    match minor {
        Some(minor) if MINOR_VERSIONS.contains(&minor) => Ok(()),
        _ => Err(doc.error(
            "schema_version",
            format!(
                "unsupported ATIF version {version:?} (this build reads ATIF-v1.{} to ATIF-v1.{})",
                MINOR_VERSIONS.start(),
                MINOR_VERSIONS.end()
            ),
        )),
    }
}

/// Loads trajectory file `path` (its version checked).
fn load_file(path: &Path) -> Result<Doc> {
    let value = read_json(path)?;
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let doc = Doc {
        file: path.display().to_string(),
        at: String::new(),
        dir,
        value,
    };
    if !doc.value.is_object() {
        return Err(doc.error("", "not a JSON object (an ATIF trajectory is one)"));
    }
    check_version(&doc)?;
    Ok(doc)
}

/// A sub-agent reference's target, once resolved.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// A trajectory of the tree (its position).
    Resolved(usize),
    /// Nothing holds it; the import was told to keep it unresolved.
    Missing,
}

/// One trajectory of a tree, with where its parent references it.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) doc: Doc,
    /// The parent's position and the JSON path of the reference to this
    /// trajectory in it.
    pub(crate) parent: Option<usize>,
    /// Each reference in this trajectory's steps, by (step index, result
    /// index, reference index), and what it resolved to.
    pub(crate) refs: Vec<((usize, usize, usize), Target)>,
}

/// A root trajectory and every trajectory it reaches, parents first.
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    pub(crate) nodes: Vec<Node>,
}

/// Resolves sub-agent references, loading the files they name.
struct Resolver {
    allow_missing: bool,
    /// The `.json` ATIF files of each directory seen, loaded on first need.
    siblings: Vec<(PathBuf, Vec<Doc>)>,
    /// Files already in the tree (a file referenced twice is one thread).
    used_files: BTreeSet<String>,
}

impl Resolver {
    fn siblings(&mut self, dir: &Path) -> &[Doc] {
        if let Some(position) = self.siblings.iter().position(|(seen, _)| seen == dir) {
            return &self.siblings[position].1;
        }
        let docs = json_files(dir)
            .iter()
            .filter(|path| looks_like_atif_file(path))
            .filter_map(|path| load_file(path).ok())
            .collect();
        self.siblings.push((dir.to_path_buf(), docs));
        self.siblings
            .last()
            .map_or(&[], |(_, docs)| docs.as_slice())
    }

    /// The trajectory reference `reference` (at `path` in `doc`) names.
    fn resolve(&mut self, doc: &Doc, path: &str, reference: &Value) -> Result<Option<Doc>> {
        let text = |key: &str| reference.get(key).and_then(Value::as_str);
        let (id, session, file) = (
            text("trajectory_id"),
            text("session_id"),
            text("trajectory_path"),
        );
        if id.is_none() && session.is_none() && file.is_none() {
            return Err(doc.error(
                path,
                "names no trajectory (neither trajectory_id, trajectory_path nor session_id)",
            ));
        }
        if let Some(id) = id
            && let Some(embedded) = embedded(doc, id)
        {
            return Ok(Some(embedded));
        }
        if let Some(file) = file {
            let plain = Path::new(file)
                .components()
                .all(|part| matches!(part, Component::Normal(_) | Component::CurDir));
            if !plain || file.is_empty() {
                return Err(doc.error(
                    path,
                    format!("trajectory_path {file:?} is not a plain relative path"),
                ));
            }
            let confinement = super::Confinement::new(&doc.dir);
            if confinement.open(file).is_ok() {
                return load_file(&doc.dir.join(file)).map(Some);
            }
        }
        let dir = doc.dir.clone();
        let found = self.siblings(&dir).iter().find(|sibling| {
            let named = |key: &str, want: Option<&str>| {
                want.is_some() && sibling.value.get(key).and_then(Value::as_str) == want
            };
            named("trajectory_id", id) || named("session_id", session.or(id))
        });
        if let Some(found) = found {
            return Ok(Some(found.clone()));
        }
        if self.allow_missing {
            return Ok(None);
        }
        let mut named = Vec::new();
        for (key, value) in [
            ("trajectory_path", file),
            ("trajectory_id", id),
            ("session_id", session),
        ] {
            if let Some(value) = value {
                named.push(format!("{key} {value:?}"));
            }
        }
        Err(doc.error(
            path,
            format!(
                "the sub-agent trajectory it names ({}) is neither embedded nor a file in {} \
                 (import --allow-missing-subagents keeps such references as observations only)",
                named.join(", "),
                dir.display()
            ),
        ))
    }
}

/// The trajectory embedded in `doc` under `subagent_trajectories` with
/// trajectory id `id`.
fn embedded(doc: &Doc, id: &str) -> Option<Doc> {
    let list = doc.value.get("subagent_trajectories")?.as_array()?;
    let position = list
        .iter()
        .position(|sub| sub.get("trajectory_id").and_then(Value::as_str) == Some(id))?;
    let at = if doc.at.is_empty() {
        format!("subagent_trajectories[{position}]")
    } else {
        format!("{}.subagent_trajectories[{position}]", doc.at)
    };
    Some(Doc {
        file: doc.file.clone(),
        at,
        dir: doc.dir.clone(),
        value: list[position].clone(),
    })
}

/// Each sub-agent reference in `doc`'s steps: (step, result, reference
/// index), its JSON path, and the reference.
fn references(doc: &Doc) -> Vec<((usize, usize, usize), String, Value)> {
    let mut out = Vec::new();
    let Some(steps) = doc.value.get("steps").and_then(Value::as_array) else {
        return out;
    };
    for (s, step) in steps.iter().enumerate() {
        let Some(results) = step
            .pointer("/observation/results")
            .and_then(Value::as_array)
        else {
            continue;
        };
        for (r, result) in results.iter().enumerate() {
            let Some(refs) = result
                .get("subagent_trajectory_ref")
                .and_then(Value::as_array)
            else {
                continue;
            };
            for (i, reference) in refs.iter().enumerate() {
                let path = format!(
                    "{}.observation.results[{r}].subagent_trajectory_ref[{i}]",
                    step_path(s, step)
                );
                out.push(((s, r, i), path, reference.clone()));
            }
        }
    }
    out
}

/// `steps[N] (step_id M)`, or `steps[N]` without a step id.
pub(crate) fn step_path(position: usize, step: &Value) -> String {
    match step.get("step_id").and_then(Value::as_u64) {
        Some(id) => format!("steps[{position}] (step_id {id})"),
        None => format!("steps[{position}]"),
    }
}

/// The tree of trajectories root `root` reaches.
fn tree(root: Doc, allow_missing: bool) -> Result<Tree> {
    let mut resolver = Resolver {
        allow_missing,
        siblings: Vec::new(),
        used_files: BTreeSet::new(),
    };
    resolver
        .used_files
        .insert(format!("{}#{}", root.file, root.at));
    let mut nodes = vec![Node {
        doc: root,
        parent: None,
        refs: Vec::new(),
    }];
    let mut next = 0;
    while next < nodes.len() {
        let doc = nodes[next].doc.clone();
        for (place, path, reference) in references(&doc) {
            if !reference.is_object() {
                return Err(doc.error(&path, "not an object"));
            }
            let target = match resolver.resolve(&doc, &path, &reference)? {
                None => Target::Missing,
                Some(child) => {
                    let key = format!("{}#{}", child.file, child.at);
                    if !resolver.used_files.insert(key) {
                        return Err(doc.error(
                            &path,
                            format!(
                                "names {} again: a trajectory is referenced once, from the step that spawned it",
                                child.location("")
                            ),
                        ));
                    }
                    check_version(&child)?;
                    if nodes.len() >= TRAJECTORIES_MAX {
                        return Err(doc.error(
                            &path,
                            format!("more than {TRAJECTORIES_MAX} trajectories in one tree"),
                        ));
                    }
                    nodes.push(Node {
                        doc: child,
                        parent: Some(next),
                        refs: Vec::new(),
                    });
                    Target::Resolved(nodes.len() - 1)
                }
            };
            nodes[next].refs.push((place, target));
        }
        next += 1;
    }
    Ok(Tree { nodes })
}

/// The trees of `path`: a trajectory file's, or one per root of a
/// directory (a file no other file of it references).
fn trees(path: &Path, allow_missing: bool) -> Result<Vec<Tree>> {
    if !path.is_dir() {
        return Ok(vec![tree(load_file(path)?, allow_missing)?]);
    }
    roots(path)?
        .into_iter()
        .map(|root| tree(load_file(&root)?, allow_missing))
        .collect()
}

/// The root trajectory files of directory `dir`: the ATIF files no other
/// ATIF file of `dir` references (a reference that resolves to nothing
/// does not make the directory fail here; its import says so).
pub(crate) fn roots(dir: &Path) -> Result<Vec<PathBuf>> {
    let files: Vec<PathBuf> = json_files(dir)
        .into_iter()
        .filter(|path| looks_like_atif_file(path))
        .collect();
    let mut referenced = BTreeSet::new();
    for file in &files {
        let Ok(doc) = load_file(file) else {
            continue;
        };
        if let Ok(tree) = tree(doc, true) {
            for node in tree.nodes.iter().skip(1) {
                if node.doc.at.is_empty() {
                    referenced.insert(node.doc.file.clone());
                }
            }
        }
    }
    Ok(files
        .into_iter()
        .filter(|file| !referenced.contains(&file.display().to_string()))
        .collect())
}

/// Imports the ATIF trajectories at `path` (a file, or a directory of
/// them), each root and its sub-agents one rollout, all or nothing.
pub fn import_atif(
    store: &Store,
    path: &Path,
    allow_missing_subagents: bool,
    options: &IngestOptions<'_>,
) -> Result<IngestReport> {
    let mut events = Vec::new();
    let mut warnings = Vec::new();
    let mut taken = BTreeSet::new();
    for tree in trees(path, allow_missing_subagents)? {
        let conversion = Conversion::of(&tree, &mut taken)?;
        events.extend_from_slice(&conversion.events);
        warnings.extend(conversion.warnings);
    }
    let source = JsonlSource {
        name: format!("{} (converted from ATIF)", path.display()),
        base_dir: PathBuf::from("."),
        reader: Box::new(std::io::Cursor::new(events)),
    };
    let mut report = ingest_jsonl(store, source, options)?;
    report.unconverted_lines.extend(warnings);
    Ok(report)
}

/// The ATIF trajectory tree at `path` (a file, or a directory with one
/// root), converted to wire events for reading into memory; an error names
/// a directory with several roots.
pub(crate) fn convert_one(path: &Path) -> Result<Conversion> {
    let mut trees = trees(path, false)?;
    if trees.len() != 1 {
        return Err(Error::Other(format!(
            "{} holds {} root trajectories; name one of its files",
            path.display(),
            trees.len()
        )));
    }
    let tree = trees.remove(0);
    Conversion::of(&tree, &mut BTreeSet::new())
}
