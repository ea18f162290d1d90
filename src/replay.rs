//! A replay source: answers a host's inference requests with the responses
//! recorded in an earlier rollout, so the host can rerun offline.
//!
//! A request is matched by the BLAKE3 of its compact JSON (the same bytes the
//! recorder stores, so the hash equals the recorded request payload's hash),
//! preferring an unused recorded call of the same thread (by agent path);
//! when no recorded request has that hash, the answer falls back to the
//! recorded call at the same position in the thread, and the request is
//! recorded as a [`ReplayMiss`]. Requests with no answer at all are misses
//! too. Together with [`crate::diff`] this is a record/replay test loop.
//!
//! It lives apart from `diff` so that a host (the demo included) can rerun on
//! a recording without depending on the comparison. It reads the store and
//! the reduced state only; it never writes.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::event::PayloadRef;
use crate::export::reduce_stored;
use crate::model::RolloutTrace;
use crate::reducer::PayloadSource;
use crate::store::Store;

/// A request the replay source had no exact answer for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayMiss {
    /// Agent path of the asking thread.
    pub thread_path: String,
    /// 0-based position of the request among the thread's requests.
    pub index: usize,
    /// Why, in words: no recorded calls for the thread, a request hash
    /// matching no recorded request (answered by position, or not at all),
    /// or a recorded call without a response (it failed or was cancelled).
    pub reason: String,
}

/// One recorded inference call.
#[derive(Debug, Clone)]
struct Recorded {
    request_hash: String,
    response: Option<Value>,
    used: bool,
}

/// Recorded responses by thread, matched by request hash then by order.
#[derive(Debug, Default)]
pub struct ReplaySource {
    /// agent path -> recorded calls in seq order.
    threads: IndexMap<String, Vec<Recorded>>,
    /// agent path -> requests asked so far.
    asked: IndexMap<String, usize>,
    misses: Vec<ReplayMiss>,
}

impl ReplaySource {
    /// The recorded calls of stored rollout `rollout_id`.
    pub fn from_stored(store: &Store, rollout_id: &str) -> Result<ReplaySource> {
        let trace = reduce_stored(store, rollout_id)?;
        ReplaySource::from_trace(&trace, store)
    }

    /// The recorded calls of a reduced rollout, reading responses from
    /// `payloads`.
    pub fn from_trace(trace: &RolloutTrace, payloads: &dyn PayloadSource) -> Result<ReplaySource> {
        let mut calls: Vec<_> = trace.inference_calls.values().collect();
        calls.sort_by_key(|call| call.execution.started_seq);
        let mut source = ReplaySource::default();
        for call in calls {
            let path = trace
                .threads
                .get(&call.thread_id)
                .map(|t| t.agent_path.clone())
                .unwrap_or_default();
            let request_hash = trace
                .raw_payloads
                .get(&call.raw_request_payload_id)
                .map(|p| p.blake3.to_string())
                .unwrap_or_default();
            let response = match call
                .raw_response_payload_id
                .as_ref()
                .and_then(|id| trace.raw_payloads.get(id))
            {
                None => None,
                Some(entry) => {
                    let bytes = payloads
                        .read_payload(&PayloadRef {
                            kind: entry.kind.clone(),
                            hash: entry.blake3,
                            size_bytes: entry.size_bytes,
                        })
                        .map_err(|err| {
                            Error::Other(format!(
                                "read response payload {} of inference call {}: {err}",
                                entry.blake3, call.inference_call_id
                            ))
                        })?;
                    Some(serde_json::from_slice(&bytes).map_err(|err| {
                        Error::Other(format!(
                            "response payload {} is not JSON: {err}",
                            entry.blake3
                        ))
                    })?)
                }
            };
            source.threads.entry(path).or_default().push(Recorded {
                request_hash,
                response,
                used: false,
            });
        }
        Ok(source)
    }

    /// The recorded response to `request` from the thread at `thread_path`,
    /// or `None` (a miss) when there is none.
    pub fn answer(&mut self, thread_path: &str, request: &Value) -> Option<Value> {
        let index = {
            let n = self.asked.entry(thread_path.to_string()).or_insert(0);
            *n += 1;
            *n - 1
        };
        let hash = serde_json::to_vec(request)
            .map(|bytes| blake3::hash(&bytes).to_hex().to_string())
            .unwrap_or_default();
        let Some(calls) = self.threads.get_mut(thread_path) else {
            self.misses.push(ReplayMiss {
                thread_path: thread_path.to_string(),
                index,
                reason: "no recorded inference calls for this thread".to_string(),
            });
            return None;
        };
        // Exact content match: the first unused call with this hash, trying
        // the same position first.
        let exact = if calls
            .get(index)
            .is_some_and(|c| !c.used && c.request_hash == hash)
        {
            Some(index)
        } else {
            calls.iter().position(|c| !c.used && c.request_hash == hash)
        };
        let chosen = match exact {
            Some(found) => found,
            None => {
                let fallback = calls.get(index).filter(|c| !c.used).map(|_| index);
                self.misses.push(ReplayMiss {
                    thread_path: thread_path.to_string(),
                    index,
                    reason: match fallback {
                        Some(_) => format!(
                            "request blake3 {} matches no recorded request; answered by order",
                            &hash[..hash.len().min(12)]
                        ),
                        None => format!(
                            "request blake3 {} matches no recorded request and none is left at this position",
                            &hash[..hash.len().min(12)]
                        ),
                    },
                });
                fallback?
            }
        };
        let call = calls.get_mut(chosen)?;
        call.used = true;
        if call.response.is_none() {
            self.misses.push(ReplayMiss {
                thread_path: thread_path.to_string(),
                index,
                reason: "the recorded call has no response (it failed or was cancelled)"
                    .to_string(),
            });
        }
        call.response.clone()
    }

    /// Every request so far that had no exact answer.
    pub fn misses(&self) -> Vec<ReplayMiss> {
        self.misses.clone()
    }

    /// Recorded calls never asked for, per agent path.
    pub fn unused(&self) -> Vec<(String, usize)> {
        self.threads
            .iter()
            .map(|(path, calls)| (path.clone(), calls.iter().filter(|c| !c.used).count()))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::{Value, json};

    use super::{Recorded, ReplaySource};

    fn hash(request: &Value) -> String {
        let bytes = serde_json::to_vec(request).unwrap_or_default();
        blake3::hash(&bytes).to_hex().to_string()
    }

    /// A source whose `/root` thread recorded `requests`, each answered
    /// by `{"answer": i}` (none for the index `unanswered`).
    fn source(requests: &[Value], unanswered: Option<usize>) -> ReplaySource {
        let mut source = ReplaySource::default();
        let calls = requests
            .iter()
            .enumerate()
            .map(|(i, request)| Recorded {
                request_hash: hash(request),
                response: (Some(i) != unanswered).then(|| json!({ "answer": i })),
                used: false,
            })
            .collect();
        source.threads.insert("/root".to_string(), calls);
        source
    }

    #[test]
    fn a_request_is_answered_by_its_recorded_twin_wherever_it_is() {
        let requests = [json!({"input": 1}), json!({"input": 2})];
        let mut replay = source(&requests, None);
        assert_eq!(
            replay.answer("/root", &requests[1]),
            Some(json!({"answer": 1}))
        );
        assert_eq!(
            replay.answer("/root", &requests[0]),
            Some(json!({"answer": 0}))
        );
        assert_eq!(replay.misses(), Vec::new());
        assert_eq!(replay.unused(), Vec::new());
    }

    #[test]
    fn an_unrecorded_request_is_answered_by_position_and_counted_as_a_miss() {
        let requests = [json!({"input": 1}), json!({"input": 2})];
        let mut replay = source(&requests, None);
        let answer = replay.answer("/root", &json!({"input": "new"}));
        assert_eq!(answer, Some(json!({"answer": 0})));
        let misses = replay.misses();
        assert_eq!(misses.len(), 1);
        assert_eq!(
            (misses[0].thread_path.as_str(), misses[0].index),
            ("/root", 0)
        );
        assert!(
            misses[0].reason.ends_with("answered by order"),
            "{misses:?}"
        );
        assert_eq!(replay.unused(), vec![("/root".to_string(), 1)]);
        // The first call is used up: its own request now falls back to the
        // second position, which is still free.
        assert_eq!(
            replay.answer("/root", &requests[0]),
            Some(json!({"answer": 1}))
        );
        assert_eq!(replay.answer("/root", &requests[0]), None);
        assert!(
            replay.misses()[2]
                .reason
                .contains("none is left at this position")
        );
    }

    #[test]
    fn an_unknown_thread_or_a_call_without_response_gets_no_answer() {
        let requests = [json!({"input": 1})];
        let mut replay = source(&requests, Some(0));
        assert_eq!(replay.answer("/root/other", &requests[0]), None);
        assert_eq!(replay.answer("/root", &requests[0]), None);
        let reasons: Vec<String> = replay.misses().into_iter().map(|m| m.reason).collect();
        assert_eq!(
            reasons,
            [
                "no recorded inference calls for this thread",
                "the recorded call has no response (it failed or was cancelled)",
            ]
        );
    }
}
