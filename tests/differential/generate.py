"""A random, valid Veil estate generator for differential testing.

`python3 tests/differential/generate.py --seed S [--today YYYY-MM-DD]` prints one JSON object:

    {"seed": S, "today": "YYYY-MM-DD",
     "tables":  [{"catalog", "schema", "name", "columns": [{"name", "type"}], "rows": [[...]] | null}],
     "bundle":  {...a Veil policy file as JSON...},
     "queries": [{"id", "user", "project", "data_source"}]}

Memory tables (`memory.diff.e<seed>_...`) come with their rows, which the harness creates;
tpch tables (`tpch.tiny.nation|region|supplier`) come with `rows: null` and the harness reads them.
The output depends only on the seed and on `today` (the real UTC date unless given): dates near a
time window's boundary are moved at least three days away from it, so the outcome does not hang on
the exact second the harness runs.

Values are in the JSON representation the model uses: bigint/integer/double as numbers, decimal
as a string with exactly its scale, date as "YYYY-MM-DD", timestamp(3) as "YYYY-MM-DD HH:MM:SS.fff",
boolean as true/false, varchar as a string.
"""

import argparse
import datetime
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import model  # noqa: E402  (which data sources and columns a mask reaches)
import sql  # noqa: E402  (the model's own parser: every generated predicate must parse)

# ----------------------------------------------------------------------------------------------
# Pools

COLUMN_NAMES = ["id", "name", "email", "phone", "amount", "score", "born", "active", "note",
                "city", "code", "price", "qty", "o'brien", 'a"b', "first name", "ünï"]
COLUMN_TYPES = ["bigint", "integer", "double", "decimal(10,2)", "decimal(5,2)", "decimal(12,4)",
                "decimal(18,0)", "varchar", "varchar(1)", "varchar(3)", "varchar(5)", "varchar(12)",
                "varchar(25)", "varchar(80)", "date", "boolean", "timestamp(3)"]
COLUMN_TAGS = ["PII", "PII.Email", "PII.Phone", "PII.Phone.Mobile", "Finance", "Finance.Salary",
               "PIIX", "Public"]
DATA_SOURCE_TAGS = ["Finance", "Finance.Payroll", "Ops", "HR", "Sales"]
USER_BASE_NAMES = ["alice", "bob", "carol", "dave", "o'neil", "x' OR 1=1 --", "erin", "frank", "grace",
                   "heidi", "mallory", "ivan", "judy", 'say "hi"']
GROUPS = ["analysts", "hr", "ops", "auditors", "g'quote"]
ATTRIBUTE_KEYS = ["region", "segment", "code"]
HOSTILE_STRINGS = ["x' OR 1=1 --", "a''b", "\\'", "'", "''", "--", "", "o'brien", 'say "hi"',
                   "ünïcödé", "日本語", "Straße", "🙂 smile", "  padded  ", "NULL", "null", "tab\there",
                   'back\\slash "q"']
# Shapes of formatted text (d digit, l lowercase, L uppercase, anything else kept), for
# format_preserving: long enough classes are encrypted, a short class makes the value NULL.
FORMATS = ["dd-ddd-ddd-dddd", "dddddd", "dddd", "LLLLL-dddddd", "lllll lllll", "Lll ddddddd", "ddd.ddd.ddd",
           "lllllLLLLLdddddd", "ll-dddddd", "+dd (ddd) ddd-dddd", "ünï-dddddd"]
# Category values of randomized_response: hostile text, and text YAML 1.1 would read as something else.
CATEGORIES = ["x' OR 1=1 --", "a''b", "\\'", "", "--", "REDACTED", "1_0", "🙂", 'say "hi"', "NULL", "no",
              "ünï", "tab\there", "A", "b"]
WORDS = ["alpha", "Bravo", "charlie", "delta9", "Echo-7", "foxtrot", "golf", "HOTEL", "india",
         "juliet", "kilo", "lima", "mike", "x1y2z3", "abc", "ABC", "a", "zz"]
PURPOSE_NAMES = ["fraud-investigation", "research"]
PROJECT_NAMES = ["fraud-2026", "study"]

TPCH_TABLES = {
    "nation": [("nationkey", "bigint"), ("name", "varchar(25)"), ("regionkey", "bigint"),
               ("comment", "varchar(152)")],
    "region": [("regionkey", "bigint"), ("name", "varchar(25)"), ("comment", "varchar(152)")],
    "supplier": [("suppkey", "bigint"), ("name", "varchar(25)"), ("address", "varchar(40)"),
                 ("nationkey", "bigint"), ("phone", "varchar(15)"), ("acctbal", "double"),
                 ("comment", "varchar(101)")],
}
# Plausible values of tpch columns, for predicate literals and attribute values (the outcome is
# computed by the model from the real rows, so these only make filters hit more often).
NATION_NAMES = ["ALGERIA", "ARGENTINA", "BRAZIL", "CANADA", "FRANCE", "GERMANY", "JAPAN", "PERU"]
REGION_NAMES = ["AFRICA", "AMERICA", "ASIA", "EUROPE", "MIDDLE EAST"]
TPCH_SAMPLES = {
    ("nation", "nationkey"): list(range(0, 25)),
    ("nation", "name"): NATION_NAMES,
    ("nation", "regionkey"): list(range(0, 5)),
    ("nation", "comment"): ["furiously", "carefully final"],
    ("region", "regionkey"): list(range(0, 5)),
    ("region", "name"): REGION_NAMES,
    ("region", "comment"): ["quickly", "ges"],
    ("supplier", "suppkey"): list(range(1, 101)),
    ("supplier", "name"): ["Supplier#000000001", "Supplier#000000042"],
    ("supplier", "address"): ["abc", "N kD4on9OM Ipw3,gf0JBoQDd7tgrzrddZ"],
    ("supplier", "nationkey"): list(range(0, 25)),
    ("supplier", "phone"): ["27-918-335-1736", "15-679-861-2259"],
    ("supplier", "acctbal"): [-500.5, 0.0, 1000.25, 5000.0, 9000.75],
    ("supplier", "comment"): ["requests", "blithely"],
}

DATE_UNITS = ["year", "quarter", "month", "week", "day"]
PRIVACY_METHODS = ["reversible", "format_preserving", "randomized_response", "k_anonymize"]
METHODS = ["hash", "nullify", "constant", "regex", "round", "partial", "expression"] + PRIVACY_METHODS
MASK_KEYS = ["default", "next"]  # the ids the harness's Trinos hold keys for


def quote_identifier(name):
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text):
    return "'" + text.replace("'", "''") + "'"


def policy_literal(text):
    """A string literal for policy SQL. The product refuses one holding two quotes in a row or a
    backslash before a quote (sqlparser's printer cannot carry them; documented), so such a
    value loses its quotes here."""
    if "''" in text or "\\'" in text:
        text = text.replace("'", "")
    return quote_literal(text)


def base_of(type_text):
    return sql.parse_type(type_text)[0]


def varchar_length(type_text):
    base, params = sql.parse_type(type_text)
    return params[0] if base == "varchar" and params else None


def has_text_form(type_text):
    """Types whose CAST to varchar the model knows exactly (not double)."""
    # ASSUMPTION: doubles are never hashed-as-text, matched, sampled or cast to varchar by the
    # generated policies: Trino's text form of a double is not modelled (hash on a double is a
    # misfit and nullifies, which needs no text).
    return base_of(type_text) != "double"


# ----------------------------------------------------------------------------------------------
# Values


class Generator:
    def __init__(self, seed, today):
        self.seed = seed
        self.rng = random.Random(seed)
        self.today = today

    # -- values --------------------------------------------------------------------------------

    def random_value(self, type_text, allow_null=True):
        rng = self.rng
        if allow_null and rng.random() < 0.15:
            return None
        base, params = sql.parse_type(type_text)
        if base == "bigint":
            return rng.choice([0, -1, 1, rng.randint(-1000, 1000), 2 ** 62 - rng.randint(0, 9),
                               -2 ** 62 + rng.randint(0, 9), rng.randint(-2 ** 62, 2 ** 62)])
        if base == "integer":
            return rng.choice([0, -1, 1, rng.randint(-1000, 1000), 2_000_000_000, -2_000_000_000,
                               rng.randint(-2_000_000_000, 2_000_000_000)])
        if base == "double":
            return rng.choice([0.0, -0.5, 1.5, 2.5, -2.5, 12345.675, rng.randint(-10 ** 7, 10 ** 7) / 100.0,
                               rng.randint(-10 ** 11, 10 ** 11) / 4.0])
        if base == "decimal":
            precision, scale = params
            # Leave one integer digit of headroom so round(...) and `+ 1` never overflow the type.
            limit = 10 ** (precision - 1) - 1
            unscaled = rng.choice([0, 1, -1, 5 * 10 ** max(scale - 1, 0), rng.randint(-limit, limit), limit, -limit])
            return decimal_string(unscaled, scale)
        if base == "varchar":
            choice = rng.random()
            if choice < 0.4:
                text = rng.choice(HOSTILE_STRINGS)
            elif choice < 0.8:
                text = rng.choice(WORDS)
                if rng.random() < 0.3:
                    text += str(rng.randint(0, 999))
            elif choice < 0.85:
                text = "".join(rng.choice(WORDS) for _ in range(rng.randint(5, 15)))
            elif choice < 0.93:
                text = self.formatted_text()
            else:
                text = rng.choice(WORDS) + " " + rng.choice(HOSTILE_STRINGS)
            if params:
                text = text[: params[0]]
            return text
        if base == "date":
            choice = rng.random()
            if choice < 0.4:
                day = datetime.date(1990, 1, 1) + datetime.timedelta(days=rng.randint(0, 11000))
            elif choice < 0.9:
                day = self.today - datetime.timedelta(days=rng.randint(0, 400))
            else:
                day = self.today + datetime.timedelta(days=rng.randint(1, 30))
            return day.isoformat()
        if base == "timestamp":
            day = datetime.date.fromisoformat(self.random_value("date", allow_null=False))
            moment = datetime.datetime.combine(day, datetime.time()) + datetime.timedelta(
                milliseconds=rng.choice([0, rng.randint(0, 86_399_999), rng.randint(0, 86_399) * 1000]))
            return sql.timestamp_text(moment)
        if base == "boolean":
            return rng.random() < 0.5
        raise ValueError(type_text)

    def formatted_text(self):
        """Text of one of FORMATS, its classes filled at random."""
        rng = self.rng
        fill = {"d": "0123456789", "l": "abcdefghijklmnopqrstuvwxyz", "L": "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
        return "".join(rng.choice(fill[char]) if char in fill else char for char in rng.choice(FORMATS))

    # -- tables and data sources -------------------------------------------------------------

    def memory_table(self, index):
        rng = self.rng
        names = rng.sample(COLUMN_NAMES, rng.randint(2, 7))
        columns = [{"name": name, "type": rng.choice(COLUMN_TYPES)} for name in names]
        # Some columns take few values, so that rows share quasi-identifiers (k_anonymize keeps
        # some groups and suppresses others) and rows repeat (equal rows, equal random draws).
        pools = [[self.random_value(column["type"], allow_null=False) for _ in range(rng.randint(1, 3))]
                 if rng.random() < 0.35 else None for column in columns]
        rows = [[self.random_value(column["type"]) if pool is None or rng.random() < 0.1 else rng.choice(pool)
                 for column, pool in zip(columns, pools)]
                for _ in range(rng.randint(0, 30))]
        return {"catalog": "memory", "schema": "diff", "name": "e%d_t%d" % (self.seed, index),
                "columns": columns, "rows": rows}

    def tpch_table(self, name):
        return {"catalog": "tpch", "schema": "tiny", "name": name,
                "columns": [{"name": column, "type": kind} for column, kind in TPCH_TABLES[name]],
                "rows": None}

    def data_source_for(self, index, table):
        rng = self.rng
        columns = list(table["columns"])
        chosen = rng.sample(columns, rng.randint(1, len(columns)))
        if rng.random() < 0.6:
            chosen.sort(key=columns.index)  # usually the table's order, sometimes shuffled
        data_source_columns = []
        for column in chosen:
            entry = {"name": column["name"], "type": column["type"]}
            if rng.random() < 0.6:
                entry["tags"] = rng.sample(COLUMN_TAGS, rng.randint(1, 2))
            data_source_columns.append(entry)
        entry = {"name": "s%d.t%d" % (rng.randint(0, 2), index),
                 "table": "%s.%s.%s" % (table["catalog"], table["schema"], table["name"]),
                 "columns": data_source_columns}
        if rng.random() < 0.6:
            entry["tags"] = rng.sample(DATA_SOURCE_TAGS, rng.randint(1, 2))
        return entry

    def samples_for(self, data_source, table):
        """Per data-source column, some of its values (to make predicates and attributes hit)."""
        samples = {}
        for column in data_source["columns"]:
            values = []
            if table["rows"] is None:
                values = list(TPCH_SAMPLES.get((table["name"], column["name"]), []))
            else:
                position = [c["name"] for c in table["columns"]].index(column["name"])
                values = [row[position] for row in table["rows"] if row[position] is not None]
            if not values:
                values = [self.random_value(column["type"], allow_null=False) for _ in range(3)]
            samples[column["name"]] = values
        return samples

    # -- conditions ----------------------------------------------------------------------------

    def condition(self, depth=0):
        rng = self.rng
        choice = rng.random()
        if depth < 2 and choice < 0.2:
            kind = rng.choice(["all", "any", "not"])
            if kind == "not":
                return {"not": self.condition(depth + 1)}
            return {kind: [self.condition(depth + 1) for _ in range(rng.randint(1, 3))]}
        options = ["everyone", "users", "groups", "groups", "attributes"]
        if self.purposes:
            options.append("purposes")
        kind = rng.choice(options)
        if kind == "everyone":
            return "everyone"
        if kind == "users":
            return {"users": rng.sample(self.user_names, rng.randint(1, min(3, len(self.user_names))))}
        if kind == "groups":
            return {"groups": rng.sample(GROUPS, rng.randint(1, 2))}
        if kind == "attributes":
            keys = rng.sample(ATTRIBUTE_KEYS, rng.randint(1, 2))
            return {"attributes": {key: rng.sample(self.attribute_pool, min(len(self.attribute_pool), rng.randint(1, 3)))
                                   for key in keys}}
        return {"purposes": rng.sample(self.purposes, rng.randint(1, len(self.purposes)))}

    # -- predicates ----------------------------------------------------------------------------

    def literal(self, type_text, value):
        base, params = sql.parse_type(type_text)
        if base in ("bigint", "integer"):
            return str(int(value))
        if base == "double":
            return format(float(value), ".2f")
        if base == "decimal":
            return str(value)
        if base == "varchar":
            return policy_literal(value)
        if base == "date":
            return "DATE " + quote_literal(value)
        if base == "timestamp":
            return "TIMESTAMP " + quote_literal(value)
        if base == "boolean":
            return "TRUE" if value else "FALSE"
        raise ValueError(type_text)

    def sample_value(self, column, samples):
        if self.rng.random() < 0.75:
            return self.rng.choice(samples[column["name"]])
        return self.random_value(column["type"], allow_null=False)

    def atom(self, columns, samples):
        rng = self.rng
        column = rng.choice(columns)
        name = quote_identifier(column["name"])
        kind_of_type = base_of(column["type"])
        choice = rng.random()
        if choice < 0.3:
            operator = rng.choice(["=", "<>", "<", "<=", ">", ">="])
            if kind_of_type == "boolean":
                operator = rng.choice(["=", "<>"])
            return "%s %s %s" % (name, operator, self.literal(column["type"], self.sample_value(column, samples)))
        if choice < 0.4:
            return "%s IS %sNULL" % (name, rng.choice(["", "NOT "]))
        if choice < 0.5:
            values = [self.literal(column["type"], self.sample_value(column, samples)) for _ in range(rng.randint(1, 3))]
            return "%s %sIN (%s)" % (name, rng.choice(["", "", "NOT "]), ", ".join(values))
        if choice < 0.6 and kind_of_type == "varchar":
            return "length(%s) %s %d" % (name, rng.choice(["<", ">", "="]), rng.randint(0, 8))
        if choice < 0.68 and kind_of_type == "varchar":
            function = rng.choice(["lower", "upper"])
            value = self.sample_value(column, samples)
            value = sql.simple_lower(value) if function == "lower" else sql.simple_upper(value)
            return "%s(%s) = %s" % (function, name, policy_literal(value))
        if choice < 0.75:
            return "user_name() = %s" % quote_literal(rng.choice(self.user_names + ["nobody"]))
        if choice < 0.82:
            return "user_in_group(%s)" % quote_literal(rng.choice(GROUPS))
        if choice < 0.87 and self.purposes:
            return "user_has_purpose(%s)" % quote_literal(rng.choice(self.purposes))
        if has_text_form(column["type"]):
            expression = name if kind_of_type == "varchar" else "CAST(%s AS varchar)" % name
            return "user_attribute_contains(%s, %s)" % (quote_literal(rng.choice(ATTRIBUTE_KEYS)), expression)
        return "%s IS NOT NULL" % name

    def predicate(self, columns, samples, depth=0):
        rng = self.rng
        choice = rng.random()
        if depth < 2 and choice < 0.35:
            operator = rng.choice(["AND", "OR"])
            return "(%s) %s (%s)" % (self.predicate(columns, samples, depth + 1), operator,
                                     self.predicate(columns, samples, depth + 1))
        if depth < 2 and choice < 0.45:
            return "NOT (%s)" % self.predicate(columns, samples, depth + 1)
        return self.atom(columns, samples)

    # -- masks ---------------------------------------------------------------------------------

    def fitting_methods(self, type_text):
        base = base_of(type_text)
        if base == "varchar":
            methods = ["hash", "nullify", "constant", "regex", "partial", "expression",
                       "format_preserving", "randomized_response", "k_anonymize"]
            if varchar_length(type_text) is None:
                methods += ["reversible", "reversible"]  # a token needs a varchar without a length
            return methods
        if base == "bigint":
            return ["hash", "nullify", "constant", "round", "expression", "randomized_response", "k_anonymize"]
        if base in ("integer", "double", "date", "timestamp"):
            return ["nullify", "constant", "round", "expression", "randomized_response", "k_anonymize"]
        if base == "decimal":
            return ["nullify", "constant", "round", "expression", "k_anonymize"]
        return ["nullify", "constant", "expression", "k_anonymize"]

    def constant_value(self, type_text, must_cast):
        """A constant for a column of `type_text`; one that must cast fits a varchar(n)."""
        rng = self.rng
        base, params = sql.parse_type(type_text)
        if base == "varchar":
            choices = ["REDACTED", "x' OR 1=1 --", "", "ünï", "a''b", "\\'", "--"]
            if must_cast and params:
                choices = [choice for choice in choices if len(choice) <= params[0]]
            return rng.choice(choices)
        if base in ("bigint", "integer"):
            return rng.choice(["0", "-1", "42", 7])
        if base == "double":
            return rng.choice(["0", "1.5", "-2.25"])
        if base == "decimal":
            return rng.choice(["0", "1.5", "-3.25"])
        if base == "date":
            return rng.choice(["2000-01-01", "1970-01-01"])
        if base == "timestamp":
            return rng.choice(["2000-01-01 00:00:00.000", "1970-01-01 12:34:56.789"])
        return rng.choice(["true", "false"])

    def expression_sql(self, column, columns):
        rng = self.rng
        name = quote_identifier(column["name"])
        base = base_of(column["type"])
        if base == "varchar":
            others = [c for c in columns if c is not column and has_text_form(c["type"])]
            options = ["upper(%s)" % name, "lower(%s)" % name, "concat(%s, 'x')" % name,
                       "substr(%s, 1, 3)" % name, "coalesce(%s, 'none')" % name,
                       "concat(%s, %s)" % (name, quote_literal("it's"))]
            if others:
                other = rng.choice(others)
                options.append("concat(%s, CAST(%s AS varchar))" % (name, quote_identifier(other["name"])))
            return rng.choice(options)
        if base in ("bigint", "integer", "decimal", "double"):
            return rng.choice(["%s + 1" % name, "coalesce(%s, 0)" % name])
        if base == "date":
            return "coalesce(%s, DATE '2000-01-01')" % name
        if base == "timestamp":
            return "coalesce(%s, TIMESTAMP '2000-01-01 00:00:00.000')" % name
        return rng.choice(["NOT %s" % name, "coalesce(%s, FALSE)" % name])

    def mask_policy(self, index, data_source, samples, masked_before):
        rng = self.rng
        columns = data_source["columns"]
        if masked_before and rng.random() < 0.4:
            # Deliberately a second mask on a column that already has one: a conflict.
            column = rng.choice(masked_before)
        else:
            column = rng.choice(columns)
        masked_before.append(column)
        by_tag = bool(column.get("tags")) and rng.random() < 0.45
        if rng.random() < 0.8:
            method = rng.choice(self.fitting_methods(column["type"]))
        else:
            method = rng.choice(METHODS)  # possibly a misfit: the product must nullify instead
        # randomized_response answers text with categories and numbers with noise (and now and
        # then the other way round: a misfit).
        categories = method == "randomized_response" and (
            sql.is_string_type(column["type"]) != (rng.random() < 0.1))
        exact = True
        if by_tag:
            tag = rng.choice(column["tags"])
            parts = tag.split(".")
            tag = ".".join(parts[: rng.randint(1, len(parts))])  # the tag or one of its ancestors
            target_choice = rng.random()
            if target_choice < 0.4:
                target = {"column_tags": [tag]}
                exact = False
            elif target_choice < 0.8:
                target = {"data_sources": [data_source["name"]], "column_tags": [tag]}
            else:
                target = {"data_sources": [data_source["name"].split(".")[0] + ".*"], "column_tags": [tag]}
                exact = False
            if method == "expression":
                method = "nullify"  # an expression names columns: only for one data source by name
        else:
            target_choice = rng.random()
            # A constant or a category that does not cast to a column named by `columns:` is an
            # error, so those name the columns of one data source only.
            generic = method not in ("constant", "expression") and not categories
            if generic and target_choice < 0.15:
                target = {"data_sources": [data_source["name"].split(".")[0] + ".*"], "columns": [column["name"]]}
                exact = False
            elif generic and target_choice < 0.3 and data_source.get("tags"):
                target = {"tags": [rng.choice(data_source["tags"])], "columns": [column["name"]]}
                exact = False
            else:
                target = {"data_sources": [data_source["name"]], "columns": [column["name"]]}
        name = "%s-mask-%d" % (rng.choice(["a", "b", "m", "z"]), index)
        policy = {"name": name, "kind": "mask", "on": target, "method": method}
        base = base_of(column["type"])
        if method == "constant":
            if "column_tags" in target and base != "varchar" and rng.random() < 0.3:
                policy["value"] = "REDACTED"  # does not cast: reached by tag, the product nullifies
            else:
                policy["value"] = self.constant_value(column["type"], "columns" in target)
        elif method == "regex":
            policy["pattern"] = rng.choice(["[0-9]", "[aeiou]", "[^a-z]", ".", "x", "'"])
            policy["replacement"] = rng.choice(["#", "*", "", "**", "'"])
        elif method == "round":
            if base == "timestamp":
                policy["unit"] = rng.choice(DATE_UNITS + ["hour", "minute"])
            elif base == "date" or (base not in ("bigint", "integer", "double", "decimal") and rng.random() < 0.5):
                # Now and then `hour` on a date: Trino's date_trunc refuses it for a date, and the
                # model expects the misfit fallback (nullify); see model.method_fits.
                policy["unit"] = rng.choice(DATE_UNITS + ["hour"]) if rng.random() < 0.1 else rng.choice(DATE_UNITS)
            else:
                policy["digits"] = rng.choice([-3, -2, -1, 0, 1, 2])
        elif method == "partial":
            if rng.random() < 0.7:
                policy["keep_last"] = rng.randint(0, 4)
            if "keep_last" not in policy or rng.random() < 0.4:
                policy["keep_first"] = rng.randint(0, 3)
            if rng.random() < 0.5:
                policy["mask_char"] = rng.choice(["*", "#", "x", "'"])
        elif method == "expression":
            policy["sql"] = self.expression_sql(column, columns)
        elif method == "reversible":
            if rng.random() < 0.3:
                policy["reveal"] = self.condition()  # who may reveal: no effect on what is read
        elif method == "randomized_response":
            self.randomized_options(policy, column, samples, categories)
        elif method == "k_anonymize":
            self.k_anonymity_options(policy, column, data_source)
        if rng.random() < 0.4:
            policy["for"] = self.condition()
        if rng.random() < 0.25:
            policy["except"] = self.condition()
        if exact and rng.random() < 0.25:
            policy["when"] = self.predicate(columns, samples)
        return policy

    def randomized_options(self, policy, column, samples, categories):
        """`probability`, and `values` (hostile ones, and some of the column's own) or `noise`."""
        rng = self.rng
        policy["probability"] = rng.choice([0, 0.1, 0.25, 0.5, 0.5, 0.75, 0.9, 1])
        if not categories:
            policy["noise"] = rng.choice([1, 2, 2.5, 7, 30, 100, 1000])
            return
        own = [value for value in samples[column["name"]] if isinstance(value, str)]
        pool = sorted(set(own[:6] + rng.sample(CATEGORIES, 5)))
        values = rng.sample(pool, rng.randint(2, min(5, len(pool))))
        length = varchar_length(column["type"])
        if length is not None and "columns" in policy["on"]:
            # Named by `columns:`, every value must cast to varchar(n): a longer one is an error.
            values = [value for value in values if len(value) <= length]
            for filler in ["x", "y", "z", "0", "1"]:
                if len(set(values)) < 2 and filler not in values:
                    values.append(filler)
        if rng.random() < 0.05 and "7" not in values:
            values.append(7)  # a number: the text of its literal (each value listed once)
        policy["values"] = values

    def k_anonymity_options(self, policy, column, data_source):
        """`k` and one to four quasi-identifiers: columns of this data source (the masked one
        among them now and then), and sometimes a column only another data source the policy
        reaches has (on this one the policy's columns then nullify)."""
        rng = self.rng
        policy["k"] = rng.choice([2, 2, 3, 4, 5])
        names = [item["name"] for item in data_source["columns"]]
        chosen = rng.sample(names, rng.randint(1, min(2, len(names))))
        if column["name"] not in chosen and rng.random() < 0.3:
            chosen.append(column["name"])
        elsewhere = sorted({item["name"] for other in self.reached_data_sources(policy) if other is not data_source
                            for item in other["columns"] if item["name"] not in names})
        if elsewhere and rng.random() < 0.5:
            chosen.insert(rng.randrange(len(chosen) + 1), rng.choice(elsewhere))
        policy["quasi_identifiers"] = chosen

    def reached_data_sources(self, policy):
        """The data sources a mask reaches: selected by its `on`, with a column it reaches."""
        return [data_source for data_source in self.data_sources
                if model.targets_data_source(policy, data_source)
                and any(model.mask_reach(policy, item) is not None for item in data_source["columns"])]

    # -- row filters ---------------------------------------------------------------------------

    def row_filter_policy(self, index, data_source, samples):
        rng = self.rng
        columns = data_source["columns"]
        policy = {"name": "rf-%d" % index, "kind": "row_filter", "on": {"data_sources": [data_source["name"]]}}
        texts = [c for c in columns if has_text_form(c["type"])]
        dates = [c for c in columns if base_of(c["type"]) == "date"]
        kinds = ["where", "where"]
        if texts:
            kinds += ["match", "sample"]
        if dates:
            kinds += ["time_window"]
        kind = rng.choice(kinds)
        if kind == "where":
            policy["where"] = self.predicate(columns, samples)
        elif kind == "match":
            policy["match"] = {"column": rng.choice(texts)["name"], "attribute": rng.choice(ATTRIBUTE_KEYS)}
        elif kind == "sample":
            policy["sample"] = {"percent": rng.choice([10, 25, 50, 75, 100, 12.5, 33.3]),
                                "column": rng.choice(texts)["name"]}
        else:
            policy["time_window"] = {"column": rng.choice(dates)["name"], "days": rng.choice([1, 7, 30, 90, 365])}
        if rng.random() < 0.3:
            policy["for"] = self.condition()
        if rng.random() < 0.2:
            policy["except"] = self.condition()
        return policy

    # -- the estate ----------------------------------------------------------------------------

    def estate(self):
        rng = self.rng
        tables = []
        data_sources = []
        samples = {}
        unused_tpch = sorted(TPCH_TABLES)
        for index in range(rng.randint(2, 5)):
            if unused_tpch and rng.random() < 0.3:
                table = self.tpch_table(unused_tpch.pop(rng.randrange(len(unused_tpch))))
            else:
                table = self.memory_table(index)
            tables.append(table)
            data_source = self.data_source_for(index, table)
            data_sources.append(data_source)
            samples[data_source["name"]] = self.samples_for(data_source, table)
        self.data_sources = data_sources

        # Attribute values: hostile strings and the text of real column values, so that
        # `match` and user_attribute_contains hit.
        text_pool = set(["x' OR 1=1 --", "a''b", "\\'", "EUROPE", "ASIA", "1", "2"])
        for data_source in data_sources:
            for column in data_source["columns"]:
                if has_text_form(column["type"]):
                    for value in samples[data_source["name"]][column["name"]][:4]:
                        text_pool.add(json_text(value, column["type"]))
        self.attribute_pool = sorted(text_pool)

        users = []
        # Many users per estate: each adds a query of every data source, while the estate's tables
        # (the costly part of a case in Trino) are created once.
        for base_name in rng.sample(USER_BASE_NAMES, rng.randint(6, 12)):
            user = {"name": "u%d_%s" % (self.seed, base_name)}
            groups = rng.sample(GROUPS, rng.randint(0, 2))
            if groups or rng.random() < 0.5:
                user["groups"] = groups
            attributes = {}
            for key in rng.sample(ATTRIBUTE_KEYS, rng.randint(0, 2)):
                attributes[key] = rng.sample(self.attribute_pool, rng.randint(1, min(3, len(self.attribute_pool))))
            if attributes:
                user["attributes"] = attributes
            if rng.random() < 0.1:
                user["deactivated"] = True
            users.append(user)
        self.user_names = [user["name"] for user in users]
        self.purposes = rng.sample(PURPOSE_NAMES, rng.randint(0, 2))
        projects = []
        for name in rng.sample(PROJECT_NAMES, rng.randint(0, 2)):
            projects.append({"name": name,
                             "purposes": rng.sample(self.purposes, rng.randint(0, len(self.purposes))),
                             "members": rng.sample(self.user_names, rng.randint(1, len(self.user_names)))})

        policies = []
        for data_source in data_sources:
            count = rng.choices([0, 1, 2], weights=[15, 60, 25])[0]
            for _ in range(count):
                choice = rng.random()
                if choice < 0.6 or (choice >= 0.8 and not data_source.get("tags")):
                    target = {"data_sources": [data_source["name"]]}
                elif choice < 0.8:
                    target = {"data_sources": [data_source["name"].split(".")[0] + ".*"]}
                else:
                    tag = rng.choice(data_source["tags"])
                    target = {"tags": [tag.split(".")[0] if rng.random() < 0.5 else tag]}
                allow = "everyone" if rng.random() < 0.4 else self.condition()
                policies.append({"name": "sub-%d" % len(policies), "kind": "subscription", "on": target, "allow": allow})
        for data_source in data_sources:
            masked_before = []
            for _ in range(rng.randint(0, 4)):
                policies.append(self.mask_policy(len(policies), data_source, samples[data_source["name"]], masked_before))
            for _ in range(rng.randint(0, 2)):
                policies.append(self.row_filter_policy(len(policies), data_source, samples[data_source["name"]]))

        bundle = {"data_sources": data_sources, "users": users}
        if self.purposes:
            bundle["purposes"] = [{"name": name} for name in self.purposes]
        if projects:
            bundle["projects"] = projects
        if rng.random() < 0.5:
            bundle["settings"] = {"mask_key": rng.choice(MASK_KEYS)}
        bundle["policies"] = policies

        self.move_dates_off_boundaries(tables, data_sources, policies)

        queries = []
        ghost = "u%d_ghost" % self.seed
        for user_name in self.user_names + [ghost]:
            member_of = [project["name"] for project in projects if user_name in project["members"]]
            others = [project["name"] for project in projects if user_name not in project["members"]]
            for data_source in data_sources:
                acting = [None] + member_of
                if others and rng.random() < 0.3:
                    acting.append(rng.choice(others))
                for project in acting:
                    queries.append({"id": "%d-%d" % (self.seed, len(queries)), "user": user_name,
                                    "project": project, "data_source": data_source["name"]})
        return {"seed": self.seed, "today": self.today.isoformat(), "tables": tables,
                "bundle": bundle, "queries": queries}

    def move_dates_off_boundaries(self, tables, data_sources, policies):
        """Keep every date at least three days from each time window's boundary."""
        by_name = {data_source["name"]: data_source for data_source in data_sources}
        tables_by_name = {"%s.%s.%s" % (t["catalog"], t["schema"], t["name"]): t for t in tables}
        for policy in policies:
            if "time_window" not in policy:
                continue
            data_source = by_name[policy["on"]["data_sources"][0]]
            table = tables_by_name[data_source["table"]]
            if table["rows"] is None:
                continue
            position = [c["name"] for c in table["columns"]].index(policy["time_window"]["column"])
            for row in table["rows"]:
                if row[position] is not None:
                    row[position] = self.far_date(row[position], policies, data_source, policy["time_window"]["column"])

    def far_date(self, text, policies, data_source, column):
        boundaries = [self.today - datetime.timedelta(days=p["time_window"]["days"]) for p in policies
                      if "time_window" in p and p["on"]["data_sources"][0] == data_source["name"]
                      and p["time_window"]["column"] == column]
        day = datetime.date.fromisoformat(text)
        for _ in range(50):
            near = [b for b in boundaries if abs((day - b).days) < 3]
            if not near:
                break
            day = near[0] + datetime.timedelta(days=self.rng.choice([-5, 5]))
        return day.isoformat()


def decimal_string(unscaled, scale):
    sign = "-" if unscaled < 0 else ""
    digits = str(abs(unscaled)).rjust(scale + 1, "0")
    if scale == 0:
        return sign + digits
    return sign + digits[:-scale] + "." + digits[-scale:]


def json_text(value, type_text):
    """The text of CAST(value AS varchar) for a value in the JSON representation."""
    base = base_of(type_text)
    if base == "boolean":
        return "true" if value else "false"
    return str(value)


# ----------------------------------------------------------------------------------------------
# Consistency checks of a generated estate (the unit tests run them on many seeds)


def check_estate(estate):
    """Every problem found in an estate, as a list of messages (empty: consistent)."""
    problems = []
    seed = estate["seed"]
    tables = {"%s.%s.%s" % (t["catalog"], t["schema"], t["name"]): t for t in estate["tables"]}
    bundle = estate["bundle"]
    data_sources = bundle["data_sources"]
    if not 2 <= len(data_sources) <= 5:
        problems.append("%d data sources" % len(data_sources))
    today = datetime.date.fromisoformat(estate["today"])
    for table in estate["tables"]:
        if table["catalog"] == "memory":
            if table["schema"] != "diff" or not table["name"].startswith("e%d_" % seed):
                problems.append("memory table %s is misnamed" % table["name"])
            if not 0 <= len(table["rows"]) <= 30:
                problems.append("table %s has %d rows" % (table["name"], len(table["rows"])))
            for row in table["rows"]:
                if len(row) != len(table["columns"]):
                    problems.append("row width in %s" % table["name"])
                for value, column in zip(row, table["columns"]):
                    problem = value_problem(value, column["type"])
                    if problem:
                        problems.append("%s.%s: %s" % (table["name"], column["name"], problem))
        elif table["catalog"] != "tpch" or table["name"] not in TPCH_TABLES or table["rows"] is not None:
            problems.append("bad table %r" % table["name"])
        for column in table["columns"]:
            if column["name"] != column["name"].lower():
                problems.append("column %r is not lowercase" % column["name"])
    used = [data_source["table"] for data_source in data_sources]
    if len(set(used)) != len(used):
        problems.append("a backing table is used twice")
    if len({ds["name"] for ds in data_sources}) != len(data_sources):
        problems.append("duplicate data source names")
    by_name = {}
    for data_source in data_sources:
        by_name[data_source["name"]] = data_source
        table = tables.get(data_source["table"])
        if table is None:
            problems.append("data source %s has no table" % data_source["name"])
            continue
        table_types = {c["name"]: c["type"] for c in table["columns"]}
        for column in data_source["columns"]:
            if table_types.get(column["name"]) != column["type"]:
                problems.append("%s.%s does not match its table" % (data_source["name"], column["name"]))
    names = [policy["name"] for policy in bundle["policies"]]
    if len(set(names)) != len(names):
        problems.append("duplicate policy names")
    user_names = {user["name"] for user in bundle["users"]}
    purposes = {p["name"] for p in bundle.get("purposes") or []}
    for project in bundle.get("projects") or []:
        if not set(project["members"]) <= user_names or not set(project["purposes"]) <= purposes:
            problems.append("project %s refers to unknown users or purposes" % project["name"])
    for policy in bundle["policies"]:
        problems += policy_problems(policy, by_name, user_names, purposes, tables, today)
    expected_users = user_names | {"u%d_ghost" % seed}
    if {q["user"] for q in estate["queries"]} != expected_users:
        problems.append("queries do not cover every user and the unknown one")
    pairs = {(q["user"], q["data_source"]) for q in estate["queries"] if q["project"] is None}
    if len(pairs) != len(expected_users) * len(data_sources):
        problems.append("queries do not cover every user x data source")
    return problems


def value_problem(value, type_text):
    if value is None:
        return None
    base, params = sql.parse_type(type_text)
    if base in ("bigint", "integer"):
        low, high = sql.INTEGER_RANGES[base]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            return "bad %s %r" % (base, value)
    elif base == "double":
        if not isinstance(value, float):
            return "bad double %r" % (value,)
    elif base == "decimal":
        try:
            sql.cast_value(value, "varchar", type_text)
        except sql.CastError:
            return "bad decimal %r" % (value,)
        if "." in value and len(value.split(".")[1]) != params[1] or ("." not in value and params[1] != 0):
            return "decimal %r lacks scale %d" % (value, params[1])
    elif base == "varchar":
        if not isinstance(value, str) or (params and len(value) > params[0]):
            return "bad varchar %r" % (value,)
    elif base == "date":
        datetime.date.fromisoformat(value)
    elif base == "timestamp":
        moment = sql.parse_timestamp(value) if isinstance(value, str) else None
        if moment is None or sql.timestamp_text(moment) != value:
            return "bad timestamp %r" % (value,)
    elif base == "boolean":
        if not isinstance(value, bool):
            return "bad boolean %r" % (value,)
    return None


def policy_problems(policy, by_name, user_names, purposes, tables, today):
    problems = []
    target = policy.get("on") or {}
    exact = [by_name[name] for name in target.get("data_sources", []) if name in by_name]

    def check_sql(text):
        try:
            tree = sql.parse(text)
        except sql.ParseError as error:
            problems.append("%s: %s" % (policy["name"], error))
            return
        if len(exact) != 1 or target.get("data_sources") != [exact[0]["name"]]:
            problems.append("%s: SQL on a policy that is not for one data source by name" % policy["name"])
            return
        known = {c["name"] for c in exact[0]["columns"]}
        for name in sql.referenced_columns(tree):
            if name not in known:
                problems.append("%s references unknown column %r" % (policy["name"], name))

    for key in ("for", "except", "allow"):
        if key in policy:
            problems += condition_problems(policy["name"], policy[key], user_names, purposes)
    if policy["kind"] == "mask":
        if ("columns" in target) == ("column_tags" in target):
            problems.append("%s: a mask needs columns or column_tags, not both" % policy["name"])
        if policy["method"] == "constant" and "columns" in target:
            for data_source in by_name.values():
                for column in data_source["columns"]:
                    if column["name"] in target["columns"] and data_source in exact:
                        try:
                            sql.constant_value(str(policy["value"]), column["type"])
                        except sql.CastError:
                            problems.append("%s: constant does not cast to a named column" % policy["name"])
        if "when" in policy:
            check_sql(policy["when"])
        if policy["method"] == "expression":
            check_sql(policy["sql"])
        problems += privacy_problems(policy, by_name)
    elif policy["kind"] == "row_filter":
        if "where" in policy:
            check_sql(policy["where"])
        for key in ("match", "sample", "time_window"):
            if key in policy:
                if len(exact) != 1 or policy[key]["column"] not in {c["name"] for c in exact[0]["columns"]}:
                    problems.append("%s: %s column is not in its data source" % (policy["name"], key))
        if "time_window" in policy and len(exact) == 1:
            table = tables[exact[0]["table"]]
            boundary = today - datetime.timedelta(days=policy["time_window"]["days"])
            if table["rows"] is not None:
                position = [c["name"] for c in table["columns"]].index(policy["time_window"]["column"])
                for row in table["rows"]:
                    if row[position] is not None and abs((datetime.date.fromisoformat(row[position]) - boundary).days) < 2:
                        problems.append("%s: a date within two days of the window's boundary" % policy["name"])
    elif policy["kind"] == "subscription":
        if "allow" not in policy:
            problems.append("%s: a subscription without allow" % policy["name"])
    return problems


def privacy_problems(policy, by_name):
    """What the product refuses in a privacy mask's options (see `veil check`)."""
    problems = []
    name, method = policy["name"], policy["method"]
    reached = [data_source for data_source in by_name.values() if model.targets_data_source(policy, data_source)
               and any(model.mask_reach(policy, column) is not None for column in data_source["columns"])]
    if "reveal" in policy and method != "reversible":
        problems.append("%s: `reveal` on a %s mask" % (name, method))
    if method == "randomized_response":
        if not 0 <= policy.get("probability", -1) <= 1:
            problems.append("%s: probability outside [0, 1]" % name)
        if ("values" in policy) == ("noise" in policy):
            problems.append("%s: needs exactly one of values and noise" % name)
        if "noise" in policy and not policy["noise"] > 0:
            problems.append("%s: noise is not positive" % name)
        if "values" in policy:
            if len({model.constant_text(value) for value in policy["values"]}) < 2:
                problems.append("%s: fewer than two different values" % name)
            if "columns" in policy["on"]:
                for data_source in reached:
                    for column in data_source["columns"]:
                        if column["name"] in policy["on"]["columns"] and sql.is_string_type(column["type"]):
                            try:
                                for value in policy["values"]:
                                    sql.constant_value(model.constant_text(value), column["type"])
                            except sql.CastError:
                                problems.append("%s: a value does not cast to a named column" % name)
    if method == "k_anonymize":
        if not isinstance(policy.get("k"), int) or policy["k"] < 2:
            problems.append("%s: k below 2" % name)
        if not policy.get("quasi_identifiers"):
            problems.append("%s: no quasi-identifier" % name)
        for column in policy.get("quasi_identifiers") or []:
            if not any(column in [item["name"] for item in data_source["columns"]] for data_source in reached):
                problems.append("%s: quasi-identifier %r is in no data source it reaches" % (name, column))
    return problems


def condition_problems(name, condition, user_names, purposes):
    if condition == "everyone":
        return []
    if not isinstance(condition, dict) or len(condition) != 1:
        return ["%s: malformed condition %r" % (name, condition)]
    (key, value), = condition.items()
    if key in ("all", "any"):
        return [p for item in value for p in condition_problems(name, item, user_names, purposes)]
    if key == "not":
        return condition_problems(name, value, user_names, purposes)
    if key == "users" and not set(value) <= user_names:
        return ["%s: condition names an unknown user" % name]
    if key == "purposes" and not set(value) <= purposes:
        return ["%s: condition names an unknown purpose" % name]
    return []


def generate(seed, today=None):
    if today is None:
        today = datetime.datetime.now(datetime.timezone.utc).date()
    return Generator(seed, today).estate()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--today", help="the UTC date the run happens on (default: today)")
    arguments = parser.parse_args()
    today = datetime.date.fromisoformat(arguments.today) if arguments.today else None
    json.dump(generate(arguments.seed, today), sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
