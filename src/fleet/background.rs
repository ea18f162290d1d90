//! Shipping while recording: a `tracefold-shipper` thread beside the
//! recorder's writer runs a shipping round every `every`, and a last one
//! when the recorder shuts down (after the writer has flushed), so a host
//! that records with [`ShipWhileRecording`] set ships everything it
//! recorded without a separate process. The thread reads the store behind
//! the writer and never holds it up: a round that fails (a server down
//! longer than the retries) is kept as the last error, and the next round
//! resumes.

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Sender, bounded};

use super::{FleetConfig, ShipReport};
use crate::error::{Error, Result};
use crate::store::Store;

/// Ship while recording (`RecorderConfig::ship`).
#[derive(Debug, Clone)]
pub struct ShipWhileRecording {
    /// Where to ship.
    pub fleet: FleetConfig,
    /// How long between rounds (a round ships everything new).
    pub every: Duration,
}

/// What the shipper thread has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ShipperStats {
    /// Rounds that completed.
    pub rounds: u64,
    /// Rounds that failed (the next one resumes).
    pub failed_rounds: u64,
    /// The sum of the completed rounds' reports.
    pub shipped: ShipReport,
    /// The last failure, if the last round failed.
    pub last_error: Option<String>,
}

/// The running shipper thread.
pub(crate) struct Background {
    stop: Mutex<Option<Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<Mutex<ShipperStats>>,
}

impl Background {
    pub(crate) fn spawn(store: Store, ship: ShipWhileRecording) -> Result<Background> {
        let (stop_tx, stop_rx) = bounded::<()>(1);
        let stats = Arc::new(Mutex::new(ShipperStats::default()));
        let shared = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name("tracefold-shipper".to_string())
            .spawn(move || {
                loop {
                    let stopping = !matches!(
                        stop_rx.recv_timeout(ship.every),
                        Err(crossbeam_channel::RecvTimeoutError::Timeout)
                    );
                    let result = super::ship(&store, &ship.fleet);
                    let mut stats = shared.lock().unwrap_or_else(PoisonError::into_inner);
                    match result {
                        Ok(report) => {
                            stats.rounds += 1;
                            stats.last_error = None;
                            add(&mut stats.shipped, &report);
                        }
                        Err(err) => {
                            stats.failed_rounds += 1;
                            stats.last_error = Some(err.to_string());
                        }
                    }
                    if stopping {
                        return;
                    }
                }
            })
            .map_err(|err| Error::io("spawn the shipper thread", err))?;
        Ok(Background {
            stop: Mutex::new(Some(stop_tx)),
            thread: Mutex::new(Some(thread)),
            stats,
        })
    }

    /// Runs a last round and stops the thread; an error if that round
    /// failed. Later calls do nothing.
    pub(crate) fn finish(&self) -> Result<()> {
        let stop = self
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(thread) = thread else {
            return Ok(());
        };
        if thread.join().is_err() {
            return Err(Error::Other("the shipper thread panicked".to_string()));
        }
        match &self.stats().last_error {
            Some(err) => Err(Error::Other(format!(
                "the last shipping round failed: {err}"
            ))),
            None => Ok(()),
        }
    }

    pub(crate) fn stats(&self) -> ShipperStats {
        self.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn add(total: &mut ShipReport, round: &ShipReport) {
    total.rollouts += round.rollouts;
    total.events += round.events;
    total.duplicates += round.duplicates;
    total.chunks_uploaded += round.chunks_uploaded;
    total.chunks_present += round.chunks_present;
    total.bytes_uploaded += round.bytes_uploaded;
    total.recipes_uploaded += round.recipes_uploaded;
    total.logical_payload_bytes += round.logical_payload_bytes;
}
