//! How model fields become compared text: statuses, tool kinds,
//! conversation bodies, call arguments and producers, with every id inside
//! them normalised to its aligned name.

use super::align::Side;
use crate::model::{ConversationItem, ConversationPart, ExecutionWindow, ItemId, ProducerRef};

/// The compared part of an execution window: its status (times are
/// ignored).
pub(super) fn window(w: &ExecutionWindow) -> String {
    w.status.as_str().to_string()
}

impl Side<'_> {
    /// One conversation part as compared text.
    fn part_text(&self, part: &ConversationPart) -> String {
        match part {
            ConversationPart::Text { text } => self.normalize_text(text),
            ConversationPart::Summary { text } => format!("summary: {}", self.normalize_text(text)),
            ConversationPart::Encoded { label, value } => {
                format!(
                    "{label}: blake3 {}",
                    blake3::hash(value.as_bytes()).to_hex()
                )
            }
            ConversationPart::Json {
                summary, blake3, ..
            } => {
                let normalized = self.normalize_text(summary);
                if normalized == *summary {
                    format!("{summary} #{}", &blake3[..blake3.len().min(16)])
                } else {
                    normalized
                }
            }
            ConversationPart::Code { language, source } => format!("{language}: {source}"),
            ConversationPart::PayloadRef { label, .. } => format!("payload {label}"),
        }
    }

    /// A conversation item's body: its parts, ` | `-separated.
    pub fn body(&self, item: &ConversationItem) -> String {
        item.body
            .parts
            .iter()
            .map(|p| self.part_text(p))
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// The model-visible arguments of a call (its function_call item body).
    pub fn arguments(&self, item_ids: &[ItemId]) -> String {
        item_ids
            .iter()
            .filter_map(|id| self.trace.conversation_items.get(id))
            .map(|item| {
                item.body
                    .parts
                    .iter()
                    .map(|part| match part {
                        ConversationPart::Json { summary, .. } => self.normalize_text(summary),
                        other => self.part_text(other),
                    })
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .collect::<Vec<_>>()
            .join(" ; ")
    }

    /// What produced a conversation item, by aligned name.
    pub fn producer(&self, producer: &ProducerRef) -> String {
        match producer {
            ProducerRef::UserInput => "user input".to_string(),
            ProducerRef::Harness => "harness".to_string(),
            ProducerRef::Inference { inference_call_id } => self.name(inference_call_id),
            ProducerRef::Tool { tool_call_id } => self.name(tool_call_id),
            ProducerRef::CodeCell { code_cell_id } => self.name(code_cell_id),
            ProducerRef::InteractionEdge { edge_id } => self.name(edge_id),
            ProducerRef::Compaction { compaction_id } => self.name(compaction_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::{Side, window};
    use crate::diff::DiffPolicy;
    use crate::event::{ExecutionStatus, ToolCallKind};
    use crate::model::{ConversationPart, ExecutionWindow, ProducerRef, RolloutTrace};

    #[test]
    fn statuses_and_tool_kinds_print_as_their_json_names() {
        let mut w = ExecutionWindow {
            started_at_unix_ms: 1,
            started_seq: 1,
            ended_at_unix_ms: None,
            ended_seq: None,
            status: ExecutionStatus::Completed,
        };
        assert_eq!(window(&w), "completed");
        w.status = ExecutionStatus::Cancelled;
        assert_eq!(window(&w), "cancelled");
        for status in [
            ExecutionStatus::Running,
            ExecutionStatus::Completed,
            ExecutionStatus::Failed,
            ExecutionStatus::Cancelled,
            ExecutionStatus::Aborted,
        ] {
            assert_eq!(serde_json::json!(status), status.as_str());
        }
        assert_eq!(ToolCallKind::ExecCommand.name(), "exec_command");
        let mcp = ToolCallKind::Mcp {
            server: "docs".to_string(),
            tool: "search".to_string(),
        };
        assert_eq!(mcp.name(), "mcp docs/search");
        let other = ToolCallKind::Other {
            name: "grep".to_string(),
        };
        assert_eq!(other.name(), "grep");
    }

    #[test]
    fn parts_compare_by_normalised_text_or_content_hash() {
        let trace = RolloutTrace::new("rollout-1");
        let policy = DiffPolicy::default();
        let side = Side::new(&trace, None, &policy);
        let text = ConversationPart::Text {
            text: "in rollout-1".to_string(),
        };
        assert_eq!(side.part_text(&text), "in rollout-1");
        let whole = ConversationPart::Text {
            text: "rollout-1".to_string(),
        };
        assert_eq!(side.part_text(&whole), "<rollout>");
        let encoded = ConversationPart::Encoded {
            label: "encrypted".to_string(),
            value: "abc".to_string(),
        };
        assert_eq!(
            side.part_text(&encoded),
            format!("encrypted: blake3 {}", blake3::hash(b"abc").to_hex())
        );
        assert_eq!(side.producer(&ProducerRef::UserInput), "user input");
        assert_eq!(
            side.producer(&ProducerRef::Tool {
                tool_call_id: "rollout-1".to_string()
            }),
            "rollout"
        );
    }
}
