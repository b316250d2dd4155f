//! The one place where proto messages and model values meet: requests read into the model,
//! and answers, summaries, explanations, history and audit records written back.

use tonic::Status;
use veil_compiler::{Explained, TableAccess, View};
use veil_policy::{EntityKind, Estate, Identity, Subject, SubjectError};

use crate::state::Settings;
use veil_proto::v1::{
    self, ChangeEvent, ChangeSummary, ColumnExplanation, ColumnMask, ExplainResponse,
    GetTableAccessResponse, GetViewDefinitionResponse, PassedPolicy, RowFilterExplanation,
    SubscriptionExplanation, ViewColumn,
};
use veil_store::{ChangeRecord, DecisionRecord, HistoryEntry};

use crate::write::Outcome;

/// Reads the identity of a request; a missing one or an empty user is `INVALID_ARGUMENT`.
pub fn identity(identity: Option<&v1::Identity>) -> Result<Identity<'_>, Status> {
    let identity = identity.ok_or_else(|| Status::invalid_argument("`identity` is required"))?;
    if identity.user.is_empty() {
        return Err(Status::invalid_argument("`identity.user` is empty"));
    }
    Ok(Identity {
        user: &identity.user,
        groups: &identity.groups,
        project: (!identity.project.is_empty()).then_some(identity.project.as_str()),
    })
}

/// Who is asking, resolved against the estate: `PERMISSION_DENIED` for a project the user may not
/// act under, `INVALID_ARGUMENT` for an empty user.
pub fn subject<'a>(
    estate: &'a Estate,
    identity: Identity<'a>,
    settings: &Settings,
) -> Result<Subject<'a>, Status> {
    estate
        .subject(identity, settings.trust_trino_groups)
        .map_err(subject_error)
}

fn subject_error(error: SubjectError) -> Status {
    match error {
        SubjectError::EmptyUser => Status::invalid_argument(error.to_string()),
        SubjectError::ProjectNotAllowed { .. } => Status::permission_denied(error.to_string()),
    }
}

/// A schema or table name: non-empty, no dots, no control characters.
pub fn name<'a>(field: &str, value: &'a str) -> Result<&'a str, Status> {
    if value.is_empty() {
        return Err(Status::invalid_argument(format!("`{field}` is empty")));
    }
    if value.contains('.') || value.chars().any(char::is_control) {
        return Err(Status::invalid_argument(format!(
            "`{field}` is not a valid name: {value:?}"
        )));
    }
    Ok(value)
}

pub fn view_response(view: View, owner: &str, version: u64) -> GetViewDefinitionResponse {
    GetViewDefinitionResponse {
        sql: view.sql,
        columns: view
            .columns
            .into_iter()
            .map(|column| ViewColumn {
                name: column.name,
                r#type: column.data_type,
                comment: column.comment.unwrap_or_default(),
            })
            .collect(),
        owner: owner.to_owned(),
        policy_version: version,
        comment: view.comment.unwrap_or_default(),
    }
}

/// Native enforcement's answer for a visible data source.
pub fn access_response(
    data_source: &veil_policy::DataSource,
    access: TableAccess,
    run_as: &str,
    version: u64,
) -> GetTableAccessResponse {
    GetTableAccessResponse {
        governed: true,
        visible: true,
        data_source: data_source.name.clone(),
        columns: data_source
            .columns
            .iter()
            .map(|column| column.name.clone())
            .collect(),
        row_filters: access.row_filters,
        column_masks: access
            .masks
            .into_iter()
            .map(|(column, expression)| ColumnMask { column, expression })
            .collect(),
        run_as: run_as.to_owned(),
        policy_version: version,
    }
}

/// A backing table as a request names it: three non-empty names.
pub fn backing_table(table: Option<&v1::BackingTable>) -> Result<[&str; 3], Status> {
    let table = table.ok_or_else(|| Status::invalid_argument("`table` is required"))?;
    Ok([
        name("table.catalog", &table.catalog)?,
        name("table.schema", &table.schema)?,
        name("table.table", &table.table)?,
    ])
}

/// An entity kind as a request names it; `INVALID_ARGUMENT` for none or an unknown one.
pub fn entity_kind(value: i32) -> Result<EntityKind, Status> {
    match v1::EntityKind::try_from(value) {
        Ok(v1::EntityKind::DataSource) => Ok(EntityKind::DataSource),
        Ok(v1::EntityKind::User) => Ok(EntityKind::User),
        Ok(v1::EntityKind::Group) => Ok(EntityKind::Group),
        Ok(v1::EntityKind::Purpose) => Ok(EntityKind::Purpose),
        Ok(v1::EntityKind::Project) => Ok(EntityKind::Project),
        Ok(v1::EntityKind::Policy) => Ok(EntityKind::Policy),
        Ok(v1::EntityKind::Settings) => Ok(EntityKind::Settings),
        _ => Err(Status::invalid_argument("`kind` must name an entity kind")),
    }
}

pub fn proto_entity_kind(kind: EntityKind) -> v1::EntityKind {
    match kind {
        EntityKind::DataSource => v1::EntityKind::DataSource,
        EntityKind::User => v1::EntityKind::User,
        EntityKind::Group => v1::EntityKind::Group,
        EntityKind::Purpose => v1::EntityKind::Purpose,
        EntityKind::Project => v1::EntityKind::Project,
        EntityKind::Policy => v1::EntityKind::Policy,
        EntityKind::Settings => v1::EntityKind::Settings,
    }
}

/// The event that announces a committed change: what it may affect.
pub fn change_event(record: &ChangeRecord) -> ChangeEvent {
    ChangeEvent {
        policy_version: record.version,
        data_sources: record.data_sources.clone(),
        users: record.users.clone(),
        everything: record.everything,
    }
}

/// The event that tells a watcher to drop everything it caches (version 0: unknown).
pub fn everything_changed(version: u64) -> ChangeEvent {
    ChangeEvent {
        policy_version: version,
        data_sources: Vec::new(),
        users: Vec::new(),
        everything: true,
    }
}

/// What a change did, or for a dry run would do.
pub fn change_summary(outcome: Outcome) -> ChangeSummary {
    ChangeSummary {
        applied: outcome.applied,
        policy_version: outcome.version,
        changes: outcome
            .changes
            .iter()
            .map(|change| v1::EntityChange {
                kind: proto_entity_kind(change.kind) as i32,
                name: change.name.clone(),
                action: change.action.name().to_owned(),
            })
            .collect(),
        affected_data_sources: outcome.affected.data_sources.into_iter().collect(),
        affected_users: outcome.affected.users.into_iter().collect(),
        affects_everything: outcome.affected.everything,
    }
}

/// An explanation as `Explain` answers it, at `version`.
pub fn explain_response(explained: &Explained, version: u64) -> ExplainResponse {
    let view_columns = explained
        .view
        .as_ref()
        .map(|view| view.columns.as_slice())
        .unwrap_or_default();
    ExplainResponse {
        visible: explained.view.is_some(),
        sql: explained
            .view
            .as_ref()
            .map(|view| view.sql.clone())
            .unwrap_or_default(),
        subscriptions: explained
            .subscriptions
            .iter()
            .map(|(policy, allows)| SubscriptionExplanation {
                policy: policy.clone(),
                allows: *allows,
            })
            .collect(),
        columns: explained
            .columns
            .iter()
            .enumerate()
            .map(|(index, report)| ColumnExplanation {
                column: report.column.clone(),
                r#type: view_columns
                    .get(index)
                    .map(|column| column.data_type.clone())
                    .unwrap_or_default(),
                policy: report
                    .applied
                    .as_ref()
                    .map(|(policy, _)| policy.clone())
                    .unwrap_or_default(),
                method: report
                    .applied
                    .as_ref()
                    .map(|(_, method)| method.clone())
                    .unwrap_or_default(),
                fallback: report.fallback.clone().unwrap_or_default(),
                reveal: report.reveal == Some(true),
                passed: report
                    .overridden
                    .iter()
                    .map(|(policy, reason)| PassedPolicy {
                        policy: policy.clone(),
                        reason: reason.clone(),
                    })
                    .collect(),
            })
            .collect(),
        row_filters: explained
            .row_filters
            .iter()
            .map(|filter| RowFilterExplanation {
                policy: filter.policy.clone(),
                applied: filter.applied,
            })
            .collect(),
        text: explained.to_string(),
        policy_version: version,
    }
}

/// One history entry as `ListChanges` answers it, the entity as policy-file YAML.
pub fn change_entry(entry: HistoryEntry) -> v1::ChangeEntry {
    v1::ChangeEntry {
        policy_version: entry.version,
        at_unix_millis: entry.at_millis,
        caller: entry.caller,
        kind: proto_entity_kind(entry.kind) as i32,
        name: entry.name,
        action: entry.action.name().to_owned(),
        before_yaml: json_to_yaml(&entry.before),
        after_yaml: json_to_yaml(&entry.after),
    }
}

pub fn decision_record(record: DecisionRecord) -> v1::DecisionRecord {
    v1::DecisionRecord {
        at_unix_millis: record.at_millis,
        user: record.user,
        project: record.project,
        data_source: record.data_source,
        allowed: record.allowed,
        policies: record.policies.names().to_vec(),
        policy_version: record.version,
        latency_micros: record.latency_micros,
        query_id: record.query_id,
    }
}

/// A stored entity (JSON) as the YAML of its policy-file entry; empty stays empty.
fn json_to_yaml(json: &str) -> String {
    if json.is_empty() {
        return String::new();
    }
    serde_json::from_str::<serde_json::Value>(json)
        .map(|value| serde_norway::to_string(&value).expect("JSON values serialize"))
        .unwrap_or_else(|_| json.to_owned())
}

/// The most queries one `RecordQueries` batch may carry.
pub const MAX_QUERY_BATCH: usize = 10_000;

/// A reported query read into the store's form, its data sources resolved against `estate`:
/// a governed catalog's view is the data source `schema.table`; any other table is every data
/// source defined on it. `None`: it read no governed data. A malformed record is
/// `INVALID_ARGUMENT` naming it.
pub fn query_record(
    estate: &Estate,
    index: usize,
    query: v1::QueryRecord,
) -> Result<Option<veil_store::QueryRecord>, Status> {
    let invalid = |what: &str| {
        Status::invalid_argument(format!(
            "queries[{index}] (query id `{}`): {what}",
            query.query_id
        ))
    };
    if query.query_id.is_empty() {
        return Err(invalid("`query_id` is empty"));
    }
    if query.user.is_empty() {
        return Err(invalid("`user` is empty"));
    }
    if query.end_unix_millis < query.create_unix_millis {
        return Err(invalid("`end_unix_millis` is before `create_unix_millis`"));
    }
    let mut data_sources: Vec<String> = Vec::new();
    for table in &query.tables {
        if table.governed_view {
            if let Some(id) = estate.data_source_id(&table.schema, &table.table) {
                data_sources.push(estate.data_sources[id].name.clone());
            }
        } else {
            for id in estate.data_sources_over(&table.catalog, &table.schema, &table.table) {
                data_sources.push(estate.data_sources[*id].name.clone());
            }
        }
    }
    data_sources.sort();
    data_sources.dedup();
    if data_sources.is_empty() {
        return Ok(None);
    }
    let mut groups = query.groups;
    groups.sort();
    let mut text = query.query;
    truncate(&mut text, 16 << 10);
    let mut error_message = query.error_message;
    truncate(&mut error_message, 1 << 10);
    Ok(Some(veil_store::QueryRecord {
        query_id: query.query_id,
        user: query.user,
        groups,
        project: query.project,
        create_millis: query.create_unix_millis,
        execution_start_millis: query.execution_start_unix_millis,
        end_millis: query.end_unix_millis,
        state: query.state,
        error_code: query.error_code,
        error_message,
        tables: query
            .tables
            .into_iter()
            .map(|table| veil_store::QueryTable {
                catalog: table.catalog,
                schema: table.schema,
                table: table.table,
                governed_view: table.governed_view,
                directly_referenced: table.directly_referenced,
                row_filters: table.row_filters,
                columns: table
                    .columns
                    .into_iter()
                    .map(|column| veil_store::QueryColumn {
                        name: column.name,
                        mask: column.mask,
                    })
                    .collect(),
            })
            .collect(),
        output_rows: query.output_rows,
        output_bytes: query.output_bytes,
        read_rows: query.read_rows,
        read_bytes: query.read_bytes,
        query: text,
        data_sources,
    }))
}

/// Cuts `text` to at most `bytes`, on a character boundary.
fn truncate(text: &mut String, bytes: usize) {
    if text.len() > bytes {
        let mut end = bytes;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

pub fn audited_query(
    record: veil_store::QueryRecord,
    decisions: Vec<DecisionRecord>,
) -> v1::AuditedQuery {
    v1::AuditedQuery {
        query: Some(v1::QueryRecord {
            query_id: record.query_id,
            user: record.user,
            groups: record.groups,
            project: record.project,
            create_unix_millis: record.create_millis,
            execution_start_unix_millis: record.execution_start_millis,
            end_unix_millis: record.end_millis,
            state: record.state,
            error_code: record.error_code,
            error_message: record.error_message,
            tables: record
                .tables
                .into_iter()
                .map(|table| v1::QueryTable {
                    catalog: table.catalog,
                    schema: table.schema,
                    table: table.table,
                    governed_view: table.governed_view,
                    directly_referenced: table.directly_referenced,
                    row_filters: table.row_filters,
                    columns: table
                        .columns
                        .into_iter()
                        .map(|column| v1::QueryColumn {
                            name: column.name,
                            mask: column.mask,
                        })
                        .collect(),
                })
                .collect(),
            output_rows: record.output_rows,
            output_bytes: record.output_bytes,
            read_rows: record.read_rows,
            read_bytes: record.read_bytes,
            query: record.query,
            data_sources: record.data_sources,
        }),
        decisions: decisions.into_iter().map(decision_record).collect(),
    }
}

/// A reveal summary on the wire.
pub fn reveal_record(summary: veil_store::RevealSummary) -> v1::RevealRecord {
    v1::RevealRecord {
        query_id: summary.query_id,
        user: summary.user,
        data_source: summary.data_source,
        column: summary.column,
        policy: summary.policy,
        values: summary.revealed,
        nodes: summary.nodes,
        first_unix_millis: summary.first_millis,
        last_unix_millis: summary.last_millis,
        allowed: summary.allowed,
        reason: summary.reason,
        project: summary.project,
    }
}
