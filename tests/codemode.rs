//! Integration tests: codemode.
