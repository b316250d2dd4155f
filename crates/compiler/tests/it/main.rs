//! veil-compiler's integration tests, one binary: `golden` compiles the policy files in
//! `golden/` and compares the views with the `.sql` beside each; `hostile` feeds hostile names,
//! values and SQL through loading and compiling.

mod golden;
mod hostile;
