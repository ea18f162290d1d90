//! Integration tests: reducer.
