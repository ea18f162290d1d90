//! The single integration-test binary (house style: one binary, modules
//! below). Each module covers one area end to end through the public API or
//! the CLI.

mod support;

mod cli;
mod codemode;
mod demo;
mod recorder;
mod reducer;
mod store;
