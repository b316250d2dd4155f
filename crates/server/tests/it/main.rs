//! Veil server's integration tests, in one binary: `harness` starts servers in-process and holds
//! what the tests share; every other module is one theme.

mod admin;
mod audit;
mod authority;
mod crash;
mod decision;
mod entity_edits;
mod harness;
mod history;
mod metrics;
mod native;
mod query_audit;
mod replicas;
mod reveal;
mod scim;
mod scim_errors;
mod tls;
mod user_edits;
mod webhooks;
