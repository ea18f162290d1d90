//! [`CompactionRecorder`], one compaction of a thread's history (remote or
//! local) up to its installed checkpoint, [`CompactionRequestRecorder`], one
//! upstream request of a remote compaction, and [`TurnRecorder::compaction`],
//! which starts one.

use super::TurnRecorder;
use crate::event::EventPayload;
use crate::writer::PayloadBody;

impl TurnRecorder {
    /// Starts a remote or local compaction of this thread's history.
    pub fn compaction(&self, compaction_id: impl Into<String>) -> CompactionRecorder {
        CompactionRecorder {
            turn: self.clone(),
            compaction_id: compaction_id.into(),
        }
    }
}

/// One compaction of a thread's history.
pub struct CompactionRecorder {
    turn: TurnRecorder,
    compaction_id: String,
}

impl CompactionRecorder {
    /// Records one upstream (remote) compaction request.
    pub fn start_request<P: Into<PayloadBody>>(
        &self,
        compaction_request_id: &str,
        model: &str,
        provider_name: &str,
        request: impl FnOnce() -> P,
    ) -> CompactionRequestRecorder {
        let compaction_id = self.compaction_id.clone();
        let thread_id = self.turn.thread_id().to_string();
        let codex_turn_id = self.turn.turn_id().to_string();
        self.turn.emit(|| EventPayload::CompactionRequestStarted {
            compaction_id,
            compaction_request_id: compaction_request_id.to_string(),
            thread_id,
            codex_turn_id,
            model: model.to_string(),
            provider_name: provider_name.to_string(),
            request_payload: request().into(),
        });
        CompactionRequestRecorder {
            turn: self.turn.clone(),
            compaction_id: self.compaction_id.clone(),
            compaction_request_id: compaction_request_id.to_string(),
        }
    }

    /// Records the installed checkpoint of a remote compaction
    /// (`{input_history, replacement_history}`).
    pub fn installed<P: Into<PayloadBody>>(self, checkpoint: impl FnOnce() -> P) {
        let compaction_id = self.compaction_id;
        self.turn.emit(|| EventPayload::CompactionInstalled {
            compaction_id,
            checkpoint_payload: checkpoint().into(),
        });
    }

    /// Records the installed checkpoint of a local compaction, with the
    /// summarising inference call when there was one.
    pub fn installed_local<P: Into<PayloadBody>>(
        self,
        inference_call_id: Option<&str>,
        checkpoint: impl FnOnce() -> P,
    ) {
        let compaction_id = self.compaction_id;
        self.turn.emit(|| EventPayload::LocalCompactionInstalled {
            compaction_id,
            inference_call_id: inference_call_id.map(str::to_string),
            checkpoint_payload: checkpoint().into(),
        });
    }
}

/// One upstream compaction request.
pub struct CompactionRequestRecorder {
    turn: TurnRecorder,
    compaction_id: String,
    compaction_request_id: String,
}

impl CompactionRequestRecorder {
    /// Records the response (`{output_items}`).
    pub fn completed<P: Into<PayloadBody>>(self, response: impl FnOnce() -> P) {
        self.turn.emit(|| EventPayload::CompactionRequestCompleted {
            compaction_id: self.compaction_id,
            compaction_request_id: self.compaction_request_id,
            response_payload: response().into(),
        });
    }

    /// Records a failure.
    pub fn failed(self, error: &str) {
        self.turn.emit(|| EventPayload::CompactionRequestFailed {
            compaction_id: self.compaction_id,
            compaction_request_id: self.compaction_request_id,
            error: error.to_string(),
        });
    }
}
