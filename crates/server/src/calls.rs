//! How many calls of each query-path method the server has answered since it started: what
//! `GetStatus` (`veil status`) reports, so an operator, and the e2e cost report, can count the
//! PDP calls a query makes.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Copy)]
pub enum Method {
    GetViewDefinition,
    GetViewDefinitions,
    ListSchemas,
    ListTables,
    WatchChanges,
    GetTableAccess,
    FilterTables,
    FilterSchemas,
    AuthorizeReveal,
}

impl Method {
    pub(crate) const ALL: [Method; 9] = [
        Method::GetViewDefinition,
        Method::GetViewDefinitions,
        Method::ListSchemas,
        Method::ListTables,
        Method::WatchChanges,
        Method::GetTableAccess,
        Method::FilterTables,
        Method::FilterSchemas,
        Method::AuthorizeReveal,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Method::GetViewDefinition => "GetViewDefinition",
            Method::GetViewDefinitions => "GetViewDefinitions",
            Method::ListSchemas => "ListSchemas",
            Method::ListTables => "ListTables",
            Method::WatchChanges => "WatchChanges",
            Method::GetTableAccess => "GetTableAccess",
            Method::FilterTables => "FilterTables",
            Method::FilterSchemas => "FilterSchemas",
            Method::AuthorizeReveal => "AuthorizeReveal",
        }
    }
}

/// One counter per method; counting is a relaxed atomic add.
#[derive(Debug, Default)]
pub struct Calls {
    counts: [AtomicU64; Method::ALL.len()],
}

impl Calls {
    pub fn count(&self, method: Method) {
        self.counts[method as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Every method by name with its count so far.
    pub fn by_method(&self) -> Vec<(&'static str, u64)> {
        Method::ALL
            .iter()
            .map(|&method| {
                (
                    method.name(),
                    self.counts[method as usize].load(Ordering::Relaxed),
                )
            })
            .collect()
    }
}
