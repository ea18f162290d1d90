//! Fleet mode: many workers' stores folded into one central store.
//!
//! A worker ships ([`ship`], `tracefold ship`, `tracefold ship --follow`,
//! or while it records: `RecorderConfig::ship`) each
//! rollout's events to NATS JetStream, one subject per rollout, and the
//! payloads they cite to object storage under their BLAKE3 address
//! (`objects.rs`); a collector ([`collect`], `tracefold collect`) reads the
//! stream through a durable consumer and appends every rollout to its own
//! store, fetching the payloads it lacks. Content addresses and message ids
//! make both idempotent: a chunk two workers share is uploaded once, and a
//! replayed event is recognised by its rollout and seq (the stream drops a
//! repeated message id, and the collector's store appends only past a
//! rollout's end).
//!
//! Subjects are `{prefix}.{p}.{id}`: `p` is one hex digit of the rollout
//! id's BLAKE3 (16 partitions, so collectors can split the subjects
//! between them) and `id` the rollout id when it is a NATS-safe token
//! (letters, digits, `-`, `_`), else `=` and its hex.
//!
//! The library's API is synchronous: each call runs the async clients on a
//! private single-threaded tokio runtime.

mod background;
mod collect;
mod objects;
mod ship;
mod state;

use std::time::Duration;

use async_nats::jetstream::{self, stream};

use crate::error::{Error, Result};
use crate::event::Hash;
use crate::store::Store;

pub(crate) use self::background::Background;
pub use self::background::{ShipWhileRecording, ShipperStats};
pub use self::collect::{CollectOptions, CollectReport};
pub use self::objects::ObjectTarget;
pub use self::ship::ShipReport;
pub(crate) use self::state::Shipped;

/// Where a fleet's data goes: the NATS server and stream, and the object
/// store.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// The NATS server (`nats://127.0.0.1:4222`).
    pub nats_url: String,
    /// Where payload bodies go.
    pub objects: ObjectTarget,
    /// The JetStream stream (created when missing): `TRACEFOLD`.
    pub stream: String,
    /// The stream's subjects' prefix: `tracefold.rollout`.
    pub subject_prefix: String,
    /// How many times a failed publish, upload or fetch is tried before
    /// the call fails (with waits doubling from 100 ms to 2 s between
    /// them: 40 attempts ride out a server restart of about a minute).
    pub max_attempts: u32,
}

impl FleetConfig {
    /// A fleet on `nats_url` and `objects`, with the default stream and
    /// subjects.
    pub fn new(nats_url: impl Into<String>, objects: ObjectTarget) -> FleetConfig {
        FleetConfig {
            nats_url: nats_url.into(),
            objects,
            stream: "TRACEFOLD".to_string(),
            subject_prefix: "tracefold.rollout".to_string(),
            max_attempts: 40,
        }
    }
}

/// A payload's recipe in object storage.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Recipe {
    pub(crate) size_bytes: u64,
    pub(crate) chunks: Vec<String>,
}

/// A connected fleet.
pub(crate) struct Fleet {
    nats_url: String,
    jetstream: jetstream::Context,
    stream: stream::Stream,
    subject_prefix: String,
    max_attempts: u32,
    /// The largest message the stream takes (JetStream's default 1 MB,
    /// less room for the headers).
    max_message_bytes: usize,
    objects_target: String,
}

/// The subject of a rollout's events.
pub(crate) fn subject_for(prefix: &str, rollout_id: &str) -> String {
    format!("{prefix}.{:x}.{}", partition(rollout_id), token(rollout_id))
}

/// The rollout's partition, 0 to 15.
pub(crate) fn partition(rollout_id: &str) -> u8 {
    Hash::of(rollout_id.as_bytes()).0[0] >> 4
}

fn token(rollout_id: &str) -> String {
    let safe = !rollout_id.is_empty()
        && rollout_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if safe {
        rollout_id.to_string()
    } else {
        let mut out = String::with_capacity(1 + rollout_id.len() * 2);
        out.push('=');
        for byte in rollout_id.bytes() {
            out.push_str(&format!("{byte:02x}"));
        }
        out
    }
}

impl Fleet {
    async fn connect(config: &FleetConfig) -> Result<Fleet> {
        let nats_url = config.nats_url.clone();
        // The first connection fails fast (a wrong URL is said at once);
        // once connected, the client reconnects by itself after a restart.
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(&nats_url)
            .await
            .map_err(|err| Error::Other(format!("connect to NATS at {nats_url}: {err}")))?;
        let jetstream = jetstream::new(client);
        let stream_config = stream::Config {
            name: config.stream.clone(),
            subjects: vec![format!("{}.>", config.subject_prefix)],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..stream::Config::default()
        };
        let mut attempt = 0;
        let stream = loop {
            match jetstream.get_or_create_stream(stream_config.clone()).await {
                Ok(stream) => break stream,
                Err(err) => {
                    attempt += 1;
                    if attempt >= config.max_attempts {
                        return Err(Error::Other(format!(
                            "JetStream stream {} at {nats_url}: {err} (is nats-server running with -js?)",
                            config.stream
                        )));
                    }
                    backoff_wait(attempt).await;
                }
            }
        };
        Ok(Fleet {
            nats_url,
            jetstream,
            stream,
            subject_prefix: config.subject_prefix.clone(),
            max_attempts: config.max_attempts.max(1),
            max_message_bytes: 1_000_000,
            objects_target: config.objects.describe(),
        })
    }

    fn describe(&self) -> String {
        format!(
            "nats {} stream {} subjects {} objects {}",
            self.nats_url,
            self.stream.cached_info().config.name,
            self.subject_prefix,
            self.objects_target
        )
    }

    /// Where the stream's copy of a rollout ends: its last message on the
    /// rollout's subject (none: nothing shipped).
    async fn last_shipped(&self, rollout_id: &str) -> Result<Shipped> {
        use async_nats::jetstream::stream::LastRawMessageErrorKind;
        let subject = subject_for(&self.subject_prefix, rollout_id);
        let mut attempt = 0;
        loop {
            match self.stream.get_last_raw_message_by_subject(&subject).await {
                Ok(message) => {
                    let seq = message
                        .headers
                        .get("Nats-Msg-Id")
                        .and_then(|id| id.as_str().rsplit(':').next()?.parse().ok())
                        .ok_or_else(|| {
                            Error::Other(format!(
                                "stream message {} on {subject} has no tracefold message id",
                                message.sequence
                            ))
                        })?;
                    return Ok(Shipped {
                        seq,
                        stream_seq: message.sequence,
                    });
                }
                Err(err) if err.kind() == LastRawMessageErrorKind::NoMessageFound => {
                    return Ok(Shipped::default());
                }
                Err(err) => {
                    attempt += 1;
                    if attempt >= self.max_attempts {
                        return Err(Error::Other(format!(
                            "read the last message of {subject} at {}: {err}",
                            self.nats_url
                        )));
                    }
                    self.backoff(attempt).await;
                }
            }
        }
    }

    async fn backoff(&self, attempt: u32) {
        backoff_wait(attempt).await;
    }
}

async fn backoff_wait(attempt: u32) {
    let millis = 100u64.saturating_mul(1 << attempt.min(5)).min(2_000);
    tokio::time::sleep(Duration::from_millis(millis)).await;
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| Error::io("start the fleet's runtime", err))
}

/// Ships every rollout of `store` not yet in the stream: events to
/// JetStream, the payloads they cite to object storage. Resumes where the
/// last call stopped (a record beside the store, checked against the
/// stream), and is idempotent.
pub fn ship(store: &Store, config: &FleetConfig) -> Result<ShipReport> {
    runtime()?.block_on(async {
        let fleet = Fleet::connect(config).await?;
        let objects = objects::Objects::connect(&config.objects).await?;
        ship::Shipper::new(&fleet, &objects, store)?.round().await
    })
}

/// Folds the stream into `store` through a durable consumer, fetching the
/// payloads it lacks; see [`CollectOptions`].
pub fn collect(
    store: &Store,
    config: &FleetConfig,
    options: &CollectOptions,
) -> Result<CollectReport> {
    runtime()?.block_on(async {
        let fleet = Fleet::connect(config).await?;
        let objects = objects::Objects::connect(&config.objects).await?;
        collect::Collector::new(&fleet, &objects, store, options)
            .await?
            .run()
            .await
    })
}
