//! SCIM's status codes and error bodies over plain HTTP on loopback: who may call, uniqueness,
//! ETags, paging limits and bodies too large; a refused request changes nothing.

use std::sync::Arc;

use serde_json::{Value, json};
use veil_proto::v1::ApplyBundleRequest;

use crate::harness::{Server, sqlite_url};
use crate::scim::{POLICY, SCIM_TOKEN, start_scim};

struct Http {
    base: String,
}

/// Status, headers we look at, and the body as JSON.
struct Answer {
    status: u16,
    etag: Option<String>,
    body: Value,
}

impl Http {
    fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Answer {
        self.try_send(method, path, token, headers, body)
            .unwrap_or_else(|| panic!("{method} {path}: the connection failed"))
    }

    /// The answer, or `None` when the connection failed.
    fn try_send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Option<Answer> {
        let mut request = ureq::request(method, &format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.set(name, value);
        }
        let response = match body {
            Some(body) => request
                .set("Content-Type", "application/scim+json")
                .send_string(body),
            None => request.call(),
        };
        let response = match response {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(error) => {
                eprintln!("{method} {path}: {error}");
                return None;
            }
        };
        let status = response.status();
        let etag = response.header("ETag").map(str::to_owned);
        let text = response.into_string().unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|error| panic!("{method} {path}: {status} {error}: {text}"))
        };
        Some(Answer { status, etag, body })
    }

    fn scim(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.send(
            method,
            path,
            Some(SCIM_TOKEN),
            &[],
            body.map(|body| body.to_string()).as_deref(),
        )
    }
}

fn user(name: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name})
}

fn assert_error(answer: &Answer, status: u16, scim_type: Option<&str>, detail: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(
        answer.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(answer.body["status"], status.to_string());
    assert_eq!(
        answer.body.get("scimType").and_then(Value::as_str),
        scim_type,
        "{}",
        answer.body
    );
    let found = answer.body["detail"].as_str().unwrap();
    assert!(found.contains(detail), "{found}");
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_are_scim_errors_and_change_nothing() {
    let server = Server::on_store(&sqlite_url("scim-errors")).await;
    let mut admin = server.admin("admin-token-0000000").await;
    admin
        .apply_bundle(ApplyBundleRequest {
            yaml: POLICY.into(),
            dry_run: false,
        })
        .await
        .unwrap();
    let (base, _) = start_scim(Arc::clone(&server.state), None).await;
    let http = Http { base };
    let state = Arc::clone(&server.state);
    tokio::task::spawn_blocking(move || {
        let created = http.scim("POST", "/Users", Some(user("bjensen")));
        assert_eq!(created.status, 201, "{}", created.body);
        let id = created.body["id"].as_str().unwrap().to_owned();
        let etag = created.etag.clone().unwrap();
        assert!(etag.starts_with("W/\""), "{etag}");
        assert_eq!(created.body["meta"]["version"], etag.as_str());
        assert_eq!(created.body["meta"]["resourceType"], "User");
        let version = state.current().version;
        let before = state.current().compiler.estate().to_file();

        assert_error(&http.send("GET", "/Users", None, &[], None), 401, None, "a bearer token is required");
        assert_error(&http.send("GET", "/Users", Some("wrong-token-00000000"), &[], None), 401, None, "unknown token");
        assert_error(&http.send("GET", "/Users", Some("governor-token-000"), &[], None), 403, None, "`gov` may not use SCIM");
        assert_error(&http.scim("POST", "/Users", Some(user("BJensen"))), 409, Some("uniqueness"), "`userName` `BJensen` is taken by user `bjensen`");
        assert_error(&http.scim("GET", "/Users/nobody", None), 404, None, "no user `nobody`");
        assert_error(&http.scim("GET", "/Users?filter=userName%20zz%20%22x%22", None), 400, Some("invalidFilter"), "unknown operator `zz`");
        assert_error(&http.scim("GET", "/Users?count=many", None), 400, Some("invalidValue"), "`count` is `many`");
        assert_error(&http.scim("POST", "/Users", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}))), 400, Some("invalidValue"), "`userName` is required");
        assert_error(&http.scim("POST", "/Users", Some(json!({"userName": "x"}))), 400, Some("invalidSyntax"), "`schemas` must include");
        assert_error(&http.scim("POST", "/Users", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x", "name": {"nick": "y"}}))), 400, Some("invalidValue"), "unknown attribute `name.nick`");
        assert_error(&http.scim("POST", "/Users", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x", "active": "maybe"}))), 400, Some("invalidValue"), "`active` must be true or false");
        let patch = |operations: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations});
        assert_error(&http.scim("PATCH", &format!("/Users/{id}"), Some(patch(json!([{"op": "replace", "path": "favoriteColor", "value": "x"}])))), 400, Some("invalidPath"), "unknown attribute `favoriteColor`");
        assert_error(&http.scim("PATCH", &format!("/Users/{id}"), Some(patch(json!([{"op": "remove"}])))), 400, Some("noTarget"), "`remove` needs a `path`");
        assert_error(&http.scim("PATCH", &format!("/Users/{id}"), Some(patch(json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}])))), 400, Some("mutability"), "`groups` is read-only");
        let stale = http.send("PUT", &format!("/Users/{id}"), Some(SCIM_TOKEN), &[("If-Match", "W/\"0000\"")], Some(&user("bjensen2").to_string()));
        assert_error(&stale, 412, None, "the resource is at version");
        let stale = http.send("DELETE", &format!("/Users/{id}"), Some(SCIM_TOKEN), &[("If-Match", "W/\"0000\"")], None);
        assert_error(&stale, 412, None, "the resource is at version");
        // Just over the limit: the server answers before reading the body and closes, which a
        // client still writing may see as a reset; a reset is retried, an answer must be a 413.
        let huge = format!("{{\"schemas\": [\"urn:ietf:params:scim:schemas:core:2.0:User\"], \"userName\": \"{}\"}}", "x".repeat((1 << 20) + 1));
        let too_large = (0..5)
            .find_map(|_| http.try_send("POST", "/Users", Some(SCIM_TOKEN), &[], Some(&huge)))
            .expect("an answer to a body too large");
        assert_error(&too_large, 413, None, "the body is larger than");
        assert_error(&http.scim("POST", "/Groups", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "g", "members": [{"value": "ghost"}]}))), 400, Some("invalidValue"), "`members[0].value`: no user `ghost`");
        assert_error(&http.scim("GET", "/Nothing", None), 404, None, "no such SCIM endpoint");
        assert_eq!(state.current().version, version, "a refused request changed nothing");
        assert_eq!(state.current().compiler.estate().to_file(), before);

        // Entra's quirks: `Replace` capitalized and `active` as text; the right ETag passes.
        let patched = http.send("PATCH", &format!("/Users/{id}"), Some(SCIM_TOKEN), &[("If-Match", &etag)],
            Some(&patch(json!([{"op": "Replace", "path": "active", "value": "False"}])).to_string()));
        assert_eq!(patched.status, 200, "{}", patched.body);
        assert_eq!(patched.body["active"], false);
        assert_ne!(patched.etag.unwrap(), etag);
        assert!(state.current().compiler.estate().to_file().users.iter().any(|user| user.name == "bjensen" && user.deactivated));

        // Paging is 1-based; count 0 answers only the total.
        for name in ["u1", "u2", "u3"] {
            assert_eq!(http.scim("POST", "/Users", Some(user(name))).status, 201);
        }
        let page = http.scim("GET", "/Users?filter=userName%20sw%20%22u%22&startIndex=2&count=1", None).body;
        assert_eq!((page["totalResults"].clone(), page["startIndex"].clone(), page["itemsPerPage"].clone()), (json!(3), json!(2), json!(1)));
        assert_eq!(page["Resources"][0]["userName"], "u2");
        let totals = http.scim("GET", "/Users?count=0", None).body;
        assert_eq!((totals["totalResults"].clone(), totals["Resources"].clone()), (json!(4), json!([])));

        // Discovery answers.
        let config = http.scim("GET", "/ServiceProviderConfig", None).body;
        assert_eq!(config["patch"]["supported"], true);
        assert_eq!(config["etag"]["supported"], true);
        let types = http.scim("GET", "/ResourceTypes", None).body;
        assert_eq!(types["totalResults"], 2);
        let enterprise = http.scim("GET", "/Schemas/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", None).body;
        assert!(enterprise["attributes"].as_array().unwrap().iter().any(|attribute| attribute["name"] == "costCenter"));
        // An admin token may provision too.
        assert_eq!(http.send("GET", "/Users", Some("admin-token-0000000"), &[], None).status, 200);
    })
    .await
    .unwrap();
    server.stop().await;
}

/// The user names carrying `group`, in the estate's order.
fn members_of(state: &veil_server::State, group: &str) -> Vec<String> {
    state
        .current()
        .compiler
        .estate()
        .users()
        .filter(|user| user.groups.iter().any(|name| name == group))
        .map(|user| user.name.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn group_writes_are_single_entity_edits_of_the_group_and_its_members() {
    let url = sqlite_url("scim-groups");
    let server = Server::on_store(&url).await;
    let mut admin = server.admin("admin-token-0000000").await;
    admin
        .apply_bundle(ApplyBundleRequest {
            yaml: POLICY.into(),
            dry_run: false,
        })
        .await
        .unwrap();
    let (base, _) = start_scim(Arc::clone(&server.state), None).await;
    let http = Http { base };
    let state = Arc::clone(&server.state);
    let versions = tokio::task::spawn_blocking(move || {
        let mut ids = Vec::new();
        for name in ["ann", "ben", "cat"] {
            let created = http.scim("POST", "/Users", Some(user(name)));
            assert_eq!(created.status, 201, "{}", created.body);
            ids.push(created.body["id"].as_str().unwrap().to_owned());
        }
        let mut versions = vec![state.current().version];
        let group = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "analysts",
            "members": [{"value": ids[0]}],
        });
        let created = http.scim("POST", "/Groups", Some(group));
        assert_eq!(created.status, 201, "{}", created.body);
        let id = created.body["id"].as_str().unwrap().to_owned();
        assert_eq!(members_of(&state, "analysts"), ["ann"]);
        versions.push(state.current().version);

        let patch = |operations: Value| {
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
        };
        let added = http.scim(
            "PATCH",
            &format!("/Groups/{id}"),
            Some(patch(json!([{"op": "add", "path": "members", "value": [{"value": ids[1]}]}]))),
        );
        assert_eq!(added.status, 200, "{}", added.body);
        assert_eq!(added.body["members"].as_array().unwrap().len(), 2);
        assert_eq!(members_of(&state, "analysts"), ["ann", "ben"]);
        versions.push(state.current().version);

        let removed = http.scim(
            "PATCH",
            &format!("/Groups/{id}"),
            Some(patch(json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", ids[0])}]))),
        );
        assert_eq!(removed.status, 200, "{}", removed.body);
        assert_eq!(members_of(&state, "analysts"), ["ben"]);
        versions.push(state.current().version);

        // A rename moves the group to every member under its new name.
        let renamed = http.scim(
            "PUT",
            &format!("/Groups/{id}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "auditors",
                "members": [{"value": ids[1]}, {"value": ids[2]}],
            })),
        );
        assert_eq!(renamed.status, 200, "{}", renamed.body);
        assert_eq!(renamed.body["id"], id.as_str());
        assert_eq!(members_of(&state, "analysts"), Vec::<String>::new());
        assert_eq!(members_of(&state, "auditors"), ["ben", "cat"]);
        let read = http.scim("GET", &format!("/Groups/{id}"), None);
        assert_eq!(read.body["displayName"], "auditors");
        versions.push(state.current().version);

        let deleted = http.scim("DELETE", &format!("/Groups/{id}"), None);
        assert_eq!(deleted.status, 204, "{}", deleted.body);
        assert_eq!(members_of(&state, "auditors"), Vec::<String>::new());
        assert!(state.current().compiler.estate().groups().is_empty());
        versions.push(state.current().version);
        versions
    })
    .await
    .unwrap();
    // Each write was one single-entity commit (the fast lane, followable by replicas), and a
    // restart loads exactly what the edits left.
    let store = veil_store::Store::open(&url).await.unwrap();
    for pair in versions.windows(2) {
        assert!(pair[0] < pair[1], "{versions:?}");
        assert!(
            store
                .entity_edits_between(pair[0], pair[1])
                .await
                .unwrap()
                .is_some(),
            "the commit to version {} was not a single-entity commit",
            pair[1]
        );
    }
    let exported = server.state.current().compiler.estate().to_file();
    assert_eq!(store.load().await.unwrap().1, exported);
    server.stop().await;
}
