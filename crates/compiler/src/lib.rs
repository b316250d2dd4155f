//! Veil's view compiler: turns a policy [`Decision`] for one user on one data source into the
//! Trino SQL view that enforces it, with the exact type of every output column.
//!
//! Pure: no I/O, no knowledge of gRPC or of the store. Every identifier and literal in the
//! output is escaped by [`sql`], never by sqlparser's printer.
//!
//! [`Decision`]: veil_policy::Decision

mod compiler; // `Compiler`: the estate with its SQL parsed; `facts`, `render` → `View`, `render_access` → `TableAccess`
mod explain; // `Compiler::explain` → `Explained`, what `veil explain` prints
mod load; // `Compiler::from_yaml`, `new`: every policy's SQL parsed and checked, all at once
mod mask; // each mask method as SQL, and which methods fit which column types
pub mod sql; // the only place identifiers and literals are written
mod template; // `Template`: one checked SQL expression, with the user functions as holes

pub use compiler::{Compiler, TableAccess, View, ViewColumn};
pub use explain::{ColumnReport, Explained, RowFilterReport};
pub use mask::{cast_problem, misfit};
pub use template::{Fact, Template};
