//! Writing wire events for a session converter: [`Emitter`] numbers them
//! (from the seq after the rollout's last stored event), stamps them with
//! the rollout and the wall time of the line being converted, and drops
//! them while it converts lines the store already holds.

use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::error::Result;

/// Turns a session file's lines into wire events, line by line.
pub(crate) trait Converter {
    /// Converts line `line` (its bytes, line ending included) into events
    /// on `emit`. An error names the file and the line.
    fn convert(&mut self, line: u64, raw: &[u8], emit: &mut Emitter) -> Result<()>;

    /// The inference call and turn open after the last line converted.
    fn open_work(&self) -> OpenWork<'_>;

    /// The file is finished: ends what it leaves open (as far as its
    /// format leaves ends unwritten).
    fn finish(&mut self, emit: &mut Emitter);
}

/// What a converter has open.
pub(crate) struct OpenWork<'a> {
    pub(crate) call: Option<&'a str>,
    pub(crate) turn: Option<&'a str>,
}

/// The wire events of one converted file, one JSON object per line.
pub(crate) struct Emitter {
    rollout_id: String,
    next_seq: u64,
    /// Wall time of the line being converted (Unix ms): the last timestamp
    /// read, so events without one keep their predecessor's.
    pub(crate) wall_time: i64,
    /// Lines the store already holds are converted for their state only:
    /// their events are dropped and take no seq.
    pub(crate) quiet: bool,
    /// Events not yet read.
    pub(crate) out: Vec<u8>,
    /// Lines kept only as their source line (`FILE line N: why`).
    pub(crate) unconverted: Vec<String>,
}

impl Emitter {
    /// Events of rollout `rollout_id`, numbered from `first_seq`.
    pub(crate) fn new(rollout_id: &str, first_seq: u64) -> Emitter {
        Emitter {
            rollout_id: rollout_id.to_string(),
            next_seq: first_seq,
            wall_time: 0,
            quiet: false,
            out: Vec::new(),
            unconverted: Vec::new(),
        }
    }

    /// The rollout the events go to.
    pub(crate) fn rollout_id(&self) -> &str {
        &self.rollout_id
    }

    /// Sets the wall time from an RFC 3339 timestamp (kept when it does not
    /// parse).
    pub(crate) fn at(&mut self, timestamp: Option<&str>) {
        if let Some(at) = timestamp.and_then(unix_ms) {
            self.wall_time = at;
        }
    }

    /// Appends one event; `thread` and `turn` go in the envelope.
    pub(crate) fn emit(&mut self, thread: Option<&str>, turn: Option<&str>, payload: Value) {
        if self.quiet {
            return;
        }
        let event = json!({
            "schema_version": 1,
            "seq": self.next_seq,
            "wall_time_unix_ms": self.wall_time,
            "rollout_id": self.rollout_id,
            "thread_id": thread,
            "codex_turn_id": turn,
            "payload": payload,
        });
        self.next_seq += 1;
        // A `Value` always serialises.
        let _ = serde_json::to_writer(&mut self.out, &event);
        self.out.push(b'\n');
    }

    /// The `source_line` event of line `line` of `file`.
    pub(crate) fn source_line(&mut self, file: &str, line: u64, text: &str) {
        self.source_line_of(file, line, text_ref("source_line", text));
    }

    /// The `source_line` event of line `line` of `file` whose bytes are
    /// `payload` (a wire payload reference).
    fn source_line_of(&mut self, file: &str, line: u64, payload: Value) {
        self.emit(
            None,
            None,
            json!({"type": "source_line", "file": file, "line": line, "line_payload": payload}),
        );
    }
}

impl Emitter {
    /// A line of `file` that is not a record of its format (it does not
    /// parse, or it is not UTF-8): kept as its `source_line` (its exact
    /// bytes, so `export --format source` still gives the file back) and
    /// reported, while the lines around it convert as usual.
    pub(crate) fn unconverted(&mut self, file: &str, line: u64, raw: &[u8], why: &str) {
        let payload = match std::str::from_utf8(raw) {
            Ok(text) => text_ref("source_line", text),
            Err(_) => {
                use base64::Engine as _;
                json!({"kind": {"type": "source_line"},
                       "inline_base64": base64::engine::general_purpose::STANDARD.encode(raw)})
            }
        };
        self.source_line_of(file, line, payload);
        if !self.quiet {
            self.unconverted.push(format!(
                "{file} line {line}: {why}; kept as its source line only"
            ));
        }
    }
}

/// The start of a reconstructed request, up to its items' field: the
/// model, the mark `"tracefold_reconstructed": true`, and, when `chain`
/// (the previous call's response id and the history's length when it
/// completed) still holds, `previous_response_id`. With where in the
/// history the request's items start (0: a full request).
pub(crate) fn request_head(
    model: &str,
    chain: Option<&(String, usize)>,
    history_len: usize,
) -> (String, usize) {
    let mut request = format!(
        "{{\"model\":{},\"tracefold_reconstructed\":true,",
        Value::String(model.to_string())
    );
    let from = match chain {
        Some((previous, at)) if *at <= history_len => {
            request.push_str("\"previous_response_id\":");
            request.push_str(&Value::String(previous.clone()).to_string());
            request.push(',');
            *at
        }
        _ => 0,
    };
    (request, from)
}

/// Raw JSON values as a JSON array, each value's text as read.
pub(crate) fn json_array(items: &[Box<RawValue>]) -> String {
    let mut text =
        String::with_capacity(2 + items.iter().map(|i| i.get().len() + 1).sum::<usize>());
    text.push('[');
    for (position, item) in items.iter().enumerate() {
        if position > 0 {
            text.push(',');
        }
        text.push_str(item.get());
    }
    text.push(']');
    text
}

/// A payload given as its exact text.
pub(crate) fn text_ref(kind: &str, text: &str) -> Value {
    json!({"kind": {"type": kind}, "inline_text": text})
}

/// An RFC 3339 timestamp as Unix milliseconds.
pub(crate) fn unix_ms(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(|at| at.as_millisecond())
}
