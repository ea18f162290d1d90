//! Reduce and export commands: reduce, reduce-bundle, export.

use std::io::Write;
use std::path::Path;

use super::{Cli, EXIT_OK};
use crate::event::wire::to_line;
use crate::export::bundle::{read_bundle, write_atomically, write_bundle};
use crate::export::{PayloadIds, RefStyle, reduce_loaded, reduce_stored, to_wire};
use crate::ingest::IngestOptions;
use crate::reducer::state_to_json;

/// `export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum ExportFormat {
    /// A reference trace bundle directory.
    CodexBundle,
    /// Wire-format JSONL with payloads inline.
    Jsonl,
    /// The reduced state JSON.
    State,
}

fn write_output(out: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match out {
        Some(path) => write_atomically(path, text.as_bytes())?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
        }
    }
    Ok(())
}

pub(super) fn reduce(cli: &Cli, rollout: &str, out: Option<&Path>) -> anyhow::Result<i32> {
    let store = cli.open_store()?;
    let state = reduce_stored(&store, rollout)?;
    write_output(out, &state_to_json(&state))?;
    Ok(EXIT_OK)
}

pub(super) fn reduce_bundle(
    bundle_dir: &Path,
    out: Option<&Path>,
    allow_torn_tail: bool,
) -> anyhow::Result<i32> {
    let options = IngestOptions {
        allow_torn_tail,
        progress: None,
        ..IngestOptions::default()
    };
    let bundle = read_bundle(bundle_dir, &options)?;
    let state = reduce_loaded(&bundle)?;
    let default_out = bundle_dir.join("state.json");
    write_output(Some(out.unwrap_or(&default_out)), &state_to_json(&state))?;
    Ok(EXIT_OK)
}

pub(super) fn export(
    cli: &Cli,
    rollout: &str,
    format: ExportFormat,
    out: &Path,
) -> anyhow::Result<i32> {
    let store = cli.open_store()?;
    match format {
        ExportFormat::CodexBundle => write_bundle(&store, rollout, out)?,
        ExportFormat::State => {
            let state = reduce_stored(&store, rollout)?;
            write_atomically(out, state_to_json(&state).as_bytes())?;
        }
        ExportFormat::Jsonl => {
            let mut ids = PayloadIds::default();
            let mut text = String::new();
            for event in store.events(rollout)? {
                let wire = to_wire(&store, rollout, &event?, &mut ids, RefStyle::Inline)?;
                text.push_str(&to_line(&wire));
                text.push('\n');
            }
            write_atomically(out, text.as_bytes())?;
        }
    }
    Ok(EXIT_OK)
}
