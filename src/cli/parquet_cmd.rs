//! `export --format parquet [ROLLOUT | --all] --out DIR`: the library's
//! Parquet export, with one line per file written on standard error.

use std::path::Path;

use super::EXIT_OK;
use super::output::note;
use super::terminal::escape;
use crate::export::parquet::{write_parquet, write_parquet_all};
use crate::store::Store;

/// Writes `rollout` (every rollout with `None`, for `--all`) as Parquet
/// files into the new or empty directory `out`, then says on stderr what
/// each file holds (`threads.parquet: 3 rows`).
pub(super) fn export(store: &Store, rollout: Option<&str>, out: &Path) -> anyhow::Result<i32> {
    let report = match rollout {
        Some(rollout) => write_parquet(store, rollout, out)?,
        None => write_parquet_all(store, out)?,
    };
    let plural = |n: u64, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    for (file, rows) in &report.files {
        note(format_args!(
            "{}: {}",
            escape(file),
            plural(*rows, "row", "rows")
        ));
    }
    if rollout.is_none() {
        note(format_args!(
            "{} in {}",
            plural(report.rollouts, "rollout", "rollouts"),
            escape(&out.display().to_string())
        ));
    }
    Ok(EXIT_OK)
}
