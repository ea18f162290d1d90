//! Where a command's output goes: standard output, or a file named by `-o`
//! / `--out`, where `-` means standard output again.
//!
//! Files follow the rules of [`crate::export::output::write_output`] (a new
//! path or regular file replaced atomically, a FIFO or device written in
//! place, a symbolic link followed). Standard output is buffered, and a
//! reader that went away (`tracefold events X | head -1`) is not an error:
//! the write fails with [`StdoutClosed`], which `cli::main` turns into a
//! quiet, successful exit.

use std::io::Write;
use std::path::Path;

/// The reader of standard output has gone (a closed pipe).
#[derive(Debug)]
pub(super) struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Buffered standard output whose broken-pipe errors carry [`StdoutClosed`].
pub(super) struct Stdout {
    inner: std::io::BufWriter<std::io::StdoutLock<'static>>,
}

/// Standard output for a command's results.
pub(super) fn stdout() -> Stdout {
    Stdout {
        inner: std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock()),
    }
}

fn mark_closed(err: std::io::Error) -> std::io::Error {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        std::io::Error::new(std::io::ErrorKind::BrokenPipe, StdoutClosed)
    } else {
        err
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).map_err(mark_closed)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(buf).map_err(mark_closed)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().map_err(mark_closed)
    }
}

/// Writes `line` and a newline to standard error, unbuffered. A status
/// line (what an import stored, a findings count, an `error:` line) must
/// never panic the command: `eprintln!` panics when standard error is a
/// closed pipe (`tracefold demo --out - 2>&1 >state.json | head -1`), this
/// ignores the failure, since there is no one left to tell.
pub(super) fn note(line: impl std::fmt::Display) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Whether `err` (anywhere in its chain) is standard output's reader gone.
pub(super) fn is_stdout_closed(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.is::<StdoutClosed>()
            || cause
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .is_some_and(|inner| inner.is::<StdoutClosed>())
    })
}

/// Whether an output path means standard output.
pub(super) fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Streams what `write` produces to `path`: standard output for `-`, else
/// the file under the rules of [`crate::export::output::write_output`].
pub(super) fn write_to(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    if is_stdout(path) {
        let mut out = stdout();
        write(&mut out)?;
        out.flush()?;
        return Ok(());
    }
    crate::export::output::write_output(path, write)?;
    Ok(())
}
