//! Collecting: a durable JetStream consumer folds every shipped rollout
//! into a central store. Each batch of messages is grouped by rollout; the
//! payloads its events cite that the store lacks are fetched from object
//! storage (chunks checked against their BLAKE3, the payload against its
//! own), then the events are appended through the ordinary JSONL ingest
//! (which checks them as an import does), and only then acknowledged. A
//! message redelivered after a crash is an event the store already holds
//! and is skipped; one that arrives before an earlier seq of its rollout is
//! left unacknowledged, to come again after it.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::{AckKind, Message};
use bytes::Bytes;
use futures_util::StreamExt;

use super::objects::{Objects, chunk_path, recipe_path};
use super::ship::retry;
use super::{Fleet, Recipe};
use crate::error::{Error, Result};
use crate::event::Hash;
use crate::event::wire::{WirePayloadRef, parse_line};
use crate::ingest::{IngestOptions, JsonlSource, ingest_jsonl};
use crate::store::Store;

/// How a collector reads the stream.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    /// The durable consumer's name: collectors started again with the same
    /// name go on where it stopped.
    pub group: String,
    /// The subject partitions (0 to 15) this collector folds; empty: all.
    /// Collectors with their own stores split the work by taking distinct
    /// partitions (each under its own `group`).
    pub partitions: Vec<u8>,
    /// Stop once the consumer has nothing pending (for batch jobs and
    /// tests); otherwise collect until the process is stopped.
    pub until_idle: bool,
    /// Messages fetched per batch.
    pub batch: usize,
}

impl Default for CollectOptions {
    fn default() -> CollectOptions {
        CollectOptions {
            group: "tracefold-collect".to_string(),
            partitions: Vec::new(),
            until_idle: false,
            batch: 1024,
        }
    }
}

/// What a collector did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CollectReport {
    /// Messages read (redeliveries included).
    pub messages: u64,
    /// Events appended to the store.
    pub events_appended: u64,
    /// Events the store already held (redelivered or replayed).
    pub events_already_stored: u64,
    /// Events left for redelivery because an earlier seq had not arrived.
    pub events_deferred: u64,
    /// Payloads fetched from object storage.
    pub payloads_fetched: u64,
    /// Chunks fetched.
    pub chunks_fetched: u64,
    /// Compressed bytes fetched.
    pub bytes_fetched: u64,
    /// Rollouts that gained events.
    pub rollouts: Vec<String>,
}

pub(crate) struct Collector<'a> {
    fleet: &'a Fleet,
    objects: &'a Objects,
    store: &'a Store,
    consumer: pull::Stream,
    consumer_handle: async_nats::jetstream::consumer::Consumer<pull::Config>,
    options: CollectOptions,
    report: CollectReport,
}

/// One message, parsed.
struct Item {
    message: Message,
    seq: u64,
    line: Bytes,
    stored: Vec<(crate::event::PayloadKind, Hash, u64)>,
}

impl<'a> Collector<'a> {
    pub(crate) async fn new(
        fleet: &'a Fleet,
        objects: &'a Objects,
        store: &'a Store,
        options: &CollectOptions,
    ) -> Result<Collector<'a>> {
        let filters: Vec<String> = options
            .partitions
            .iter()
            .map(|p| format!("{}.{:x}.>", fleet.subject_prefix, p))
            .collect();
        let config = pull::Config {
            durable_name: Some(options.group.clone()),
            ack_policy: AckPolicy::Explicit,
            ack_wait: Duration::from_secs(60),
            max_ack_pending: -1,
            filter_subjects: filters,
            ..pull::Config::default()
        };
        let handle = fleet
            .stream
            .get_or_create_consumer(&options.group, config)
            .await
            .map_err(|err| {
                Error::Other(format!(
                    "consumer {} at {}: {err}",
                    options.group, fleet.nats_url
                ))
            })?;
        let consumer = handle
            .stream()
            .max_messages_per_batch(options.batch.max(1))
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(|err| Error::Other(format!("consume {}: {err}", options.group)))?;
        Ok(Collector {
            fleet,
            objects,
            store,
            consumer,
            consumer_handle: handle,
            options: options.clone(),
            report: CollectReport::default(),
        })
    }

    pub(crate) async fn run(mut self) -> Result<CollectReport> {
        loop {
            let batch = self.next_batch().await?;
            if batch.is_empty() {
                if self.options.until_idle && self.idle().await? {
                    return Ok(self.report);
                }
                continue;
            }
            self.fold(batch).await?;
        }
    }

    /// Whether the consumer has nothing left to deliver or to be
    /// acknowledged.
    async fn idle(&mut self) -> Result<bool> {
        let info = self
            .consumer_handle
            .info()
            .await
            .map_err(|err| Error::Other(format!("consumer {}: {err}", self.options.group)))?;
        Ok(info.num_pending == 0 && info.num_ack_pending == 0)
    }

    /// Up to a batch of messages: waits for the first (at most a second),
    /// then takes what is already there.
    async fn next_batch(&mut self) -> Result<Vec<Message>> {
        let mut out = Vec::new();
        let first = tokio::time::timeout(Duration::from_secs(1), self.consumer.next()).await;
        match first {
            Err(_) | Ok(None) => return Ok(out),
            Ok(Some(Ok(message))) => out.push(message),
            // A dropped connection or a missed heartbeat: the stream
            // reconnects; try again.
            Ok(Some(Err(_))) => return Ok(out),
        }
        while out.len() < self.options.batch {
            match tokio::time::timeout(Duration::from_millis(20), self.consumer.next()).await {
                Ok(Some(Ok(message))) => out.push(message),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn fold(&mut self, batch: Vec<Message>) -> Result<()> {
        self.report.messages += batch.len() as u64;
        let mut by_rollout: BTreeMap<String, Vec<Item>> = BTreeMap::new();
        for message in batch {
            let line = message.payload.clone();
            let text = std::str::from_utf8(&line).map_err(|_| {
                Error::input(message.subject.to_string(), "a message that is not UTF-8")
            })?;
            let wire = parse_line(text).map_err(|err| {
                Error::input(
                    format!("{} stream seq {}", message.subject, info_seq(&message)),
                    err.to_string(),
                )
            })?;
            let mut stored = Vec::new();
            wire.payload.for_each_ref(|r| {
                if let WirePayloadRef::Stored {
                    kind,
                    blake3,
                    size_bytes,
                    ..
                } = r
                {
                    stored.push((kind.clone(), *blake3, *size_bytes));
                }
            });
            by_rollout.entry(wire.rollout_id).or_default().push(Item {
                message,
                seq: wire.seq,
                line,
                stored,
            });
        }
        for (rollout_id, mut items) in by_rollout {
            items.sort_by_key(|item| item.seq);
            self.fold_rollout(&rollout_id, items).await?;
        }
        Ok(())
    }

    async fn fold_rollout(&mut self, rollout_id: &str, items: Vec<Item>) -> Result<()> {
        let mut end = match self.store.manifest(rollout_id) {
            Ok(manifest) => manifest.event_count,
            Err(Error::UnknownRollout(_)) => 0,
            Err(err) => return Err(err),
        };
        let mut lines = Vec::new();
        let mut take = Vec::new();
        let mut defer = Vec::new();
        let mut done = Vec::new();
        for item in items {
            if item.seq <= end {
                self.report.events_already_stored += 1;
                done.push(item.message);
            } else if item.seq == end + 1 {
                end += 1;
                take.push(item);
            } else {
                self.report.events_deferred += 1;
                defer.push(item.message);
            }
        }
        for item in &take {
            for (kind, hash, size) in &item.stored {
                self.ensure_payload(kind.clone(), hash, *size).await?;
            }
            lines.extend_from_slice(&item.line);
            lines.push(b'\n');
        }
        if !take.is_empty() {
            let source = JsonlSource {
                name: format!("stream rollout {rollout_id}"),
                base_dir: self.store.path().to_path_buf(),
                reader: Box::new(std::io::Cursor::new(lines)),
            };
            let options = IngestOptions {
                redactor: None, // the worker's recorder redacted them
                max_payload_bytes: self.store.options().max_payload_bytes,
                ..IngestOptions::default()
            };
            let report = ingest_jsonl(self.store, source, &options)?;
            self.report.events_appended += report.events;
            if !self.report.rollouts.iter().any(|id| id == rollout_id) {
                self.report.rollouts.push(rollout_id.to_string());
            }
            done.extend(take.into_iter().map(|item| item.message));
        }
        for message in done {
            self.ack(&message, AckKind::Ack).await;
        }
        for message in defer {
            self.ack(&message, AckKind::Nak(Some(Duration::from_millis(200))))
                .await;
        }
        Ok(())
    }

    async fn ack(&self, message: &Message, kind: AckKind) {
        // A lost acknowledgement only means a redelivery, which is skipped.
        let _ = message.ack_with(kind).await;
    }

    /// Puts the payload into the store unless it is there: its recipe and
    /// chunks from object storage, each checked against its hash.
    async fn ensure_payload(
        &mut self,
        kind: crate::event::PayloadKind,
        hash: &Hash,
        size: u64,
    ) -> Result<()> {
        let mut writes = self.store.writes()?;
        if writes.payload_known(hash)? {
            return Ok(());
        }
        drop(writes);
        let path = recipe_path(hash);
        let recipe = retry(self.fleet, || self.objects.get(&path)).await?;
        let recipe: Recipe = serde_json::from_slice(&recipe)
            .map_err(|err| Error::CorruptData(format!("recipe {path}: {err}")))?;
        if recipe.size_bytes != size {
            return Err(Error::CorruptData(format!(
                "recipe {path} says {} bytes, the event cites {size}",
                recipe.size_bytes
            )));
        }
        let objects = self.objects;
        let fleet = self.fleet;
        let named = &path;
        let fetches = recipe.chunks.iter().map(|hex| async move {
            let chunk: Hash = hex.parse().map_err(|_| {
                Error::CorruptData(format!("recipe {named}: chunk {hex:?} is no hash"))
            })?;
            let object = chunk_path(&chunk);
            let compressed = retry(fleet, || objects.get(&object)).await?;
            let bytes = zstd::bulk::decompress(&compressed, crate::store::payload::CHUNK_MAX_BYTES)
                .map_err(|err| Error::CorruptData(format!("chunk {object}: {err}")))?;
            if Hash::of(&bytes) != chunk {
                return Err(Error::CorruptData(format!(
                    "chunk {object}: its bytes do not hash to its name"
                )));
            }
            Ok((compressed.len() as u64, bytes))
        });
        let mut payload = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        let mut fetched = futures_util::stream::iter(fetches).buffered(16);
        while let Some(chunk) = fetched.next().await {
            let (compressed, bytes) = chunk?;
            self.report.chunks_fetched += 1;
            self.report.bytes_fetched += compressed;
            payload.extend_from_slice(&bytes);
        }
        if Hash::of(&payload) != *hash {
            return Err(Error::CorruptData(format!(
                "payload {hash} rebuilt from {path} does not hash to its name"
            )));
        }
        let mut writes = self.store.writes()?;
        writes.put_payload_bytes(kind, &payload)?;
        writes.commit(true)?;
        self.report.payloads_fetched += 1;
        Ok(())
    }
}

fn info_seq(message: &Message) -> String {
    message
        .info()
        .map(|info| info.stream_sequence.to_string())
        .unwrap_or_else(|_| "?".to_string())
}
