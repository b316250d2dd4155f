//! The one place where proto messages and policy-model values meet.

use tonic::Status;
use veil_compiler::{TableAccess, View};
use veil_policy::{EntityKind, Estate, Identity, Subject, SubjectError};

use crate::state::Settings;
use veil_proto::v1::{
    self, ChangeEvent, ColumnMask, GetTableAccessResponse, GetViewDefinitionResponse, ViewColumn,
};
use veil_store::ChangeRecord;

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
