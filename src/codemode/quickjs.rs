//! The default engine: QuickJS through `rquickjs`, built offline from the
//! crate's C sources.
//!
//! Owns the QuickJS runtime and context of one cell and nothing else: no
//! threads, no channels, no tracing. Termination is the runtime's interrupt
//! handler polling a flag, so even `while (true) {}` stops promptly. It must
//! never resolve an import or outlive its runtime's values (persistent
//! handles are declared, and therefore dropped, before the runtime).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::{Context, Ctx, Function, Module, Object, Persistent, Runtime, Value};

use super::engine::{
    Engine, HostCallback, MAIN_MODULE_NAME, PRELUDE_JS, Terminator, UNSUPPORTED_IMPORT, Vm,
};

/// Heap limit of one cell's QuickJS runtime.
const MEMORY_LIMIT_BYTES: usize = 256 * 1024 * 1024;

/// JavaScript stack limit of one cell (the cell thread's stack is larger).
const STACK_LIMIT_BYTES: usize = 1024 * 1024;

/// The QuickJS engine (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct QuickJsEngine;

/// One cell's QuickJS VM. Field order is drop order: the persistent
/// handles go before the context and the runtime that own their values.
pub struct QuickJsVm {
    dispatch: Persistent<Function<'static>>,
    watch: Persistent<Function<'static>>,
    format: Persistent<Function<'static>>,
    context: Context,
    runtime: Runtime,
}

struct RejectImports;

impl Resolver for RejectImports {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        Err(rquickjs::Error::new_resolving_message(
            base,
            name,
            UNSUPPORTED_IMPORT,
        ))
    }
}

impl Loader for RejectImports {
    fn load<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js>> {
        Err(rquickjs::Error::new_loading_message(
            name,
            UNSUPPORTED_IMPORT,
        ))
    }
}

impl Engine for QuickJsEngine {
    type Vm = QuickJsVm;

    fn name(&self) -> &'static str {
        "quickjs"
    }

    fn create_vm(&self, host: HostCallback) -> Result<(QuickJsVm, Terminator), String> {
        let runtime = Runtime::new().map_err(|err| format!("quickjs runtime: {err}"))?;
        runtime.set_memory_limit(MEMORY_LIMIT_BYTES);
        runtime.set_max_stack_size(STACK_LIMIT_BYTES);
        let stop = Arc::new(AtomicBool::new(false));
        let polled = Arc::clone(&stop);
        runtime.set_interrupt_handler(Some(Box::new(move || polled.load(Ordering::Relaxed))));
        runtime.set_loader(RejectImports, RejectImports);
        let context = Context::full(&runtime).map_err(|err| format!("quickjs context: {err}"))?;
        let host = Rc::new(RefCell::new(host));
        let (dispatch, watch, format) = context.with(|ctx| {
            let install: Function = ctx
                .eval(PRELUDE_JS)
                .map_err(|err| describe(&ctx, None, err))?;
            let host_fn = Function::new(ctx.clone(), move |op: String, arg: String| {
                // The host never calls back into JavaScript, so this borrow
                // is never re-entered.
                (host.borrow_mut())(&op, &arg)
            })
            .map_err(|err| describe(&ctx, None, err))?;
            let api: Object = install
                .call((host_fn,))
                .map_err(|err| describe(&ctx, None, err))?;
            let get = |name: &str| -> Result<Persistent<Function<'static>>, String> {
                let function: Function = api.get(name).map_err(|err| describe(&ctx, None, err))?;
                Ok(Persistent::save(&ctx, function))
            };
            Ok::<_, String>((get("dispatch")?, get("watch")?, get("format")?))
        })?;
        let vm = QuickJsVm {
            dispatch,
            watch,
            format,
            context,
            runtime,
        };
        Ok((
            vm,
            Terminator::new(move || stop.store(true, Ordering::Relaxed)),
        ))
    }
}

/// Turns an rquickjs error into text; a pending JavaScript exception is
/// formatted by the prelude's `format` when it is available.
fn describe<'js>(ctx: &Ctx<'js>, format: Option<&Function<'js>>, err: rquickjs::Error) -> String {
    if !err.is_exception() {
        return err.to_string();
    }
    let exception = ctx.catch();
    describe_value(ctx, format, exception)
}

fn describe_value<'js>(
    ctx: &Ctx<'js>,
    format: Option<&Function<'js>>,
    value: Value<'js>,
) -> String {
    if let Some(format) = format
        && let Ok(text) = format.call::<_, String>((value.clone(),))
    {
        return text;
    }
    // Fall back when the prelude is not installed yet, or `format` itself threw.
    let _ = ctx.catch();
    if let Some(exception) = value.as_exception() {
        return exception
            .message()
            .unwrap_or_else(|| "unknown exception".to_string());
    }
    value
        .as_string()
        .and_then(|text| text.to_string().ok())
        .unwrap_or_else(|| format!("{value:?}"))
}

impl QuickJsVm {
    fn with_api<T>(
        &self,
        run: impl for<'js> FnOnce(&Ctx<'js>, &Function<'js>) -> Result<T, String>,
    ) -> Result<T, String> {
        self.context.with(|ctx| {
            let format = self
                .format
                .clone()
                .restore(&ctx)
                .map_err(|err| err.to_string())?;
            run(&ctx, &format)
        })
    }
}

impl Vm for QuickJsVm {
    fn start_module(&mut self, source: &str) -> Result<(), String> {
        let watch = self.watch.clone();
        self.with_api(|ctx, format| {
            let module = Module::declare(ctx.clone(), MAIN_MODULE_NAME, source)
                .map_err(|err| describe(ctx, Some(format), err))?;
            let (_module, promise) = module
                .eval()
                .map_err(|err| describe(ctx, Some(format), err))?;
            let watch = watch.restore(ctx).map_err(|err| err.to_string())?;
            watch
                .call::<_, ()>((promise,))
                .map_err(|err| describe(ctx, Some(format), err))
        })
    }

    fn dispatch(&mut self, message_json: &str) -> Result<(), String> {
        let dispatch = self.dispatch.clone();
        self.with_api(|ctx, format| {
            let dispatch = dispatch.restore(ctx).map_err(|err| err.to_string())?;
            dispatch
                .call::<_, ()>((message_json,))
                .map_err(|err| describe(ctx, Some(format), err))
        })
    }

    fn run_jobs(&mut self) -> Result<(), String> {
        loop {
            match self.runtime.execute_pending_job() {
                Ok(true) => continue,
                Ok(false) => return Ok(()),
                Err(job) => {
                    let format = self.format.clone();
                    return Err(job.0.with(|ctx| {
                        let exception = ctx.catch();
                        let format = format.restore(&ctx).ok();
                        describe_value(&ctx, format.as_ref(), exception)
                    }));
                }
            }
        }
    }
}
