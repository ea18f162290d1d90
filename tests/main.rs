//! The single integration-test binary (house style: one binary, modules
//! below). Each module covers one area end to end through the public API or
//! the CLI.

// Test code states its expectations with `expect`; a failure is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod atif;
mod cli;
mod codemode;
mod conformance;
mod demo;
mod diff;
mod export;
mod fleet;
mod hot_log;
mod keep_going;
mod otlp;
mod pack;
mod parquet;
mod phoenix;
mod push;
mod recorder;
mod reducer;
mod session_trees;
mod sessions;
mod show;
mod store;
mod viewer;

mod crash;
mod environment;
mod fuzz;
mod hostile;
mod house;
mod import;
mod output_paths;
mod readme;
mod redaction;
mod reference_state;
mod reliability;
