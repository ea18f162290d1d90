//! `tracefold view SOURCE -o FILE`: a rollout as one self-contained HTML
//! page (the library's [`crate::view::rollout_page`]); `--diff A B` the
//! page comparing two. Sources are what `show` and `diff` take: a stored
//! rollout id, a bundle directory or a state JSON file. A rollout is
//! reduced past the events the reducer cannot take, so a damaged one still
//! views, its diagnostics listed.

use std::path::Path;

use super::diff_cmd::{load, store_for};
use super::output::{note, write_to};
use super::{Cli, EXIT_OK};
use crate::diff::{DiffPolicy, align_with_payloads};
use crate::view::{PageOptions, diff_page, rollout_page};

pub(super) fn view(
    cli: &Cli,
    source: Option<&str>,
    diff: Option<&[String]>,
    out: &Path,
    max_body_bytes: usize,
) -> anyhow::Result<i32> {
    let options = PageOptions { max_body_bytes };
    let page = match (source, diff) {
        (Some(source), None) => {
            let store = store_for(cli, &[source])?;
            let loaded = load(source, store.as_ref(), cli.max_payload_bytes, true)?;
            rollout_page(loaded.trace(), loaded.payloads(store.as_ref()), &options)
        }
        (None, Some([a, b])) => {
            let store = store_for(cli, &[a, b])?;
            let left = load(a, store.as_ref(), cli.max_payload_bytes, true)?;
            let right = load(b, store.as_ref(), cli.max_payload_bytes, true)?;
            let alignment = align_with_payloads(
                left.trace(),
                left.reader(store.as_ref()),
                right.trace(),
                right.reader(store.as_ref()),
                &DiffPolicy::default(),
            );
            diff_page(
                (left.trace(), left.payloads(store.as_ref())),
                (right.trace(), right.payloads(store.as_ref())),
                &alignment,
                &options,
            )
        }
        _ => anyhow::bail!("give one SOURCE, or --diff A B"),
    };
    write_to(out, |sink| sink.write_all(page.as_bytes()))?;
    if !super::output::is_stdout(out) {
        note(format_args!(
            "wrote {} ({} bytes)",
            out.display(),
            page.len()
        ));
    }
    Ok(EXIT_OK)
}
