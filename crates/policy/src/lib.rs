//! Veil's policy model: data sources, users, purposes, projects and policies, the
//! policy file that carries them, and decisions — which data sources a user may see
//! and which masks and row filters apply to them, with the reasons.
//!
//! Pure: no I/O, no SQL generation, no knowledge of gRPC.

mod analysis; // `analyze`: warnings for `veil check` (`Findings`, `Finding`, `FindingKind`)
mod analysis_condition; // conditions decided over every subject an estate allows
mod analysis_predicate; // row predicates that are never true, read with sqlparser
mod attributes; // `Attributes`: a user's attributes, a map kept as a sorted vector
mod binding; // `Bindings`: the policies bearing on each data source; the mask conflict rules
mod bundle; // `Bundle` and its `*Spec` types: the policy file as written (serde)
mod change; // `EntityKind`, editing one entity, `diff` of two bundles, what a change `affected`
mod condition; // `Condition` and `Condition::holds`
mod decision; // `Subject`; `Estate::subject`, `can_see`, `decide` and `explain`
mod edit; // `Estate::edit` (`Edit`): one policy or data source edited in time that grows with its reach
mod error; // `LoadError`: where (line, `Entity`) and what (`LoadProblem`); `LoadErrors`
mod estate; // `Estate`: a validated bundle and its indexes; `Estate::new`, `from_yaml`
mod locate; // `LoadErrors::locate`: the line where an entity is written
mod model; // the checked model: `DataSource`, `Column`, `Policy`, `Rule`, `MaskMethod`, …
mod reveal; // `Estate::reveal`: who may turn a reversible mask's tokens back into values
mod tag; // hierarchical tags and data source name globs
mod trino_type; // `TrinoType`: column types parsed, never pasted
mod users; // `Users`: the users in persistent maps, shared between versions
mod validate; // every check `Estate::new` makes of the entities, all problems at once
mod validate_policy; // the checks of one policy: target, conditions, options, method, predicate

pub use analysis::{Finding, FindingKind, Findings, analyze};
pub use attributes::Attributes;
pub use binding::{Bindings, MaskCandidate, targets_data_source};
pub use bundle::*;
pub use change::{
    Affected, ChangeAction, EditError, EntityChange, EntityKind, Named, SETTINGS, affected, diff,
};
pub use condition::Condition;
pub use decision::{Decision, Explanation, Identity, PassReason, Passed, Subject, SubjectError};
pub use edit::{Edit, Edited, EntityEditError, Touched};
pub use error::{Entity, LoadError, LoadErrors, LoadProblem};
pub use estate::Estate;
pub use model::*;
pub use reveal::{Reveal, RevealRefusal};
pub use tag::{deepest_match, glob_matches, match_depth};
pub use trino_type::{TrinoType, TypeError, TypeFamily, TypeParameter};
pub use users::{UserEdit, UserEditError};
