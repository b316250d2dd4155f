//! `veil.v1.PolicyDecision`: the query path the Trino plugin calls.

use std::pin::Pin;
use std::sync::Arc;

use tokio_stream::{Stream, StreamExt, wrappers::BroadcastStream};
use tonic::{Request, Response, Status};
use veil_proto::EncodedView;
use veil_proto::server::policy_decision_server::PolicyDecision;
use veil_proto::v1::{
    AuthorizeRevealRequest, AuthorizeRevealResponse, ChangeEvent, FilterSchemasRequest,
    FilterSchemasResponse, FilterTablesRequest, FilterTablesResponse, GetTableAccessRequest,
    GetTableAccessResponse, GetViewDefinitionRequest, GetViewDefinitionsRequest,
    GetViewDefinitionsResponse, ListSchemasRequest, ListSchemasResponse, ListTablesRequest,
    ListTablesResponse, NamedView, RecordQueriesRequest, RecordQueriesResponse,
    RecordRevealsRequest, RecordRevealsResponse, TableName, WatchChangesRequest,
};

use std::time::Instant;

use veil_policy::{Decision, Estate};

use veil_store::{ChangeRecord, PolicyNames};

use crate::audit::PendingDecisionRecord;
use crate::calls::Method;
use crate::convert;
use crate::metrics::Cache;
use crate::snapshot::{CachedView, ViewKey, same_question};
use crate::state::State;

pub struct DecisionService {
    state: Arc<State>,
}

impl DecisionService {
    pub fn new(state: Arc<State>) -> DecisionService {
        DecisionService { state }
    }

    /// The whole decision path: resolve the user, decide, and compile or reuse the view.
    pub fn view_definition(
        &self,
        request: &GetViewDefinitionRequest,
    ) -> Result<EncodedView, Status> {
        self.answer(request, &mut None)
    }

    /// As [`DecisionService::view_definition`]. Once the request is well formed, `answered_by`
    /// holds the policy version it is answered from, and then the policies of the answer.
    fn answer(
        &self,
        request: &GetViewDefinitionRequest,
        answered_by: &mut Option<AnsweredBy>,
    ) -> Result<EncodedView, Status> {
        let snapshot = self.state.current();
        let hash = snapshot.request_hash(request);
        let metrics = &self.state.metrics;
        if let Some(answer) = snapshot.answers.get(&hash)
            && same_question(&answer.0, request)
        {
            metrics.hit(Cache::Answers);
            let view = &answer.1;
            *answered_by = Some(AnsweredBy {
                version: snapshot.version,
                policies: Some(view.policies.clone()),
            });
            return Ok(view.answer.clone());
        }
        metrics.miss(Cache::Answers);
        let identity = convert::identity(request.identity.as_ref())?;
        let schema = convert::name("schema", &request.schema)?;
        let table = convert::name("table", &request.table)?;
        let answered_by = answered_by.insert(AnsweredBy {
            version: snapshot.version,
            policies: None,
        });
        let estate = snapshot.compiler.estate();
        let subject = convert::subject(estate, identity, &self.state.settings)?;
        let not_found = || Status::not_found(format!("data source `{schema}.{table}` not found"));
        let data_source = estate.data_source_id(schema, table).ok_or_else(not_found)?;
        let decision = estate.decide(data_source, &subject).ok_or_else(not_found)?;
        let facts = snapshot.compiler.facts(&decision, &subject);
        let key = ViewKey { decision, facts };
        let view = match snapshot.views.get(&key) {
            Some(view) => {
                metrics.hit(Cache::Views);
                view.value().clone()
            }
            None => {
                metrics.miss(Cache::Views);
                let view = CachedView {
                    answer: EncodedView::encode(&convert::view_response(
                        snapshot.compiler.render(&key.decision, &key.facts),
                        &self.state.settings.view_owner,
                        snapshot.version,
                    )),
                    policies: applied_policies(estate, &key.decision),
                };
                if snapshot.views.len() < self.state.settings.cache_capacity {
                    snapshot.views.insert(key, view.clone());
                }
                view
            }
        };
        answered_by.policies = Some(view.policies.clone());
        if snapshot.answers.len() < self.state.settings.cache_capacity {
            let mut asked = request.clone();
            if let Some(identity) = asked.identity.as_mut() {
                identity.query_id.clear();
            }
            snapshot.answers.insert(hash, (asked, view.clone()));
        }
        Ok(view.answer)
    }
}

impl DecisionService {
    /// Native enforcement for one backing table: the same decision as the governed catalog's
    /// view of the data source over it, as Trino's access control applies it. `answered_by`
    /// as for [`DecisionService::answer`], with the data source decided on.
    fn table_access(
        &self,
        request: &GetTableAccessRequest,
        answered_by: &mut Option<(AnsweredBy, String)>,
    ) -> Result<GetTableAccessResponse, Status> {
        let identity = convert::identity(request.identity.as_ref())?;
        let [catalog, schema, table] = convert::backing_table(request.table.as_ref())?;
        let snapshot = self.state.current();
        let estate = snapshot.compiler.estate();
        let subject = convert::subject(estate, identity, &self.state.settings)?;
        let hidden = |data_source: &str| GetTableAccessResponse {
            governed: true,
            data_source: data_source.to_owned(),
            policy_version: snapshot.version,
            ..GetTableAccessResponse::default()
        };
        let id = match estate.data_sources_over(catalog, schema, table) {
            [] => {
                return Ok(GetTableAccessResponse {
                    policy_version: snapshot.version,
                    ..GetTableAccessResponse::default()
                });
            }
            [id] => *id,
            // Whose policies would apply is ambiguous: hidden, failing closed.
            [first, ..] => return Ok(hidden(&estate.data_sources[*first].name)),
        };
        let data_source = &estate.data_sources[id];
        let answered = answered_by.insert((
            AnsweredBy {
                version: snapshot.version,
                policies: None,
            },
            data_source.name.clone(),
        ));
        let Some(decision) = estate.decide(id, &subject) else {
            return Ok(hidden(&data_source.name));
        };
        let facts = snapshot.compiler.facts(&decision, &subject);
        let key = ViewKey { decision, facts };
        let (response, policies) = match snapshot.accesses.get(&key) {
            Some(entry) => {
                self.state.metrics.hit(Cache::Accesses);
                entry.value().clone()
            }
            None => {
                self.state.metrics.miss(Cache::Accesses);
                let access = snapshot.compiler.render_access(&key.decision, &key.facts);
                let entry = (
                    convert::access_response(
                        data_source,
                        access,
                        &self.state.settings.view_owner,
                        snapshot.version,
                    ),
                    applied_policies(estate, &key.decision),
                );
                if snapshot.accesses.len() < self.state.settings.cache_capacity {
                    snapshot.accesses.insert(key, entry.clone());
                }
                entry
            }
        };
        answered.0.policies = Some(policies);
        Ok(response)
    }

    /// Native enforcement for a listing: which of one catalog's tables the user may see, and
    /// which no data source governs.
    fn filtered_tables(
        &self,
        request: &FilterTablesRequest,
    ) -> Result<FilterTablesResponse, Status> {
        let identity = convert::identity(request.identity.as_ref())?;
        let catalog = convert::name("catalog", &request.catalog)?;
        let snapshot = self.state.current();
        let estate = snapshot.compiler.estate();
        let subject = convert::subject(estate, identity, &self.state.settings)?;
        let mut response = FilterTablesResponse {
            policy_version: snapshot.version,
            ..FilterTablesResponse::default()
        };
        for name in &request.tables {
            match estate.data_sources_over(catalog, &name.schema, &name.table) {
                [] => response.ungoverned.push(name.clone()),
                [id] if natively_visible(estate, *id, &subject) => {
                    response.visible.push(name.clone())
                }
                _ => {}
            }
        }
        Ok(response)
    }

    /// Native enforcement for a listing of schemas: which of one catalog's schemas hold a table
    /// the user may see. A table two data sources govern is hidden natively (ambiguous), so it
    /// makes no schema visible.
    fn filtered_schemas(
        &self,
        request: &FilterSchemasRequest,
    ) -> Result<FilterSchemasResponse, Status> {
        let identity = convert::identity(request.identity.as_ref())?;
        let catalog = convert::name("catalog", &request.catalog)?;
        let snapshot = self.state.current();
        let estate = snapshot.compiler.estate();
        let subject = convert::subject(estate, identity, &self.state.settings)?;
        let mut response = FilterSchemasResponse {
            policy_version: snapshot.version,
            ..FilterSchemasResponse::default()
        };
        for schema in &request.schemas {
            let visible = estate
                .data_sources_in(catalog, schema)
                .iter()
                .any(|&id| natively_visible(estate, id, &subject));
            if visible {
                response.visible.push(schema.clone());
            }
        }
        Ok(response)
    }
}

/// Whether native enforcement shows a data source's backing table to the subject: the subject
/// may see the data source, and no other data source governs the same table (an ambiguous table
/// is hidden, failing closed).
fn natively_visible(
    estate: &veil_policy::Estate,
    id: usize,
    subject: &veil_policy::Subject<'_>,
) -> bool {
    let [catalog, schema, table] = &estate.data_sources[id].backing;
    estate.data_sources_over(catalog, schema, table).len() == 1
        && estate.decide(id, subject).is_some()
}

impl DecisionService {
    /// Queues the decision record of an answer to `request` (the data source it decided on).
    fn record(
        &self,
        answered_by: Option<AnsweredBy>,
        request: &GetViewDefinitionRequest,
        started: Instant,
    ) {
        let Some(AnsweredBy { version, policies }) = answered_by else {
            return;
        };
        if !self.state.audit.is_enabled() {
            return;
        }
        let identity = request.identity.as_ref();
        self.state.audit.record(PendingDecisionRecord {
            at_millis: veil_store::now_millis(),
            user: identity
                .map(|identity| identity.user.clone())
                .unwrap_or_default(),
            project: identity
                .map(|identity| identity.project.clone())
                .unwrap_or_default(),
            query_id: identity
                .map(|identity| identity.query_id.clone())
                .unwrap_or_default(),
            schema: request.schema.clone(),
            table: request.table.clone(),
            version,
            policies,
            latency_micros: started.elapsed().as_micros() as u64,
        });
    }
}

/// The policy version and the policies an answer came from: what its decision record keeps.
struct AnsweredBy {
    version: u64,
    /// `None`: refused.
    policies: Option<PolicyNames>,
}

/// The names of the policies that shaped a view: the data source's subscriptions, the masks and
/// the row filters applied, each once.
fn applied_policies(estate: &Estate, decision: &Decision) -> PolicyNames {
    let mut names: Vec<String> = Vec::new();
    for &policy in estate.bindings[decision.data_source]
        .subscriptions
        .iter()
        .chain(decision.masks.iter().flatten())
        .chain(&decision.row_filters)
    {
        let name = &estate.policies[policy].name;
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    PolicyNames::new(names)
}

impl DecisionService {
    /// One event for everything after `since`: exactly what changed when the store still has
    /// every change since then, else everything.
    async fn catch_up(&self, since: u64, current: u64) -> ChangeEvent {
        let everything = convert::everything_changed(current);
        let Some(store) = &self.state.store else {
            return everything;
        };
        if since == 0 {
            return everything;
        }
        let records = match store.changes_since(since).await {
            Ok(records) => records,
            Err(error) => {
                tracing::warn!(%error, "reading the change history failed; catching up with everything");
                return everything;
            }
        };
        // Only a history that reaches the current version says everything that changed.
        if records.last().map(|record| record.version) != Some(current) {
            return everything;
        }
        convert::change_event(&ChangeRecord::merge(current, records))
    }
}

impl DecisionService {
    /// Every view `request`'s user may see, each answered (cached, audited) as
    /// `GetViewDefinition` answers it.
    fn view_definitions(
        &self,
        request: GetViewDefinitionsRequest,
        started: Instant,
    ) -> Result<GetViewDefinitionsResponse, Status> {
        let identity = convert::identity(request.identity.as_ref())?;
        let schema = match request.schema.as_str() {
            "" => None,
            schema => Some(convert::name("schema", schema)?),
        };
        let snapshot = self.state.current();
        let estate = snapshot.compiler.estate();
        let subject = convert::subject(estate, identity, &self.state.settings)?;
        let names: Vec<(String, String)> = estate
            .visible(&subject, schema)
            .map(|id| {
                let data_source = &estate.data_sources[id];
                (data_source.schema.clone(), data_source.table.clone())
            })
            .collect();
        let mut views = Vec::with_capacity(names.len());
        for (schema, table) in names {
            // Each view exactly as `GetViewDefinition` answers it: cached, and audited.
            let single = GetViewDefinitionRequest {
                identity: request.identity.clone(),
                schema,
                table,
            };
            let mut answered_by = None;
            let answer = self.answer(&single, &mut answered_by);
            self.record(answered_by, &single, started);
            match answer {
                Ok(encoded) => views.push(NamedView {
                    view: Some(
                        prost::Message::decode(encoded.0)
                            .map_err(|error| Status::internal(error.to_string()))?,
                    ),
                    schema: single.schema,
                    table: single.table,
                }),
                // A newer policy version hid it meanwhile.
                Err(status) if status.code() == tonic::Code::NotFound => {}
                Err(status) => return Err(status),
            }
        }
        Ok(GetViewDefinitionsResponse { views })
    }

    /// The schemas holding a data source the user may see, sorted.
    fn schemas(&self, request: ListSchemasRequest) -> Result<ListSchemasResponse, Status> {
        let identity = convert::identity(request.identity.as_ref())?;
        let snapshot = self.state.current();
        let estate = snapshot.compiler.estate();
        let subject = convert::subject(estate, identity, &self.state.settings)?;
        let mut schemas: Vec<String> = estate
            .visible(&subject, None)
            .map(|id| estate.data_sources[id].schema.clone())
            .collect();
        schemas.sort();
        schemas.dedup();
        Ok(ListSchemasResponse { schemas })
    }

    /// The data sources the user may see, in one schema or all.
    fn tables(&self, request: ListTablesRequest) -> Result<ListTablesResponse, Status> {
        let identity = convert::identity(request.identity.as_ref())?;
        let schema = match request.schema.as_str() {
            "" => None,
            schema => Some(convert::name("schema", schema)?),
        };
        let snapshot = self.state.current();
        let estate = snapshot.compiler.estate();
        let subject = convert::subject(estate, identity, &self.state.settings)?;
        let tables = estate
            .visible(&subject, schema)
            .map(|id| {
                let data_source = &estate.data_sources[id];
                TableName {
                    schema: data_source.schema.clone(),
                    table: data_source.table.clone(),
                }
            })
            .collect();
        Ok(ListTablesResponse { tables })
    }

    /// Records how long a call took and how it ended, and sends its answer.
    fn answered<T>(
        &self,
        method: Method,
        started: Instant,
        result: Result<T, Status>,
    ) -> Result<Response<T>, Status> {
        self.state
            .metrics
            .decided(method, &result, started.elapsed());
        result.map(Response::new)
    }
}

type ChangeStream = Pin<Box<dyn Stream<Item = Result<ChangeEvent, Status>> + Send>>;

#[tonic::async_trait]
impl PolicyDecision for DecisionService {
    async fn get_view_definition(
        &self,
        request: Request<GetViewDefinitionRequest>,
    ) -> Result<Response<EncodedView>, Status> {
        self.state.calls.count(Method::GetViewDefinition);
        let started = Instant::now();
        let mut request = request.into_inner();
        let mut answered_by = None;
        let result = self.answer(&request, &mut answered_by);
        if let Err(status) = &result {
            tracing::debug!(
                user = request.identity.as_ref().map(|identity| identity.user.as_str()),
                schema = %request.schema,
                table = %request.table,
                code = ?status.code(),
                "view definition refused"
            );
        }
        if let Some(AnsweredBy { version, policies }) = answered_by
            && self.state.audit.is_enabled()
        {
            let identity = request.identity.take().unwrap_or_default();
            self.state.audit.record(PendingDecisionRecord {
                at_millis: veil_store::now_millis(),
                user: identity.user,
                project: identity.project,
                query_id: identity.query_id,
                schema: std::mem::take(&mut request.schema),
                table: std::mem::take(&mut request.table),
                version,
                policies,
                latency_micros: started.elapsed().as_micros() as u64,
            });
        }
        self.answered(Method::GetViewDefinition, started, result)
    }

    async fn get_view_definitions(
        &self,
        request: Request<GetViewDefinitionsRequest>,
    ) -> Result<Response<GetViewDefinitionsResponse>, Status> {
        self.state.calls.count(Method::GetViewDefinitions);
        let started = Instant::now();
        let result = self.view_definitions(request.into_inner(), started);
        self.answered(Method::GetViewDefinitions, started, result)
    }

    async fn list_schemas(
        &self,
        request: Request<ListSchemasRequest>,
    ) -> Result<Response<ListSchemasResponse>, Status> {
        self.state.calls.count(Method::ListSchemas);
        let started = Instant::now();
        let result = self.schemas(request.into_inner());
        self.answered(Method::ListSchemas, started, result)
    }

    async fn list_tables(
        &self,
        request: Request<ListTablesRequest>,
    ) -> Result<Response<ListTablesResponse>, Status> {
        self.state.calls.count(Method::ListTables);
        let started = Instant::now();
        let result = self.tables(request.into_inner());
        self.answered(Method::ListTables, started, result)
    }

    async fn get_table_access(
        &self,
        request: Request<GetTableAccessRequest>,
    ) -> Result<Response<GetTableAccessResponse>, Status> {
        self.state.calls.count(Method::GetTableAccess);
        let started = Instant::now();
        let request = request.into_inner();
        let mut answered_by = None;
        let result = self.table_access(&request, &mut answered_by);
        if let Some((answered_by, data_source)) = answered_by {
            let (schema, table) = data_source
                .split_once('.')
                .expect("data source names are `schema.table`");
            let single = GetViewDefinitionRequest {
                identity: request.identity,
                schema: schema.to_owned(),
                table: table.to_owned(),
            };
            self.record(Some(answered_by), &single, started);
        }
        self.answered(Method::GetTableAccess, started, result)
    }

    async fn filter_tables(
        &self,
        request: Request<FilterTablesRequest>,
    ) -> Result<Response<FilterTablesResponse>, Status> {
        self.state.calls.count(Method::FilterTables);
        let started = Instant::now();
        let result = self.filtered_tables(&request.into_inner());
        self.answered(Method::FilterTables, started, result)
    }

    async fn filter_schemas(
        &self,
        request: Request<FilterSchemasRequest>,
    ) -> Result<Response<FilterSchemasResponse>, Status> {
        self.state.calls.count(Method::FilterSchemas);
        let started = Instant::now();
        let result = self.filtered_schemas(&request.into_inner());
        self.answered(Method::FilterSchemas, started, result)
    }

    async fn record_queries(
        &self,
        request: Request<RecordQueriesRequest>,
    ) -> Result<Response<RecordQueriesResponse>, Status> {
        let request = request.into_inner();
        if request.queries.len() > convert::MAX_QUERY_BATCH {
            return Err(Status::invalid_argument(format!(
                "a batch of {} queries is more than the {} one call may carry",
                request.queries.len(),
                convert::MAX_QUERY_BATCH
            )));
        }
        let store = self
            .state
            .store
            .as_ref()
            .ok_or_else(|| Status::unavailable("this server keeps no audit (no store)"))?;
        let snapshot = self.state.current();
        let estate = snapshot.compiler.estate();
        let mut records = Vec::new();
        for (index, query) in request.queries.into_iter().enumerate() {
            if let Some(record) = convert::query_record(estate, index, query)? {
                records.push(record);
            }
        }
        self.state
            .audit
            .record_queries(store, &records, request.dropped)
            .await
            .map_err(|error| Status::unavailable(error.to_string()))?;
        Ok(Response::new(RecordQueriesResponse {
            recorded: records.len() as u32,
        }))
    }

    async fn authorize_reveal(
        &self,
        request: Request<AuthorizeRevealRequest>,
    ) -> Result<Response<AuthorizeRevealResponse>, Status> {
        self.state.calls.count(Method::AuthorizeReveal);
        let started = Instant::now();
        let result = crate::reveal::authorize(&self.state, request.into_inner()).await;
        self.answered(Method::AuthorizeReveal, started, result)
    }

    async fn record_reveals(
        &self,
        request: Request<RecordRevealsRequest>,
    ) -> Result<Response<RecordRevealsResponse>, Status> {
        crate::reveal::record(&self.state, request.into_inner())
            .await
            .map(Response::new)
    }

    type WatchChangesStream = ChangeStream;

    async fn watch_changes(
        &self,
        request: Request<WatchChangesRequest>,
    ) -> Result<Response<Self::WatchChangesStream>, Status> {
        self.state.calls.count(Method::WatchChanges);
        let since = request.into_inner().since_version;
        // Subscribe before reading the version, so no change falls between the two.
        let receiver = self.state.subscribe();
        let current = self.state.current().version;
        let catch_up = if since < current {
            Some(self.catch_up(since, current).await)
        } else {
            None
        };
        let live = BroadcastStream::new(receiver).filter_map(move |event| match event {
            Ok(event) if event.policy_version > since => Some(Ok(event)),
            Ok(_) => None,
            // A watcher that fell behind cannot know what it missed: drop everything.
            Err(_) => Some(Ok(convert::everything_changed(0))),
        });
        let stream = tokio_stream::iter(catch_up.map(Ok)).chain(live);
        Ok(Response::new(Box::pin(stream)))
    }
}
