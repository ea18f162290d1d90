//! Reference trace bundles: reading and checking `manifest.json`, and
//! importing a bundle (`manifest.json`, its event log, `payloads/`) as one
//! rollout, all or nothing. The manifest's ids are redacted like the
//! events', and every line must be for the rollout the manifest names.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::store::Store;

use super::import::{BundleRules, ingest_into};
use super::{
    IngestOptions, IngestReport, JsonlSource, RolloutOutcome, open_no_follow_checked,
    read_payload_file,
};

/// The reference bundle's `manifest.json`, field for field.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct BundleManifest {
    /// The manifest format; this build reads 1 only
    /// ([`read_bundle_manifest`] refuses any other).
    pub schema_version: u32,
    /// The trace id an import that creates the rollout gives it, unless its
    /// log's `rollout_started` names one.
    pub trace_id: String,
    /// The rollout every line of the log must be for; the id the rollout is
    /// stored under unless [`import_bundle`] is given another. Never empty.
    pub rollout_id: String,
    /// The root thread an import that creates the rollout gives it, unless
    /// its log's `rollout_started` names one.
    pub root_thread_id: String,
    /// When the rollout started, in milliseconds since the Unix epoch; an
    /// import that creates the rollout takes it as the stored start time.
    pub started_at_unix_ms: i64,
    /// The event log's file name, relative to the bundle directory (the
    /// reference writes `trace.jsonl`); read under the same confinement as
    /// payload files.
    pub raw_event_log: String,
    /// The payload directory's name (the reference writes `payloads`).
    /// Informational: each payload reference in the log carries its own
    /// `path`, relative to the bundle directory.
    pub payloads_dir: String,
}

/// Reads and checks a bundle's manifest.
pub fn read_bundle_manifest(bundle_dir: &Path) -> Result<BundleManifest> {
    let manifest = read_bundle_manifest_any_version(bundle_dir)?;
    check_manifest_schema_version(bundle_dir, &manifest)?;
    Ok(manifest)
}

/// The error for a manifest `schema_version` this build does not read.
pub(crate) fn check_manifest_schema_version(
    bundle_dir: &Path,
    manifest: &BundleManifest,
) -> Result<()> {
    if manifest.schema_version == 1 {
        return Ok(());
    }
    Err(Error::input(
        bundle_dir.join("manifest.json").display().to_string(),
        format!(
            "unsupported manifest schema_version {}",
            manifest.schema_version
        ),
    ))
}

/// Reads a bundle's manifest and checks all but its `schema_version`.
pub(crate) fn read_bundle_manifest_any_version(bundle_dir: &Path) -> Result<BundleManifest> {
    let path = bundle_dir.join("manifest.json");
    let bytes = read_payload_file(bundle_dir, "manifest.json", 1 << 20)
        .map_err(|err| Error::input(path.display().to_string(), err.to_string()))?;
    let manifest: BundleManifest = serde_json::from_slice(&bytes).map_err(|err| {
        Error::input(
            path.display().to_string(),
            format!("malformed manifest: {err}"),
        )
    })?;
    if manifest.rollout_id.is_empty() {
        return Err(Error::input(path.display().to_string(), "empty rollout_id"));
    }
    Ok(manifest)
}

/// Imports a reference trace bundle (`manifest.json`, `trace.jsonl`,
/// `payloads/`) as one rollout, all or nothing. A rollout already stored
/// under that id is compared with the bundle (see the module docs).
pub fn import_bundle(
    store: &Store,
    bundle_dir: &Path,
    store_as: Option<&str>,
    options: &IngestOptions<'_>,
) -> Result<IngestReport> {
    let mut manifest = read_bundle_manifest(bundle_dir)?;
    let mut rollout_id = store_as.unwrap_or(&manifest.rollout_id).to_string();
    // The ids the manifest gives the store are redacted like the events'
    // (which are checked against the redacted manifest rollout id).
    if let Some(redactor) = &options.redactor {
        for id in [
            &mut rollout_id,
            &mut manifest.rollout_id,
            &mut manifest.trace_id,
            &mut manifest.root_thread_id,
        ] {
            redactor.redact_string(id);
        }
    }
    let log_name = manifest.raw_event_log.clone();
    let log_path = bundle_dir.join(&log_name);
    let reader = open_no_follow_checked(bundle_dir, &log_name)?;
    let mut writes = store.writes()?;
    writes.set_spill_threshold(options.spill_threshold_bytes);
    let rules = BundleRules {
        manifest_rollout_id: manifest.rollout_id.clone(),
        store_as: rollout_id.clone(),
    };
    let source = JsonlSource {
        name: log_path.display().to_string(),
        base_dir: bundle_dir.to_path_buf(),
        reader: Box::new(reader),
    };
    let mut report = ingest_into(&mut writes, store, source, options, Some(&rules))?;
    let created = match report.rollouts.first() {
        Some(outcome) => outcome.created,
        None => {
            // An empty log: the rollout is the manifest alone.
            let created = writes.rollout(&rollout_id, false).is_err();
            report.rollout_ids.push(rollout_id.clone());
            report.rollouts.push(RolloutOutcome {
                rollout_id: rollout_id.clone(),
                created,
                ..RolloutOutcome::default()
            });
            created
        }
    };
    if created {
        let num = writes.rollout(&rollout_id, true)?;
        writes.set_identity(
            num,
            &manifest.trace_id,
            &manifest.root_thread_id,
            manifest.started_at_unix_ms,
        );
    }
    writes.commit(true)?;
    Ok(report)
}

/// A bundle's line must be for the rollout its manifest names.
pub(crate) fn check_manifest_rollout(
    location: &str,
    event_rollout: &str,
    manifest_rollout: &str,
) -> Result<()> {
    if event_rollout == manifest_rollout {
        return Ok(());
    }
    Err(Error::input(
        location,
        format!(
            "event is for rollout {event_rollout} but the bundle manifest says {manifest_rollout}"
        ),
    ))
}
