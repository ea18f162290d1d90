//! [`InferenceRecorder`], one inference call from its request to its single
//! terminal event (completed, failed or cancelled), and
//! [`TurnRecorder::start_inference`], which starts one. A handle dropped
//! without a terminal event records a cancellation, so every started call
//! ends in the log.

use std::sync::atomic::{AtomicBool, Ordering};

use super::TurnRecorder;
use crate::event::EventPayload;
use crate::writer::PayloadBody;

impl TurnRecorder {
    /// Records an inference request (built lazily) and returns the call's
    /// handle. Exactly one terminal event is recorded per call: dropping the
    /// handle without one records a cancellation.
    pub fn start_inference<P: Into<PayloadBody>>(
        &self,
        model: &str,
        provider_name: &str,
        request: impl FnOnce() -> P,
    ) -> InferenceRecorder {
        if !self.is_enabled() {
            return InferenceRecorder::disabled();
        }
        let inference_call_id = uuid::Uuid::new_v4().to_string();
        let thread_id = self.thread_id().to_string();
        let codex_turn_id = self.turn_id().to_string();
        let id = inference_call_id.clone();
        self.emit(|| EventPayload::InferenceStarted {
            inference_call_id: id,
            thread_id,
            codex_turn_id,
            model: model.to_string(),
            provider_name: provider_name.to_string(),
            request_input_mode: None,
            request_payload: request().into(),
        });
        InferenceRecorder {
            turn: self.clone(),
            inference_call_id,
            ended: AtomicBool::new(false),
        }
    }
}

/// One inference call. Consuming methods record its single terminal event.
pub struct InferenceRecorder {
    turn: TurnRecorder,
    inference_call_id: String,
    ended: AtomicBool,
}

impl InferenceRecorder {
    fn disabled() -> InferenceRecorder {
        InferenceRecorder {
            turn: TurnRecorder::disabled(),
            inference_call_id: String::new(),
            ended: AtomicBool::new(true),
        }
    }

    /// The generated inference call id (send it upstream as a correlation
    /// header, as the reference's `x-codex-inference-call-id`).
    pub fn inference_call_id(&self) -> &str {
        &self.inference_call_id
    }

    fn finish(&self, build: impl FnOnce(String) -> EventPayload<PayloadBody>) {
        if !self.ended.swap(true, Ordering::AcqRel) {
            let id = self.inference_call_id.clone();
            self.turn.emit(|| build(id));
        }
    }

    /// Records the response.
    pub fn completed<P: Into<PayloadBody>>(
        self,
        response_id: Option<&str>,
        upstream_request_id: Option<&str>,
        response: impl FnOnce() -> P,
    ) {
        self.finish(|inference_call_id| EventPayload::InferenceCompleted {
            inference_call_id,
            response_id: response_id.map(str::to_string),
            upstream_request_id: upstream_request_id.map(str::to_string),
            response_payload: response().into(),
        });
    }

    /// Records a failure, with any partial response.
    pub fn failed<P: Into<PayloadBody>>(
        self,
        upstream_request_id: Option<&str>,
        error: &str,
        partial: impl FnOnce() -> Option<P>,
    ) {
        self.finish(|inference_call_id| EventPayload::InferenceFailed {
            inference_call_id,
            upstream_request_id: upstream_request_id.map(str::to_string),
            error: error.to_string(),
            partial_response_payload: partial().map(Into::into),
        });
    }

    /// Records a cancellation, with any partial response.
    pub fn cancelled<P: Into<PayloadBody>>(
        self,
        upstream_request_id: Option<&str>,
        reason: &str,
        partial: impl FnOnce() -> Option<P>,
    ) {
        self.finish(|inference_call_id| EventPayload::InferenceCancelled {
            inference_call_id,
            upstream_request_id: upstream_request_id.map(str::to_string),
            reason: reason.to_string(),
            partial_response_payload: partial().map(Into::into),
        });
    }
}

impl Drop for InferenceRecorder {
    fn drop(&mut self) {
        self.finish(|inference_call_id| EventPayload::InferenceCancelled {
            inference_call_id,
            upstream_request_id: None,
            reason: "the host dropped the call without a terminal event".to_string(),
            partial_response_payload: None,
        });
    }
}
