//! `--audit-log FILE|-`: every decision record, query record and reveal event as one JSON object per line,
//! for log shippers, beside the store. A line is written once the record is stored.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::sync::Mutex;

use serde_json::json;
use veil_store::{DecisionRecord, QueryRecord, RevealEvent};

pub struct AuditLog {
    out: Mutex<Box<dyn Write + Send>>,
}

impl AuditLog {
    /// `-`: standard output (the server logs to standard error); else the file, created or
    /// appended to.
    pub fn open(target: &str) -> std::io::Result<AuditLog> {
        let out: Box<dyn Write + Send> = if target == "-" {
            Box::new(std::io::stdout())
        } else {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(target)
                .map_err(|error| {
                    std::io::Error::new(
                        error.kind(),
                        format!("opening the audit log {target}: {error}"),
                    )
                })?;
            Box::new(file)
        };
        Ok(AuditLog {
            out: Mutex::new(out),
        })
    }

    pub fn decisions(&self, records: &[DecisionRecord]) {
        self.write(records.iter().map(|record| {
            json!({
                "record": "decision",
                "at_unix_millis": record.at_millis,
                "user": record.user,
                "project": record.project,
                "data_source": record.data_source,
                "allowed": record.allowed,
                "policies": record.policies.names(),
                "policy_version": record.version,
                "latency_micros": record.latency_micros,
                "query_id": record.query_id,
            })
        }));
    }

    pub fn queries(&self, records: &[QueryRecord]) {
        self.write(records.iter().map(|record| {
            let mut line = serde_json::to_value(record).expect("a query record serializes");
            line.as_object_mut()
                .expect("a struct serializes as an object")
                .insert("record".into(), "query".into());
            line
        }));
    }

    pub fn reveals(&self, events: &[RevealEvent]) {
        self.write(events.iter().map(|event| {
            json!({
                "record": if event.node.is_empty() { "reveal_authorization" } else { "reveal_count" },
                "at_unix_millis": event.at_millis,
                "query_id": event.query_id,
                "user": event.user,
                "project": event.project,
                "data_source": event.data_source,
                "column": event.column,
                "policy": event.policy,
                "allowed": event.allowed,
                "reason": event.reason,
                "node": event.node,
                "values": event.revealed,
            })
        }));
    }

    /// One buffered write and flush per batch; a failing log is reported and never stops the
    /// audit (the store has every record).
    fn write(&self, mut lines: impl Iterator<Item = serde_json::Value>) {
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut buffer = BufWriter::new(&mut *out);
        let written = lines
            .try_for_each(|line| writeln!(buffer, "{line}"))
            .and_then(|()| buffer.flush());
        drop(buffer);
        if let Err(error) = written.and_then(|()| out.flush()) {
            tracing::error!(%error, "writing the audit log failed");
        }
    }
}
