//! The model's side: inference calls (scripted, or answered by a replayed
//! recording), reasoning items, final answers, the call a user interrupts,
//! and the remote compaction that summarises a long conversation.

use serde_json::{Value, json};

use super::Host;
use super::agents::Agent;
use super::script::{SYSTEM_PROMPT, message, tool_definitions};
use crate::event::ExecutionStatus;
use crate::recorder::TurnRecorder;

impl Host<'_> {
    /// One inference call: records the full request and the response, and
    /// appends the output items to the conversation.
    pub(super) fn infer(
        &mut self,
        agent: &mut Agent,
        turn: &TurnRecorder,
        output_items: Vec<Value>,
    ) {
        let request = json!({
            "model": agent.model,
            "instructions": SYSTEM_PROMPT,
            "tools": tool_definitions(),
            "tool_choice": "auto",
            "parallel_tool_calls": false,
            "input": agent.conversation,
        });
        let output_items = match self.replay.as_deref_mut() {
            Some(replay) => replay
                .answer(&agent.path, &request)
                .and_then(|response| {
                    response
                        .get("output_items")
                        .and_then(Value::as_array)
                        .cloned()
                })
                .unwrap_or(output_items),
            None => output_items,
        };
        let call = turn.start_inference(agent.model, "openai", || request);
        let response_id = format!("resp_{}", self.rng.blob(24));
        let input_tokens = agent.conversation_bytes() as u64 / 4;
        let output_tokens: u64 = output_items
            .iter()
            .map(|item| item.to_string().len() as u64 / 4)
            .sum();
        let response = json!({
            "response_id": response_id,
            "upstream_request_id": format!("req_{}", self.rng.blob(16)),
            "token_usage": {"input_tokens": input_tokens, "cached_input_tokens": input_tokens * 3 / 4,
                            "output_tokens": output_tokens, "reasoning_output_tokens": output_tokens / 3},
            "output_items": output_items,
        });
        let upstream = response["upstream_request_id"].as_str().map(str::to_string);
        call.completed(Some(&response_id), upstream.as_deref(), || response);
        self.report.inference_calls += 1;
        agent.conversation.extend(output_items);
    }

    pub(super) fn reasoning(&mut self) -> Value {
        let summary = self.rng.words(18);
        json!({"type": "reasoning", "summary": [{"type": "summary_text", "text": summary}],
               "encrypted_content": format!("gAAAAB{}", self.rng.blob(600))})
    }

    pub(super) fn final_answer(&mut self, agent: &mut Agent, turn: &TurnRecorder) {
        let words = 30 + self.rng.below(60) as usize;
        let text = self.rng.words(words);
        self.infer(agent, turn, vec![message("assistant", &text)]);
    }

    /// The user interrupts while the model is still answering.
    pub(super) fn interrupted(&mut self, agent: &mut Agent, turn: &TurnRecorder) {
        let request = json!({"model": agent.model, "instructions": SYSTEM_PROMPT, "tools": tool_definitions(),
                             "input": agent.conversation});
        // A replayed run asks too, so its calls line up with the recording's
        // (the recorded call has no response: it was cancelled).
        if let Some(replay) = self.replay.as_deref_mut() {
            let _ = replay.answer(&agent.path, &request);
        }
        let call = turn.start_inference(agent.model, "openai", || request);
        self.report.inference_calls += 1;
        call.cancelled(None, "turn interrupted by the user", || None::<Value>);
        turn.end(ExecutionStatus::Cancelled);
        self.report.interrupted_turns += 1;
    }

    /// Remote compaction: the history is summarised upstream and replaced.
    pub(super) fn compact(&mut self, agent: &mut Agent, turn: &TurnRecorder) {
        let compaction_id = format!("compaction_{}", self.rng.blob(12));
        let compaction = turn.compaction(compaction_id.clone());
        let request = json!({"model": agent.model, "input": agent.conversation, "instructions": "Summarise the conversation so far."});
        let summary = json!({"type": "compaction", "encrypted_content": format!("gAAAAC{}", self.rng.blob(900))});
        let attempt =
            compaction.start_request(&format!("{compaction_id}:1"), agent.model, "openai", || {
                request
            });
        let response = json!({"output_items": [summary]});
        attempt.completed(|| response);
        let last_user = agent
            .conversation
            .iter()
            .rev()
            .find(|item| item["role"] == "user")
            .cloned()
            .unwrap_or_else(|| message("user", "continue"));
        let replacement = vec![message("developer", SYSTEM_PROMPT), last_user, summary];
        let checkpoint =
            json!({"input_history": agent.conversation, "replacement_history": replacement});
        compaction.installed(|| checkpoint);
        agent.conversation = replacement;
        self.report.compactions += 1;
    }
}
