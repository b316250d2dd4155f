//! The properties: loading never panics and refuses with typed errors; every view and every
//! access expression parses; every name and value comes out as exactly that identifier or
//! literal, in a form Trino reads the same way sqlparser does.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlparser::ast::{
    Expr, Ident, ObjectNamePart, Query, SelectItem, SetExpr, Statement, TableFactor, Value,
    visit_expressions,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;
use veil_compiler::{Compiler, Template, misfit};
use veil_policy::{
    Bundle, Estate, Identity, MaskMethod, PurposeSpec, RowPredicate, Rule, TimeUnit, UserSpec,
};

use crate::generate::{BundlePlan, Predicate, PredicateCase};

/// How many generated bundles and policy files loaded (and so had their views checked), so a
/// run can tell how much of its input got past validation.
pub static LOADED: AtomicU64 = AtomicU64::new(0);

/// The catalog the loader property compiles with.
const FUNCTIONS_CATALOG: &str = "veil";

/// One parsed statement. The generic dialect treats a backslash as an ordinary character in
/// a string literal, as Trino does (`tests/it` checks that it still does).
pub fn parse_statement(sql: &str) -> Result<Statement, String> {
    let mut statements = Parser::parse_sql(&GenericDialect {}, sql)
        .map_err(|error| format!("does not parse: {error}\n{sql}"))?;
    match statements.len() {
        1 => Ok(statements.remove(0)),
        count => Err(format!("{count} statements, not one:\n{sql}")),
    }
}

/// One whole expression: nothing may follow it.
pub fn parse_expression(sql: &str) -> Result<Expr, String> {
    let dialect = GenericDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(sql)
        .map_err(|error| format!("does not tokenize: {error}\n{sql}"))?;
    let expression = parser
        .parse_expr()
        .map_err(|error| format!("does not parse: {error}\n{sql}"))?;
    let rest = parser.peek_token();
    if rest.token != Token::EOF {
        return Err(format!("`{}` follows the expression:\n{sql}", rest.token));
    }
    Ok(expression)
}

/// What a parsed piece of SQL holds: its string literals and its identifiers.
#[derive(Debug, Default)]
pub struct Found {
    pub literals: Vec<String>,
    pub identifiers: Vec<Ident>,
}

fn check_ident(ident: &Ident, sql: &str) -> Result<(), String> {
    match ident.quote_style {
        None | Some('"') => Ok(()),
        Some(quote) => Err(format!(
            "identifier `{}` quoted with {quote}, which Trino does not read as a quote:\n{sql}",
            ident.value
        )),
    }
}

/// Collects literals and identifiers, and refuses any literal or quoting that Trino reads
/// differently from sqlparser (escape strings, Unicode strings, dollar quoting, backticks...).
fn inspect<V: sqlparser::ast::Visit>(node: &V, sql: &str) -> Result<Found, String> {
    let mut found = Found::default();
    let mut problem = None;
    let _ = visit_expressions(node, |expression| {
        let result = match expression {
            Expr::Value(value) => match &value.value {
                Value::SingleQuotedString(text) => {
                    found.literals.push(text.clone());
                    Ok(())
                }
                Value::Number(..)
                | Value::Boolean(_)
                | Value::Null
                | Value::HexStringLiteral(_) => Ok(()),
                other => Err(format!(
                    "literal {other} is in a form Trino does not read as sqlparser does:\n{sql}"
                )),
            },
            Expr::Identifier(ident) => {
                found.identifiers.push(ident.clone());
                check_ident(ident, sql)
            }
            Expr::CompoundIdentifier(parts) => {
                found.identifiers.extend(parts.iter().cloned());
                parts.iter().try_for_each(|part| check_ident(part, sql))
            }
            Expr::Function(function) => function.name.0.iter().try_for_each(|part| match part {
                ObjectNamePart::Identifier(ident) => check_ident(ident, sql),
                ObjectNamePart::Function(_) => Ok(()),
            }),
            _ => Ok(()),
        };
        match result {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => {
                problem = Some(error);
                ControlFlow::Break(())
            }
        }
    });
    match problem {
        Some(problem) => Err(problem),
        None => Ok(found),
    }
}

/// The string literals sqlparser reads in a policy's own SQL: the literals it may pass on.
fn literals_of(sql: &str) -> Vec<String> {
    parse_expression(sql)
        .ok()
        .and_then(|expression| inspect(&expression, sql).ok())
        .map(|found| found.literals)
        .unwrap_or_default()
}

/// Every string a compiled view may carry as a literal: the estate's values and the
/// compiler's own constants.
fn allowed_literals(compiler: &Compiler) -> HashSet<String> {
    let estate = compiler.estate();
    let bundle = estate.to_file();
    let mut allowed: HashSet<String> = ["", estate.settings().mask_key()]
        .into_iter()
        .map(str::to_owned)
        .chain(TimeUnit::ALL.iter().map(|unit| unit.name().to_owned()))
        // Randomized response's units of noise, and its draws' separator.
        .chain(["millisecond", ":"].map(str::to_owned))
        .collect();
    for user in &bundle.users {
        allowed.insert(user.name.clone());
        allowed.extend(user.groups.iter().cloned());
        allowed.extend(user.attributes.values().flatten().cloned());
    }
    for policy in estate.policies.iter() {
        let mut sql = Vec::new();
        match &policy.rule {
            Rule::Subscription { .. } => {}
            Rule::Mask(mask) => {
                sql.extend(mask.when.iter().cloned());
                match &mask.method {
                    MaskMethod::Constant { value } => {
                        allowed.insert(value.clone());
                    }
                    MaskMethod::Regex {
                        pattern,
                        replacement,
                    } => {
                        allowed.insert(pattern.clone());
                        allowed.insert(replacement.clone());
                    }
                    MaskMethod::Partial { mask_char, .. } => {
                        allowed.insert(mask_char.to_string());
                    }
                    MaskMethod::Expression { sql: expression } => sql.push(expression.clone()),
                    MaskMethod::RandomizedValues { values, .. } => {
                        allowed.extend(values.iter().cloned());
                    }
                    // A token's associated data: the policy's name.
                    MaskMethod::Reversible => {
                        allowed.insert(policy.name.clone());
                    }
                    _ => {}
                }
                if let MaskMethod::RandomizedValues { .. } | MaskMethod::RandomizedNoise { .. } =
                    &mask.method
                {
                    // Each draw is seeded with `<policy>/<column>/`.
                    for data_source in estate.data_sources.iter() {
                        for column in &data_source.columns {
                            allowed.insert(format!("{}/{}/", policy.name, column.name));
                        }
                    }
                }
            }
            Rule::RowFilter(filter) => match &filter.predicate {
                RowPredicate::Where { sql: predicate } => sql.push(predicate.clone()),
                RowPredicate::TimeWindow { amount, .. } => {
                    allowed.insert(amount.to_string());
                }
                _ => {}
            },
        }
        for text in sql {
            allowed.extend(literals_of(&text));
        }
    }
    allowed
}

fn only_allowed(found: &Found, allowed: &HashSet<String>, sql: &str) -> Result<(), String> {
    match found
        .literals
        .iter()
        .find(|literal| !allowed.contains(*literal))
    {
        Some(literal) => Err(format!(
            "literal {literal:?} is none of the estate's values:\n{sql}"
        )),
        None => Ok(()),
    }
}

/// Compiles every (subject, data source) and checks every statement and expression.
pub fn check_compiler(compiler: &Compiler, stranger: Option<&str>) -> Result<(), String> {
    let estate = compiler.estate();
    let bundle = estate.to_file();
    let mut allowed = allowed_literals(compiler);
    let mut identities: Vec<(String, Option<String>)> = Vec::new();
    for user in &bundle.users {
        identities.push((user.name.clone(), None));
    }
    for project in estate.projects() {
        for member in &project.members {
            identities.push((member.clone(), Some(project.name.clone())));
        }
    }
    if let Some(stranger) = stranger.filter(|name| !name.is_empty() && estate.user(name).is_none())
    {
        allowed.insert(stranger.to_owned());
        identities.push((stranger.to_owned(), None));
    }
    for (user, project) in &identities {
        let identity = Identity {
            user,
            groups: &[],
            project: project.as_deref(),
        };
        let subject = estate
            .subject(identity, false)
            .map_err(|error| format!("subject {user:?}: {error}"))?;
        for id in 0..estate.data_sources.len() {
            let Some(decision) = estate.decide(id, &subject) else {
                continue;
            };
            let data_source = &estate.data_sources[id];
            let facts = compiler.facts(&decision, &subject);
            let view = compiler.render(&decision, &facts);
            let access = compiler.render_access(&decision, &facts);
            let context = |problem: String| {
                format!(
                    "user {user:?} project {project:?} on `{}`: {problem}",
                    data_source.name
                )
            };
            let statement = parse_statement(&view.sql).map_err(context)?;
            let found = inspect(&statement, &view.sql).map_err(context)?;
            only_allowed(&found, &allowed, &view.sql).map_err(context)?;
            check_shape(&statement, data_source, &view.sql).map_err(context)?;
            for identifier in &found.identifiers {
                // k-anonymity's count names the backing table (the row it compares with) and
                // its own alias for the rows it counts.
                let qualifier =
                    identifier.value == "veil_k" || data_source.backing.contains(&identifier.value);
                if data_source.column(&identifier.value).is_none() && !qualifier {
                    return Err(context(format!(
                        "identifier {:?} is no column of the data source:\n{}",
                        identifier.value, view.sql
                    )));
                }
            }
            for (column, expression) in &access.masks {
                let parsed = parse_expression(expression).map_err(context)?;
                let found = inspect(&parsed, expression).map_err(context)?;
                only_allowed(&found, &allowed, expression).map_err(context)?;
                let aliased = format!(
                    "{expression} AS {}",
                    veil_compiler::sql::quote_identifier(column)
                );
                if !view.sql.contains(&aliased) {
                    return Err(context(format!(
                        "mask of {column:?} is not the view's:\n{expression}\n{}",
                        view.sql
                    )));
                }
                let index = data_source
                    .columns
                    .iter()
                    .position(|candidate| &candidate.name == column)
                    .ok_or_else(|| context(format!("masked column {column:?} is unknown")))?;
                let policy = decision.masks[index].expect("a masked column has its policy");
                if let Rule::Mask(mask) = &estate.policies[policy].rule
                    && let MaskMethod::Constant { value } = &mask.method
                    && misfit(&mask.method, &data_source.columns[index], data_source).is_none()
                    && !found.literals.contains(value)
                {
                    return Err(context(format!(
                        "constant {value:?} is not a literal of {expression}"
                    )));
                }
            }
            for (predicate, &policy) in access.row_filters.iter().zip(&decision.row_filters) {
                let parsed = parse_expression(predicate).map_err(context)?;
                let found = inspect(&parsed, predicate).map_err(context)?;
                only_allowed(&found, &allowed, predicate).map_err(context)?;
                if !view.sql.contains(&format!("({predicate})")) {
                    return Err(context(format!(
                        "row filter is not the view's:\n{predicate}\n{}",
                        view.sql
                    )));
                }
                if let Rule::RowFilter(filter) = &estate.policies[policy].rule
                    && let RowPredicate::Match { attribute, .. } = &filter.predicate
                    && !subject.attribute(attribute).is_empty()
                    && found.literals != subject.attribute(attribute)
                {
                    return Err(context(format!(
                        "match on {attribute:?}: literals {:?}, values {:?}",
                        found.literals,
                        subject.attribute(attribute)
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The view selects exactly the data source's columns, by their exact names, from exactly the
/// backing table.
fn check_shape(
    statement: &Statement,
    data_source: &veil_policy::DataSource,
    sql: &str,
) -> Result<(), String> {
    let Statement::Query(query) = statement else {
        return Err(format!("not a query:\n{sql}"));
    };
    let Query { body, .. } = query.as_ref();
    let SetExpr::Select(select) = body.as_ref() else {
        return Err(format!("not a plain SELECT:\n{sql}"));
    };
    if select.projection.len() != data_source.columns.len() {
        return Err(format!(
            "{} select items for {} columns:\n{sql}",
            select.projection.len(),
            data_source.columns.len()
        ));
    }
    for (item, column) in select.projection.iter().zip(&data_source.columns) {
        let name = match item {
            SelectItem::UnnamedExpr(Expr::Identifier(ident)) => ident,
            SelectItem::ExprWithAlias { alias, .. } => alias,
            other => return Err(format!("select item `{other}` is not a column:\n{sql}")),
        };
        if name.value != column.name || name.quote_style != Some('"') {
            return Err(format!(
                "column {:?} comes out as {name:?}:\n{sql}",
                column.name
            ));
        }
    }
    let [table] = select.from.as_slice() else {
        return Err(format!("not one table:\n{sql}"));
    };
    let TableFactor::Table { name, .. } = &table.relation else {
        return Err(format!("not a table:\n{sql}"));
    };
    let parts: Vec<&str> = name
        .0
        .iter()
        .filter_map(|part| part.as_ident().map(|ident| ident.value.as_str()))
        .collect();
    if parts
        != data_source
            .backing
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    {
        return Err(format!(
            "backing table {:?} comes out as {parts:?}:\n{sql}",
            data_source.backing
        ));
    }
    Ok(())
}

/// (a) Any text: the loader answers with a compiler or typed errors, and what loads compiles
/// faithfully.
pub fn yaml_loads_or_refuses(text: &str) -> Result<(), String> {
    match Compiler::from_yaml(text, FUNCTIONS_CATALOG) {
        Ok(compiler) => {
            LOADED.fetch_add(1, Ordering::Relaxed);
            check_compiler(&compiler, Some("stranger"))?;
            check_export(&compiler)
        }
        Err(errors) => {
            if errors.0.is_empty() {
                return Err("refused without an error".to_owned());
            }
            let _ = errors.to_string();
            Ok(())
        }
    }
}

/// What loads exports (`veil export`) to a policy file that loads again to the same bundle.
fn check_export(compiler: &Compiler) -> Result<(), String> {
    let exported = compiler.estate().to_file();
    let yaml = exported.to_yaml();
    let again = Compiler::from_yaml(&yaml, compiler.functions_catalog())
        .map_err(|errors| format!("the export does not load: {errors}\n{yaml}"))?;
    if again.estate().to_file() != exported {
        return Err(format!("the export loads to another bundle:\n{yaml}"));
    }
    Ok(())
}

/// (b) A generated bundle: its YAML reads back to the same bundle; if it loads, every view
/// and access expression is checked.
pub fn bundle_compiles_faithfully(plan: &BundlePlan) -> Result<(), String> {
    let bundle = plan.build();
    let yaml = bundle.to_yaml();
    let read = Bundle::from_yaml(&yaml).map_err(|error| format!("{error}\n{yaml}"))?;
    if read != bundle {
        return Err(format!(
            "the YAML reads back to another bundle:\n{yaml}\n{read:#?}"
        ));
    }
    match Compiler::from_yaml(&yaml, &plan.functions_catalog) {
        Ok(compiler) => {
            LOADED.fetch_add(1, Ordering::Relaxed);
            check_compiler(&compiler, Some(&plan.stranger))?;
            check_export(&compiler)
        }
        Err(errors) if errors.0.is_empty() => Err("refused without an error".to_owned()),
        Err(_) => Ok(()),
    }
}

/// Whether rendering can drop the predicate's literals (inside `user_attribute_contains`,
/// rendered only when the user has values).
fn has_attribute_contains(predicate: &Predicate) -> bool {
    use Predicate::*;
    match predicate {
        AttributeContains(..) => true,
        Compare(left, _, right) => has_attribute_contains(left) || has_attribute_contains(right),
        Not(inner) | IsNull(inner) | Cast(inner) => has_attribute_contains(inner),
        In(left, list) => has_attribute_contains(left) || list.iter().any(has_attribute_contains),
        Call(_, arguments) => arguments.iter().any(has_attribute_contains),
        Case(a, b, c) => [a, b, c].iter().any(|inner| has_attribute_contains(inner)),
        _ => false,
    }
}

fn has_user_name(predicate: &Predicate) -> bool {
    use Predicate::*;
    match predicate {
        UserName => true,
        AttributeContains(_, inner) | Not(inner) | IsNull(inner) | Cast(inner) => {
            has_user_name(inner)
        }
        Compare(left, _, right) => has_user_name(left) || has_user_name(right),
        In(left, list) => has_user_name(left) || list.iter().any(has_user_name),
        Call(_, arguments) => arguments.iter().any(has_user_name),
        Case(a, b, c) => [a, b, c].iter().any(|inner| has_user_name(inner)),
        _ => false,
    }
}

/// The estate a template is rendered against: one user, the pools' purposes.
fn estate_for(case: &PredicateCase) -> Result<Estate, String> {
    let pools = &case.pools;
    let mut purposes: Vec<String> = pools.purposes.clone();
    purposes.sort();
    purposes.dedup();
    let bundle = Bundle {
        users: vec![UserSpec {
            name: case.user.clone(),
            groups: case
                .groups
                .iter()
                .filter(|_| !pools.groups.is_empty())
                .map(|group| group.get(&pools.groups).clone())
                .collect(),
            attributes: case
                .attributes
                .iter()
                .map(|(key, values)| (key.get(&pools.keys).clone(), values.clone()))
                .collect(),
            ..Default::default()
        }],
        purposes: purposes
            .into_iter()
            .map(|name| PurposeSpec {
                name,
                description: None,
            })
            .collect(),
        ..Bundle::default()
    };
    Estate::new(bundle, None).map_err(|errors| format!("the test estate does not load: {errors}"))
}

/// Renders a template for the estate's one user and checks the SQL; returns its literals.
fn render_checked(template: &Template, estate: &Estate, user: &str) -> Result<Found, String> {
    let subject = estate
        .subject(
            Identity {
                user,
                groups: &[],
                project: None,
            },
            false,
        )
        .map_err(|error| error.to_string())?;
    let mut facts = Vec::new();
    template.collect_facts(&subject, &mut facts);
    let mut rendered = String::new();
    template.render(&mut facts.iter(), &mut rendered);
    let expression = parse_expression(&rendered)?;
    let found = inspect(&expression, &rendered)?;
    // What Veil prints from the policy's own text, it reads back as the same template. (With
    // slots filled, a user's value may hold `''`, which Veil escapes but templates refuse.)
    if !template.has_slots() {
        let again = Template::parse(&rendered)
            .map_err(|problem| format!("the rendered SQL is refused as a template: {problem}"))?;
        if again != *template {
            return Err(format!("printing changed the template:\n{rendered}"));
        }
    }
    Ok(found)
}

/// (c) A predicate from the grammar: if it parses, it renders to one expression whose
/// literals are exactly the ones written, plus the user's own values.
pub fn predicate_renders_faithfully(case: &PredicateCase) -> Result<(), String> {
    let mut written = Vec::new();
    let sql = case.predicate.to_sql(&case.pools, &mut written);
    let estate = estate_for(case)?;
    let Ok(template) = Template::parse(&sql) else {
        return Ok(());
    };
    let found = render_checked(&template, &estate, &case.user)
        .map_err(|problem| format!("{problem}\nfrom {sql}"))?;
    let user = estate.user(&case.user).expect("the one user");
    let mut allowed: HashSet<&str> = written.iter().map(String::as_str).collect();
    allowed.insert(&case.user);
    allowed.extend(user.attributes.values().flatten().map(String::as_str));
    if let Some(literal) = found
        .literals
        .iter()
        .find(|literal| !allowed.contains(literal.as_str()))
    {
        return Err(format!("literal {literal:?} was never written\nfrom {sql}"));
    }
    if !has_attribute_contains(&case.predicate) {
        if let Some(missing) = written
            .iter()
            .find(|literal| !found.literals.contains(literal))
        {
            return Err(format!("literal {missing:?} is lost\nfrom {sql}"));
        }
        if has_user_name(&case.predicate) && !found.literals.contains(&case.user) {
            return Err(format!(
                "user_name() is not {:?}: {:?}\nfrom {sql}",
                case.user, found.literals
            ));
        }
    }
    Ok(())
}

/// (c) Any text as a template: parse refuses or accepts without panicking; what it accepts
/// renders to one expression of Trino-readable literals it was given.
pub fn template_text_renders_faithfully(text: &str) -> Result<(), String> {
    let Ok(template) = Template::parse(text) else {
        return Ok(());
    };
    let user = "u'\\\"";
    let bundle = Bundle {
        users: vec![UserSpec {
            name: user.to_owned(),
            groups: vec!["g".to_owned()],
            attributes: [("k".to_owned(), vec!["v'\\".to_owned()])]
                .into_iter()
                .collect(),
            ..Default::default()
        }],
        ..Bundle::default()
    };
    let estate = Estate::new(bundle, None).map_err(|errors| errors.to_string())?;
    let found = render_checked(&template, &estate, user)
        .map_err(|problem| format!("{problem}\nfrom {text}"))?;
    let mut allowed: HashSet<String> = literals_of(text).into_iter().collect();
    allowed.insert(user.to_owned());
    allowed.insert("v'\\".to_owned());
    only_allowed(&found, &allowed, text)
}
