//! Shipping a store: every rollout's events to its JetStream subject, in
//! seq order, each message id `{rollout}:{seq}` and each publish conditioned
//! on the subject's last stream sequence, so the server keeps order and
//! drops what it already has; every payload an event cites to object
//! storage first (chunks, then the recipe), only what the bucket lacks.

use std::collections::BTreeMap;

use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishErrorKind;
use bytes::Bytes;
use futures_util::StreamExt;

use super::objects::{Objects, Put, chunk_path, recipe_path};
use super::state::{ShipState, Shipped};
use super::{Fleet, Recipe, subject_for};
use crate::error::{Error, Result};
use crate::event::{Event, Hash, PayloadRef};
use crate::export::{PayloadIds, RefStyle, to_wire};
use crate::store::{RolloutManifest, Store};

/// What one shipping round did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ShipReport {
    /// Rollouts with events shipped in this round.
    pub rollouts: u64,
    /// Events the stream acknowledged.
    pub events: u64,
    /// Of those, events the stream already held (a replay it recognised).
    pub duplicates: u64,
    /// Chunks uploaded (written by this shipper).
    pub chunks_uploaded: u64,
    /// Chunks the bucket already held.
    pub chunks_present: u64,
    /// Compressed bytes of the chunks uploaded.
    pub bytes_uploaded: u64,
    /// Recipes uploaded.
    pub recipes_uploaded: u64,
    /// Bytes of the payloads the shipped events cite (before dedup).
    pub logical_payload_bytes: u64,
}

/// How many events are shipped before the progress record is saved.
const SAVE_EVERY: u64 = 512;

pub(crate) struct Shipper<'a> {
    fleet: &'a Fleet,
    objects: &'a Objects,
    store: &'a Store,
    state: ShipState,
    report: ShipReport,
}

impl<'a> Shipper<'a> {
    pub(crate) fn new(fleet: &'a Fleet, objects: &'a Objects, store: &'a Store) -> Result<Self> {
        let state = ShipState::open(store.path(), &fleet.describe())?;
        Ok(Shipper {
            fleet,
            objects,
            store,
            state,
            report: ShipReport::default(),
        })
    }

    /// Ships every rollout's events not yet in the stream.
    pub(crate) async fn round(mut self) -> Result<ShipReport> {
        let manifests = self.store.rollouts()?;
        for manifest in manifests {
            let result = self.ship_rollout(&manifest).await;
            self.state.save()?;
            result?;
        }
        Ok(self.report)
    }

    async fn ship_rollout(&mut self, manifest: &RolloutManifest) -> Result<()> {
        let rollout_id = &manifest.rollout_id;
        let mut shipped = match self.state.rollouts.get(rollout_id) {
            Some(shipped) => *shipped,
            None => self.fleet.last_shipped(rollout_id).await?,
        };
        if manifest.event_count <= shipped.seq {
            self.state.rollouts.insert(rollout_id.clone(), shipped);
            return Ok(());
        }
        self.report.rollouts += 1;
        let mut ids = PayloadIds::default();
        let mut since_save = 0;
        let mut events = self.store.events_from(manifest, shipped.seq + 1);
        while let Some(event) = events.next() {
            let event = event?;
            self.ship_payloads(&event).await?;
            match self.publish(rollout_id, &event, &mut ids, shipped).await? {
                Some(stream_seq) => {
                    shipped = Shipped {
                        seq: event.seq,
                        stream_seq,
                    };
                }
                None => {
                    // The stream's last message on the subject is not the
                    // one this record expects (the record is stale, or
                    // another process ships this store): re-read where the
                    // stream is, and go on from there.
                    shipped = self.fleet.last_shipped(rollout_id).await?;
                    self.state.rollouts.insert(rollout_id.clone(), shipped);
                    events = self.store.events_from(manifest, shipped.seq + 1);
                    continue;
                }
            }
            self.state.rollouts.insert(rollout_id.clone(), shipped);
            since_save += 1;
            if since_save >= SAVE_EVERY {
                self.state.save()?;
                since_save = 0;
            }
        }
        Ok(())
    }

    /// Publishes one event; its stream sequence, or `None` when the
    /// subject's last sequence was not `shipped.stream_seq`.
    async fn publish(
        &mut self,
        rollout_id: &str,
        event: &Event,
        ids: &mut PayloadIds,
        shipped: Shipped,
    ) -> Result<Option<u64>> {
        let wire = to_wire(self.store, rollout_id, event, ids, RefStyle::Stored)?;
        let body = serde_json::to_vec(&wire).map_err(|err| {
            Error::Other(format!("rollout {rollout_id} seq {}: {err}", event.seq))
        })?;
        if body.len() > self.fleet.max_message_bytes {
            return Err(Error::Event {
                rollout_id: rollout_id.to_string(),
                seq: event.seq,
                message: format!(
                    "the event is {} bytes, over the stream's message limit of {} bytes",
                    body.len(),
                    self.fleet.max_message_bytes
                ),
            });
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            "Nats-Msg-Id",
            format!("{rollout_id}:{}", event.seq).as_str(),
        );
        headers.insert(
            "Nats-Expected-Last-Subject-Sequence",
            shipped.stream_seq.to_string().as_str(),
        );
        let subject = subject_for(&self.fleet.subject_prefix, rollout_id);
        let body = Bytes::from(body);
        let mut attempt = 0u32;
        loop {
            let sent = self
                .fleet
                .jetstream
                .publish_with_headers(subject.clone(), headers.clone(), body.clone())
                .await;
            let acked = match sent {
                Ok(ack) => ack.await,
                Err(err) => Err(err),
            };
            match acked {
                Ok(ack) => {
                    self.report.events += 1;
                    if ack.duplicate {
                        self.report.duplicates += 1;
                    }
                    return Ok(Some(ack.sequence));
                }
                Err(err) if err.kind() == PublishErrorKind::WrongLastSequence => return Ok(None),
                Err(err) => {
                    attempt += 1;
                    if attempt >= self.fleet.max_attempts {
                        return Err(Error::Other(format!(
                            "publish rollout {rollout_id} seq {} to {}: {err} (tried {attempt} times)",
                            event.seq, self.fleet.nats_url
                        )));
                    }
                    self.fleet.backoff(attempt).await;
                }
            }
        }
    }

    /// Uploads the payloads `event` cites that the bucket lacks.
    async fn ship_payloads(&mut self, event: &Event) -> Result<()> {
        let mut refs: Vec<PayloadRef> = Vec::new();
        event.payload.for_each_ref(|r| refs.push(r.clone()));
        for r in refs {
            self.report.logical_payload_bytes += r.size_bytes;
            if self.state.has_recipe(&r.hash) {
                continue;
            }
            let path = recipe_path(&r.hash);
            if retry(self.fleet, || self.objects.exists(&path)).await? {
                self.state.add_recipe(r.hash)?;
                continue;
            }
            let bytes = self.store.read_payload(&r.hash)?;
            let mut recipe = Recipe {
                size_bytes: bytes.len() as u64,
                chunks: Vec::new(),
            };
            let mut pending = BTreeMap::new();
            for range in crate::store::payload::chunk_boundaries(&bytes) {
                let chunk = &bytes[range];
                let hash = Hash::of(chunk);
                recipe.chunks.push(hash.to_hex());
                if !self.state.has_chunk(&hash) {
                    pending.insert(hash, chunk);
                }
            }
            self.upload_chunks(pending).await?;
            let text = serde_json::to_vec(&recipe)
                .map_err(|err| Error::Other(format!("recipe of payload {}: {err}", r.hash)))?;
            let text = Bytes::from(text);
            let put = retry(self.fleet, || self.objects.put_new(&path, text.clone())).await?;
            if put == Put::Uploaded {
                self.report.recipes_uploaded += 1;
            }
            self.state.add_recipe(r.hash)?;
        }
        Ok(())
    }

    /// Uploads chunks (HEAD first: a chunk another worker uploaded is not
    /// sent again), several at once.
    async fn upload_chunks(&mut self, chunks: BTreeMap<Hash, &[u8]>) -> Result<()> {
        let objects = self.objects;
        let fleet = self.fleet;
        let jobs = chunks.into_iter().map(|(hash, chunk)| async move {
            let path = chunk_path(&hash);
            let exists = retry(fleet, || objects.exists(&path)).await?;
            if exists {
                return Ok::<_, Error>((hash, Put::Existed, 0u64));
            }
            let compressed = zstd::bulk::compress(chunk, 3)
                .map_err(|err| Error::Other(format!("compress chunk {hash}: {err}")))?;
            let size = compressed.len() as u64;
            let body = Bytes::from(compressed);
            let put = retry(fleet, || objects.put_new(&path, body.clone())).await?;
            Ok((hash, put, size))
        });
        let mut running = futures_util::stream::iter(jobs).buffer_unordered(16);
        while let Some(done) = running.next().await {
            let (hash, put, size) = done?;
            match put {
                Put::Uploaded => {
                    self.report.chunks_uploaded += 1;
                    self.report.bytes_uploaded += size;
                }
                Put::Existed => self.report.chunks_present += 1,
            }
            self.state.add_chunk(hash)?;
        }
        Ok(())
    }
}

/// Runs `op` until it succeeds or the fleet's attempts are spent (an
/// object store that restarts answers again within them).
pub(crate) async fn retry<T, F, Fut>(fleet: &Fleet, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Ok(value) => return Ok(value),
            Err(err) => {
                attempt += 1;
                if attempt >= fleet.max_attempts {
                    return Err(err);
                }
                fleet.backoff(attempt).await;
            }
        }
    }
}
