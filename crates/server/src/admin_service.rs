//! `veil.v1.PolicyAdmin`: bundle and entity changes through the validated write path, export,
//! explain and the decision audit, each call checked against the caller's role.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use veil_proto::server::policy_admin_server::PolicyAdmin;
use veil_proto::v1::{
    ApplyBundleRequest, ChangeSummary, DeleteEntityRequest, ExplainRequest, ExplainResponse,
    ExportBundleRequest, ExportBundleResponse, GetEntityRequest, GetEntityResponse,
    GetStatusRequest, GetStatusResponse, ListChangesRequest, ListChangesResponse,
    ListDecisionsRequest, ListDecisionsResponse, ListEntitiesRequest, ListEntitiesResponse,
    ListQueriesRequest, ListQueriesResponse, ListRevealsRequest, ListRevealsResponse,
    PutEntityRequest,
};

use crate::auth::{Caller, Role};
use crate::convert;
use crate::state::State;
use crate::write::ChangeError;
use veil_policy::{Edit, EditError, EntityKind, UserEdit};

pub struct AdminService {
    state: Arc<State>,
}

impl AdminService {
    pub fn new(state: Arc<State>) -> AdminService {
        AdminService { state }
    }

    fn store(&self) -> Result<&veil_store::Store, Status> {
        self.state
            .store
            .as_ref()
            .ok_or_else(|| Status::unavailable("this server keeps no history or audit (no store)"))
    }

    /// The bundle as it stood at `version`, rebuilt from the store's history and compiled.
    async fn compiler_as_of(&self, version: u64) -> Result<veil_compiler::Compiler, Status> {
        use veil_store::StoreError;
        let file = self
            .store()?
            .bundle_at(version)
            .await
            .map_err(|error| match error {
                StoreError::FutureVersion { .. } | StoreError::HistoryMissing { .. } => {
                    Status::failed_precondition(error.to_string())
                }
                error => Status::unavailable(error.to_string()),
            })?;
        let estate = veil_policy::Estate::new(file, None).map_err(|errors| {
            Status::internal(format!(
                "the bundle of version {version} does not validate: {errors}"
            ))
        })?;
        veil_compiler::Compiler::new(estate, self.state.functions_catalog()).map_err(|errors| {
            Status::internal(format!(
                "the bundle of version {version} does not compile: {errors}"
            ))
        })
    }
}

fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no caller"))
}

fn status(error: ChangeError) -> Status {
    use veil_store::StoreError;
    match error {
        ChangeError::Invalid(errors) => {
            Status::invalid_argument(format!("invalid bundle, nothing changed:\n{errors}"))
        }
        ChangeError::Edit(veil_policy::EditError::NotFound { kind, name }) => {
            Status::not_found(format!("no {kind} `{name}`"))
        }
        ChangeError::Edit(error) => Status::invalid_argument(format!("{error}; nothing changed")),
        ChangeError::Denied(message) => Status::permission_denied(message),
        ChangeError::Store(StoreError::Conflict { .. }) => {
            Status::aborted("another change was committed meanwhile; nothing changed, try again")
        }
        ChangeError::Store(error) => Status::unavailable(format!("{error}; nothing changed")),
    }
}

fn require_read(caller: &Caller) -> Result<(), Status> {
    if caller.may_read() {
        Ok(())
    } else {
        Err(Status::permission_denied(format!(
            "`{}` may not read the bundle",
            caller.name
        )))
    }
}

#[tonic::async_trait]
impl PolicyAdmin for AdminService {
    async fn apply_bundle(
        &self,
        request: Request<ApplyBundleRequest>,
    ) -> Result<Response<ChangeSummary>, Status> {
        let caller = caller(&request)?;
        if caller.role != Role::Admin {
            return Err(Status::permission_denied(format!(
                "only admins apply whole bundles; `{}` may not",
                caller.name
            )));
        }
        let request = request.into_inner();
        // Checked exactly as a policy file is loaded (errors carry their lines), once.
        let compiler =
            veil_compiler::Compiler::from_yaml(&request.yaml, self.state.functions_catalog())
                .map_err(|errors| {
                    Status::invalid_argument(format!("invalid bundle, nothing changed:\n{errors}"))
                })?;
        let outcome = self
            .state
            .replace(&caller, compiler, request.dry_run)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::change_summary(outcome)))
    }

    async fn export_bundle(
        &self,
        request: Request<ExportBundleRequest>,
    ) -> Result<Response<ExportBundleResponse>, Status> {
        require_read(&caller(&request)?)?;
        let snapshot = self.state.current();
        Ok(Response::new(ExportBundleResponse {
            yaml: snapshot.compiler.estate().to_file().to_yaml(),
            policy_version: snapshot.version,
        }))
    }

    async fn put_entity(
        &self,
        request: Request<PutEntityRequest>,
    ) -> Result<Response<ChangeSummary>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let kind = convert::entity_kind(request.kind)?;
        // The fast lane: one user, policy or data source edited in place of the whole estate
        // rebuilt. Read as `Bundle::put` reads it, for the same errors.
        let parse_error = |error: veil_policy::YamlError| {
            status(ChangeError::Edit(EditError::Invalid {
                kind: kind.name(),
                message: error.to_string(),
            }))
        };
        let edit = match kind {
            EntityKind::User => Some(Edit::User(UserEdit::Put(
                veil_policy::parse_yaml(&request.yaml).map_err(parse_error)?,
            ))),
            EntityKind::Policy => Some(Edit::PutPolicy(Box::new(
                veil_policy::parse_yaml(&request.yaml).map_err(parse_error)?,
            ))),
            EntityKind::DataSource => Some(Edit::PutDataSource(
                veil_policy::parse_yaml(&request.yaml).map_err(parse_error)?,
            )),
            _ => None,
        };
        if let Some(edit) = edit {
            let outcome = self
                .state
                .edit_entities(&caller, request.dry_run, &[edit])
                .await
                .map_err(status)?;
            return Ok(Response::new(convert::change_summary(outcome)));
        }
        let outcome = self
            .state
            .change(&caller, request.dry_run, |file| {
                // Refused early, even when the entity would not change.
                let (name, _) = file.put(kind, &request.yaml)?;
                if !caller.may_write(kind, &name) {
                    return Err(ChangeError::Denied(format!(
                        "`{}` may not change {} `{name}`: {}",
                        caller.name,
                        kind.name(),
                        caller.role.writes()
                    )));
                }
                Ok(())
            })
            .await
            .map_err(status)?;
        Ok(Response::new(convert::change_summary(outcome)))
    }

    async fn get_entity(
        &self,
        request: Request<GetEntityRequest>,
    ) -> Result<Response<GetEntityResponse>, Status> {
        require_read(&caller(&request)?)?;
        let request = request.into_inner();
        let kind = convert::entity_kind(request.kind)?;
        let yaml = self
            .state
            .current()
            .compiler
            .estate()
            .get(kind, &request.name)
            .ok_or_else(|| Status::not_found(format!("no {} `{}`", kind.name(), request.name)))?;
        Ok(Response::new(GetEntityResponse { yaml }))
    }

    async fn list_entities(
        &self,
        request: Request<ListEntitiesRequest>,
    ) -> Result<Response<ListEntitiesResponse>, Status> {
        require_read(&caller(&request)?)?;
        let kind = convert::entity_kind(request.into_inner().kind)?;
        let names = self.state.current().compiler.estate().names(kind);
        Ok(Response::new(ListEntitiesResponse { names }))
    }

    async fn delete_entity(
        &self,
        request: Request<DeleteEntityRequest>,
    ) -> Result<Response<ChangeSummary>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let kind = convert::entity_kind(request.kind)?;
        let edit = match kind {
            EntityKind::User => Some(Edit::User(UserEdit::Remove(request.name.clone()))),
            EntityKind::Policy => Some(Edit::RemovePolicy(request.name.clone())),
            EntityKind::DataSource => Some(Edit::RemoveDataSource(request.name.clone())),
            _ => None,
        };
        if let Some(edit) = edit {
            let outcome = self
                .state
                .edit_entities(&caller, request.dry_run, &[edit])
                .await
                .map_err(status)?;
            return Ok(Response::new(convert::change_summary(outcome)));
        }
        let outcome = self
            .state
            .change(&caller, request.dry_run, |file| {
                Ok(file.remove(kind, &request.name)?)
            })
            .await
            .map_err(status)?;
        Ok(Response::new(convert::change_summary(outcome)))
    }

    async fn explain(
        &self,
        request: Request<ExplainRequest>,
    ) -> Result<Response<ExplainResponse>, Status> {
        require_read(&caller(&request)?)?;
        let request = request.into_inner();
        let identity = convert::identity(request.identity.as_ref())?;
        let schema = convert::name("schema", &request.schema)?;
        let table = convert::name("table", &request.table)?;
        let snapshot = self.state.current();
        let past;
        let (version, compiler) = match request.as_of_version {
            0 => (snapshot.version, &snapshot.compiler),
            version => {
                past = self.compiler_as_of(version).await?;
                (version, &past)
            }
        };
        let estate = compiler.estate();
        let subject = convert::subject(estate, identity, &self.state.settings)?;
        let id = estate.data_source_id(schema, table).ok_or_else(|| {
            Status::not_found(format!("data source `{schema}.{table}` not found"))
        })?;
        let explained = compiler.explain(id, &subject);
        Ok(Response::new(convert::explain_response(
            &explained, version,
        )))
    }

    async fn list_changes(
        &self,
        request: Request<ListChangesRequest>,
    ) -> Result<Response<ListChangesResponse>, Status> {
        require_read(&caller(&request)?)?;
        let request = request.into_inner();
        let store = self.store()?;
        let filter = veil_store::HistoryFilter {
            kind: match request.kind {
                0 => None,
                kind => Some(convert::entity_kind(kind)?),
            },
            name: request.name,
            caller: request.caller,
            since_millis: request.since_unix_millis,
            until_millis: request.until_unix_millis,
            limit: request.limit.min(10_000),
        };
        let entries = store
            .history(&filter)
            .await
            .map_err(|error| Status::unavailable(error.to_string()))?;
        Ok(Response::new(ListChangesResponse {
            changes: entries.into_iter().map(convert::change_entry).collect(),
        }))
    }

    async fn get_status(
        &self,
        request: Request<GetStatusRequest>,
    ) -> Result<Response<GetStatusResponse>, Status> {
        require_read(&caller(&request)?)?;
        Ok(Response::new(GetStatusResponse {
            policy_version: self.state.current().version,
            calls: self
                .state
                .calls
                .by_method()
                .into_iter()
                .map(|(method, count)| (method.to_owned(), count))
                .collect(),
            audit_dropped: self.state.audit.dropped(),
        }))
    }

    async fn list_decisions(
        &self,
        request: Request<ListDecisionsRequest>,
    ) -> Result<Response<ListDecisionsResponse>, Status> {
        require_read(&caller(&request)?)?;
        let request = request.into_inner();
        let store = self.store()?;
        let limit = match request.limit {
            0 => 100,
            limit => limit.min(10_000),
        };
        let user = (!request.user.is_empty()).then_some(request.user.as_str());
        let records = store
            .decisions(limit, user)
            .await
            .map_err(|error| Status::unavailable(error.to_string()))?;
        Ok(Response::new(ListDecisionsResponse {
            records: records.into_iter().map(convert::decision_record).collect(),
            dropped: self.state.audit.dropped(),
        }))
    }

    async fn list_queries(
        &self,
        request: Request<ListQueriesRequest>,
    ) -> Result<Response<ListQueriesResponse>, Status> {
        require_read(&caller(&request)?)?;
        let request = request.into_inner();
        let store = self.store()?;
        let filter = audit_filter(
            request.user,
            request.data_source,
            request.query_id,
            request.since_unix_millis,
            request.until_unix_millis,
            request.limit,
        );
        let unavailable = |error: veil_store::StoreError| Status::unavailable(error.to_string());
        let mut queries = Vec::new();
        for record in store.queries(&filter).await.map_err(unavailable)? {
            let decisions = store
                .decisions_of_query(&record)
                .await
                .map_err(unavailable)?;
            queries.push(convert::audited_query(record, decisions));
        }
        Ok(Response::new(ListQueriesResponse {
            queries,
            dropped: self.state.audit.counters().queries_dropped.get(),
        }))
    }

    async fn list_reveals(
        &self,
        request: Request<ListRevealsRequest>,
    ) -> Result<Response<ListRevealsResponse>, Status> {
        require_read(&caller(&request)?)?;
        let request = request.into_inner();
        let store = self.store()?;
        let filter = audit_filter(
            request.user,
            request.data_source,
            request.query_id,
            request.since_unix_millis,
            request.until_unix_millis,
            request.limit,
        );
        let reveals = store
            .reveals(&filter)
            .await
            .map_err(|error| Status::unavailable(error.to_string()))?;
        Ok(Response::new(ListRevealsResponse {
            reveals: reveals.into_iter().map(convert::reveal_record).collect(),
        }))
    }
}

/// An audit listing's filters: empty strings and zeros match everything; the limit defaults to
/// 100 and is at most 10,000.
fn audit_filter(
    user: String,
    data_source: String,
    query_id: String,
    since_millis: i64,
    until_millis: i64,
    limit: u32,
) -> veil_store::AuditFilter {
    let set = |text: String| (!text.is_empty()).then_some(text);
    veil_store::AuditFilter {
        user: set(user),
        data_source: set(data_source),
        query_id: set(query_id),
        since_millis: (since_millis != 0).then_some(since_millis),
        until_millis: (until_millis != 0).then_some(until_millis),
        limit: match limit {
            0 => 100,
            limit => limit.min(10_000),
        },
    }
}
