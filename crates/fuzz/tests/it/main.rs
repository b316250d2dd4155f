//! veil-fuzz's tests, one binary: a few cases of every property (fast enough for every
//! `cargo test`), the regressions the fuzzer found, and checks of the checker itself.

mod incremental;
mod properties;
mod regressions;
