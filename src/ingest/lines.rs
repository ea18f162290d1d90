//! The JSONL line reader: [`read_wire_lines`] reads a source line by line,
//! parses each line as a wire event and hands it to a [`WireLines`] sink
//! (an import, or `export::bundle`'s in-memory reading), which decides
//! whether a bad line stops the read or is left out.
//!
//! Nothing is held but the current line, and a line is bounded
//! ([`max_line_bytes`]): an over-long line is never read whole. A torn last
//! line (no newline) is an error, or dropped with `allow_torn_tail`.

use std::io::{BufRead, BufReader, Read};

use crate::error::{Error, Result};
use crate::event::wire::{WireEvent, WirePayloadRef, parse_line};

use super::{IngestOptions, JsonlSource};

/// The longest line accepted: a payload inline at the size limit, escaped.
pub(crate) fn max_line_bytes(max_payload_bytes: u64) -> u64 {
    max_payload_bytes.saturating_mul(2).saturating_add(1 << 20)
}

/// What [`read_wire_lines`] hands each line to.
pub(crate) trait WireLines {
    /// One event and its location (`file:line`).
    fn event(&mut self, location: &str, event: WireEvent<WirePayloadRef>) -> Result<()>;

    /// A complete line that is not an event (too long, not UTF-8, not a wire
    /// event), with its text when it is UTF-8: returning the error stops the
    /// read (the default), returning `Ok` skips the line.
    fn bad_line(&mut self, location: &str, text: Option<&str>, error: Error) -> Result<()> {
        let _ = (location, text);
        Err(error)
    }
}

/// Reads wire events line by line into `lines`. Returns the bytes of a torn
/// last line that `allow_torn_tail` dropped (0 if none).
pub(crate) fn read_wire_lines(
    source: JsonlSource<'_>,
    max_line_bytes: u64,
    options: &IngestOptions<'_>,
    lines: &mut impl WireLines,
) -> Result<u64> {
    let mut reader = BufReader::with_capacity(1 << 16, source.reader);
    let mut consumed = 0u64;
    let mut line = Vec::new();
    let mut line_number = 0u64;
    loop {
        line.clear();
        let read = (&mut reader)
            .take(max_line_bytes + 1)
            .read_until(b'\n', &mut line)
            .map_err(|err| Error::io(format!("read {}", source.name), err))?;
        if read == 0 {
            return Ok(0);
        }
        line_number += 1;
        consumed += read as u64;
        if let Some(progress) = options.progress {
            progress(consumed);
        }
        let location = format!("{}:{line_number}", source.name);
        if line.len() as u64 > max_line_bytes {
            lines.bad_line(
                &location,
                None,
                Error::input(
                    location.clone(),
                    format!("line longer than {max_line_bytes} bytes"),
                ),
            )?;
            // Skipped: the rest of the line goes unread to its newline.
            consumed += skip_past_newline(&mut reader)
                .map_err(|err| Error::io(format!("read {}", source.name), err))?;
            continue;
        }
        let complete = line.last() == Some(&b'\n');
        let text = match std::str::from_utf8(&line) {
            Ok(text) => text.trim_end_matches(['\n', '\r']),
            Err(err) if complete => {
                let message = format!("invalid UTF-8 at byte {}", err.valid_up_to());
                lines.bad_line(&location, None, Error::input(location.clone(), message))?;
                continue;
            }
            Err(err) => {
                return Err(Error::input(
                    location,
                    format!("invalid UTF-8 at byte {}", err.valid_up_to()),
                ));
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        let event = match parse_line(text) {
            Ok(event) => event,
            Err(err) if !complete => {
                // Nothing follows a line without a newline: it is the tail.
                if options.allow_torn_tail {
                    return Ok(line.len() as u64);
                }
                return Err(Error::input(
                    location,
                    format!(
                        "torn last line ({} bytes without a newline): {err}; --allow-torn-tail keeps the complete lines",
                        line.len()
                    ),
                ));
            }
            Err(err) => {
                lines.bad_line(
                    &location,
                    Some(text),
                    Error::input(location.clone(), err.to_string()),
                )?;
                continue;
            }
        };
        lines.event(&location, event)?;
    }
}

/// Reads and discards up to and including the next newline (or to the end);
/// returns the bytes read.
fn skip_past_newline(reader: &mut impl BufRead) -> std::io::Result<u64> {
    let mut skipped = 0u64;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(skipped);
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(at) => {
                reader.consume(at + 1);
                return Ok(skipped + at as u64 + 1);
            }
            None => {
                let len = buf.len();
                reader.consume(len);
                skipped += len as u64;
            }
        }
    }
}
