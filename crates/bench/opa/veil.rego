# Veil's decisions written in Rego for the endpoints of Trino's OPA access control plugin
# (`allow`, `rowFilters`, `batchColumnMasks`), over the document `veil-bench` generates from the
# same estate it serves with Veil (crates/bench/src/opa.rs). It exists to benchmark OPA beside
# Veil (docs/benchmarks.md); it is not a supported way to run Veil's policies.
#
# The document (`data.veil`) holds what Veil indexes when it loads an estate: the users, the
# policies by name, and per backing table the subscriptions, the row filters and per column the
# mask candidates already ranked by the conflict rules. Conditions, the choice of mask and the SQL
# of each answer are worked out here, per request, as Veil does per request.
package trino

default allow := false

identity := input.context.identity

user := object.get(data.veil.users, identity.user, {})

user_groups := {group | some group in object.get(user, "groups", [])}

user_attributes := object.get(user, "attributes", {})

# Rego has no recursion, so a condition is a leaf or `not` / `any` / `all` of leaves; the
# generator refuses deeper ones. `purposes` never holds: the plugin's input carries no project.
leaf_holds(condition) if condition.everyone

leaf_holds(condition) if identity.user in condition.users

leaf_holds(condition) if {
	some group in condition.groups
	group in user_groups
}

leaf_holds(condition) if {
	condition.attributes
	every key, values in condition.attributes {
		some value in values
		value in object.get(user_attributes, key, [])
	}
}

holds(condition) if leaf_holds(condition)

holds(condition) if {
	condition["not"]
	not leaf_holds(condition["not"])
}

holds(condition) if {
	some leaf in condition.any
	leaf_holds(leaf)
}

holds(condition) if {
	condition.all
	every leaf in condition.all {
		leaf_holds(leaf)
	}
}

# A mask or row filter applies when its `for` holds and its `except` does not.
applies(policy) if {
	holds(policy["for"])
	not excepted(policy)
}

excepted(policy) if holds(policy.except)

table_entry(resource) := data.veil.tables[resource.catalogName][resource.schemaName][resource.tableName]

# Table access: at least one subscription targets the table and every one of them allows.
allow if input.action.operation == "ExecuteQuery"

allow if {
	input.action.operation == "SelectFromColumns"
	entry := table_entry(input.action.resource.table)
	count(entry.subscriptions) > 0
	every name in entry.subscriptions {
		holds(data.veil.policies[name].allow)
	}
}

quote_literal(value) := concat("", ["'", replace(value, "'", "''"), "'"])

quote_identifier(name) := concat("", ["\"", replace(name, "\"", "\"\""), "\""])

# The compile-time functions of a predicate, replaced by literals for this user.
hole_value(hole) := "TRUE" if hole.group in user_groups

hole_value(hole) := "FALSE" if {
	hole.group
	not hole.group in user_groups
}

hole_value(hole) := "FALSE" if hole.purpose

hole_value(hole) := quote_literal(identity.user) if hole.user_name

fill(template) := strings.replace_n(
	{text: hole_value(hole) | some text, hole in object.get(template, "holes", {})},
	template.sql,
)

filter_sql(filter) := fill(filter) if not filter.match

filter_sql(filter) := "FALSE" if {
	count(object.get(user_attributes, filter.match.attribute, [])) == 0
}

filter_sql(filter) := sprintf("%s IN (%s)", [quote_identifier(filter.match.column), concat(", ", literals)]) if {
	values := object.get(user_attributes, filter.match.attribute, [])
	count(values) > 0
	literals := [quote_literal(value) | some value in values]
}

# Row filters: every one that applies, each a SQL predicate (Trino ANDs them).
rowFilters contains {"expression": expression} if {
	input.action.operation == "GetRowFilters"
	entry := table_entry(input.action.resource.table)
	some name in entry.row_filters
	policy := data.veil.policies[name]
	applies(policy)
	expression := filter_sql(policy.filter)
}

# Column masks: per requested column, the best-ranked candidate that applies.
batchColumnMasks contains {"index": index, "viewExpression": {"expression": expression}} if {
	input.action.operation == "GetColumnMask"
	some index, resource in input.action.filterResources
	column := resource.column
	candidates := table_entry(column).masks[column.columnName]
	winner := min({position |
		some position, candidate in candidates
		applies(data.veil.policies[candidate.policy])
	})
	candidate := candidates[winner]
	expression := mask_sql(data.veil.policies[candidate.policy], candidate, column)
}

# The same masks one column per request, as Trino's OPA plugin asks when it has no batch URI
# (`opa.policy.column-masking-uri`): one call per column of every table a query reads.
columnMask := {"expression": expression} if {
	input.action.operation == "GetColumnMask"
	column := input.action.resource.column
	candidates := table_entry(column).masks[column.columnName]
	winner := min({position |
		some position, candidate in candidates
		applies(data.veil.policies[candidate.policy])
	})
	candidate := candidates[winner]
	expression := mask_sql(data.veil.policies[candidate.policy], candidate, column)
}

mask_sql(policy, candidate, column) := masked(policy, candidate, column) if not policy.when

mask_sql(policy, candidate, column) := sprintf(
	"CASE WHEN %s THEN %s ELSE %s END",
	[fill(policy.when), masked(policy, candidate, column), quote_identifier(column.columnName)],
) if policy.when

# A method that does not fit the column's type falls back to nullify (`fallback`, decided
# when the document is generated, as Veil decides it when it loads the estate).
masked(policy, candidate, column) := sprintf("CAST(NULL AS %s)", [column.columnType]) if {
	candidate.fallback
}

masked(policy, candidate, column) := sprintf("CAST(NULL AS %s)", [column.columnType]) if {
	not candidate.fallback
	policy.method == "nullify"
}

masked(policy, candidate, column) := sprintf(
	"%s.\"system\".\"hash\"(%s, CAST(%s AS varchar))",
	[quote_identifier(data.veil.functions_catalog), quote_literal(data.veil.mask_key), quote_identifier(column.columnName)],
) if {
	not candidate.fallback
	policy.method == "hash"
}

masked(policy, candidate, column) := sprintf(
	"CASE WHEN length(%s) <= %d THEN lpad('', length(%s), %s) ELSE concat(substr(%s, 1, %d), lpad('', length(%s) - %d, %s), substr(%s, length(%s) - %d)) END",
	[
		name, kept, name, fill_char,
		name, policy.keep_first, name, kept, fill_char,
		name, name, policy.keep_last - 1,
	],
) if {
	not candidate.fallback
	policy.method == "partial"
	name := quote_identifier(column.columnName)
	kept := policy.keep_first + policy.keep_last
	fill_char := quote_literal(policy.mask_char)
}
