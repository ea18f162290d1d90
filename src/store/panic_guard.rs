//! Catching sled's panics without printing them, and without hiding anyone
//! else's.
//!
//! sled 0.34 can panic on a damaged database instead of returning an error.
//! [`catch_sled_panic`] turns such a panic into its message, which the store
//! puts into the error it returns. `catch_unwind` alone would still let the
//! panic hook print "thread 'main' panicked at ..." to the host's stderr, so
//! a hook installed once (the first time a guarded call runs) captures the
//! message instead of printing it, but only on a thread that is inside a
//! guarded call at that moment; every other panic, on any thread, goes to
//! the hook that was installed before (the host's, or the default one).

use std::cell::{Cell, RefCell};
use std::panic::PanicHookInfo;
use std::sync::Once;

thread_local! {
    /// Whether this thread is inside [`catch_sled_panic`].
    static GUARDED: Cell<bool> = const { Cell::new(false) };
    /// The message of the last panic the hook captured on this thread.
    static CAPTURED: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALL_HOOK: Once = Once::new();

/// Runs `call` (a sled call); a panic inside it becomes `Err` with the
/// panic's message and location, and is not printed.
pub(crate) fn catch_sled_panic<T>(call: impl FnOnce() -> T) -> Result<T, String> {
    INSTALL_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) {
                CAPTURED.with(|captured| *captured.borrow_mut() = Some(describe(info)));
            } else {
                previous(info);
            }
        }));
    });
    let outer = GUARDED.with(|guarded| guarded.replace(true));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(call));
    GUARDED.with(|guarded| guarded.set(outer));
    outcome.map_err(|payload| {
        CAPTURED
            .with(|captured| captured.borrow_mut().take())
            .unwrap_or_else(|| payload_text(payload.as_ref()))
    })
}

/// "MESSAGE (at FILE:LINE)".
fn describe(info: &PanicHookInfo<'_>) -> String {
    let message = payload_text(info.payload());
    match info.location() {
        Some(location) => format!("{message} (at {}:{})", location.file(), location.line()),
        None => message,
    }
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::catch_sled_panic;

    #[test]
    fn a_guarded_panic_becomes_its_message() {
        let outcome: Result<(), String> = catch_sled_panic(|| panic!("segment {} is damaged", 7));
        let message = outcome.expect_err("the panic is caught");
        assert!(
            message.starts_with("segment 7 is damaged (at "),
            "{message}"
        );
        assert!(message.contains("panic_guard.rs"), "{message}");
        assert_eq!(catch_sled_panic(|| 42), Ok(42));
    }

    #[test]
    fn a_panic_outside_a_guarded_call_still_reaches_the_previous_hook() {
        // Install the guard's hook first, then check that an unguarded panic
        // on another thread is not captured: the thread's own unwinding
        // reports it, and the guard leaves no captured message behind.
        let _ = catch_sled_panic(|| ());
        let joined = std::thread::spawn(|| {
            let unguarded = std::panic::catch_unwind(|| panic!("the host's own panic"));
            let captured = super::CAPTURED.with(|captured| captured.borrow().clone());
            (unguarded.is_err(), captured)
        })
        .join()
        .expect("thread");
        assert_eq!(joined, (true, None));
    }
}
