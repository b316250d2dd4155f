//! veil-policy's integration tests, one binary. Load errors and decisions are data: a directory
//! of cases each, run by the shared harness (`veil-test-cases`); what needs code (YAML edge cases, round trips, what a
//! change affects) is in `bundle` and `changes`.

mod analysis;
mod bundle;
mod changes;
mod decisions;
mod load_errors;
