//! Reveal on the query path: `AuthorizeReveal` decides whether a user may turn one column's
//! reversible tokens back into values and writes the answer to the reveal audit before giving
//! it (no audit, no reveal); `RecordReveals` stores each node's count of values revealed.

use tonic::Status;
use veil_policy::Reveal;
use veil_proto::v1::{
    AuthorizeRevealRequest, AuthorizeRevealResponse, RecordRevealsRequest, RecordRevealsResponse,
};
use veil_store::{RevealEvent, Store};

use crate::convert;
use crate::state::State;

/// The most counts one `RecordReveals` call may carry.
pub const MAX_REVEAL_BATCH: usize = 10_000;

fn store(state: &State) -> Result<&Store, Status> {
    state.store.as_ref().ok_or_else(|| {
        Status::unavailable("this server keeps no audit (no store), so it allows no reveal")
    })
}

fn unavailable(error: veil_store::StoreError) -> Status {
    Status::unavailable(format!("the reveal audit is unavailable: {error}"))
}

/// Decides a reveal and records the answer; the answer is given only once it is stored.
pub async fn authorize(
    state: &State,
    request: AuthorizeRevealRequest,
) -> Result<AuthorizeRevealResponse, Status> {
    let identity = convert::identity(request.identity.as_ref())?;
    for (field, value) in [
        ("data_source", &request.data_source),
        ("column", &request.column),
    ] {
        if value.is_empty() {
            return Err(Status::invalid_argument(format!("`{field}` is empty")));
        }
        if value.chars().any(char::is_control) {
            return Err(Status::invalid_argument(format!(
                "`{field}` is not a valid name: {value:?}"
            )));
        }
    }
    let store = store(state)?;
    let snapshot = state.current();
    let estate = snapshot.compiler.estate();
    let subject = convert::subject(estate, identity, &state.settings)?;
    let answer = estate.reveal(&request.data_source, &request.column, &subject);
    let (data_source, policy, reason) = match &answer {
        Reveal::Allowed {
            data_source,
            policy,
        } => (
            estate.data_sources[*data_source].name.clone(),
            estate.policies[*policy].name.clone(),
            String::new(),
        ),
        Reveal::Refused {
            data_source,
            reason,
        } => (
            data_source.map_or_else(
                || request.data_source.clone(),
                |id| estate.data_sources[id].name.clone(),
            ),
            String::new(),
            reason.to_string(),
        ),
    };
    let allowed = matches!(answer, Reveal::Allowed { .. });
    let identity = request.identity.unwrap_or_default();
    let event = RevealEvent {
        at_millis: veil_store::now_millis(),
        query_id: identity.query_id,
        user: identity.user,
        project: identity.project,
        data_source: data_source.clone(),
        column: request.column,
        policy: policy.clone(),
        allowed,
        reason: reason.clone(),
        node: String::new(),
        revealed: 0,
    };
    state
        .audit
        .record_reveals(store, std::slice::from_ref(&event))
        .await
        .map_err(unavailable)?;
    Ok(AuthorizeRevealResponse {
        allowed,
        policy,
        data_source,
        reason,
        policy_version: snapshot.version,
    })
}

/// Stores a batch of counts; a malformed count refuses the whole batch, naming it.
pub async fn record(
    state: &State,
    request: RecordRevealsRequest,
) -> Result<RecordRevealsResponse, Status> {
    if request.reveals.len() > MAX_REVEAL_BATCH {
        return Err(Status::invalid_argument(format!(
            "a batch of {} reveal counts is more than the {MAX_REVEAL_BATCH} one call may carry",
            request.reveals.len()
        )));
    }
    let store = store(state)?;
    let at_millis = veil_store::now_millis();
    let mut events = Vec::with_capacity(request.reveals.len());
    for (index, count) in request.reveals.into_iter().enumerate() {
        for (field, value) in [
            ("query_id", &count.query_id),
            ("user", &count.user),
            ("data_source", &count.data_source),
            ("column", &count.column),
            ("policy", &count.policy),
            ("node", &count.node),
        ] {
            if value.is_empty() {
                return Err(Status::invalid_argument(format!(
                    "reveal count {index} (query `{}`): `{field}` is empty",
                    count.query_id
                )));
            }
        }
        if count.values == 0 {
            continue;
        }
        events.push(RevealEvent {
            at_millis,
            query_id: count.query_id,
            user: count.user,
            project: String::new(),
            data_source: count.data_source,
            column: count.column,
            policy: count.policy,
            allowed: true,
            reason: String::new(),
            node: count.node,
            revealed: count.values,
        });
    }
    state
        .audit
        .record_reveals(store, &events)
        .await
        .map_err(unavailable)?;
    Ok(RecordRevealsResponse {
        recorded: events.len() as u32,
    })
}
