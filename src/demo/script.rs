//! The demo's script: a seeded generator for its words and ids, the
//! system prompt and tool definitions its agents are given, and the
//! Responses API items its conversations are made of.
//!
//! Everything here is a pure function of the seed; no recorder, no I/O.

use serde_json::{Value, json};

/// A tiny deterministic generator (xorshift64*), so the script depends on the
/// seed only.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x2545_F491_4F6C_DD1D | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(super) fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }

    pub(super) fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    pub(super) fn words(&mut self, count: usize) -> String {
        const WORDS: &[&str] = &[
            "the",
            "parser",
            "rejects",
            "a",
            "trailing",
            "comma",
            "in",
            "config",
            "file",
            "so",
            "we",
            "should",
            "update",
            "tests",
            "and",
            "check",
            "error",
            "message",
            "for",
            "line",
            "number",
            "module",
            "returns",
            "result",
            "instead",
            "of",
            "panicking",
            "when",
            "input",
            "is",
            "empty",
            "cache",
            "invalidates",
            "entry",
            "after",
            "write",
            "flush",
            "batch",
        ];
        let mut out = String::new();
        for index in 0..count {
            if index > 0 {
                out.push(' ');
            }
            out.push_str(self.pick(WORDS));
        }
        out
    }

    pub(super) fn blob(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        (0..len)
            .map(|_| char::from(ALPHABET[self.below(64) as usize]))
            .collect()
    }
}

/// The model the demo's sub-agents run on.
pub(super) const CHILD_MODEL: &str = "gpt-5-codex-mini";

pub(super) const SYSTEM_PROMPT: &str = "You are a coding agent working in a Rust repository. Read before you \
edit, run the tests after every change, and explain what you changed. Use exec_command for shell \
commands, exec for JavaScript that calls tools, spawn_agent to delegate a self-contained task to a \
sub-agent, send_message to talk to it and close_agent when it is done.";

pub(super) fn tool_definitions() -> Value {
    json!([
        {"type": "function", "name": "exec_command", "description": "Runs a shell command in a terminal session.",
         "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}, "workdir": {"type": "string"}, "yield_time_ms": {"type": "integer"}}, "required": ["cmd"]}},
        {"type": "function", "name": "write_stdin", "description": "Writes to a running terminal session.",
         "parameters": {"type": "object", "properties": {"session_id": {"type": "integer"}, "chars": {"type": "string"}}, "required": ["session_id"]}},
        {"type": "custom", "name": "exec", "description": "Runs JavaScript with tools.* bound to nested tools; store/load keep values between cells."},
        {"type": "function", "name": "wait", "description": "Waits on a running exec cell.",
         "parameters": {"type": "object", "properties": {"cell_id": {"type": "string"}, "yield_time_ms": {"type": "integer"}, "terminate": {"type": "boolean"}}, "required": ["cell_id"]}},
        {"type": "function", "name": "spawn_agent", "description": "Starts a sub-agent with a task.",
         "parameters": {"type": "object", "properties": {"message": {"type": "string"}, "agent_type": {"type": "string"}}, "required": ["message"]}},
        {"type": "function", "name": "send_message", "description": "Sends a message to a sub-agent.",
         "parameters": {"type": "object", "properties": {"target": {"type": "string"}, "message": {"type": "string"}}, "required": ["target", "message"]}},
        {"type": "function", "name": "close_agent", "description": "Closes a sub-agent.",
         "parameters": {"type": "object", "properties": {"target": {"type": "string"}}, "required": ["target"]}}
    ])
}

pub(super) fn message(role: &str, text: &str) -> Value {
    let part = if role == "assistant" {
        "output_text"
    } else {
        "input_text"
    };
    json!({"type": "message", "role": role, "content": [{"type": part, "text": text}]})
}

pub(super) fn agent_message(author: &str, recipient: &str, text: &str) -> Value {
    json!({"type": "agent_message", "author": author, "recipient": recipient,
           "content": [{"type": "input_text", "text": text}]})
}

pub(super) fn function_call(call_id: &str, name: &str, arguments: &Value) -> Value {
    json!({"type": "function_call", "name": name, "arguments": arguments.to_string(), "call_id": call_id})
}

pub(super) fn function_output(call_id: &str, output: &str) -> Value {
    json!({"type": "function_call_output", "call_id": call_id, "output": output})
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn the_script_generator_is_deterministic_for_a_seed() {
        let mut one = Rng::new(5);
        let mut two = Rng::new(5);
        assert_eq!(one.words(20), two.words(20));
        assert_ne!(Rng::new(5).next(), Rng::new(6).next());
    }
}
