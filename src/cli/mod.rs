//! The command-line interface: argument types, one function per command, and
//! all printing. The library below never prints and never exits.
//!
//! Everything printed for a person (ids, paths, findings, errors) goes
//! through `terminal::escape`; a panic anywhere becomes one `error:` line and
//! exit code 2, never a raw panic message; a closed standard output (`| head`)
//! ends the command quietly.

mod debug_cmds;
mod demo_cmd;
mod diff_cmd;
mod fleet_cmd;
mod maintenance_cmds;
mod output;
mod parquet_cmd;
mod push_cmd;
mod reduce_cmds;
mod show_call;
mod show_cmd;
mod store_cmds;
mod terminal;
mod view_cmd;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::store::{Store, StoreOptions};

/// Exit code of a successful command.
pub const EXIT_OK: i32 = 0;
/// Exit code of a negative answer (verify findings, divergent diff).
pub const EXIT_NEGATIVE: i32 = 1;
/// Exit code of an error.
pub const EXIT_ERROR: i32 = 2;

/// The reduce commands' `--help` epilogue: what `--keep-going` does and
/// their exit codes.
const KEEP_GOING_HELP: &str = "\
Without --keep-going the first event the reducer cannot take (an unknown turn, \
a reused call id, a request without input, ...) is an error naming its seq and ids, \
and nothing is written.

With --keep-going such an event is skipped: the state stays as it was before it, \
the fold goes on with the next event, and the state is written with a \
reduce_error diagnostic (seq, event_type, ids, message) for each skipped event. \
Each is also printed on stderr as `skipped seq N TYPE (IDS): MESSAGE`. reduce-bundle --keep-going also leaves out each line a strict read refuses (malformed, \
an unknown schema_version, another rollout's, a seq that does not increase, a payload \
file missing or outside the bundle), with a line_skipped diagnostic naming its file and \
line, printed as `left out FILE:LINE: MESSAGE`.

Exit codes: 0 the whole log was reduced; 1 the state was written but events \
were skipped or lines left out (--keep-going); 2 an error, nothing written.";

#[derive(Parser, Debug)]
#[command(
    name = "tracefold",
    version,
    about = "Record what an AI agent does into an embedded event log and reduce it to an explainable rollout graph"
)]
struct Cli {
    /// Store directory [default: $TRACEFOLD_STORE, else ./tracefold-store]
    #[arg(long, global = true, env = "TRACEFOLD_STORE", value_name = "DIR")]
    store: Option<PathBuf>,
    /// Largest payload accepted, in bytes
    #[arg(long, global = true, value_name = "BYTES", default_value_t = StoreOptions::default().max_payload_bytes)]
    max_payload_bytes: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Append the raw events of a wire-format JSONL file (`-` for stdin), all or nothing
    Ingest {
        file: PathBuf,
        /// Keep every complete line when the last line is torn
        #[arg(long)]
        allow_torn_tail: bool,
        /// Store payloads byte-exact, without redacting secrets
        #[arg(long)]
        no_redact: bool,
        /// Do not pack the store afterwards (by default it is packed when
        /// worth it: see `compact`)
        #[arg(long)]
        no_compact: bool,
    },
    /// Import files and directories (recursively), each in the format
    /// its first lines show: Codex session rollouts (.jsonl, .jsonl.zst),
    /// Claude Code transcripts, ATIF trajectories (.json, and directories
    /// of them), wire JSONL, reference trace bundles. A
    /// session tree (sub-agents, forks) is one rollout. Each file all or
    /// nothing; a file imported before stores only what it gained since
    Import {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Keep importing what the files gain, every SECONDS (default 2),
        /// until interrupted; the store is free between rounds
        #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "2")]
        follow: Option<u64>,
        /// Store payloads byte-exact, without redacting secrets
        #[arg(long)]
        no_redact: bool,
        /// Do not pack the store afterwards (by default it is packed when
        /// worth it: see `compact`)
        #[arg(long)]
        no_compact: bool,
        /// ATIF: import a trajectory whose sub-agent references name
        /// trajectories that are not there, keeping each such reference
        /// in its step's observation only
        #[arg(long)]
        allow_missing_subagents: bool,
    },
    /// Import a reference trace bundle (manifest.json, trace.jsonl, payloads/)
    ImportCodex {
        bundle_dir: PathBuf,
        /// Store the bundle under this rollout id instead of its own
        #[arg(long)]
        rollout_id: Option<String>,
        /// Keep every complete line when the last line is torn
        #[arg(long)]
        allow_torn_tail: bool,
        /// Store payloads byte-exact, without redacting secrets
        #[arg(long)]
        no_redact: bool,
        /// Do not pack the store afterwards (by default it is packed when
        /// worth it: see `compact`)
        #[arg(long)]
        no_compact: bool,
    },
    /// List the rollouts
    Rollouts {
        #[arg(long)]
        json: bool,
    },
    /// Print a rollout's raw events as wire-format JSONL
    Events {
        rollout: String,
        /// Put payloads inline, so the output ingests into another store
        #[arg(long)]
        inline_payloads: bool,
    },
    /// Write the exact bytes of one payload (BLAKE3 hex) to stdout
    Payload { hash: String },
    /// Counts and sizes of the store
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// Check every chunk, payload and log; exit 1 with one line per finding
    Verify,
    /// Reduce a stored rollout to its state JSON
    #[command(after_help = KEEP_GOING_HELP)]
    Reduce {
        rollout: String,
        /// Output file, `-` for stdout [default: stdout]
        #[arg(short = 'o', long = "out")]
        out: Option<PathBuf>,
        /// Skip events the reducer cannot take and write the partial state (exit 1 if any was skipped)
        #[arg(long)]
        keep_going: bool,
    },
    /// Reduce a reference bundle directly, without a store
    #[command(after_help = KEEP_GOING_HELP)]
    ReduceBundle {
        bundle_dir: PathBuf,
        /// Output file, `-` for stdout [default: BUNDLE_DIR/state.json]
        #[arg(short = 'o', long = "out")]
        out: Option<PathBuf>,
        /// Keep every complete line when the last line is torn
        #[arg(long)]
        allow_torn_tail: bool,
        /// Leave out lines a strict read refuses, skip events the reducer cannot take, and write the partial state (exit 1 if any)
        #[arg(long)]
        keep_going: bool,
    },
    /// Run the built-in simulated agent host into the store, reduce it and print a summary
    Demo {
        /// Turns of the root agent
        #[arg(long, default_value_t = 12)]
        turns: u32,
        /// Child agents the root spawns
        #[arg(long, default_value_t = 2)]
        agents: u32,
        /// Seed of the scripted host
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Where to write the state JSON (`-`: stdout, and the summary goes to stderr)
        #[arg(long, default_value = "demo-state.json")]
        out: PathBuf,
        /// Conversation size (bytes of JSON) past which the root compacts
        #[arg(long, default_value_t = crate::demo::DemoConfig::default().compaction_threshold_bytes)]
        compact_at: usize,
        /// Do not pack the store afterwards (by default it is packed when
        /// worth it: see `compact`)
        #[arg(long)]
        no_compact: bool,
    },
    /// Write a rollout as a reference bundle, wire-format JSONL (payloads inline), state JSON,
    /// OpenTelemetry spans or ATIF trajectories
    Export(reduce_cmds::ExportArgs),
    /// Send a rollout's spans (those of `export --format otlp-json`) to an
    /// OpenTelemetry backend over OTLP/HTTP: protobuf, gzip, POST to
    /// URL/v1/traces in batches; the same rollout always sends the same ids
    Push(push_cmd::PushArgs),
    /// Ship the store's rollouts to a fleet: events to NATS JetStream (a
    /// subject per rollout, exactly once, in order), payload chunks to S3 or
    /// a directory (each once); resumes where it stopped
    Ship(fleet_cmd::ShipArgs),
    /// Fold a fleet's shipped rollouts into this store through a durable
    /// JetStream consumer, fetching the payloads it lacks
    Collect(fleet_cmd::CollectArgs),
    /// Delete a rollout (manifest, then events), then collect its garbage
    Delete {
        rollout: String,
        /// Only delete the rollout; leave payloads for a later `gc`
        #[arg(long)]
        no_gc: bool,
        /// Collect garbage but do not rewrite the database to give space back
        #[arg(long)]
        no_compact: bool,
    },
    /// Remove chunks, payloads and events no remaining rollout references,
    /// then give the disk space back (compaction) when it is worth it
    Gc {
        #[arg(long)]
        json: bool,
        /// Collect garbage but do not rewrite the database to give space back
        #[arg(long)]
        no_compact: bool,
    },
    /// Move the stored records into a new pack file: payloads compressed
    /// together as one stream, events in compressed blocks (also run by
    /// `gc` and after `ingest`, `import-codex` and `demo` when worth it)
    Compact {
        #[arg(long)]
        json: bool,
    },
    /// Test helper: record with many threads until killed, printing an
    /// acknowledgement line after each successful flush
    #[command(name = "__crash-writer", hide = true)]
    CrashWriter(debug_cmds::CrashWriterShape),
    /// Test helper: collect garbage and compact in a loop until killed,
    /// printing a line as each step starts and ends
    #[command(name = "__crash-compactor", hide = true)]
    CrashCompactor {
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Show a rollout (id, bundle directory or state JSON file) in the terminal: its agent tree, the edges between agents, a timeline per thread and its diagnostics
    Show {
        source: String,
        /// Only this thread (agent path, thread id or nickname)
        #[arg(long)]
        thread: Option<String>,
        /// One turn: a turn id, or a number (from 1) within --thread (the
        /// root by default): its work, and each call's new items and answer
        #[arg(long, conflicts_with = "call")]
        turn: Option<String>,
        /// One call (inference, tool, code cell, terminal operation or
        /// compaction id): an inference call's conversation as the model
        /// saw it, new items marked +, and its answer; a tool call's input
        /// and output
        #[arg(long)]
        call: Option<String>,
        /// Bodies in full (by default cut at 2,000 characters)
        #[arg(long)]
        full: bool,
        /// Print the view as JSON
        #[arg(long)]
        json: bool,
    },
    /// Write a rollout (id, bundle directory or state JSON file) as one self-contained HTML page: agent tree, a swimlane per thread, each call's conversation as the model saw it, tool calls, code cells, terminals, compactions, diagnostics; --diff A B compares two side by side
    View {
        /// The rollout to view
        #[arg(required_unless_present = "diff", conflicts_with = "diff")]
        source: Option<String>,
        /// Compare two rollouts instead, aligned by replay-equivalence
        #[arg(long, num_args = 2, value_names = ["A", "B"])]
        diff: Option<Vec<String>>,
        /// The page to write (`-` for stdout)
        #[arg(short, long)]
        out: PathBuf,
        /// Cut each payload body in the page to this many bytes
        #[arg(long, default_value_t = 64 * 1024)]
        max_body_bytes: usize,
    },
    /// Replay-equivalence of two rollouts (ids, bundle directories or state JSON files): exit 0 equivalent, 1 divergent
    Diff {
        a: String,
        b: String,
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
    },
}

impl Cli {
    fn store_path(&self) -> PathBuf {
        self.store
            .clone()
            .unwrap_or_else(|| PathBuf::from("tracefold-store"))
    }

    fn store_options(&self) -> StoreOptions {
        StoreOptions {
            max_payload_bytes: self.max_payload_bytes,
            ..StoreOptions::default()
        }
    }

    /// Opens the store, creating it if needed: for the commands that write
    /// new rollouts (`ingest`, `import-codex`, `demo`).
    fn open_or_create_store(&self) -> anyhow::Result<Store> {
        Ok(Store::open(self.store_path(), self.store_options())?)
    }

    /// Opens the store for an import, creating it if needed, with a smaller
    /// sled cache: an import reads little back (dedup lookups), and sled's
    /// memory runs to several times its cache. A 1M-event file peaked at
    /// 468 MB with the default 128 MiB cache and 358 MB with 64 MiB, 8%
    /// slower (BENCHMARKS.md, "Ingest scaling").
    fn open_store_for_import(&self) -> anyhow::Result<Store> {
        let options = StoreOptions {
            cache_capacity_bytes: crate::ingest::IMPORT_CACHE_CAPACITY_BYTES,
            ..self.store_options()
        };
        Ok(Store::open(self.store_path(), options)?)
    }

    /// Opens the store only if one exists ("no store at DIR" otherwise, and
    /// nothing created): for every command that reads, or changes only what
    /// is there.
    fn open_existing_store(&self) -> anyhow::Result<Store> {
        Ok(Store::open_existing(
            self.store_path(),
            self.store_options(),
        )?)
    }
}

thread_local! {
    /// The message of a panic on the thread running the command, captured
    /// by the hook for `main` to print as one `error:` line.
    static COMMAND_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Replaces the default panic hook, which prints "thread 'main' panicked
/// at ..." and a backtrace hint: a panic on the command's thread is kept for
/// `main` to report, and one on any other thread is printed as a single
/// escaped `error:` line. `RUST_BACKTRACE` set keeps the default report too,
/// for debugging.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    let command_thread = std::thread::current().id();
    std::panic::set_hook(Box::new(move |info| {
        let message = match info.payload().downcast_ref::<&str>() {
            Some(text) => (*text).to_string(),
            None => info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "a panic without a message".to_string()),
        };
        let message = match info.location() {
            Some(at) => format!("{message} (at {}:{})", at.file(), at.line()),
            None => message,
        };
        if std::env::var_os("RUST_BACKTRACE").is_some() {
            previous(info);
        }
        if std::thread::current().id() == command_thread {
            COMMAND_PANIC.with(|slot| *slot.borrow_mut() = Some(message));
        } else {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("unnamed");
            output::note(format_args!(
                "error: internal error in thread {}: {}",
                terminal::escape(name),
                terminal::escape(&message)
            ));
        }
    }));
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() {
                EXIT_ERROR
            } else {
                EXIT_OK
            };
            let _ = err.print();
            return code;
        }
    };
    install_panic_hook();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&cli)));
    match outcome {
        Ok(Ok(code)) => code,
        Ok(Err(err)) if output::is_stdout_closed(&err) => EXIT_OK,
        Ok(Err(err)) => {
            output::note(format_args!(
                "error: {}",
                terminal::escape(&error_line(&err))
            ));
            EXIT_ERROR
        }
        Err(_) => {
            let message = COMMAND_PANIC
                .with(|slot| slot.borrow_mut().take())
                .unwrap_or_else(|| "a panic without a message".to_string());
            output::note(format_args!(
                "error: internal error: {}; this is a bug in tracefold, please report it",
                terminal::escape(&message)
            ));
            EXIT_ERROR
        }
    }
}

/// `err` and its causes on one line, joined with `: ` (as anyhow's `{:#}`),
/// except that a cause the line already ends with is not repeated: a
/// library error's message ends with its source's (see [`crate::error`]).
fn error_line(err: &anyhow::Error) -> String {
    let mut chain = err.chain();
    let mut line = chain.next().map(ToString::to_string).unwrap_or_default();
    for cause in chain {
        let text = format!(": {cause}");
        if !line.ends_with(&text) {
            line.push_str(&text);
        }
    }
    line
}

fn run(cli: &Cli) -> anyhow::Result<i32> {
    match &cli.command {
        Command::Ingest {
            file,
            allow_torn_tail,
            no_redact,
            no_compact,
        } => store_cmds::ingest(cli, file, *allow_torn_tail, *no_redact, *no_compact),
        Command::Import {
            paths,
            follow,
            no_redact,
            no_compact,
            allow_missing_subagents,
        } => store_cmds::import(
            cli,
            paths,
            *no_redact,
            *no_compact,
            *follow,
            *allow_missing_subagents,
        ),
        Command::ImportCodex {
            bundle_dir,
            rollout_id,
            allow_torn_tail,
            no_redact,
            no_compact,
        } => store_cmds::import_codex(
            cli,
            bundle_dir,
            rollout_id.as_deref(),
            *allow_torn_tail,
            *no_redact,
            *no_compact,
        ),
        Command::Rollouts { json } => store_cmds::rollouts(cli, *json),
        Command::Events {
            rollout,
            inline_payloads,
        } => store_cmds::events(cli, rollout, *inline_payloads),
        Command::Payload { hash } => store_cmds::payload(cli, hash),
        Command::Stats { json } => store_cmds::stats(cli, *json),
        Command::Verify => store_cmds::verify(cli),
        Command::Reduce {
            rollout,
            out,
            keep_going,
        } => reduce_cmds::reduce(cli, rollout, out.as_deref(), *keep_going),
        Command::ReduceBundle {
            bundle_dir,
            out,
            allow_torn_tail,
            keep_going,
        } => reduce_cmds::reduce_bundle(
            cli,
            bundle_dir,
            out.as_deref(),
            *allow_torn_tail,
            *keep_going,
        ),
        Command::Export(args) => reduce_cmds::export(cli, args),
        Command::Push(args) => push_cmd::push(cli, args),
        Command::Ship(args) => fleet_cmd::ship(cli, args),
        Command::Collect(args) => fleet_cmd::collect(cli, args),
        Command::Delete {
            rollout,
            no_gc,
            no_compact,
        } => maintenance_cmds::delete(cli, rollout, *no_gc, *no_compact),
        Command::Gc { json, no_compact } => maintenance_cmds::gc(cli, *json, *no_compact),
        Command::Compact { json } => maintenance_cmds::compact(cli, *json),
        Command::CrashWriter(shape) => debug_cmds::crash_writer(cli, *shape),
        Command::CrashCompactor { seed } => debug_cmds::crash_compactor(cli, *seed),
        Command::Demo {
            turns,
            agents,
            seed,
            out,
            compact_at,
            no_compact,
        } => demo_cmd::demo(cli, *turns, *agents, *seed, *compact_at, *no_compact, out),
        Command::Diff { a, b, json } => diff_cmd::diff(cli, a, b, *json),
        Command::Show {
            source,
            thread,
            turn,
            call,
            full,
            json,
        } => show_cmd::show(
            cli,
            source,
            &show_cmd::ShowArgs {
                thread: thread.as_deref(),
                turn: turn.as_deref(),
                call: call.as_deref(),
                full: *full,
                json: *json,
            },
        ),
        Command::View {
            source,
            diff,
            out,
            max_body_bytes,
        } => view_cmd::view(
            cli,
            source.as_deref(),
            diff.as_deref(),
            out,
            *max_body_bytes,
        ),
    }
}

/// `unix ms` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
pub(crate) fn format_unix_ms(unix_ms: i64) -> String {
    let days = unix_ms.div_euclid(86_400_000);
    let ms_of_day = unix_ms.rem_euclid(86_400_000);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::format_unix_ms;

    #[test]
    fn unix_ms_formats_as_utc() {
        assert_eq!(format_unix_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_unix_ms(1_767_225_600_123),
            "2026-01-01T00:00:00.123Z"
        );
        assert_eq!(format_unix_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
