"""Unit tests of the differential reference model (model.py, sql.py) and of the generator.

Run: python3 -m unittest discover -s tests/differential
The expected values are worked out by hand from the documented semantics (or are published
test vectors), not produced by the code under test.
"""

import base64
import datetime
import decimal
import hashlib
import hmac
import json
import math
import os
import struct
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import generate  # noqa: E402
import model  # noqa: E402
import sql  # noqa: E402

JEFE = "4a656665"  # the key "Jefe" of RFC 4231 test case 2
NOW = "2026-12-01 23:10:00"


def data_source(name="s.t", columns=None, tags=None):
    entry = {"name": name, "table": "memory.diff.x_" + name.replace(".", "_"),
             "columns": columns or [{"name": "id", "type": "bigint"}, {"name": "v", "type": "varchar"}]}
    if tags:
        entry["tags"] = tags
    return entry


def everyone_sees(name="s.t"):
    return {"name": "sub-" + name, "kind": "subscription", "on": {"data_sources": [name]}, "allow": "everyone"}


def run_case(bundle, rows, user="alice", project=None, name=None, key=JEFE, now=NOW):
    """Run one case through the model; raw columns are the data source's own columns."""
    name = name or bundle["data_sources"][0]["name"]
    found = [d for d in bundle["data_sources"] if d["name"] == name]
    columns = [c["name"] for c in (found[0]["columns"] if found else [])]
    document = {"bundle": bundle, "now": now, "keys": {"default": key},
                "cases": [{"id": "c", "user": user, "trino_groups": [], "project": project,
                           "data_source": name, "raw": {"columns": columns, "rows": rows}}]}
    return model.run(document)[0]


def column_values(result, position):
    return [row[position] for row in result["rows"]]


class SubscriptionTests(unittest.TestCase):
    def test_deny_by_default(self):
        bundle = {"data_sources": [data_source()], "users": [{"name": "alice"}], "policies": []}
        self.assertEqual(run_case(bundle, [[1, "a"]])["outcome"], "absent")

    def test_a_deactivated_user_sees_nothing(self):
        bundle = {"data_sources": [data_source()], "users": [{"name": "alice", "deactivated": True}],
                  "policies": [everyone_sees(), {"name": "not-x", "kind": "subscription",
                                                 "on": {"data_sources": ["s.t"]},
                                                 "allow": {"not": {"groups": ["x"]}}}]}
        self.assertEqual(run_case(bundle, [[1, "a"]])["outcome"], "absent")
        bundle["users"][0]["deactivated"] = False
        self.assertNotEqual(run_case(bundle, [[1, "a"]])["outcome"], "absent")

    def test_every_subscription_must_allow(self):
        bundle = {"data_sources": [data_source(tags=["Finance"])],
                  "users": [{"name": "alice", "groups": ["analysts"]}, {"name": "bob", "groups": ["analysts", "ok"]}],
                  "policies": [
                      {"name": "by-tag", "kind": "subscription", "on": {"tags": ["Finance"]}, "allow": {"groups": ["analysts"]}},
                      {"name": "by-name", "kind": "subscription", "on": {"data_sources": ["s.*"]}, "allow": {"groups": ["ok"]}}]}
        self.assertEqual(run_case(bundle, [[1, "a"]], user="alice")["outcome"], "absent")
        self.assertEqual(run_case(bundle, [[1, "a"]], user="bob")["outcome"], "rows")

    def test_missing_data_source_is_absent_and_unknown_user_has_no_groups(self):
        bundle = {"data_sources": [data_source()], "users": [{"name": "alice", "groups": ["g"]}],
                  "policies": [{"name": "s", "kind": "subscription", "on": {"data_sources": ["s.t"]}, "allow": {"groups": ["g"]}}]}
        self.assertEqual(run_case(bundle, [], name="s.missing")["outcome"], "absent")
        self.assertEqual(run_case(bundle, [], user="alice")["outcome"], "rows")
        self.assertEqual(run_case(bundle, [], user="stranger")["outcome"], "absent")

    def test_data_source_tag_hierarchy(self):
        bundle = {"data_sources": [data_source(tags=["Finance.Payroll"])], "users": [],
                  "policies": [{"name": "s", "kind": "subscription", "on": {"tags": ["Finance"]}, "allow": "everyone"}]}
        self.assertEqual(run_case(bundle, [])["outcome"], "rows")
        bundle["policies"][0]["on"] = {"tags": ["Fin"]}
        self.assertEqual(run_case(bundle, [])["outcome"], "absent")

    def test_conditions_nested(self):
        condition = {"all": [{"any": [{"users": ["alice"]}, {"groups": ["hr"]}]},
                             {"not": {"attributes": {"region": ["EU"]}}}]}
        bundle = {"data_sources": [data_source()],
                  "users": [{"name": "alice", "attributes": {"region": ["US"]}},
                            {"name": "bob", "groups": ["hr"], "attributes": {"region": ["EU", "US"]}},
                            {"name": "carol", "groups": ["hr"]}],
                  "policies": [{"name": "s", "kind": "subscription", "on": {"data_sources": ["s.t"]}, "allow": condition}]}
        outcomes = {user: run_case(bundle, [], user=user)["outcome"] for user in ("alice", "bob", "carol", "dave")}
        self.assertEqual(outcomes, {"alice": "rows", "bob": "absent", "carol": "rows", "dave": "absent"})


class ProjectTests(unittest.TestCase):
    def bundle(self):
        return {"data_sources": [data_source()], "users": [{"name": "alice"}, {"name": "bob"}],
                "purposes": [{"name": "fraud"}],
                "projects": [{"name": "p1", "purposes": ["fraud"], "members": ["alice"]}],
                "policies": [everyone_sees(),
                             {"name": "hash-v", "kind": "mask", "on": {"data_sources": ["s.t"], "columns": ["v"]},
                              "method": "nullify", "except": {"purposes": ["fraud"]}}]}

    def test_projects_refused(self):
        bundle = self.bundle()
        self.assertEqual(run_case(bundle, [[1, "a"]], user="bob", project="p1")["outcome"], "refused")
        self.assertEqual(run_case(bundle, [[1, "a"]], user="alice", project="nope")["outcome"], "refused")
        self.assertEqual(run_case(bundle, [[1, "a"]], user="ghost", project="p1")["outcome"], "refused")
        # Refused before the data source is looked up (an assumption of the model).
        self.assertEqual(run_case(bundle, [], user="bob", project="p1", name="s.missing")["outcome"], "refused")

    def test_purpose_from_project_lifts_mask(self):
        bundle = self.bundle()
        self.assertEqual(run_case(bundle, [[1, "a"]], user="alice")["rows"], [[1, None]])
        self.assertEqual(run_case(bundle, [[1, "a"]], user="alice", project="p1")["rows"], [[1, "a"]])


class MaskTests(unittest.TestCase):
    COLUMNS = [{"name": "id", "type": "bigint"},
               {"name": "email", "type": "varchar(20)", "tags": ["PII.Email"]},
               {"name": "phone", "type": "varchar", "tags": ["PII.Phone.Mobile"]},
               {"name": "other", "type": "varchar", "tags": ["PIIX"]}]

    def bundle(self, masks):
        return {"data_sources": [data_source(columns=self.COLUMNS)], "users": [{"name": "alice"}],
                "policies": [everyone_sees()] + masks}

    def mask(self, name, method, target, **options):
        policy = {"name": name, "kind": "mask", "on": target, "method": method}
        policy.update(options)
        return policy

    def test_tag_hierarchy(self):
        bundle = self.bundle([self.mask("n", "nullify", {"column_tags": ["PII"]})])
        self.assertEqual(run_case(bundle, [[1, "e", "p", "o"]])["rows"], [[1, None, None, "o"]])

    def test_named_column_beats_tag(self):
        bundle = self.bundle([self.mask("a", "nullify", {"column_tags": ["PII.Email"]}),
                              self.mask("z", "constant", {"data_sources": ["s.t"], "columns": ["email"]}, value="X")])
        self.assertEqual(run_case(bundle, [[1, "e", "p", "o"]])["rows"][0][1], "X")

    def test_deepest_tag_beats_more_restrictive(self):
        bundle = self.bundle([self.mask("a", "nullify", {"column_tags": ["PII"]}),
                              self.mask("b", "partial", {"column_tags": ["PII.Phone"]}, keep_last=2)])
        row = run_case(bundle, [[1, "e", "0123456", "o"]])["rows"][0]
        self.assertEqual(row[2], "*****56")  # PII.Phone (depth 2) beats PII (depth 1)
        self.assertEqual(row[1], None)       # email only reached by PII

    def test_more_restrictive_method_then_name(self):
        bundle = self.bundle([self.mask("a", "regex", {"column_tags": ["PII"]}, pattern="[a-z]", replacement="#"),
                              self.mask("b", "constant", {"column_tags": ["PII"]}, value="C")])
        self.assertEqual(run_case(bundle, [[1, "e", "p", "o"]])["rows"][0][1:3], ["C", "C"])
        bundle = self.bundle([self.mask("a", "constant", {"column_tags": ["PII"]}, value="C"),
                              self.mask("b", "nullify", {"column_tags": ["PII"]})])
        self.assertEqual(run_case(bundle, [[1, "e", "p", "o"]])["rows"][0][1:3], [None, None])
        bundle = self.bundle([self.mask("b", "constant", {"column_tags": ["PII"]}, value="B"),
                              self.mask("a", "constant", {"column_tags": ["PII"]}, value="A")])
        self.assertEqual(run_case(bundle, [[1, "e", "p", "o"]])["rows"][0][1], "A")

    def test_full_restrictiveness_order(self):
        # On a varchar column; `round` does not fit a varchar, so when it wins the column is NULL.
        options = {"nullify": {}, "constant": {"value": "C"}, "hash": {}, "partial": {"keep_last": 1},
                   "regex": {"pattern": "[a-z]", "replacement": "#"}, "round": {"digits": 0},
                   "expression": {"sql": "upper(phone)"}}
        expected = {"nullify": None, "constant": "C",
                    "hash": hmac.new(b"Jefe", b"p1", hashlib.sha256).hexdigest(), "partial": "*1",
                    "regex": "#1", "round": None, "expression": "P1"}
        order = ["nullify", "constant", "hash", "partial", "regex", "round", "expression"]
        for position, winner in enumerate(order):
            # Names in reverse order of strength, so the name tie-break cannot pick the winner.
            masks = [self.mask("%d-%s" % (9 - i, method), method, {"data_sources": ["s.t"], "columns": ["phone"]},
                               **options[method]) for i, method in enumerate(order) if i >= position]
            got = run_case(self.bundle(masks), [[1, "e", "p1", "o"]])["rows"][0][2]
            self.assertEqual(got, expected[winner], winner)

    def test_for_and_except(self):
        bundle = self.bundle([self.mask("n", "nullify", {"column_tags": ["PII.Email"]},
                                        **{"for": {"users": ["alice", "bob"]}, "except": {"users": ["bob"]}})])
        bundle["users"].append({"name": "bob"})
        self.assertEqual(run_case(bundle, [[1, "e", "p", "o"]], user="alice")["rows"][0][1], None)
        self.assertEqual(run_case(bundle, [[1, "e", "p", "o"]], user="bob")["rows"][0][1], "e")
        self.assertEqual(run_case(bundle, [[1, "e", "p", "o"]], user="carol")["rows"][0][1], "e")

    def test_when_null_takes_else(self):
        bundle = self.bundle([self.mask("n", "constant", {"data_sources": ["s.t"], "columns": ["email"]},
                                        value="M", when="id > 1")])
        rows = run_case(bundle, [[1, "a", None, None], [2, "b", None, None], [None, "c", None, None]])["rows"]
        self.assertEqual([row[1] for row in rows], ["a", "M", "c"])

    def test_hash_values(self):
        message = "what do ya want for nothing?"
        published = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        bundle = self.bundle([self.mask("h", "hash", {"column_tags": ["PII"]}),
                              self.mask("hid", "hash", {"data_sources": ["s.t"], "columns": ["id"]})])
        row = run_case(bundle, [[42, message, message, "o"]])["rows"][0]
        self.assertEqual(row[1], published[:20])  # varchar(20): cut to 20 digits
        self.assertEqual(row[2], published)       # varchar: all 64 digits
        expected_id = int.from_bytes(hmac.new(b"Jefe", b"42", hashlib.sha256).digest()[:8], "big", signed=True)
        self.assertEqual(row[0], expected_id)
        self.assertEqual(run_case(bundle, [[None, None, None, None]])["rows"][0][:3], [None, None, None])
        # The first 64 bits are read as a signed big-endian number: a digest with its top bit
        # set gives a negative bigint.
        high = next(i for i in range(100) if hmac.new(b"Jefe", str(i).encode(), hashlib.sha256).digest()[0] >= 0x80)
        value = run_case(bundle, [[high, None, None, None]])["rows"][0][0]
        self.assertLess(value, 0)
        digest = hmac.new(b"Jefe", str(high).encode(), hashlib.sha256).digest()
        self.assertEqual(value, int.from_bytes(digest[:8], "big") - 2 ** 64)

    def test_mask_key_setting(self):
        bundle = self.bundle([self.mask("h", "hash", {"column_tags": ["PII.Email"]})])
        bundle["settings"] = {"mask_key": "next"}
        document = {"bundle": bundle, "now": NOW, "keys": {"default": "00", "next": JEFE},
                    "cases": [{"id": "c", "user": "a", "trino_groups": [], "project": None, "data_source": "s.t",
                               "raw": {"columns": ["id", "email", "phone", "other"],
                                       "rows": [[1, "what do ya want for nothing?", None, None]]}}]}
        self.assertEqual(model.run(document)[0]["rows"][0][1], "5bdcc146bf60754e6a04")

    def test_misfit_falls_back_to_nullify(self):
        columns = [{"name": "i", "type": "integer", "tags": ["T"]}, {"name": "d", "type": "date", "tags": ["T"]},
                   {"name": "s", "type": "varchar", "tags": ["U"]}, {"name": "b", "type": "bigint", "tags": ["V"]}]
        bundle = {"data_sources": [data_source(columns=columns)], "users": [],
                  "policies": [everyone_sees(),
                               {"name": "h", "kind": "mask", "on": {"column_tags": ["T"]}, "method": "hash"},
                               {"name": "r", "kind": "mask", "on": {"column_tags": ["U"]}, "method": "round", "digits": 0},
                               {"name": "c", "kind": "mask", "on": {"column_tags": ["V"]}, "method": "constant", "value": "REDACTED"}]}
        self.assertEqual(run_case(bundle, [[5, "2024-05-05", "x", 9]])["rows"], [[None, None, None, None]])

    def test_methods(self):
        columns = [{"name": "dbl", "type": "double"}, {"name": "big", "type": "bigint"},
                   {"name": "dec", "type": "decimal(10,2)"}, {"name": "day", "type": "date"},
                   {"name": "short", "type": "varchar(3)"}, {"name": "txt", "type": "varchar"},
                   {"name": "n", "type": "integer"}]

        def masked(policy, row):
            policy = dict(policy, name="m", kind="mask")
            policy["on"] = {"data_sources": ["s.t"], "columns": [policy.pop("column")]}
            bundle = {"data_sources": [data_source(columns=columns)], "users": [], "policies": [everyone_sees(), policy]}
            return run_case(bundle, [row])["rows"][0]

        base = [-2.5, 4611686018427387850, "-1234.55", "2026-08-19", "abc", "0123456789", 7]
        self.assertEqual(masked({"column": "dbl", "method": "round", "digits": 0}, base)[0], -3.0)
        self.assertEqual(masked({"column": "big", "method": "round", "digits": -2}, base)[1], 4611686018427387900)
        self.assertEqual(masked({"column": "dec", "method": "round", "digits": 1}, base)[2], "-1234.60")
        self.assertEqual(masked({"column": "dec", "method": "round", "digits": -2}, base)[2], "-1200.00")
        self.assertEqual(masked({"column": "day", "method": "round", "unit": "week"}, base)[3], "2026-08-17")
        self.assertEqual(masked({"column": "day", "method": "round", "unit": "quarter"}, base)[3], "2026-07-01")
        # Longer than varchar(3): it does not cast, so the mask falls back to nullify.
        self.assertIsNone(masked({"column": "short", "method": "constant", "value": "REDACTED"}, base)[4])
        self.assertEqual(masked({"column": "txt", "method": "partial", "keep_first": 2, "keep_last": 3}, base)[5],
                         "01*****789")
        self.assertEqual(masked({"column": "short", "method": "partial", "keep_last": 3, "mask_char": "#"}, base)[4],
                         "###")
        self.assertEqual(masked({"column": "txt", "method": "regex", "pattern": "[0-4]", "replacement": "#"}, base)[5],
                         "#####56789")
        self.assertEqual(masked({"column": "short", "method": "expression", "sql": "concat(short, 'xyz')"}, base)[4],
                         "abc")
        self.assertEqual(masked({"column": "n", "method": "expression", "sql": "n + 1"}, base)[6], 8)
        self.assertEqual(masked({"column": "txt", "method": "expression", "sql": "upper(concat(short, 'ß'))"}, base)[5],
                         "ABCß")

    def test_hostile_constant_is_exact(self):
        bundle = self.bundle([self.mask("c", "constant", {"data_sources": ["s.t"], "columns": ["phone"]},
                                        value="x' OR 1=1 --")])
        self.assertEqual(run_case(bundle, [[1, "e", "p", "o"]])["rows"][0][2], "x' OR 1=1 --")


class TimestampTests(unittest.TestCase):
    COLUMNS = [{"name": "id", "type": "bigint"}, {"name": "at", "type": "timestamp(3)"}]

    def masked(self, policy, value):
        policy = dict(policy, name="m", kind="mask", on={"data_sources": ["s.t"], "columns": ["at"]})
        bundle = {"data_sources": [data_source(columns=self.COLUMNS)], "users": [], "policies": [everyone_sees(), policy]}
        return run_case(bundle, [[1, value]], key="00" * 32)["rows"][0][1]

    def test_text_and_round(self):
        at = "2026-08-19 13:47:05.123"
        self.assertEqual(sql.text_of(sql.parse_timestamp(at), "timestamp(3)"), at)
        self.assertEqual(self.masked({"method": "round", "unit": "hour"}, at), "2026-08-19 13:00:00.000")
        self.assertEqual(self.masked({"method": "round", "unit": "minute"}, at), "2026-08-19 13:47:00.000")
        self.assertEqual(self.masked({"method": "round", "unit": "week"}, at), "2026-08-17 00:00:00.000")
        self.assertEqual(self.masked({"method": "constant", "value": "1970-01-01 12:34:56.789"}, at), "1970-01-01 12:34:56.789")
        self.assertIsNone(self.masked({"method": "hash"}, at))  # a timestamp is no string: misfit
        self.assertEqual(self.masked({"method": "expression", "sql": "coalesce(at, TIMESTAMP '2000-01-01 00:00:00.000')"}, None),
                         "2000-01-01 00:00:00.000")

    def test_noise_moves_milliseconds(self):
        at = "2026-08-19 13:47:05.123"
        got = self.masked({"method": "randomized_response", "probability": 1, "noise": 2.5}, at)
        draw = model.uniform(bytes(32), 'm/at/["1","%s"]' % at)
        shift = math.trunc((2 * draw - 1) * 2.5 * 86400000)
        moved = sql.parse_timestamp(at) + datetime.timedelta(milliseconds=shift)
        self.assertEqual(got, sql.timestamp_text(moved))
        self.assertNotEqual(got, at)


class SeedTests(unittest.TestCase):
    def test_seed_text(self):
        columns = [{"name": "o'brien", "type": "varchar"}, {"name": "d", "type": "double"},
                   {"name": "m", "type": "decimal(5,2)"}, {"name": "b", "type": "boolean"},
                   {"name": "day", "type": "date"}, {"name": "n", "type": "bigint"}]
        row = {"o'brien": 'say "hi"\\', "d": 25000000000.0, "m": decimal.Decimal("-0.50"), "b": False,
               "day": datetime.date(2026, 1, 2), "n": None}
        self.assertEqual(model.randomized_seed({"name": "p-1"}, columns[0], columns, row),
                         'p-1/o\'brien/["say \\"hi\\"\\\\","2.5E10","-0.50","false","2026-01-02",null]')
        row["d"] = 1.5
        self.assertIn('"1.5E0"', model.randomized_seed({"name": "p-1"}, columns[0], columns, row))


class RowFilterTests(unittest.TestCase):
    COLUMNS = [{"name": "id", "type": "bigint"}, {"name": "o'brien", "type": "varchar"},
               {"name": "amount", "type": "decimal(5,2)"}, {"name": "day", "type": "date"}]

    def bundle(self, filters, users=None):
        return {"data_sources": [data_source(columns=self.COLUMNS)], "users": users or [{"name": "alice"}],
                "policies": [everyone_sees()] + [dict(f, name="rf%d" % i, kind="row_filter", on={"data_sources": ["s.t"]})
                                                 for i, f in enumerate(filters)]}

    ROWS = [[1, "x' OR 1=1 --", "12.30", "2026-11-30"], [2, "a''b", "-0.50", "2025-01-01"],
            [3, None, None, None], [4, "\\'", "7.00", "2026-11-01"]]

    def ids(self, result):
        return sorted(row[0] for row in result["rows"])

    def test_null_logic_in_where(self):
        result = run_case(self.bundle([{"where": "NOT (\"o'brien\" = 'a''''b')"}]), self.ROWS)
        self.assertEqual(self.ids(result), [1, 4])  # NULL = ... is NULL, NOT NULL is NULL: dropped
        result = run_case(self.bundle([{"where": "amount > 0 OR \"o'brien\" IS NULL"}]), self.ROWS)
        self.assertEqual(self.ids(result), [1, 3, 4])
        result = run_case(self.bundle([{"where": "amount IN (7.00, NULL)"}]), self.ROWS)
        self.assertEqual(self.ids(result), [4])

    def test_filters_are_anded(self):
        result = run_case(self.bundle([{"where": "id > 1"}, {"where": "id < 4"}]), self.ROWS)
        self.assertEqual(self.ids(result), [2, 3])

    def test_hostile_attribute_values(self):
        users = [{"name": "mallory", "attributes": {"region": ["x' OR 1=1 --", "\\'"]}}]
        bundle = self.bundle([{"where": "user_attribute_contains('region', \"o'brien\")"}], users)
        self.assertEqual(self.ids(run_case(bundle, self.ROWS, user="mallory")), [1, 4])
        self.assertEqual(self.ids(run_case(bundle, self.ROWS, user="nobody")), [])

    def test_user_functions(self):
        users = [{"name": "o'neil", "groups": ["hr"]}]
        bundle = self.bundle([{"where": "user_name() = 'o''neil' AND user_in_group('hr') AND NOT user_has_purpose('p')"}],
                             users)
        self.assertEqual(self.ids(run_case(bundle, self.ROWS, user="o'neil")), [1, 2, 3, 4])
        self.assertEqual(self.ids(run_case(bundle, self.ROWS, user="alice")), [])

    def test_match(self):
        users = [{"name": "alice", "attributes": {"amt": ["12.30", "7"]}}]
        bundle = self.bundle([{"match": {"column": "amount", "attribute": "amt"}}], users)
        self.assertEqual(self.ids(run_case(bundle, self.ROWS)), [1])  # "7.00" is not "7"
        self.assertEqual(self.ids(run_case(bundle, self.ROWS, user="bob")), [])

    def test_time_window(self):
        bundle = self.bundle([{"time_window": {"column": "day", "days": 7}}])
        self.assertEqual(self.ids(run_case(bundle, self.ROWS)), [1])
        bundle = self.bundle([{"time_window": {"column": "day", "days": 365}}])
        self.assertEqual(self.ids(run_case(bundle, self.ROWS)), [1, 4])

    def test_sample(self):
        rows = [[i, str(i), None, None] for i in range(200)] + [[None, None, None, None]]
        self.assertEqual(len(run_case(self.bundle([{"sample": {"percent": 100, "column": "id"}}]), rows)["rows"]), 200)
        self.assertEqual(len(run_case(self.bundle([{"sample": {"percent": 0, "column": "id"}}]), rows)["rows"]), 0)
        kept = self.ids(run_case(self.bundle([{"sample": {"percent": 50, "column": "id"}}]), rows))
        self.assertTrue(60 < len(kept) < 140)
        expected = [i for i in range(200) if (model.xxh64(str(i).encode()) & (2 ** 63 - 1)) % 10000 < 5000]
        self.assertEqual(kept, expected)
        # Deterministic from the text: the same rows whichever column holds the same text.
        by_text = self.ids(run_case(self.bundle([{"sample": {"percent": 50, "column": "o'brien"}}]), rows))
        self.assertEqual(by_text, expected)


class KeyedFunctionTests(unittest.TestCase):
    """The keyed functions' building blocks against published known answers."""

    NIST_KEYS = {128: "2B7E151628AED2A6ABF7158809CF4F3C",
                 192: "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F",
                 256: "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94"}
    # NIST SP 800-38G FF1 samples 1-9 (the "FF1samples" examples): key size, radix, tweak,
    # plaintext, ciphertext.
    NIST_SAMPLES = [
        (128, 10, "", "0123456789", "2433477484"),
        (128, 10, "39383736353433323130", "0123456789", "6124200773"),
        (128, 36, "3737373770717273373737", "0123456789abcdefghi", "a9tv40mll9kdu509eum"),
        (192, 10, "", "0123456789", "2830668132"),
        (192, 10, "39383736353433323130", "0123456789", "2496655549"),
        (192, 36, "3737373770717273373737", "0123456789abcdefghi", "xbj3kv35jrawxv32ysr"),
        (256, 10, "", "0123456789", "6657667009"),
        (256, 10, "39383736353433323130", "0123456789", "1001623463"),
        (256, 36, "3737373770717273373737", "0123456789abcdefghi", "xs8a0azh2avyalyzuwd"),
    ]

    def test_ff1_nist_samples(self):
        alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
        for number, (bits, radix, tweak, plain, cipher) in enumerate(self.NIST_SAMPLES, 1):
            key = bytes.fromhex(self.NIST_KEYS[bits])
            numerals = [alphabet.index(char) for char in plain]
            encrypted = model.ff1(key, radix, bytes.fromhex(tweak), numerals)
            self.assertEqual("".join(alphabet[n] for n in encrypted), cipher, "sample %d" % number)
            self.assertEqual(model.ff1(key, radix, bytes.fromhex(tweak), encrypted, encrypt=False), numerals)

    def test_hkdf_rfc5869(self):
        ikm = bytes([0x0B] * 22)
        # Test case 1: salt and info.
        okm = model.hkdf_sha256(ikm, bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"), 42, bytes.fromhex("000102030405060708090a0b0c"))
        self.assertEqual(okm.hex(), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
        # Test case 3: no salt (HashLen zero bytes), no info.
        self.assertEqual(model.hkdf_sha256(ikm, b"", 42).hex(),
                         "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8")

    def test_aes_gcm_siv_rfc8452_and_tokens(self):
        _, _, _, aes_gcm_siv = model.aes()
        # RFC 8452 appendix C.2, the first AES-256-GCM-SIV vector (empty plaintext and AAD).
        sealed = aes_gcm_siv(bytes.fromhex("01" + "00" * 31)).encrypt(bytes.fromhex("03" + "00" * 11), b"", b"")
        self.assertEqual(sealed.hex(), "07f5f4169bbf55a8400cd47ea6fd400f")
        key = bytes(range(32))
        token = model.reversible_token(key, "k1", "tokenize-email", "Zoë 😀")
        prefix, key_id, encoded = token.split(":")
        self.assertEqual((prefix, key_id), ("v1", "k1"))
        self.assertNotIn("=", encoded)
        sealed = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        self.assertEqual(len(sealed), len("Zoë 😀".encode()) + 16)
        subkey = model.hkdf_sha256(key, b"veil/reversible/v1", 32)
        opened = aes_gcm_siv(subkey).decrypt(bytes(12), sealed, b"veil/reversible/v1:k1:tokenize-email")
        self.assertEqual(opened.decode(), "Zoë 😀")
        with self.assertRaises(Exception):  # bound to its policy
            aes_gcm_siv(subkey).decrypt(bytes(12), sealed, b"veil/reversible/v1:k1:other")
        self.assertEqual(token, model.reversible_token(key, "k1", "tokenize-email", "Zoë 😀"))  # deterministic
        self.assertNotEqual(token, model.reversible_token(key, "k1", "other", "Zoë 😀"))

    def test_fpe(self):
        key = bytes(range(32))
        # The example of docs/deploying-on-trino.md (under the key 00 01 ... 1f).
        self.assertEqual(model.fpe_value(key, "25-989-741-2988"), "61-590-285-2610")
        masked = model.fpe_value(key, "AbCdEfGhIj üß—é 123456")
        self.assertEqual([model.fpe_class(c) for c in masked], [model.fpe_class(c) for c in "AbCdEfGhIj üß—é 123456"])
        self.assertEqual(masked[10:16], " üß—é ")
        subkey = model.hkdf_sha256(key, b"veil/fpe/v1", 32)
        digits = [int(c) for c in "123456"]
        self.assertEqual(masked[-6:], "".join(str(n) for n in model.ff1(subkey, 10, b"digits", digits)))
        for short in ("12345", "abcd EFGH 123456", "Hello World 2026-05-12", "", "--", "ünï"):
            self.assertIsNone(model.fpe_value(key, short), short)
        self.assertIsNotNone(model.fpe_value(key, "abcde"))

    def test_uniform(self):
        key = bytes(range(32))
        subkey = model.hkdf_sha256(key, b"veil/uniform/v1", 32)
        mac = hmac.new(subkey, "p/c/[\"1\"]".encode(), hashlib.sha256).digest()
        expected = math.ldexp(struct.unpack(">Q", mac[:8])[0] >> 11, -53)
        self.assertEqual(model.uniform(key, "p/c/[\"1\"]"), expected)
        draws = [model.uniform(key, str(i)) for i in range(2000)]
        self.assertTrue(all(0 <= draw < 1 for draw in draws))
        self.assertTrue(0.45 < sum(draws) / len(draws) < 0.55)

    def test_trino_double_text(self):
        # What Trino 476 answered for SELECT CAST(x AS varchar).
        cases = [(0.0, "0E0"), (-0.0, "-0E0"), (100.0, "1.0E2"), (0.001, "1.0E-3"), (1e7, "1.0E7"),
                 (123.456, "1.23456E2"), (-2.5, "-2.5E0"), (9999999.0, "9.999999E6"), (0.1, "1.0E-1"),
                 (1.7976931348623157e308, "1.7976931348623157E308"), (25000000000.0, "2.5E10"),
                 (12345678.9, "1.23456789E7"), (1e-300, "1.0E-300"), (2.2250738585072014e-308, "2.2250738585072014E-308"),
                 (12345.675, "1.2345675E4"), (float("nan"), "NaN"), (float("inf"), "Infinity")]
        for number, text in cases:
            self.assertEqual(model.trino_double_text(number), text, repr(number))

    def test_json_format_texts(self):
        self.assertEqual(model.json_format_texts(['a"b', "x\\y", None, "t\tb\n", "\x01", "ünï 🙂", "/"]),
                         '["a\\"b","x\\\\y",null,"t\\tb\\n","\\u0001","ünï \\uD83D\\uDE42","/"]')
        self.assertEqual(model.json_format_texts([]), "[]")


class PrivacyMaskTests(unittest.TestCase):
    KEY = "00" * 32
    COLUMNS = [{"name": "id", "type": "bigint"}, {"name": "v", "type": "varchar"},
               {"name": "short", "type": "varchar(5)"}, {"name": "n", "type": "integer"},
               {"name": "day", "type": "date"}, {"name": "dbl", "type": "double"},
               {"name": "dec", "type": "decimal(10,2)"}, {"name": "o'brien", "type": "varchar", "tags": ["PII"]}]

    def run_masks(self, masks, rows, filters=(), user="alice", mask_key=None):
        bundle = {"data_sources": [data_source(columns=self.COLUMNS)], "users": [{"name": "alice"}],
                  "policies": [everyone_sees()] + [dict(m, kind="mask") for m in masks]
                  + [dict(f, kind="row_filter", on={"data_sources": ["s.t"]}) for f in filters]}
        if mask_key:
            bundle["settings"] = {"mask_key": mask_key}
        document = {"bundle": bundle, "now": NOW, "keys": {"default": self.KEY, "next": JEFE},
                    "cases": [{"id": "c", "user": user, "trino_groups": [], "project": None, "data_source": "s.t",
                               "raw": {"columns": [c["name"] for c in self.COLUMNS], "rows": rows}}]}
        return model.run(document)[0]["rows"]

    def row(self, **values):
        base = {"id": 1, "v": "alice", "short": "abcde", "n": 10, "day": "2026-01-10", "dbl": 1.5, "dec": "3.50",
                "o'brien": "x' OR 1=1 --"}
        base.update(values)
        return [base[c["name"]] for c in self.COLUMNS]

    def on(self, column):
        return {"data_sources": ["s.t"], "columns": [column]}

    def draw(self, policy, column, row):
        raw = dict(zip([c["name"] for c in self.COLUMNS], row))
        values = [model.from_json_value(raw[c["name"]], c["type"]) for c in self.COLUMNS]
        texts = [model.cast_to_varchar_text(value, c["type"]) for value, c in zip(values, self.COLUMNS)]
        seed = "%s/%s/%s" % (policy, column, model.json_format_texts(texts))
        return model.uniform(bytes.fromhex(self.KEY), seed)

    def test_reversible_and_its_misfits(self):
        key = bytes.fromhex(self.KEY)
        masks = [{"name": "r", "on": self.on("v"), "method": "reversible"},
                 {"name": "r2", "on": self.on("short"), "method": "reversible"},
                 {"name": "r3", "on": self.on("id"), "method": "reversible"}]
        rows = self.run_masks(masks, [self.row(), self.row(v=None)])
        self.assertEqual(rows[0][1], model.reversible_token(key, "default", "r", "alice"))
        self.assertEqual(rows[0][2], None)   # varchar(5) cannot hold a token: nullify
        self.assertEqual(rows[0][0], None)   # a bigint is no varchar: nullify
        self.assertEqual(rows[1][1], None)   # NULL stays NULL
        rows = self.run_masks(masks[:1], [self.row()], mask_key="next")
        self.assertTrue(rows[0][1].startswith("v1:next:"))

    def test_format_preserving(self):
        key = bytes.fromhex(self.KEY)
        masks = [{"name": "f", "on": self.on("v"), "method": "format_preserving"},
                 {"name": "f2", "on": self.on("short"), "method": "format_preserving"},
                 {"name": "f3", "on": self.on("n"), "method": "format_preserving"}]
        rows = self.run_masks(masks, [self.row(v="12-345-678", short="ab12"), self.row(v="abc", short="abcde")])
        self.assertEqual(rows[0][1], model.fpe_value(key, "12-345-678"))
        self.assertEqual(len(rows[0][1]), 10)
        self.assertEqual(rows[0][2], None)  # two letters, two digits: too short
        self.assertEqual(rows[0][3], None)  # an integer: misfit
        self.assertEqual(rows[1][1], None)
        self.assertEqual(rows[1][2], model.fpe_value(key, "abcde"))

    def test_randomized_categories(self):
        values = ["a", "b", "c", "d"]
        policy = {"name": "rr", "on": self.on("v"), "method": "randomized_response", "probability": 0.5, "values": values}
        rows = [self.row(id=i, v=values[i % 4] if i % 5 else "zz") for i in range(200)]
        out = self.run_masks([policy], rows)
        replaced = 0
        for row, got in zip(rows, out):
            draw = self.draw("rr", "v", row)
            if draw >= 0.5:
                self.assertEqual(got[1], row[1])
                continue
            replaced += 1
            self.assertIn(got[1], values)
            self.assertNotEqual(got[1], row[1])  # always another value
            if row[1] == "zz":
                self.assertEqual(got[1], values[int(draw / 0.5 * 4)])
            else:
                others = [value for value in values if value != row[1]]
                self.assertEqual(got[1], others[int(draw / 0.5 * 3)])
        self.assertTrue(60 < replaced < 140)
        # probability 0 keeps every value, 1 replaces every one; NULL stays NULL.
        self.assertEqual([r[1] for r in self.run_masks([dict(policy, probability=0)], rows)], [r[1] for r in rows])
        self.assertTrue(all(a[1] != b[1] for a, b in zip(self.run_masks([dict(policy, probability=1)], rows), rows)))
        self.assertEqual(self.run_masks([dict(policy, probability=1)], [self.row(v=None)])[0][1], None)
        # A value that does not fit varchar(5) (reached by tag) nullifies; a bigint column too.
        long = dict(policy, on={"column_tags": ["PII"]}, values=["a", "toolong"])
        self.assertEqual(self.run_masks([dict(long, on=self.on("short"))], [self.row()])[0][2], None)
        self.assertEqual(self.run_masks([dict(policy, on=self.on("id"))], [self.row()])[0][0], None)

    def test_randomized_noise(self):
        policy = {"name": "nz", "method": "randomized_response", "probability": 0.75, "noise": 10}
        rows = [self.row(id=i, n=1000 + i, day="2026-01-10", dbl=2.5) for i in range(100)]
        masks = [dict(policy, name="nz-%s" % c, on=self.on(c)) for c in ("n", "day", "dbl", "dec", "v")]
        out = self.run_masks(masks, rows)
        moved = 0
        for row, got in zip(rows, out):
            draw = self.draw("nz-n", "n", row)
            shift = (2 * draw / 0.75 - 1) * 10
            self.assertEqual(got[3], row[3] + (math.trunc(shift) if draw < 0.75 else 0))
            moved += draw < 0.75
            draw = self.draw("nz-day", "day", row)
            days = math.trunc((2 * draw / 0.75 - 1) * 10) if draw < 0.75 else 0
            self.assertEqual(got[4], (datetime.date(2026, 1, 10) + datetime.timedelta(days=days)).isoformat())
            draw = self.draw("nz-dbl", "dbl", row)
            self.assertAlmostEqual(got[5], 2.5 + ((2 * draw / 0.75 - 1) * 10 if draw < 0.75 else 0))
            self.assertEqual((got[6], got[1]), (None, None))  # decimal and varchar: misfits
        self.assertTrue(50 < moved < 95)
        self.assertEqual(self.run_masks(masks, [self.row(n=None)])[0][3], None)

    def test_k_anonymize(self):
        policy = {"name": "k", "on": self.on("v"), "method": "k_anonymize", "k": 2, "quasi_identifiers": ["n", "o'brien"]}
        rows = [self.row(id=1, n=1, v="a"), self.row(id=2, n=1, v="b"), self.row(id=3, n=2, v="c"),
                self.row(id=4, n=None, v="d"), self.row(id=5, n=None, v="e"), self.row(id=6, n=2, v="f")]
        out = {row[0]: row[1] for row in self.run_masks([policy], rows)}
        self.assertEqual(out, {1: "a", 2: "b", 3: "c", 4: None, 5: None, 6: "f"})
        # Counted among the rows the user may see: a row filter splits the pair 3/6.
        out = {row[0]: row[1] for row in self.run_masks([policy], rows, filters=[{"name": "f", "where": "id <> 6"}])}
        self.assertEqual(out, {1: "a", 2: "b", 3: None, 4: None, 5: None})
        # A row filter that does not apply to the user does not count.
        out = self.run_masks([policy], rows, filters=[{"name": "f", "where": "id <> 6", "for": {"users": ["bob"]}}])
        self.assertEqual(len(out), 6)
        # A quasi-identifier the data source lacks nullifies the policy's columns.
        out = self.run_masks([dict(policy, quasi_identifiers=["n", "missing"])], rows)
        self.assertEqual({row[1] for row in out}, {None})

    def test_conflict_order_of_all_methods(self):
        options = {"nullify": {}, "constant": {"value": "C"}, "hash": {}, "reversible": {}, "format_preserving": {},
                   "partial": {"keep_last": 1}, "regex": {"pattern": "[a-z]", "replacement": "#"}, "round": {"digits": 0},
                   "randomized_response": {"probability": 0, "values": ["x", "y"]},
                   "k_anonymize": {"k": 2, "quasi_identifiers": ["id"]}, "expression": {"sql": "upper(v)"}}
        key = bytes.fromhex(self.KEY)
        expected = {"nullify": None, "constant": "C", "hash": hmac.new(key, b"abc123", hashlib.sha256).hexdigest(),
                    "reversible": model.reversible_token(key, "default", "reversible", "abc123"),
                    "format_preserving": None, "partial": "*****3", "regex": "###123", "round": None,
                    "randomized_response": "abc123", "k_anonymize": None, "expression": "ABC123"}
        self.assertEqual(model.METHOD_ORDER, list(options))
        for position, winner in enumerate(model.METHOD_ORDER):
            masks = [dict(options[method], name=method, on=self.on("v"), method=method)
                     for method in model.METHOD_ORDER[position:]]
            # Names sorted against the order, so the name tie-break cannot choose the winner.
            for index, mask in enumerate(masks):
                mask["name"] = "%02d-%s" % (len(masks) - index, mask["name"])
            if winner == "reversible":
                expected[winner] = model.reversible_token(key, "default", masks[0]["name"], "abc123")
            got = self.run_masks(masks, [self.row(v="abc123")])[0][1]
            self.assertEqual(got, expected[winner], winner)


class HashFunctionTests(unittest.TestCase):
    def test_xxh64_vectors(self):
        self.assertEqual(model.xxh64(b""), 0xEF46DB3751D8E999)
        self.assertEqual(model.xxh64(b"a"), 0xD24EC4F1A98C6E5B)
        self.assertEqual(model.xxh64(b"abc"), 0x44BC2CF5AD770999)
        self.assertEqual(model.xxh64(b"Nobody inspects the spammish repetition"), 0xFBCEA83C8A378BF1)


class SqlTests(unittest.TestCase):
    def evaluate(self, text, row=None, types=None):
        context = sql.Context(row or {}, types or {}, "u", [], [], {})
        return sql.evaluate(sql.parse(text), context)[0]

    def test_three_valued_logic(self):
        self.assertIsNone(self.evaluate("NULL = 1"))
        self.assertIs(self.evaluate("NULL = 1 OR TRUE"), True)
        self.assertIs(self.evaluate("NULL = 1 AND FALSE"), False)
        self.assertIsNone(self.evaluate("NOT (NULL = 1)"))
        self.assertIsNone(self.evaluate("2 IN (1, NULL)"))
        self.assertIs(self.evaluate("1 IN (1, NULL)"), True)
        self.assertEqual(self.evaluate("CASE WHEN NULL = 1 THEN 'a' ELSE 'b' END"), "b")

    def test_quoting(self):
        types = {'a"b': "varchar", "o'brien": "bigint"}
        row = {'a"b': "it's", "o'brien": 5}
        self.assertIs(self.evaluate('"a""b" = \'it\'\'s\' AND "o\'brien" = 5', row, types), True)
        self.assertEqual(self.evaluate("'\\'"), "\\")  # a backslash escapes nothing
        with self.assertRaises(sql.ParseError):
            sql.parse("'\\''")  # so this is a literal followed by an unterminated one

    def test_casts_and_text(self):
        self.assertEqual(self.evaluate("CAST(-0.5 AS decimal(5,2))"), sql.cast_value("-0.50", "varchar", "decimal(5,2)"))
        self.assertEqual(sql.text_of(sql.cast_value("-0.5", "varchar", "decimal(5,2)"), "decimal(5,2)"), "-0.50")
        self.assertEqual(self.evaluate("CAST(DATE '2020-02-03' AS varchar)"), "2020-02-03")
        self.assertEqual(self.evaluate("CAST(TRUE AS varchar)"), "true")
        self.assertEqual(self.evaluate("substr('abcdef', -2)"), "ef")
        with self.assertRaises(sql.CastError):
            sql.cast_value("12345", "varchar", "decimal(5,2)")


class GeneratorTests(unittest.TestCase):
    TODAY = datetime.date(2026, 12, 1)

    def test_deterministic(self):
        first = json.dumps(generate.generate(11, self.TODAY), sort_keys=True)
        self.assertEqual(first, json.dumps(generate.generate(11, self.TODAY), sort_keys=True))
        self.assertNotEqual(first, json.dumps(generate.generate(12, self.TODAY), sort_keys=True))

    def test_cli_prints_one_json_object(self):
        output = subprocess.run([sys.executable, os.path.join(HERE, "generate.py"), "--seed", "3", "--today", "2026-12-01"],
                                check=True, capture_output=True, text=True).stdout
        self.assertEqual(json.loads(output), json.loads(json.dumps(generate.generate(3, self.TODAY))))

    def test_estates_pass_their_own_checks_and_the_model_runs(self):
        for seed in range(60):
            estate = generate.generate(seed, self.TODAY)
            self.assertEqual(generate.check_estate(estate), [], "seed %d" % seed)
            tables = {"%s.%s.%s" % (t["catalog"], t["schema"], t["name"]): t for t in estate["tables"]}
            cases = []
            for query in estate["queries"]:
                table = tables[[d for d in estate["bundle"]["data_sources"] if d["name"] == query["data_source"]][0]["table"]]
                rows = table["rows"] if table["rows"] is not None else []
                cases.append(dict(query, trino_groups=[], raw={"columns": [c["name"] for c in table["columns"]], "rows": rows}))
            results = model.run({"bundle": estate["bundle"], "now": "2026-12-01 12:00:00", "keys": {"default": "ab" * 32, "next": "cd" * 32},
                                 "cases": cases})
            self.assertEqual(len(results), len(cases))

    def test_checks_can_fail(self):
        estate = generate.generate(5, self.TODAY)
        estate["bundle"]["policies"].append(dict(estate["bundle"]["policies"][0]))
        self.assertIn("duplicate policy names", generate.check_estate(estate))
        estate = generate.generate(5, self.TODAY)
        memory = [t for t in estate["tables"] if t["rows"] is not None][0]
        memory["name"] = "other"
        self.assertTrue(generate.check_estate(estate))

    def test_coverage_over_seeds(self):
        methods, filter_kinds, names, subscription_counts = set(), set(), set(), set()
        privacy_features = set()
        for seed in range(80):
            bundle = generate.generate(seed, self.TODAY)["bundle"]
            privacy_features.add((bundle.get("settings") or {}).get("mask_key"))
            for policy in bundle["policies"]:
                privacy_features.update(key for key in ("values", "noise", "reveal") if key in policy)
                if policy.get("method") == "k_anonymize" and any(
                        q not in [c["name"] for c in d["columns"]] for d in bundle["data_sources"]
                        if model.targets_data_source(policy, d) for q in policy["quasi_identifiers"]):
                    privacy_features.add("missing quasi-identifier")
            for data_source in bundle["data_sources"]:
                names.update(c["name"] for c in data_source["columns"])
                privacy_features.update(c["type"] for c in data_source["columns"])
                subscription_counts.add(sum(1 for p in bundle["policies"] if p["kind"] == "subscription"
                                            and model.targets_data_source(p, data_source)))
            for policy in bundle["policies"]:
                if policy["kind"] == "mask":
                    methods.add(policy["method"])
                if policy["kind"] == "row_filter":
                    filter_kinds.update(k for k in ("where", "match", "time_window", "sample") if k in policy)
        self.assertEqual(methods, set(generate.METHODS))
        self.assertTrue({"values", "noise", "reveal", "missing quasi-identifier", "next", "timestamp(3)"}
                        <= privacy_features, privacy_features)
        self.assertEqual(filter_kinds, {"where", "match", "time_window", "sample"})
        self.assertTrue({"o'brien", 'a"b', "first name", "ünï"} <= names)
        self.assertTrue({0, 1, 2} <= subscription_counts)


if __name__ == "__main__":
    unittest.main()
