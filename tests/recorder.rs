//! Integration tests: recorder.
