//! Veil's policy model: data sources, users, purposes, projects and policies, the
//! policy file that carries them, and decisions — which data sources a user may see
//! and which masks and row filters apply to them, with the reasons.
//!
//! Pure: no I/O, no SQL generation, no knowledge of gRPC.

mod bundle;
mod change;
mod condition;
mod decision;
mod estate;
mod model;
mod tag;
mod trino_type;

pub use bundle::*;
pub use change::{
    Affected, ChangeAction, EditError, EntityChange, EntityKind, Named, SETTINGS, affected, diff,
};
pub use condition::Condition;
pub use decision::{Decision, Explanation, Identity, PassReason, Passed, Subject, SubjectError};
pub use estate::{
    Bindings, Estate, LoadError, LoadErrors, MaskCandidate, locate_line, targets_data_source,
};
pub use model::*;
pub use tag::{deepest_match, glob_matches, match_depth};
pub use trino_type::{TrinoType, TypeError, TypeFamily, TypeParameter};
