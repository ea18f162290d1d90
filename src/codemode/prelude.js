// The code-mode prelude: installs a cell's globals on top of a bare engine.
// Evaluated as a script by every engine; its value is install(host). It owns
// the JavaScript half of timers, nested tool promises, output and completion.
// It must never expose `host` or its own state as globals.
(function install(host) {
  "use strict";
  const g = globalThis;
  const EXIT = Symbol("exec exit");

  const call = (op, arg) => {
    const reply = JSON.parse(host(op, arg === undefined ? "null" : JSON.stringify(arg)));
    if (reply.error !== undefined) {
      throw new Error(reply.error);
    }
    return reply.ok;
  };

  const format = (error) => {
    if (error instanceof Error) {
      return `${error.name}: ${error.message}`;
    }
    if (typeof error === "string") {
      return error;
    }
    try {
      const json = JSON.stringify(error);
      if (json !== undefined) {
        return json;
      }
    } catch (_) {
      // fall through to String()
    }
    return String(error);
  };

  const toText = (value) => {
    if (typeof value === "string") {
      return value;
    }
    if (value === undefined) {
      return "undefined";
    }
    try {
      const json = JSON.stringify(value);
      if (json !== undefined) {
        return json;
      }
    } catch (_) {
      // fall through to String()
    }
    return String(value);
  };

  for (const name of ["console", "Atomics", "SharedArrayBuffer", "WebAssembly"]) {
    try {
      delete g[name];
    } catch (_) {
      // a non-configurable global stays; nothing else to do
    }
  }

  const pendingTools = new Map();
  const timers = new Map();
  const enabled = call("tools");

  const tools = Object.create(null);
  for (const tool of enabled) {
    const name = tool.name;
    tools[name] = function (input) {
      return new Promise((resolve, reject) => {
        const id = call("tool", { name, input: input === undefined ? null : input });
        pendingTools.set(id, { resolve, reject });
      });
    };
  }
  Object.freeze(tools);

  const define = (name, value) => {
    Object.defineProperty(g, name, { value, writable: false, enumerable: false, configurable: false });
  };

  define("tools", tools);
  define("ALL_TOOLS", Object.freeze(enabled.map((tool) => Object.freeze({ name: tool.name, description: tool.description }))));
  define("text", function text(value) {
    call("text", toText(value));
  });
  define("image", function image(url) {
    const imageUrl = typeof url === "object" && url !== null ? url.image_url ?? url.url : url;
    if (typeof imageUrl !== "string") {
      throw new TypeError("image() expects a URL string");
    }
    call("image", imageUrl);
  });
  define("store", function store(key, value) {
    const json = value === undefined ? null : JSON.parse(JSON.stringify(value) ?? "null");
    call("store", { key: String(key), value: json });
  });
  define("load", function load(key) {
    return call("load", String(key));
  });
  define("notify", function notify(message) {
    call("notify", toText(message));
  });
  define("yield_control", function yield_control() {
    call("yield");
  });
  define("exit", function exit() {
    call("exit");
    throw EXIT;
  });
  define("setTimeout", function setTimeout(callback, delay, ...args) {
    if (typeof callback !== "function") {
      throw new TypeError("setTimeout expects a function");
    }
    const delayMs = Number(delay);
    const id = call("set_timeout", Number.isFinite(delayMs) && delayMs > 0 ? delayMs : 0);
    timers.set(id, () => callback(...args));
    return id;
  });
  define("clearTimeout", function clearTimeout(id) {
    if (timers.delete(id)) {
      call("clear_timeout", id);
    }
  });

  const dispatch = (json) => {
    const message = JSON.parse(json);
    if (message.kind === "tool") {
      const pending = pendingTools.get(message.id);
      if (pending === undefined) {
        return;
      }
      pendingTools.delete(message.id);
      if (message.ok) {
        pending.resolve(message.value);
      } else {
        pending.reject(new Error(message.error));
      }
    } else if (message.kind === "timer") {
      const callback = timers.get(message.id);
      if (callback === undefined) {
        return;
      }
      timers.delete(message.id);
      try {
        callback();
      } catch (error) {
        if (error !== EXIT) {
          call("fail", format(error));
        }
      }
    }
  };

  const watch = (promise) => {
    promise.then(
      () => call("done"),
      (error) => (error === EXIT ? call("done") : call("fail", format(error))),
    );
  };

  return { dispatch, watch, format };
})
