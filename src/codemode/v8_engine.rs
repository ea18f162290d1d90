//! The V8 engine (`--features v8`): the same [`Engine`] contract on the `v8`
//! crate, one isolate per cell.
//!
//! Owns one cell's isolate, context and prelude handles and nothing else.
//! Termination is `IsolateHandle::terminate_execution`, which stops even a
//! CPU-bound loop. It must never resolve an import (static imports fail to
//! link, dynamic ones reject) and never drop the isolate before the global
//! handles that live in it (field order is drop order).
//!
//! The `v8` crate's scope macros (`scope!`, `tc_scope!`, `callback_scope!`)
//! expand to `unsafe` pinning blocks in this module, which the crate-wide
//! `unsafe_code = deny` would reject; that is the only reason for the allow
//! below. This module writes no `unsafe` of its own.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::sync::OnceLock;

use super::engine::{
    Engine, HostCallback, MAIN_MODULE_NAME, PRELUDE_JS, Terminator, UNSUPPORTED_IMPORT, Vm,
};

/// Heap limit of one cell's isolate.
const HEAP_LIMIT_BYTES: usize = 256 * 1024 * 1024;

/// The V8 engine.
#[derive(Debug, Clone, Copy, Default)]
pub struct V8Engine;

/// One cell's V8 isolate. Field order is drop order: globals first.
pub struct V8Vm {
    dispatch: v8::Global<v8::Function>,
    watch: v8::Global<v8::Function>,
    format: v8::Global<v8::Function>,
    context: v8::Global<v8::Context>,
    isolate: v8::OwnedIsolate,
}

/// The host callback, kept in an isolate slot for the native function.
struct HostSlot(RefCell<HostCallback>);

fn initialize_v8() {
    static PLATFORM: OnceLock<v8::SharedRef<v8::Platform>> = OnceLock::new();
    PLATFORM.get_or_init(|| {
        let platform = v8::new_default_platform(0, false).make_shared();
        v8::V8::initialize_platform(platform.clone());
        v8::V8::initialize();
        platform
    });
}

/// `host(op, argument_json)`: forwards to the cell's host callback.
fn host_function(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let op = args.get(0).to_rust_string_lossy(scope);
    let arg = args.get(1).to_rust_string_lossy(scope);
    let reply = match scope.get_slot::<HostSlot>() {
        // The host never calls back into JavaScript, so this borrow is
        // never re-entered.
        Some(slot) => match slot.0.try_borrow_mut() {
            Ok(mut host) => host(&op, &arg),
            Err(_) => r#"{"error":"re-entrant host call"}"#.to_string(),
        },
        None => r#"{"error":"host is not installed"}"#.to_string(),
    };
    if let Some(reply) = v8::String::new(scope, &reply) {
        rv.set(reply.into());
    }
}

/// Every static import fails to link.
fn reject_static_import<'s>(
    context: v8::Local<'s, v8::Context>,
    _specifier: v8::Local<'s, v8::String>,
    _import_attributes: v8::Local<'s, v8::FixedArray>,
    _referrer: v8::Local<'s, v8::Module>,
) -> Option<v8::Local<'s, v8::Module>> {
    v8::callback_scope!(unsafe scope, context);
    v8::scope!(let scope, scope);
    let message = v8::String::new(scope, UNSUPPORTED_IMPORT)?;
    let error = v8::Exception::error(scope, message);
    scope.throw_exception(error);
    None
}

/// Every dynamic `import()` returns a rejected promise.
fn reject_dynamic_import<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    _host_defined_options: v8::Local<'s, v8::Data>,
    _resource_name: v8::Local<'s, v8::Value>,
    _specifier: v8::Local<'s, v8::String>,
    _import_attributes: v8::Local<'s, v8::FixedArray>,
) -> Option<v8::Local<'s, v8::Promise>> {
    let resolver = v8::PromiseResolver::new(scope)?;
    let message = v8::String::new(scope, UNSUPPORTED_IMPORT)?;
    let error = v8::Exception::error(scope, message);
    resolver.reject(scope, error);
    Some(resolver.get_promise(scope))
}

/// Formats a caught exception with the prelude's `format` (or plainly).
fn exception_text<'s>(
    scope: &v8::PinScope<'s, '_>,
    format: Option<&v8::Global<v8::Function>>,
    exception: Option<v8::Local<'s, v8::Value>>,
) -> String {
    let Some(exception) = exception else {
        return "javascript execution was terminated".to_string();
    };
    if let Some(format) = format {
        let format = v8::Local::new(scope, format);
        let recv = v8::undefined(scope).into();
        if let Some(text) = format.call(scope, recv, &[exception]) {
            return text.to_rust_string_lossy(scope);
        }
    }
    exception.to_rust_string_lossy(scope)
}

fn prelude_function<'s>(
    scope: &v8::PinScope<'s, '_>,
    api: v8::Local<'s, v8::Object>,
    name: &str,
) -> Result<v8::Global<v8::Function>, String> {
    let key = v8::String::new(scope, name).ok_or("cannot allocate a string")?;
    let value = api
        .get(scope, key.into())
        .ok_or_else(|| format!("the prelude lacks {name}"))?;
    let function = v8::Local::<v8::Function>::try_from(value)
        .map_err(|_| format!("the prelude's {name} is not a function"))?;
    Ok(v8::Global::new(scope, function))
}

impl Engine for V8Engine {
    type Vm = V8Vm;

    fn name(&self) -> &'static str {
        "v8"
    }

    fn create_vm(&self, host: HostCallback) -> Result<(V8Vm, Terminator), String> {
        initialize_v8();
        let params = v8::CreateParams::default().heap_limits(0, HEAP_LIMIT_BYTES);
        let mut isolate = v8::Isolate::new(params);
        isolate.set_microtasks_policy(v8::MicrotasksPolicy::Explicit);
        isolate.set_host_import_module_dynamically_callback(reject_dynamic_import);
        isolate.set_slot(HostSlot(RefCell::new(host)));
        let handle = isolate.thread_safe_handle();
        let (context, dispatch, watch, format) = {
            let isolate = &mut isolate;
            v8::scope!(let scope, isolate);
            let context = v8::Context::new(scope, Default::default());
            let global_context = v8::Global::new(scope, context);
            let scope = &mut v8::ContextScope::new(scope, context);
            let host_fn =
                v8::Function::new(scope, host_function).ok_or("cannot create the host function")?;
            v8::tc_scope!(let tc, scope);
            let source = v8::String::new(tc, PRELUDE_JS).ok_or("cannot allocate the prelude")?;
            let script = v8::Script::compile(tc, source, None)
                .ok_or_else(|| exception_text(tc, None, tc.exception()))?;
            let install = script
                .run(tc)
                .ok_or_else(|| exception_text(tc, None, tc.exception()))?;
            let install = v8::Local::<v8::Function>::try_from(install)
                .map_err(|_| "the prelude is not a function".to_string())?;
            let recv = v8::undefined(tc).into();
            let api = install
                .call(tc, recv, &[host_fn.into()])
                .ok_or_else(|| exception_text(tc, None, tc.exception()))?;
            let api = v8::Local::<v8::Object>::try_from(api)
                .map_err(|_| "the prelude did not return an object".to_string())?;
            (
                global_context,
                prelude_function(tc, api, "dispatch")?,
                prelude_function(tc, api, "watch")?,
                prelude_function(tc, api, "format")?,
            )
        };
        let vm = V8Vm {
            dispatch,
            watch,
            format,
            context,
            isolate,
        };
        let terminator = Terminator::new(move || {
            handle.terminate_execution();
        });
        Ok((vm, terminator))
    }
}

impl Vm for V8Vm {
    fn start_module(&mut self, source: &str) -> Result<(), String> {
        let V8Vm {
            isolate,
            context,
            watch,
            format,
            ..
        } = self;
        v8::scope!(let scope, isolate);
        let context = v8::Local::new(scope, &*context);
        let scope = &mut v8::ContextScope::new(scope, context);
        v8::tc_scope!(let tc, scope);
        let format = Some(&*format);
        let text = v8::String::new(tc, source).ok_or("the source is too large")?;
        let name = v8::String::new(tc, MAIN_MODULE_NAME).ok_or("cannot allocate a string")?;
        let origin = v8::ScriptOrigin::new(
            tc,
            name.into(),
            0,
            0,
            false,
            0,
            None,
            false,
            false,
            true,
            None,
        );
        let mut source = v8::script_compiler::Source::new(text, Some(&origin));
        let module = v8::script_compiler::compile_module(tc, &mut source)
            .ok_or_else(|| exception_text(tc, format, tc.exception()))?;
        if module.instantiate_module(tc, reject_static_import) != Some(true) {
            return Err(exception_text(tc, format, tc.exception()));
        }
        let completion = module
            .evaluate(tc)
            .ok_or_else(|| exception_text(tc, format, tc.exception()))?;
        let watch = v8::Local::new(tc, &*watch);
        let recv = v8::undefined(tc).into();
        watch
            .call(tc, recv, &[completion])
            .map(|_| ())
            .ok_or_else(|| exception_text(tc, format, tc.exception()))
    }

    fn dispatch(&mut self, message_json: &str) -> Result<(), String> {
        let V8Vm {
            isolate,
            context,
            dispatch,
            format,
            ..
        } = self;
        v8::scope!(let scope, isolate);
        let context = v8::Local::new(scope, &*context);
        let scope = &mut v8::ContextScope::new(scope, context);
        v8::tc_scope!(let tc, scope);
        let format = Some(&*format);
        let message = v8::String::new(tc, message_json).ok_or("the message is too large")?;
        let dispatch = v8::Local::new(tc, &*dispatch);
        let recv = v8::undefined(tc).into();
        dispatch
            .call(tc, recv, &[message.into()])
            .map(|_| ())
            .ok_or_else(|| exception_text(tc, format, tc.exception()))
    }

    fn run_jobs(&mut self) -> Result<(), String> {
        let V8Vm {
            isolate, context, ..
        } = self;
        v8::scope!(let scope, isolate);
        let context = v8::Local::new(scope, &*context);
        let scope = &mut v8::ContextScope::new(scope, context);
        v8::tc_scope!(let tc, scope);
        tc.perform_microtask_checkpoint();
        if tc.has_terminated() {
            return Err("javascript execution was terminated".to_string());
        }
        Ok(())
    }
}
