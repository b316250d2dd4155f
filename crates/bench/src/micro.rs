//! The in-process decision path: the requests the bench replays, and their timings without
//! any transport.

use super::*;

/// Requests for (user, table) pairs the user may see, as the plugin would mostly send.
pub(crate) fn pick_requests(estate: &Estate, count: usize) -> Vec<GetViewDefinitionRequest> {
    let mut random = Random::new(7);
    let mut requests = Vec::with_capacity(count);
    while requests.len() < count {
        let user = format!("u{}", random.below(SIZE.users));
        let table = random.below(SIZE.data_sources);
        let identity = Identity {
            user: &user,
            groups: &[],
            project: None,
        };
        let subject = estate
            .subject(identity, false)
            .expect("generated users are valid");
        if estate.can_see(table, &subject) {
            let data_source = &estate.data_sources[table];
            requests.push(GetViewDefinitionRequest {
                identity: Some(v1::Identity {
                    user: user.clone(),
                    groups: Vec::new(),
                    project: String::new(),
                    // As the plugin sends it: each query its own id, for the audit.
                    query_id: format!("20261202_091403_{:05}_bench", requests.len()),
                }),
                schema: data_source.schema.clone(),
                table: data_source.table.clone(),
            });
        }
    }
    requests
}

/// The in-process decision path: cold compile and warm (cached) decisions.
pub(crate) fn micro(compiler: Compiler, requests: &[GetViewDefinitionRequest]) {
    // Cold: render the view of the widest table for a user, uncached.
    let estate = compiler.estate();
    let widest = (0..estate.data_sources.len())
        .max_by_key(|&id| {
            (
                estate.data_sources[id].columns.len(),
                estate.bindings[id]
                    .masks
                    .iter()
                    .filter(|c| !c.is_empty())
                    .count(),
            )
        })
        .expect("the estate has data sources");
    let columns = estate.data_sources[widest].columns.len();
    let masked = estate.bindings[widest]
        .masks
        .iter()
        .filter(|candidates| !candidates.is_empty())
        .count();
    let identity = Identity {
        user: "u1",
        groups: &[],
        project: None,
    };
    let subject = estate.subject(identity, false).expect("valid user");
    let decision = estate.decide(widest, &subject).or_else(|| {
        let everyone = Identity {
            user: "u2",
            groups: &[],
            project: None,
        };
        estate.decide(widest, &estate.subject(everyone, false).ok()?)
    });
    if let Some(decision) = decision {
        let rounds = 2_000;
        let started = Instant::now();
        let mut bytes = 0;
        for _ in 0..rounds {
            let facts = compiler.facts(&decision, &subject);
            bytes += compiler.render(&decision, &facts).sql.len();
        }
        let per = started.elapsed().as_secs_f64() / rounds as f64 * 1e6;
        println!(
            "cold compile (decide done; facts + render), {columns}-column table with {masked} masked-candidate columns: {per:.1} µs ({} bytes of SQL)",
            bytes / rounds
        );
    }
    // Warm: the server's whole decision path (resolve user, decide, cache lookup), no gRPC.
    let state = Arc::new(veil_server::State::new(
        compiler,
        veil_server::Settings::default(),
        1,
    ));
    let service = veil_server::DecisionService::new(Arc::clone(&state));
    let started = Instant::now();
    for request in requests {
        service
            .view_definition(request)
            .expect("picked requests are visible");
    }
    let first = started.elapsed().as_secs_f64() / requests.len() as f64 * 1e6;
    let rounds = 5;
    let timed = |forget_answers: bool| {
        let mut elapsed = Duration::ZERO;
        for _ in 0..rounds {
            if forget_answers {
                state.current().answers.clear();
            }
            let started = Instant::now();
            for request in requests {
                std::hint::black_box(service.view_definition(request).expect("visible"));
            }
            elapsed += started.elapsed();
        }
        elapsed.as_secs_f64() / (rounds * requests.len()) as f64 * 1e6
    };
    // A request not seen before whose view is cached: resolve, decide, look the view up.
    let decided = timed(true);
    // A request seen before in this policy version: one lookup.
    let repeated = timed(false);
    println!(
        "in-process decision over {} (user, table) pairs: first call {first:.1} µs; view cached, \
         request new {decided:.2} µs; request seen before {repeated:.2} µs; {} views cached",
        requests.len(),
        state.current().views.len()
    );
}

/// Single policy and data-source edits of the estate in process (`Compiler::edit`, no store,
/// no gRPC): milliseconds per edit, p50 and p99, for each kind of edit.
pub(crate) fn edits_in_process(compiler: &Compiler, rounds: usize) {
    use veil_policy::{Edit, PolicySpec};
    let estate = compiler.estate();
    let file = estate.to_file();
    let time = |what: &str, edit: &dyn Fn(usize) -> Vec<Edit>| {
        let mut times = Vec::with_capacity(rounds);
        let mut current = compiler.clone();
        for round in 0..rounds {
            for edit in edit(round) {
                let started = Instant::now();
                current = current.edit(&edit).expect("bench edits are valid");
                times.push(started.elapsed().as_secs_f64() * 1e3);
            }
        }
        times.sort_by(f64::total_cmp);
        println!(
            "in-process {what}, {} edits: p50 {:.2} ms, p99 {:.2} ms",
            times.len(),
            crate::edits::quantile(&times, 0.5),
            crate::edits::quantile(&times, 0.99)
        );
    };
    // A tag mask (reaching an eighth of the estate) with its `except` group changed.
    let mask = file
        .policies
        .iter()
        .find(|policy| !policy.on.column_tags.is_empty())
        .expect("the estate has tag masks")
        .clone();
    time("tag mask's except group changed", &|round| {
        let mut policy = mask.clone();
        policy.except_condition = Some(veil_policy::Condition::Groups(vec![format!("g{round}")]));
        vec![Edit::PutPolicy(Box::new(policy))]
    });
    let table = &file.data_sources[0];
    time("row filter added, then removed", &|round| {
        let filter: PolicySpec = veil_policy::parse_yaml(&format!(
            "{{name: bench-filter, kind: row_filter, on: {{data_sources: [{}]}}, where: \"id <> {round}\"}}",
            table.name
        ))
        .expect("a valid policy");
        vec![
            Edit::PutPolicy(Box::new(filter)),
            Edit::RemovePolicy("bench-filter".into()),
        ]
    });
    // Removing the first policy moves every other one: the worst case of a removal.
    let first = file.policies[0].clone();
    time("first policy removed, then added back last", &|_| {
        vec![
            Edit::RemovePolicy(first.name.clone()),
            Edit::PutPolicy(Box::new(first.clone())),
        ]
    });
    time("column tag added to a data source, then removed", &|_| {
        let mut tagged = table.clone();
        let last = tagged.columns.len() - 1;
        tagged.columns[last].tags.push("PII".into());
        vec![
            Edit::PutDataSource(tagged),
            Edit::PutDataSource(table.clone()),
        ]
    });
    time("data source added, then removed", &|round| {
        let mut beside = table.clone();
        beside.name = format!("{}_bench{round}", table.name);
        beside.table = format!("{}_bench{round}", table.table);
        vec![
            Edit::PutDataSource(beside.clone()),
            Edit::RemoveDataSource(beside.name),
        ]
    });
}
