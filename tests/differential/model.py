"""An independent reference model of Veil's policy semantics, for differential testing.

Written from the product documentation only (the policy model and the policy language), not
from the product's code. Given a policy bundle, the mask keys, the current time and, per case,
the full ungoverned contents of a data source's backing table, it computes what the querying
user must get: the governed rows, or that the data source is absent for them, or that the
request is refused (a project the user is not a member of).

CLI:  python3 tests/differential/model.py < input.json > output.jsonl

Input (one JSON object on stdin):
    {"bundle": {...}, "now": "2026-12-01 23:10:00", "keys": {"default": "<hex>"},
     "trust_trino_groups": false,            # optional, default false
     "cases": [{"id", "user", "trino_groups", "project", "data_source",
                "raw": {"columns": [...], "rows": [[...], ...]}}]}
Output (one JSON line per case):
    {"id", "outcome": "rows", "columns": [...], "rows": [[...], ...]} | {"id", "outcome": "absent"}
    | {"id", "outcome": "refused"}

Points where the documentation is silent or ambiguous are marked `# ASSUMPTION:`.
"""

import datetime
import decimal
import hashlib
import hmac
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sql  # noqa: E402  (the model's own expression evaluator)

# ----------------------------------------------------------------------------------------------
# XXH64 (the public xxHash 64-bit algorithm), as Trino's xxhash64() computes it with seed 0.

MASK64 = (1 << 64) - 1
PRIME64_1 = 0x9E3779B185EBCA87
PRIME64_2 = 0xC2B2AE3D27D4EB4F
PRIME64_3 = 0x165667B19E3779F9
PRIME64_4 = 0x85EBCA77C2B2AE63
PRIME64_5 = 0x27D4EB2F165667C5


def rotate_left(value, bits):
    return ((value << bits) | (value >> (64 - bits))) & MASK64


def xxh64_round(accumulator, lane):
    accumulator = (accumulator + lane * PRIME64_2) & MASK64
    accumulator = rotate_left(accumulator, 31)
    return (accumulator * PRIME64_1) & MASK64


def xxh64_merge_round(accumulator, value):
    accumulator ^= xxh64_round(0, value)
    return (accumulator * PRIME64_1 + PRIME64_4) & MASK64


def xxh64(data, seed=0):
    """The unsigned 64-bit XXH64 digest of bytes `data`."""
    length = len(data)
    offset = 0
    if length >= 32:
        v1 = (seed + PRIME64_1 + PRIME64_2) & MASK64
        v2 = (seed + PRIME64_2) & MASK64
        v3 = seed & MASK64
        v4 = (seed - PRIME64_1) & MASK64
        while offset + 32 <= length:
            v1 = xxh64_round(v1, int.from_bytes(data[offset:offset + 8], "little"))
            v2 = xxh64_round(v2, int.from_bytes(data[offset + 8:offset + 16], "little"))
            v3 = xxh64_round(v3, int.from_bytes(data[offset + 16:offset + 24], "little"))
            v4 = xxh64_round(v4, int.from_bytes(data[offset + 24:offset + 32], "little"))
            offset += 32
        digest = (rotate_left(v1, 1) + rotate_left(v2, 7) + rotate_left(v3, 12) + rotate_left(v4, 18)) & MASK64
        for value in (v1, v2, v3, v4):
            digest = xxh64_merge_round(digest, value)
    else:
        digest = (seed + PRIME64_5) & MASK64
    digest = (digest + length) & MASK64
    while offset + 8 <= length:
        lane = xxh64_round(0, int.from_bytes(data[offset:offset + 8], "little"))
        digest ^= lane
        digest = (rotate_left(digest, 27) * PRIME64_1 + PRIME64_4) & MASK64
        offset += 8
    if offset + 4 <= length:
        digest ^= (int.from_bytes(data[offset:offset + 4], "little") * PRIME64_1) & MASK64
        digest = (rotate_left(digest, 23) * PRIME64_2 + PRIME64_3) & MASK64
        offset += 4
    while offset < length:
        digest ^= (data[offset] * PRIME64_5) & MASK64
        digest = (rotate_left(digest, 11) * PRIME64_1) & MASK64
        offset += 1
    digest ^= digest >> 33
    digest = (digest * PRIME64_2) & MASK64
    digest ^= digest >> 29
    digest = (digest * PRIME64_3) & MASK64
    digest ^= digest >> 32
    return digest


def sample_bucket(text):
    """bitwise_and(from_big_endian_64(xxhash64(to_utf8(text))), 2^63-1) % 10000."""
    return (xxh64(text.encode("utf-8")) & 0x7FFFFFFFFFFFFFFF) % 10000


def round_half_up(number):
    """round() as SQL does it for a non-negative number: halves go up."""
    return int(decimal.Decimal(str(number)).to_integral_value(rounding=decimal.ROUND_HALF_UP))


# ----------------------------------------------------------------------------------------------
# Values: JSON representation <-> Python values used by sql.py


def from_json_value(value, type_text):
    if value is None:
        return None
    base = sql.parse_type(type_text)[0]
    if base in ("double", "real"):
        return float(value)
    if base == "decimal":
        return decimal.Decimal(str(value))
    if base == "date":
        return datetime.date.fromisoformat(value)
    if base in sql.INTEGER_RANGES:
        return int(value)
    return value


def to_json_value(value, type_text):
    if value is None:
        return None
    base, params = sql.parse_type(type_text)
    if base == "decimal":
        return sql.decimal_text(value, params[1] if len(params) > 1 else 0)
    if base == "date":
        return value.isoformat()
    return value


# ----------------------------------------------------------------------------------------------
# Tags, globs, conditions


def tag_matches(policy_tag, tag):
    """A policy on tag `PII` matches `PII` and `PII.Email`, not `PIIX`."""
    return tag == policy_tag or tag.startswith(policy_tag + ".")


def tag_depth(tag):
    return len(tag.split("."))


def glob_matches(pattern, name):
    # ASSUMPTION: in `data_sources:` globs only `*` is special and it matches any run of
    # characters (dots included); the match is case-sensitive and covers the whole name.
    regex = "".join(".*" if char == "*" else re.escape(char) for char in pattern)
    return re.fullmatch(regex, name, flags=re.DOTALL) is not None


class Identity:
    """The querying user as the policies see them."""

    def __init__(self, name, groups, attributes, purposes, deactivated=False):
        self.name = name
        self.deactivated = deactivated
        self.groups = set(groups)
        self.attributes = attributes
        self.purposes = set(purposes)


def condition_holds(condition, identity):
    if condition == "everyone":
        return True
    if not isinstance(condition, dict) or len(condition) != 1:
        raise ValueError("a condition has exactly one key: %r" % (condition,))
    (key, value), = condition.items()
    if key == "users":
        # ASSUMPTION: `users:` compares the Trino user name exactly (case-sensitive).
        return identity.name in value
    if key == "groups":
        return any(group in identity.groups for group in value)
    if key == "attributes":
        # For every key listed the user has any of its values.
        return all(any(item in (identity.attributes.get(attribute) or []) for item in wanted)
                   for attribute, wanted in value.items())
    if key == "purposes":
        return any(purpose in identity.purposes for purpose in value)
    if key == "all":
        return all(condition_holds(item, identity) for item in value)
    if key == "any":
        return any(condition_holds(item, identity) for item in value)
    if key == "not":
        return not condition_holds(value, identity)
    if key == "everyone":
        return True
    raise ValueError("unknown condition %r" % key)


def policy_applies_to_user(policy, identity):
    """`for` (default everyone) holds and `except` (default nobody) does not."""
    if "for" in policy and not condition_holds(policy["for"], identity):
        return False
    if "except" in policy and condition_holds(policy["except"], identity):
        return False
    return True


def targets_data_source(policy, data_source):
    """Does the policy's `on:` select this data source (data_sources globs and/or tags)?"""
    target = policy.get("on") or {}
    globs = target.get("data_sources")
    tags = target.get("tags")
    if globs is not None and not any(glob_matches(glob, data_source["name"]) for glob in globs):
        return False
    if tags is not None:
        # ASSUMPTION: data-source tags in `on: {tags: [..]}` are hierarchical like column tags
        # (a policy on `Finance` reaches a data source tagged `Finance.Payroll`), and a data
        # source matches when it carries any of the listed tags.
        data_source_tags = data_source.get("tags") or []
        if not any(tag_matches(wanted, tag) for wanted in tags for tag in data_source_tags):
            return False
    # ASSUMPTION: a mask with neither `data_sources` nor `tags` (only `columns:` or
    # `column_tags:`) is global and reaches every data source.
    return True


# ----------------------------------------------------------------------------------------------
# Masks

METHOD_RANK = {"nullify": 0, "constant": 1, "hash": 2, "partial": 3, "regex": 4, "round": 5, "expression": 6}
DATE_UNITS = ("year", "quarter", "month", "week", "day")


def mask_reach(policy, column):
    """How a mask reaches a column: None, or a sort key prefix (tier, -depth)."""
    target = policy.get("on") or {}
    if "columns" in target:
        # ASSUMPTION: `columns:` names are compared exactly (the data source's lowercase names).
        return (0, 0) if column["name"] in target["columns"] else None
    if "column_tags" in target:
        depths = [tag_depth(wanted) for wanted in target["column_tags"]
                  for tag in (column.get("tags") or []) if tag_matches(wanted, tag)]
        if not depths:
            return None
        # Among tag policies the deepest matching tag wins: the depth is that of the
        # policy's own tag that matched (`PII.Phone` = 2), the deepest one when several match.
        return (1, -max(depths))
    return None


def method_fits(policy, column_type):
    """Does the mask's method fit the column's type? A misfit falls back to nullify."""
    method = policy["method"]
    base = sql.parse_type(column_type)[0]
    if method == "nullify":
        return True
    if method == "hash":
        return sql.is_string_type(column_type) or base == "bigint"
    if method == "constant":
        try:
            sql.constant_value(constant_text(policy["value"]), column_type)
            return True
        except sql.CastError:
            return False
    if method in ("regex", "partial"):
        return sql.is_string_type(column_type)
    if method == "round":
        if "unit" in policy:
            # ASSUMPTION: on a `date` column only the units Trino's date_trunc accepts for a
            # date fit (year, quarter, month, week, day); `hour`/`minute` on a date nullify.
            if base == "date":
                return policy["unit"] in DATE_UNITS
            return base in ("timestamp", "time")
        return sql.is_numeric_type(column_type)
    if method == "expression":
        return True
    # Methods the model does not know (reversible, format_preserving, ...) are never generated.
    raise ValueError("method %s is not modelled" % method)


def constant_text(value):
    # ASSUMPTION: a constant given as a JSON number is the literal of its decimal text
    # (5 -> '5'), a boolean as 'true'/'false'; the cast to the column type happens from text.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def hash_value(value, column_type, key):
    """Keyed HMAC-SHA256 of the value's text, cut to the column's type."""
    if value is None:
        return None
    digest = hmac.new(key, sql.text_of(value, column_type).encode("utf-8"), hashlib.sha256)
    base, params = sql.parse_type(column_type)
    if base == "bigint":
        return int.from_bytes(digest.digest()[:8], "big", signed=True)
    text = digest.hexdigest()
    if params:
        text = text[: params[0]]
    return text


def round_double(number, digits):
    """Trino's round(double, d): half away from zero via Java's Math.round on |x| * 10^d."""
    factor = 10.0 ** digits
    magnitude = -number if number < 0 else number
    scaled = magnitude * factor
    floor = float(int(scaled // 1))
    rounded = floor + 1 if scaled - floor >= 0.5 else floor
    result = rounded / factor
    return -result if number < 0 else result


def round_decimal(number, digits):
    """Trino's round(decimal, d): half away from zero; the column's scale is kept."""
    quantum = decimal.Decimal(1).scaleb(-digits)
    return number.quantize(quantum, rounding=decimal.ROUND_HALF_UP)


def round_integer(number, digits):
    """Trino's round(bigint|integer, d): identity for d >= 0, else half away from zero."""
    if digits >= 0:
        return number
    factor = 10 ** (-digits)
    quotient, remainder = divmod(abs(number), factor)
    if remainder * 2 >= factor:
        quotient += 1
    result = quotient * factor
    return -result if number < 0 else result


def truncate_date(value, unit):
    """date_trunc(unit, date)."""
    if unit == "year":
        return value.replace(month=1, day=1)
    if unit == "quarter":
        return value.replace(month=(value.month - 1) // 3 * 3 + 1, day=1)
    if unit == "month":
        return value.replace(day=1)
    if unit == "week":
        return value - datetime.timedelta(days=value.weekday())
    return value


def partial_mask(text, policy):
    """Keep the first/last characters, replace the others by mask_char."""
    if text is None:
        return None
    keep_first = int(policy.get("keep_first", 0))
    keep_last = int(policy.get("keep_last", 0))
    mask_char = policy.get("mask_char", "*")
    size = len(text)
    if size <= keep_first + keep_last:
        # Strings not longer than what is kept are fully masked.
        return mask_char * size
    tail = text[size - keep_last:] if keep_last else ""
    return text[:keep_first] + mask_char * (size - keep_first - keep_last) + tail


def regex_replace(text, pattern, replacement):
    if text is None:
        return None
    # ASSUMPTION: the generator's patterns mean the same in Python's `re` as in Trino's regex
    # library, and replacements contain no `$` or `\` (inserted literally here).
    return re.sub(pattern, lambda _match: replacement, text)


def apply_method(policy, method, value, column, context, key):
    """The masked value of one cell under one method (the mask's own, or nullify)."""
    column_type = column["type"]
    base = sql.parse_type(column_type)[0]
    if method == "nullify":
        return None
    if method == "constant":
        # ASSUMPTION: a constant replaces every value, NULL included (it is a literal, not a
        # function of the column).
        return sql.constant_value(constant_text(policy["value"]), column_type)
    if method == "hash":
        return hash_value(value, column_type, key)
    if method == "regex":
        # ASSUMPTION: a replacement that makes the text longer than varchar(n) is cut to n, as
        # every mask keeps its column's type (CAST truncates).
        return sql.cast_value(regex_replace(value, policy["pattern"], policy["replacement"]),
                              "varchar", column_type)
    if method == "partial":
        return sql.cast_value(partial_mask(value, policy), "varchar", column_type)
    if method == "round":
        if value is None:
            return None
        if "unit" in policy:
            return truncate_date(value, policy["unit"])
        digits = int(policy["digits"])
        if base == "double":
            return round_double(value, digits)
        if base == "decimal":
            return round_decimal(value, digits)
        return round_integer(value, digits)
    if method == "expression":
        result, result_type = sql.evaluate(sql.parse(policy["sql"]), context)
        return sql.cast_value(result, result_type, column_type)
    raise ValueError(method)


def choose_mask(column, masks):
    """The one mask that applies to a column: named column, deepest tag, method, name."""
    candidates = []
    for policy in masks:
        reach = mask_reach(policy, column)
        if reach is None:
            continue
        # ASSUMPTION: restrictiveness compares the methods as declared in the policies, before
        # a method that does not fit the column falls back to nullify.
        # ASSUMPTION: the last tie-break is the policy name in ascending (code point) order:
        # the alphabetically first name wins.
        candidates.append((reach[0], reach[1], METHOD_RANK[policy["method"]], policy["name"], policy))
    if not candidates:
        return None
    candidates.sort(key=lambda item: item[:4])
    return candidates[0][4]


# ----------------------------------------------------------------------------------------------
# The decision for one case


class Estate:
    def __init__(self, bundle):
        self.bundle = bundle
        self.data_sources = {item["name"]: item for item in bundle.get("data_sources") or []}
        self.users = {item["name"]: item for item in bundle.get("users") or []}
        self.projects = {item["name"]: item for item in bundle.get("projects") or []}
        self.policies = bundle.get("policies") or []
        settings = bundle.get("settings") or {}
        self.mask_key_id = settings.get("mask_key", "default")


def build_identity(estate, case, trust_trino_groups):
    user = estate.users.get(case["user"])
    # An unknown user is a user with no groups and no attributes.
    groups = list((user or {}).get("groups") or [])
    attributes = dict((user or {}).get("attributes") or {})
    if trust_trino_groups:
        groups += list(case.get("trino_groups") or [])
    # ASSUMPTION: Trino's groups are ignored unless the input says the server trusts them
    # (`trust_trino_groups`, default false, like the server's default).
    purposes = []
    if case.get("project") is not None:
        purposes = list(estate.projects[case["project"]].get("purposes") or [])
    # A deactivated user (SCIM's `active: false`) sees no data source at all.
    deactivated = bool((user or {}).get("deactivated"))
    return Identity(case["user"], groups, attributes, purposes, deactivated)


def is_visible(estate, data_source, identity):
    subscriptions = [policy for policy in estate.policies
                     if policy["kind"] == "subscription" and targets_data_source(policy, data_source)]
    # Deny by default; every subscription that targets the data source must allow.
    if identity.deactivated:
        return False
    return bool(subscriptions) and all(condition_holds(policy["allow"], identity) for policy in subscriptions)


def row_filter_keeps(policy, context, data_source_columns, now):
    """Does one row filter keep the row (predicate TRUE)?"""
    if "where" in policy:
        return sql.evaluate_predicate(policy["where"], context) is True
    if "match" in policy:
        column = policy["match"]["column"]
        value = context.row.get(column)
        values = context.attributes.get(policy["match"]["attribute"]) or []
        if value is None or not values:
            return False
        # ASSUMPTION: the column's text is compared exactly (case-sensitive, no trimming) with
        # each of the user's values.
        return sql.text_of(value, data_source_columns[column]) in values
    if "time_window" in policy:
        window = policy["time_window"]
        value = context.row.get(window["column"])
        if value is None:
            return False
        column_type = data_source_columns[window["column"]]
        if sql.parse_type(column_type)[0] == "date":
            # ASSUMPTION: on a date column the window is `c >= current_date - N days` (the date
            # of `now` in UTC); the generator keeps dates at least two days from the boundary.
            days = int(window.get("days", 0))
            return value >= now.date() - datetime.timedelta(days=days)
        raise ValueError("time_window on %s is not modelled" % column_type)
    if "sample" in policy:
        sample = policy["sample"]
        value = context.row.get(sample["column"])
        if value is None:
            return False
        text = sql.text_of(value, data_source_columns[sample["column"]])
        # ASSUMPTION: round(P*100) rounds a half up (P = 12.345 -> 1235); the generator only
        # uses percents whose P*100 is a whole number.
        threshold = round_half_up(decimal.Decimal(str(sample["percent"])) * 100)
        return sample_bucket(text) < threshold
    raise ValueError("row filter %s has no known kind" % policy["name"])


def decide(estate, case, keys, now, trust_trino_groups=False):
    """The outcome of one case as a JSON-ready dict."""
    result = {"id": case["id"]}
    project = case.get("project")
    # ASSUMPTION: the project is checked first, before the data source is looked up: a user
    # acting under a project they are not a member of (or one that does not exist) is refused
    # for every data source, existing, visible or not.
    if project is not None:
        project_entry = estate.projects.get(project)
        if project_entry is None or case["user"] not in (project_entry.get("members") or []):
            result["outcome"] = "refused"
            return result
    data_source = estate.data_sources.get(case["data_source"])
    identity = build_identity(estate, case, trust_trino_groups)
    if data_source is None or not is_visible(estate, data_source, identity):
        result["outcome"] = "absent"
        return result

    columns = data_source["columns"]
    column_types = {column["name"]: column["type"] for column in columns}
    targeting = [policy for policy in estate.policies
                 if targets_data_source(policy, data_source) and policy_applies_to_user(policy, identity)]
    row_filters = [policy for policy in targeting if policy["kind"] == "row_filter"]
    masks = [policy for policy in targeting if policy["kind"] == "mask"]
    chosen = {column["name"]: choose_mask(column, masks) for column in columns}
    key = bytes.fromhex(keys[estate.mask_key_id]) if any(
        policy is not None and policy["method"] == "hash" for policy in chosen.values()) else b""

    raw_columns = case["raw"]["columns"]
    raw_index = {name: position for position, name in enumerate(raw_columns)}
    output_rows = []
    for raw_row in case["raw"]["rows"]:
        # Row filters, `when` and `sql` all see the row's unmasked values.
        # ASSUMPTION: predicates and expressions are evaluated on the backing values, never on
        # another column's masked value.
        row = {column["name"]: from_json_value(raw_row[raw_index[column["name"]]], column["type"])
               for column in columns}
        context = sql.Context(row, column_types, identity.name, identity.groups, identity.purposes,
                              identity.attributes)
        if not all(row_filter_keeps(policy, context, column_types, now) for policy in row_filters):
            continue
        output = []
        for column in columns:
            value = row[column["name"]]
            policy = chosen[column["name"]]
            if policy is not None:
                masked_here = True
                if "when" in policy:
                    # CASE WHEN <when> THEN <mask> ELSE <column> END: NULL takes the ELSE branch.
                    # ASSUMPTION: a mask whose `when` is not TRUE for a row leaves that row's value
                    # raw; it does not hand the row to the mask that lost the conflict.
                    masked_here = sql.evaluate_predicate(policy["when"], context) is True
                if masked_here:
                    # ASSUMPTION: a misfit's nullify fallback keeps the policy's `when` (only the
                    # rows where it holds become NULL).
                    method = policy["method"] if method_fits(policy, column["type"]) else "nullify"
                    value = apply_method(policy, method, value, column, context, key)
            output.append(to_json_value(value, column["type"]))
        output_rows.append(output)
    result["outcome"] = "rows"
    result["columns"] = [column["name"] for column in columns]
    result["rows"] = output_rows
    return result


def parse_now(text):
    return datetime.datetime.fromisoformat(text.replace("T", " ").replace("Z", ""))


def run(document):
    estate = Estate(document["bundle"])
    now = parse_now(document["now"])
    keys = document.get("keys") or {}
    trust = bool(document.get("trust_trino_groups", False))
    return [decide(estate, case, keys, now, trust) for case in document["cases"]]


def main():
    document = json.load(sys.stdin)
    for line in run(document):
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
