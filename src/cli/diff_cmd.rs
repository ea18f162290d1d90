//! `tracefold diff A B [--json]`: replay-equivalence of two rollouts, each
//! a rollout id in the store, a bundle directory (with `manifest.json`), an
//! ATIF trajectory (a file, or a directory with one root trajectory, read
//! as `import` would store it) or a state JSON file. Exit 0 equivalent, 1 divergent, 2 on error. The store is
//! opened only when an argument is not an existing path.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::output::stdout;
use super::terminal::escape;
use super::{Cli, EXIT_NEGATIVE, EXIT_OK};
use crate::diff::{DiffPolicy, diff_with_payloads};
use crate::export::bundle::{LoadedBundle, read_bundle};
use crate::export::{reduce_loaded_with, reduce_stored_with};
use crate::ingest::IngestOptions;
use crate::model::RolloutTrace;
use crate::reducer::{PayloadSource, ReduceOptions};
use crate::store::Store;

/// One side of the comparison, with what can read its payloads.
pub(super) enum Loaded {
    Stored(RolloutTrace),
    Bundle(RolloutTrace, Box<LoadedBundle>),
    State(RolloutTrace),
}

impl Loaded {
    pub(super) fn trace(&self) -> &RolloutTrace {
        match self {
            Loaded::Stored(t) | Loaded::Bundle(t, _) | Loaded::State(t) => t,
        }
    }

    pub(super) fn reader<'a>(
        &'a self,
        store: Option<&'a Store>,
    ) -> Option<&'a (dyn PayloadSource + Sync)> {
        match self {
            Loaded::Stored(_) => store.map(|s| s as &(dyn PayloadSource + Sync)),
            Loaded::Bundle(_, bundle) => Some(&bundle.payloads as &(dyn PayloadSource + Sync)),
            Loaded::State(_) => None,
        }
    }

    /// What reads its payloads, for readers that need not be shared
    /// between threads (`show`, `view`).
    pub(super) fn payloads<'a>(
        &'a self,
        store: Option<&'a Store>,
    ) -> Option<&'a dyn PayloadSource> {
        self.reader(store)
            .map(|reader| reader as &dyn PayloadSource)
    }
}

/// The store, opened when one of `sources` is not an existing path (and so
/// names a stored rollout); `None` when every source is a file or
/// directory.
pub(super) fn store_for(cli: &Cli, sources: &[&str]) -> anyhow::Result<Option<Store>> {
    match sources.iter().find(|source| !Path::new(source).exists()) {
        None => Ok(None),
        Some(source) => Ok(Some(cli.open_existing_store().with_context(|| {
            format!(
                "{source} is no file or directory, and no store holds rollouts to look it up in"
            )
        })?)),
    }
}

/// A rollout named by a bundle directory, a state JSON file or a stored
/// rollout id, reduced; `keep_going` reduces past the events the reducer
/// cannot take, each one a diagnostic.
pub(super) fn load(
    arg: &str,
    store: Option<&Store>,
    max_payload_bytes: u64,
    keep_going: bool,
) -> anyhow::Result<Loaded> {
    let path = Path::new(arg);
    let options = ReduceOptions { keep_going };
    if crate::ingest::looks_like_atif_file(path) || crate::ingest::looks_like_atif_dir(path) {
        let ingest = IngestOptions {
            max_payload_bytes,
            ..IngestOptions::default()
        };
        let bundle = crate::export::atif::read_atif(path, &ingest)
            .with_context(|| format!("read ATIF {arg}"))?;
        let trace = reduce_loaded_with(&bundle, options)?;
        return Ok(Loaded::Bundle(trace, Box::new(bundle)));
    }
    if path.is_dir() {
        let ingest = IngestOptions {
            max_payload_bytes,
            ..IngestOptions::default()
        };
        let bundle = read_bundle(path, &ingest).with_context(|| format!("read bundle {arg}"))?;
        let trace = reduce_loaded_with(&bundle, options)?;
        return Ok(Loaded::Bundle(trace, Box::new(bundle)));
    }
    if path.is_file() {
        let text = std::fs::read_to_string(path).with_context(|| format!("read {arg}"))?;
        let trace: RolloutTrace = serde_json::from_str(&text)
            .with_context(|| format!("{arg} is not a rollout state JSON"))?;
        return Ok(Loaded::State(trace));
    }
    let store = store.with_context(|| format!("{arg} is neither a path nor a stored rollout"))?;
    Ok(Loaded::Stored(reduce_stored_with(store, arg, options)?))
}

pub(super) fn diff(cli: &Cli, a: &str, b: &str, json: bool) -> anyhow::Result<i32> {
    let store = store_for(cli, &[a, b])?;
    let left = load(a, store.as_ref(), cli.max_payload_bytes, false)?;
    let right = load(b, store.as_ref(), cli.max_payload_bytes, false)?;
    let report = diff_with_payloads(
        left.trace(),
        left.reader(store.as_ref()),
        right.trace(),
        right.reader(store.as_ref()),
        &DiffPolicy::default(),
    );
    let mut out = stdout();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        // Field by field, so an id holding a newline cannot forge a line.
        match &report.first {
            None => writeln!(out, "equivalent")?,
            Some(first) => {
                writeln!(out, "{}", escape(&first.to_string()))?;
                let further = report.further_differences;
                let plural = if further == 1 { "" } else { "s" };
                writeln!(out, "({further} further difference{plural})")?;
            }
        }
    }
    out.flush()?;
    Ok(if report.equivalent {
        EXIT_OK
    } else {
        EXIT_NEGATIVE
    })
}
