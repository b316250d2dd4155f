//! Open Policy Agent beside Veil: installs OPA with `go install`, writes a data document from the
//! same estate for `opa/veil.rego`, serves both with `opa run --server` on loopback, checks that
//! OPA's answers agree with Veil's decisions, and drives the endpoints Trino's OPA plugin calls.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use veil_compiler::misfit;
use veil_policy::{Bundle, Condition, Decision, Estate, Identity, MaskMethod, RowPredicate, Rule};

use crate::estate::Random;

/// The OPA release the comparison is pinned to.
pub const OPA_MODULE: &str = "github.com/open-policy-agent/opa@v1.22.3";
const POLICY: &str = include_str!("../opa/veil.rego");
const READY_DEADLINE: Duration = Duration::from_secs(300);

/// The `opa` binary in `<cache>/opa-bin`, installed with `go install` when it is not there yet.
pub fn install(cache: &Path) -> anyhow::Result<PathBuf> {
    let bin = cache.join("opa-bin");
    let binary = bin.join("opa");
    if binary.exists() {
        return Ok(binary);
    }
    println!(
        "installing OPA: go install {OPA_MODULE} (once, into {})",
        bin.display()
    );
    let output = Command::new("go")
        .args(["install", OPA_MODULE])
        .env("GOBIN", &bin)
        .output()
        .context("running `go install` (is Go installed?)")?;
    ensure!(
        output.status.success(),
        "go install {OPA_MODULE} failed with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    ensure!(
        binary.exists(),
        "go install did not produce {}",
        binary.display()
    );
    Ok(binary)
}

/// What Veil decided for one (user, table) pair, to compare OPA's answers with.
struct Expected {
    allowed: bool,
    row_filters: usize,
    /// Indexes of the columns that get a mask.
    masked_columns: Vec<usize>,
}

/// The three requests Trino's OPA plugin sends for one `SELECT *` of a table, with Veil's answer;
/// and, instead of the batch of masks, the one request per column it sends without a batch URI.
pub struct QueryCalls {
    pub allow: Bytes,
    pub row_filters: Bytes,
    pub column_masks: Bytes,
    pub column_mask_each: Vec<Bytes>,
    expected: Expected,
}

/// Everything the OPA run needs, prepared while the estate is at hand.
pub struct Plan {
    pub data: PathBuf,
    pub policy: PathBuf,
    pub data_bytes: usize,
    pub users: usize,
    /// Pairs the user may see (what the load sends).
    pub visible: Vec<QueryCalls>,
    /// Pairs the user may not see (only checked, not driven).
    pub hidden: Vec<QueryCalls>,
}

/// Writes the data document and the policy under `out`, and the requests for `pairs`
/// (user, data source) plus as many pairs the users may not see.
pub fn prepare(
    file: &Bundle,
    estate: &Estate,
    functions_catalog: &str,
    pairs: &[(String, usize)],
    user_limit: usize,
    out: &Path,
) -> anyhow::Result<Plan> {
    let users: BTreeMap<&str, Value> = file
        .users
        .iter()
        .take(user_limit)
        .map(|user| {
            (
                user.name.as_str(),
                json!({"groups": user.groups, "attributes": user.attributes}),
            )
        })
        .collect();
    let mut policies = serde_json::Map::new();
    for policy in estate.policies.iter() {
        policies.insert(policy.name.clone(), policy_document(&policy.rule)?);
    }
    let mut tables: BTreeMap<&str, BTreeMap<&str, serde_json::Map<String, Value>>> =
        BTreeMap::new();
    for (id, data_source) in estate.data_sources.iter().enumerate() {
        let bindings = &estate.bindings[id];
        let name = |policy: usize| estate.policies[policy].name.clone();
        let mut masks = serde_json::Map::new();
        for (column, candidates) in data_source.columns.iter().zip(&bindings.masks) {
            if candidates.is_empty() {
                continue;
            }
            let ranked: Vec<Value> = candidates
                .iter()
                .map(|candidate| {
                    let fallback = match &estate.policies[candidate.policy].rule {
                        Rule::Mask(mask) => misfit(&mask.method, column, data_source).is_some(),
                        _ => false,
                    };
                    json!({"policy": name(candidate.policy), "fallback": fallback})
                })
                .collect();
            masks.insert(column.name.clone(), Value::Array(ranked));
        }
        let [catalog, schema, table] = &data_source.backing;
        tables
            .entry(catalog)
            .or_default()
            .entry(schema)
            .or_default()
            .insert(
                table.clone(),
                json!({
                    "subscriptions": bindings.subscriptions.iter().map(|&p| name(p)).collect::<Vec<_>>(),
                    "row_filters": bindings.row_filters.iter().map(|&p| name(p)).collect::<Vec<_>>(),
                    "masks": masks,
                }),
            );
    }
    let document = json!({"veil": {
        "functions_catalog": functions_catalog,
        "mask_key": estate.settings().mask_key(),
        "users": users,
        "policies": policies,
        "tables": tables,
    }});
    let data = out.join("opa-data.json");
    let text = serde_json::to_vec(&document)?;
    std::fs::write(&data, &text)?;
    let policy = out.join("veil.rego");
    std::fs::write(&policy, POLICY)?;

    let allowed_users: Vec<&str> = users.keys().copied().collect();
    let mut visible = Vec::new();
    for (user, table) in pairs {
        if users.contains_key(user.as_str()) {
            visible.push(query_calls(estate, user, *table)?);
        }
    }
    ensure!(
        !visible.is_empty(),
        "none of the benchmark's (user, table) pairs has a user in the OPA document"
    );
    let mut hidden = Vec::new();
    let mut random = Random::new(11);
    let mut attempts = 0;
    while hidden.len() < 200 && attempts < 1_000_000 {
        attempts += 1;
        let user = allowed_users[random.below(allowed_users.len())];
        let table = random.below(estate.data_sources.len());
        let calls = query_calls(estate, user, table)?;
        if !calls.expected.allowed {
            hidden.push(calls);
        }
    }
    Ok(Plan {
        data,
        policy,
        data_bytes: text.len(),
        users: users.len(),
        visible,
        hidden,
    })
}

/// A condition as `veil.rego` reads it: a leaf, or `not` / `any` / `all` of leaves.
fn condition_document(condition: &Condition) -> anyhow::Result<Value> {
    let leaf = |condition: &Condition| -> anyhow::Result<Value> {
        Ok(match condition {
            Condition::Everyone => json!({"everyone": true}),
            Condition::Users(users) => json!({"users": users}),
            Condition::Groups(groups) => json!({"groups": groups}),
            Condition::Attributes(attributes) => json!({"attributes": attributes}),
            Condition::Purposes(purposes) => json!({"purposes": purposes}),
            Condition::All(_) | Condition::Any(_) | Condition::Not(_) => {
                bail!("the Rego policy takes conditions two levels deep, not {condition:?}")
            }
        })
    };
    let leaves = |conditions: &[Condition]| -> anyhow::Result<Vec<Value>> {
        conditions.iter().map(leaf).collect()
    };
    match condition {
        Condition::Not(inner) => Ok(json!({"not": leaf(inner)?})),
        Condition::Any(conditions) => Ok(json!({"any": leaves(conditions)?})),
        Condition::All(conditions) => Ok(json!({"all": leaves(conditions)?})),
        other => leaf(other),
    }
}

fn policy_document(rule: &Rule) -> anyhow::Result<Value> {
    Ok(match rule {
        Rule::Subscription { allow } => json!({"allow": condition_document(allow)?}),
        Rule::Mask(mask) => {
            let mut document = audience_document(
                &mask.audience.for_condition,
                mask.audience.except_condition.as_ref(),
            )?;
            match &mask.method {
                MaskMethod::Hash => document["method"] = json!("hash"),
                MaskMethod::Nullify => document["method"] = json!("nullify"),
                MaskMethod::Partial {
                    keep_first,
                    keep_last,
                    mask_char,
                } => {
                    document["method"] = json!("partial");
                    document["keep_first"] = json!(keep_first);
                    document["keep_last"] = json!(keep_last);
                    document["mask_char"] = json!(mask_char.to_string());
                }
                other => bail!(
                    "the Rego policy has no `{}` mask (the generated estate uses hash, nullify and partial)",
                    other.name()
                ),
            }
            if let Some(when) = &mask.when {
                document["when"] = template(when)?;
            }
            document
        }
        Rule::RowFilter(filter) => {
            let mut document = audience_document(
                &filter.audience.for_condition,
                filter.audience.except_condition.as_ref(),
            )?;
            document["filter"] = match &filter.predicate {
                RowPredicate::Where { sql } => template(sql)?,
                RowPredicate::Match { column, attribute } => {
                    json!({"match": {"column": column, "attribute": attribute}})
                }
                RowPredicate::TimeWindow {
                    column,
                    amount,
                    unit,
                } => json!({"sql": format!(
                    "{} >= current_timestamp - INTERVAL '{amount}' {}",
                    veil_compiler::sql::quote_identifier(column),
                    unit.name()
                )}),
                RowPredicate::Sample { percent, column } => json!({"sql": format!(
                    "bitwise_and(from_big_endian_64(xxhash64(to_utf8(CAST({} AS varchar)))), \
                     9223372036854775807) % 10000 < {}",
                    veil_compiler::sql::quote_identifier(column),
                    (percent * 100.0).round() as u64
                )}),
            };
            document
        }
    })
}

fn audience_document(
    for_condition: &Condition,
    except_condition: Option<&Condition>,
) -> anyhow::Result<Value> {
    let mut document = json!({"for": condition_document(for_condition)?});
    if let Some(except) = except_condition {
        document["except"] = condition_document(except)?;
    }
    Ok(document)
}

/// A predicate with its compile-time functions marked as holes for `veil.rego` to fill:
/// `user_name()`, `user_in_group('g')` and `user_has_purpose('p')`.
fn template(sql: &str) -> anyhow::Result<Value> {
    let mut holes = serde_json::Map::new();
    if sql.contains("user_attribute_contains(") {
        bail!(
            "the Rego policy has no `user_attribute_contains` (the generated estate does not use it)"
        );
    }
    if sql.contains("user_name()") {
        holes.insert("user_name()".into(), json!({"user_name": true}));
    }
    for (function, key) in [
        ("user_in_group(", "group"),
        ("user_has_purpose(", "purpose"),
    ] {
        let mut rest = sql;
        while let Some(start) = rest.find(function) {
            let after = &rest[start + function.len()..];
            let (argument, length) = single_quoted(after)
                .ok_or_else(|| anyhow!("`{function}` without a literal argument in `{sql}`"))?;
            ensure!(
                after[length..].starts_with(')'),
                "`{function}` with more than one argument in `{sql}`"
            );
            let text = &rest[start..start + function.len() + length + 1];
            holes.insert(text.to_owned(), json!({key: argument}));
            rest = &after[length + 1..];
        }
    }
    Ok(json!({"sql": sql, "holes": holes}))
}

/// The value of a SQL string literal at the start of `text` and the literal's length.
fn single_quoted(text: &str) -> Option<(String, usize)> {
    let mut characters = text.char_indices();
    if characters.next()?.1 != '\'' {
        return None;
    }
    let mut value = String::new();
    while let Some((index, character)) = characters.next() {
        if character == '\'' {
            match characters.clone().next() {
                Some((_, '\'')) => {
                    characters.next();
                    value.push('\'');
                }
                _ => return Some((value, index + 1)),
            }
        } else {
            value.push(character);
        }
    }
    None
}

/// The plugin's requests for `SELECT *` of a data source's backing table, and Veil's decision.
fn query_calls(estate: &Estate, user: &str, table: usize) -> anyhow::Result<QueryCalls> {
    let data_source = &estate.data_sources[table];
    let [catalog, schema, name] = &data_source.backing;
    let context = json!({
        "identity": {"user": user, "groups": []},
        "softwareStack": {"trinoVersion": "476"},
    });
    let columns: Vec<&str> = data_source
        .columns
        .iter()
        .map(|column| column.name.as_str())
        .collect();
    let allow = json!({"input": {"context": context, "action": {
        "operation": "SelectFromColumns",
        "resource": {"table": {
            "catalogName": catalog, "schemaName": schema, "tableName": name, "columns": columns,
        }},
    }}});
    let row_filters = json!({"input": {"context": context, "action": {
        "operation": "GetRowFilters",
        "resource": {"table": {"catalogName": catalog, "schemaName": schema, "tableName": name}},
    }}});
    let resources: Vec<Value> = data_source
        .columns
        .iter()
        .map(|column| {
            json!({"column": {
                "catalogName": catalog, "schemaName": schema, "tableName": name,
                "columnName": column.name, "columnType": column.data_type.to_string(),
            }})
        })
        .collect();
    let column_mask_each = resources
        .iter()
        .map(|resource| {
            let request = json!({"input": {"context": context, "action": {
                "operation": "GetColumnMask",
                "resource": resource,
            }}});
            serde_json::to_vec(&request).map(Bytes::from)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let column_masks = json!({"input": {"context": context, "action": {
        "operation": "GetColumnMask",
        "filterResources": resources,
    }}});
    let identity = Identity {
        user,
        groups: &[],
        project: None,
    };
    let subject = estate
        .subject(identity, false)
        .map_err(|error| anyhow!("{error}"))?;
    let expected = match estate.decide(table, &subject) {
        Some(Decision {
            masks, row_filters, ..
        }) => Expected {
            allowed: true,
            row_filters: row_filters.len(),
            masked_columns: masks
                .iter()
                .enumerate()
                .filter_map(|(index, mask)| mask.map(|_| index))
                .collect(),
        },
        None => Expected {
            allowed: false,
            row_filters: 0,
            masked_columns: Vec::new(),
        },
    };
    Ok(QueryCalls {
        allow: Bytes::from(serde_json::to_vec(&allow)?),
        row_filters: Bytes::from(serde_json::to_vec(&row_filters)?),
        column_masks: Bytes::from(serde_json::to_vec(&column_masks)?),
        column_mask_each,
        expected,
    })
}

/// `opa run --server` on loopback; stopped when dropped.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Starts OPA with the policy and the data document and waits until it answers `/health`.
/// Its log goes to `opa.log` beside the data document.
pub async fn start(binary: &Path, plan: &Plan, client: &HttpClient) -> anyhow::Result<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let log = plan.data.with_file_name("opa.log");
    let log = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let child = Command::new(binary)
        .args([
            "run",
            "--server",
            "--skip-version-check",
            "--log-level",
            "error",
        ])
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .arg(&plan.policy)
        .arg(&plan.data)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let mut server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let health: hyper::Uri = format!("{}/health", server.base).parse()?;
    let started = Instant::now();
    loop {
        if let Some(status) = server.child.try_wait()? {
            bail!("opa exited with {status} while loading");
        }
        if let Ok(response) = client.get(health.clone()).await
            && response.status() == hyper::StatusCode::OK
        {
            return Ok(server);
        }
        ensure!(
            started.elapsed() < READY_DEADLINE,
            "OPA was not ready within {READY_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// An HTTP/1.1 client that keeps connections alive, as the plugin's HTTP client does.
pub fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// One POST; the answer's body, which must come with `200 OK`.
pub async fn post(client: &HttpClient, uri: &hyper::Uri, body: Bytes) -> anyhow::Result<Bytes> {
    let request = hyper::Request::post(uri.clone())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))?;
    let response = client.request(request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    ensure!(
        status == hyper::StatusCode::OK,
        "OPA answered {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    Ok(bytes)
}

/// The endpoints of one server.
#[derive(Clone)]
pub struct Endpoints {
    pub allow: hyper::Uri,
    pub row_filters: hyper::Uri,
    pub column_masks: hyper::Uri,
    pub column_mask: hyper::Uri,
}

impl Endpoints {
    pub fn new(base: &str) -> anyhow::Result<Endpoints> {
        Ok(Endpoints {
            allow: format!("{base}/v1/data/trino/allow").parse()?,
            row_filters: format!("{base}/v1/data/trino/rowFilters").parse()?,
            column_masks: format!("{base}/v1/data/trino/batchColumnMasks").parse()?,
            column_mask: format!("{base}/v1/data/trino/columnMask").parse()?,
        })
    }
}

/// Asks OPA for every hidden pair and up to `limit` visible ones and compares with Veil:
/// allowed or not, how many row filters, which columns are masked. Returns the pairs checked.
pub async fn agreement(
    client: &HttpClient,
    endpoints: &Endpoints,
    plan: &Plan,
    limit: usize,
) -> anyhow::Result<usize> {
    let mut checked = 0;
    for calls in plan.visible.iter().take(limit).chain(&plan.hidden) {
        let result = |bytes: Bytes| -> anyhow::Result<Value> {
            let answer: Value = serde_json::from_slice(&bytes)?;
            Ok(answer.get("result").cloned().unwrap_or(Value::Null))
        };
        let allowed = result(post(client, &endpoints.allow, calls.allow.clone()).await?)?;
        ensure!(
            allowed == Value::Bool(calls.expected.allowed),
            "OPA's allow is {allowed}, Veil's {}",
            calls.expected.allowed
        );
        if !calls.expected.allowed {
            checked += 1;
            continue;
        }
        let filters =
            result(post(client, &endpoints.row_filters, calls.row_filters.clone()).await?)?;
        let filter_count = filters.as_array().map_or(0, Vec::len);
        ensure!(
            filter_count == calls.expected.row_filters,
            "OPA applies {filter_count} row filters, Veil {}: {filters}",
            calls.expected.row_filters
        );
        let masks =
            result(post(client, &endpoints.column_masks, calls.column_masks.clone()).await?)?;
        let mut masked: Vec<usize> = masks
            .as_array()
            .map(|masks| {
                masks
                    .iter()
                    .filter_map(|mask| mask.get("index").and_then(Value::as_u64))
                    .map(|index| index as usize)
                    .collect()
            })
            .unwrap_or_default();
        masked.sort_unstable();
        ensure!(
            masked == calls.expected.masked_columns,
            "OPA masks columns {masked:?}, Veil {:?}",
            calls.expected.masked_columns
        );
        // Asked one column at a time, OPA masks the same columns.
        let mut one_by_one = Vec::new();
        for (index, request) in calls.column_mask_each.iter().enumerate() {
            let mask = result(post(client, &endpoints.column_mask, request.clone()).await?)?;
            if mask.get("expression").is_some() {
                one_by_one.push(index);
            }
        }
        ensure!(
            one_by_one == calls.expected.masked_columns,
            "OPA's per-column columnMask masks columns {one_by_one:?}, Veil {:?}",
            calls.expected.masked_columns
        );
        checked += 1;
    }
    Ok(checked)
}
