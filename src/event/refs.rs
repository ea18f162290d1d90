//! Payload references: the stored [`PayloadRef`], and visiting and mapping
//! the references an [`EventPayload`] cites.
//!
//! A field that holds references has a shape: [`Single`], [`Optional`],
//! [`List`], or [`InputMode`] (an inference request's input mode, which may
//! carry a prefix payload). The shape knows how to visit and map what the
//! field holds. The table at the end of this file gives every variant's
//! fields: first those without references, then the reference fields in
//! declaration order with their shapes. From it `ref_fields!` writes the
//! exhaustive matches behind [`EventPayload::for_each_ref`] and
//! [`EventPayload::try_map_refs`]: a new variant is one line in the table,
//! and the compiler names any variant or field a line misses. No I/O.

use bincode::{Decode, Encode};

use super::{EventPayload, Hash, InferenceRequestInputMode, PayloadKind};

/// A stored payload reference: what an event cites.
///
/// The bytes live once in the store's chunk space; `hash` is the BLAKE3 of the
/// whole payload and is checked on every read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Encode, Decode)]
pub struct PayloadRef {
    /// The payload's role as its producer labelled it (the recorder gives
    /// each the kind its event field conventionally has). The reducer reads
    /// a payload by the field that cites it, never by this kind.
    pub kind: PayloadKind,
    /// BLAKE3 of the payload's bytes as stored (after redaction): the key
    /// the store and [`PayloadSource`](crate::PayloadSource) answer by.
    pub hash: Hash,
    /// Length of those bytes (uncompressed).
    pub size_bytes: u64,
}

impl<R> EventPayload<R> {
    /// Every payload reference this event cites, in field order.
    pub fn payload_refs(&self) -> Vec<&R> {
        let mut refs = Vec::new();
        self.for_each_ref(|r| refs.push(r));
        refs
    }

    /// Calls `f` on every payload reference, in field order.
    pub fn for_each_ref<'a>(&'a self, mut f: impl FnMut(&'a R)) {
        self.visit_refs(&mut f);
    }

    /// Maps every payload reference through `f`, keeping everything else.
    pub fn map_refs<R2>(self, mut f: impl FnMut(R) -> R2) -> EventPayload<R2> {
        let mapped: Result<_, std::convert::Infallible> = self.try_map_refs(|r| Ok(f(r)));
        match mapped {
            Ok(payload) => payload,
            Err(never) => match never {},
        }
    }

    /// Maps every payload reference through `f`, keeping everything else.
    /// Stops at the first error.
    pub fn try_map_refs<R2, E>(
        self,
        mut f: impl FnMut(R) -> Result<R2, E>,
    ) -> Result<EventPayload<R2>, E> {
        self.try_map_refs_dyn(&mut f)
    }
}

/// How a field holds payload references: the field's type with references
/// of type `T` is `Field<T>`.
trait RefShape {
    type Field<T>;

    /// Calls `f` on each reference of the field, in order.
    fn visit<'a, R>(field: &'a Self::Field<R>, f: &mut dyn FnMut(&'a R));

    /// Maps each reference of the field through `f`, in order, stopping at
    /// the first error.
    fn try_map<R, R2, E>(
        field: Self::Field<R>,
        f: &mut dyn FnMut(R) -> Result<R2, E>,
    ) -> Result<Self::Field<R2>, E>;
}

/// Exactly one reference (`R`).
struct Single;

/// At most one reference (`Option<R>`).
struct Optional;

/// Any number of references, in order (`Vec<R>`).
struct List;

/// An optional inference request input mode: one reference when it is
/// `IncrementalWithUntracedPrefix` (its prefix payload), else none.
struct InputMode;

impl RefShape for Single {
    type Field<T> = T;

    fn visit<'a, R>(field: &'a R, f: &mut dyn FnMut(&'a R)) {
        f(field);
    }

    fn try_map<R, R2, E>(field: R, f: &mut dyn FnMut(R) -> Result<R2, E>) -> Result<R2, E> {
        f(field)
    }
}

impl RefShape for Optional {
    type Field<T> = Option<T>;

    fn visit<'a, R>(field: &'a Option<R>, f: &mut dyn FnMut(&'a R)) {
        field.iter().for_each(f);
    }

    fn try_map<R, R2, E>(
        field: Option<R>,
        f: &mut dyn FnMut(R) -> Result<R2, E>,
    ) -> Result<Option<R2>, E> {
        field.map(f).transpose()
    }
}

impl RefShape for List {
    type Field<T> = Vec<T>;

    fn visit<'a, R>(field: &'a Vec<R>, f: &mut dyn FnMut(&'a R)) {
        field.iter().for_each(f);
    }

    fn try_map<R, R2, E>(
        field: Vec<R>,
        f: &mut dyn FnMut(R) -> Result<R2, E>,
    ) -> Result<Vec<R2>, E> {
        field.into_iter().map(f).collect()
    }
}

impl RefShape for InputMode {
    type Field<T> = Option<InferenceRequestInputMode<T>>;

    fn visit<'a, R>(field: &'a Self::Field<R>, f: &mut dyn FnMut(&'a R)) {
        if let Some(InferenceRequestInputMode::IncrementalWithUntracedPrefix {
            prefix_payload,
            ..
        }) = field
        {
            f(prefix_payload);
        }
    }

    fn try_map<R, R2, E>(
        field: Self::Field<R>,
        f: &mut dyn FnMut(R) -> Result<R2, E>,
    ) -> Result<Self::Field<R2>, E> {
        use InferenceRequestInputMode::{FullSnapshot, Incremental, IncrementalWithUntracedPrefix};
        let Some(mode) = field else {
            return Ok(None);
        };
        Ok(Some(match mode {
            FullSnapshot => FullSnapshot,
            Incremental {
                previous_response_id,
            } => Incremental {
                previous_response_id,
            },
            IncrementalWithUntracedPrefix {
                previous_response_id,
                prefix_payload,
            } => IncrementalWithUntracedPrefix {
                previous_response_id,
                prefix_payload: f(prefix_payload)?,
            },
        }))
    }
}

/// Writes `visit_refs` and `try_map_refs_dyn` from the table below: per
/// variant, `Variant { fields without references } { reference field:
/// Shape, ... }`, reference fields in declaration order. The map names every
/// field, so the compiler refuses a line that misses one.
macro_rules! ref_fields {
    ($($variant:ident { $($plain:ident),* } { $($field:ident: $shape:ident),* })*) => {
        impl<R> EventPayload<R> {
            /// [`EventPayload::for_each_ref`] behind one `dyn` callback.
            fn visit_refs<'a>(&'a self, f: &mut dyn FnMut(&'a R)) {
                match self {
                    $(EventPayload::$variant { $($field,)* .. } => {
                        $($shape::visit($field, f);)*
                    })*
                }
            }

            /// [`EventPayload::try_map_refs`] behind one `dyn` callback.
            fn try_map_refs_dyn<R2, E>(
                self,
                f: &mut dyn FnMut(R) -> Result<R2, E>,
            ) -> Result<EventPayload<R2>, E> {
                Ok(match self {
                    $(EventPayload::$variant { $($plain,)* $($field,)* } => {
                        EventPayload::$variant {
                            $($plain,)*
                            $($field: $shape::try_map($field, f)?,)*
                        }
                    })*
                })
            }
        }
    };
}

ref_fields! {
    RolloutStarted { trace_id, root_thread_id } {}
    RolloutEnded { status } {}
    ThreadStarted { thread_id, agent_path } { metadata_payload: Optional }
    ThreadEnded { thread_id, status } {}
    CodexTurnStarted { codex_turn_id, thread_id } {}
    CodexTurnEnded { codex_turn_id, status } {}
    InferenceStarted { inference_call_id, thread_id, codex_turn_id, model, provider_name }
        { request_input_mode: InputMode, request_payload: Single }
    InferenceCompleted { inference_call_id, response_id, upstream_request_id }
        { response_payload: Single }
    InferenceFailed { inference_call_id, upstream_request_id, error }
        { partial_response_payload: Optional }
    InferenceCancelled { inference_call_id, upstream_request_id, reason }
        { partial_response_payload: Optional }
    ToolCallStarted {
        tool_call_id, model_visible_call_id, code_mode_runtime_tool_id, requester, kind, summary
    } { invocation_payload: Optional }
    McpToolCallCorrelationAssigned { tool_call_id, mcp_call_id } {}
    ToolCallRuntimeStarted { tool_call_id } { runtime_payload: Single }
    ToolCallRuntimeEnded { tool_call_id, status } { runtime_payload: Single }
    ToolCallEnded { tool_call_id, status } { result_payload: Optional }
    CodeCellStarted { runtime_cell_id, model_visible_call_id, source_js } {}
    CodeCellInitialResponse { runtime_cell_id, status } { response_payload: Optional }
    CodeCellEnded { runtime_cell_id, status } { response_payload: Optional }
    CompactionRequestStarted {
        compaction_id, compaction_request_id, thread_id, codex_turn_id, model, provider_name
    } { request_payload: Single }
    CompactionRequestCompleted { compaction_id, compaction_request_id }
        { response_payload: Single }
    CompactionRequestFailed { compaction_id, compaction_request_id, error } {}
    CompactionInstalled { compaction_id } { checkpoint_payload: Single }
    AgentResultObserved {
        edge_id, child_thread_id, child_codex_turn_id, parent_thread_id, message
    } { carried_payload: Optional }
    ProtocolEventObserved { event_type } { event_payload: Single }
    Other { kind, summary, metadata } { payloads: List }
    ThreadResumed { thread_id, agent_path } { metadata_payload: Optional }
    TerminalSessionEnded { terminal_id, thread_id, status, exit_code }
        { runtime_payload: Optional }
    LocalCompactionInstalled { compaction_id, inference_call_id }
        { checkpoint_payload: Single }
    EventsDropped { count, reason } {}
    CodeCellStoredValues { runtime_cell_id } { stored_values_payload: Single }
    Unknown { type_name, json } {}
    SourceLine { file, line } { line_payload: Single }
}
