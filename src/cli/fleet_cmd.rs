//! `tracefold ship` and `tracefold collect`: fleet mode (see
//! `crate::fleet`). `ship` sends the store's rollouts to NATS JetStream and
//! object storage, once or, with `--follow`, every few seconds; `collect`
//! folds the stream into the store.

use std::io::Write;

use clap::Args;

use super::output::{note, stdout};
use super::terminal::escape;
use super::{Cli, EXIT_OK};
use crate::fleet::{CollectOptions, FleetConfig, ObjectTarget};

/// Where the fleet's servers are.
#[derive(Args, Debug, Clone)]
pub(super) struct FleetArgs {
    /// NATS server with JetStream (`nats://127.0.0.1:4222`)
    #[arg(long, value_name = "URL", env = "TRACEFOLD_NATS")]
    nats: String,
    /// Object storage for payload chunks: an S3 endpoint
    /// (`http://127.0.0.1:8333`) or a directory (`file:///srv/objects`)
    #[arg(long, value_name = "URL", env = "TRACEFOLD_S3")]
    s3: String,
    /// The S3 bucket (created when missing)
    #[arg(long, value_name = "NAME", default_value = "tracefold")]
    bucket: String,
    /// The JetStream stream (created when missing)
    #[arg(long, value_name = "NAME", default_value = "TRACEFOLD")]
    stream: String,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
}

impl FleetArgs {
    fn config(&self) -> anyhow::Result<FleetConfig> {
        let mut config = FleetConfig::new(
            self.nats.clone(),
            ObjectTarget::parse(&self.s3, &self.bucket)?,
        );
        config.stream = self.stream.clone();
        Ok(config)
    }
}

/// `ship`'s arguments.
#[derive(Args, Debug, Clone)]
pub(super) struct ShipArgs {
    #[command(flatten)]
    fleet: FleetArgs,
    /// Keep shipping: a round every SECONDS (Ctrl-C stops)
    #[arg(long, value_name = "SECONDS")]
    follow: Option<u64>,
}

/// `collect`'s arguments.
#[derive(Args, Debug, Clone)]
pub(super) struct CollectArgs {
    #[command(flatten)]
    fleet: FleetArgs,
    /// The durable consumer's name (a collector started again goes on where
    /// it stopped)
    #[arg(long, value_name = "NAME", default_value = "tracefold-collect")]
    group: String,
    /// Only these subject partitions (0 to 15, comma-separated), to split
    /// the work between collectors with their own stores
    #[arg(long, value_name = "P,P,...", value_delimiter = ',', value_parser = clap::value_parser!(u8).range(0..16))]
    partitions: Vec<u8>,
    /// Stop once every message is folded in (for batch jobs and tests)
    #[arg(long)]
    until_idle: bool,
}

pub(super) fn ship(cli: &Cli, args: &ShipArgs) -> anyhow::Result<i32> {
    let config = args.fleet.config()?;
    let store = cli.open_existing_store()?;
    loop {
        let report = match (crate::fleet::ship(&store, &config), args.follow) {
            (Ok(report), _) => report,
            (Err(err), None) => return Err(err.into()),
            // Following: a round that fails (a server down longer than the
            // retries) is said, and the next round resumes.
            (Err(err), Some(_)) => {
                note(format_args!(
                    "error: {} (retrying next round)",
                    escape(&err.to_string())
                ));
                crate::fleet::ShipReport::default()
            }
        };
        if args.fleet.json {
            let mut out = stdout();
            writeln!(out, "{}", serde_json::to_string(&report)?)?;
            out.flush()?;
        } else if report.events > 0 || args.follow.is_none() {
            note(format_args!(
                "shipped {} events of {} rollouts ({} already in the stream); chunks: {} uploaded ({} bytes), {} already there",
                report.events,
                report.rollouts,
                report.duplicates,
                report.chunks_uploaded,
                report.bytes_uploaded,
                report.chunks_present
            ));
        }
        match args.follow {
            Some(seconds) => std::thread::sleep(std::time::Duration::from_secs(seconds.max(1))),
            None => return Ok(EXIT_OK),
        }
    }
}

pub(super) fn collect(cli: &Cli, args: &CollectArgs) -> anyhow::Result<i32> {
    let config = args.fleet.config()?;
    let store = cli.open_store_for_import()?;
    let options = CollectOptions {
        group: args.group.clone(),
        partitions: args.partitions.clone(),
        until_idle: args.until_idle,
        ..CollectOptions::default()
    };
    let report = crate::fleet::collect(&store, &config, &options)?;
    store.flush()?;
    if args.fleet.json {
        let mut out = stdout();
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
        out.flush()?;
    } else {
        note(format_args!(
            "collected {} events into {} rollouts ({} already stored); payloads fetched: {} ({} chunks, {} bytes)",
            report.events_appended,
            report.rollouts.len(),
            report.events_already_stored,
            report.payloads_fetched,
            report.chunks_fetched,
            report.bytes_fetched
        ));
        for id in &report.rollouts {
            note(format_args!("  {}", escape(id)));
        }
    }
    Ok(EXIT_OK)
}
