//! `export --format source`: the files an import converted (a Codex
//! session rollout), written back byte for byte from their `source_line`
//! events, into a new directory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Component, Path};

use super::bundle::write_new_dir;
use crate::error::{Error, Result};
use crate::event::EventPayload;
use crate::store::Store;

/// What `write_source` wrote: each file (its path in the directory) and
/// its number of lines.
pub type SourceFiles = BTreeMap<String, u64>;

/// Writes the source files of rollout `rollout_id` into a new directory
/// `out` (which must not exist, or be empty), each under the path its
/// lines name. Fails, leaving `out` as it was, when the rollout has no
/// source lines, when a file's lines do not follow each other from 1, or
/// when a path is not a plain relative path.
pub fn write_source(store: &Store, rollout_id: &str, out: &Path) -> Result<SourceFiles> {
    let manifest = store.manifest(rollout_id)?;
    write_new_dir(out, "a source export", |dir| {
        let mut files: BTreeMap<String, (BufWriter<File>, u64)> = BTreeMap::new();
        for event in store.events_of(&manifest) {
            let event = event?;
            let EventPayload::SourceLine {
                file,
                line,
                line_payload,
            } = event.payload
            else {
                continue;
            };
            let fail = |message: String| {
                Error::Other(format!(
                    "rollout {rollout_id} seq {}: source file {file:?}: {message}",
                    event.seq
                ))
            };
            if !files.contains_key(&file) {
                let relative = Path::new(&file);
                let plain = !file.is_empty()
                    && relative
                        .components()
                        .all(|part| matches!(part, Component::Normal(_)));
                if !plain {
                    return Err(fail("not a plain relative path".into()));
                }
                let path = dir.join(relative);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|err| Error::io(format!("create {}", parent.display()), err))?;
                }
                let created = File::create_new(&path)
                    .map_err(|err| Error::io(format!("create {}", path.display()), err))?;
                files.insert(file.clone(), (BufWriter::new(created), 0));
            }
            let Some((writer, written)) = files.get_mut(&file) else {
                continue;
            };
            if line != *written + 1 {
                return Err(fail(format!(
                    "line {line} follows line {written}: the lines between are missing"
                )));
            }
            let bytes = store.read_payload(&line_payload.hash)?;
            writer
                .write_all(&bytes)
                .map_err(|err| Error::io(format!("write {file}"), err))?;
            *written = line;
        }
        if files.is_empty() {
            return Err(Error::Other(format!(
                "rollout {rollout_id} was not imported from a source file: it has no source lines \
                 (export --format jsonl or codex-bundle instead)"
            )));
        }
        let mut written = SourceFiles::new();
        for (file, (writer, lines)) in files {
            let created = writer
                .into_inner()
                .map_err(|err| Error::io(format!("write {file}"), err.into_error()))?;
            created
                .sync_all()
                .map_err(|err| Error::io(format!("sync {file}"), err))?;
            written.insert(file, lines);
        }
        Ok(written)
    })
}
