"""An independent reference model of Veil's policy semantics, for differential testing.

Written from the product documentation only (the policy model, the policy language, the keyed
functions of docs/deploying-on-trino.md and the byte contracts in the Javadoc of the plugin's mask
functions), not from the product's code. Given a policy bundle, the mask keys, the current time
and, per case, the full ungoverned contents of a data source's backing table, it computes what
the querying user must get: the governed rows, or that the data source is absent for them, or
that the request is refused (a project the user is not a member of).

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

import base64
import datetime
import decimal
import functools
import hashlib
import hmac
import json
import math
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
# The keyed functions of the Trino plugin, from their documented byte contracts: HKDF-SHA256
# subkeys (RFC 5869), FF1 (NIST SP 800-38G) over AES, AES-256-GCM-SIV (RFC 8452) tokens and the
# keyed uniform draw. AES itself comes from the `cryptography` package (Python has no AES).


def aes():
    """The `cryptography` package's AES pieces, imported only where a keyed method needs them."""
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV
    except ImportError as error:  # pragma: no cover - depends on the machine
        raise SystemExit("the reference model needs AES for the reversible and format_preserving "
                         "masks: pip install cryptography (%s)" % error)
    return Cipher, algorithms, modes, AESGCMSIV


def hkdf_sha256(ikm, info, length=32, salt=None):
    """HKDF-SHA256 (RFC 5869): extract with `salt` (none: 32 zero bytes), expand with `info`."""
    prk = hmac.new(salt if salt else bytes(32), ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


@functools.lru_cache(maxsize=64)
def subkey(key, purpose):
    """A mask key's per-purpose subkey: HKDF-SHA256, no salt, info the purpose, 32 bytes."""
    return hkdf_sha256(key, purpose.encode("ascii"), 32)


@functools.lru_cache(maxsize=64)
def aes_block_encryptor(key):
    """A function encrypting one 16-byte block with AES under `key` (ECB, the bare cipher)."""
    Cipher, algorithms, modes, _ = aes()
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update


def ff1_numeral_value(numerals, radix):
    """NUM_radix(X): the number the numeral string denotes, most significant numeral first."""
    value = 0
    for numeral in numerals:
        value = value * radix + numeral
    return value


def ff1_numerals(value, radix, length):
    """STR^length_radix(x): `length` numerals, most significant first."""
    numerals = [0] * length
    for position in range(length - 1, -1, -1):
        value, numerals[position] = divmod(value, radix)
    return numerals


def ff1_round_number(cipher, radix, tweak, u, n, b, d, i, numerals):
    """Steps 6.i-6.iv of FF1: y = NUM(S) for round i over the half `numerals`."""
    t = len(tweak)
    p = bytes([1, 2, 1]) + radix.to_bytes(3, "big") + bytes([10, u % 256]) + n.to_bytes(4, "big") + t.to_bytes(4, "big")
    q = tweak + bytes((-t - b - 1) % 16) + bytes([i]) + ff1_numeral_value(numerals, radix).to_bytes(b, "big")
    # PRF: CBC-MAC with AES, a zero IV, over P || Q (a multiple of 16 bytes).
    r = bytes(16)
    message = p + q
    for start in range(0, len(message), 16):
        r = cipher(bytes(x ^ y for x, y in zip(r, message[start:start + 16])))
    s = r
    for j in range(1, (d + 15) // 16):
        s += cipher(bytes(x ^ y for x, y in zip(r, j.to_bytes(16, "big"))))
    return int.from_bytes(s[:d], "big")


def ff1(key, radix, tweak, numerals, encrypt=True):
    """FF1 (NIST SP 800-38G, Algorithms 7 and 8) over AES under `key`: the numeral string
    `numerals` (a list of ints in [0, radix)) encrypted, or decrypted, with the byte tweak."""
    cipher = aes_block_encryptor(key)
    n = len(numerals)
    u = n // 2
    v = n - u
    a, b_half = list(numerals[:u]), list(numerals[u:])
    # b = ceil(ceil(v * log2(radix)) / 8), with ceil(v * log2(radix)) computed exactly.
    b = ((radix ** v - 1).bit_length() + 7) // 8
    d = 4 * ((b + 3) // 4) + 4
    rounds = range(10) if encrypt else range(9, -1, -1)
    for i in rounds:
        m = u if i % 2 == 0 else v
        if encrypt:
            y = ff1_round_number(cipher, radix, tweak, u, n, b, d, i, b_half)
            c = (ff1_numeral_value(a, radix) + y) % radix ** m
            a, b_half = b_half, ff1_numerals(c, radix, m)
        else:
            y = ff1_round_number(cipher, radix, tweak, u, n, b, d, i, a)
            c = (ff1_numeral_value(b_half, radix) - y) % radix ** m
            a, b_half = ff1_numerals(c, radix, m), a
    return a + b_half


FPE_CLASSES = (("0", 10, b"digits"), ("a", 26, b"lower"), ("A", 26, b"upper"))
FPE_MAX_CLASS_LENGTH = 4096


def fpe_class(char):
    """The FF1 class of a character (its first character, radix and tweak), or None: kept."""
    if "0" <= char <= "9":
        return FPE_CLASSES[0]
    if "a" <= char <= "z":
        return FPE_CLASSES[1]
    if "A" <= char <= "Z":
        return FPE_CLASSES[2]
    return None


def fpe_min_length(radix):
    """The shortest numeral string FF1 allows: the least n with radix^n >= 1,000,000."""
    length = 0
    while radix ** length < 1_000_000:
        length += 1
    return length


def fpe_value(key, text):
    """The plugin's fpe(key_id, text): each ASCII class (digits, lowercase, uppercase) FF1-encrypted
    as one numeral string under the `veil/fpe/v1` subkey, every other character kept; NULL when a
    class present is too short or too long, or the text has no ASCII letter or digit."""
    if text is None:
        return None
    ff1_key = subkey(key, "veil/fpe/v1")
    chars = list(text)
    present = {}
    for position, char in enumerate(chars):
        found = fpe_class(char)
        if found is not None:
            present.setdefault(found, []).append(position)
    if not present:
        return None
    for (first, radix, _), positions in present.items():
        if not fpe_min_length(radix) <= len(positions) <= FPE_MAX_CLASS_LENGTH:
            return None
    for (first, radix, tweak), positions in present.items():
        numerals = [ord(chars[position]) - ord(first) for position in positions]
        for position, numeral in zip(positions, ff1(ff1_key, radix, tweak, numerals)):
            chars[position] = chr(ord(first) + numeral)
    return "".join(chars)


def reversible_token(key, key_id, policy_name, text):
    """The plugin's encrypt(key_id, policy, text): `v1:<key_id>:<base64url without padding>` of
    AES-256-GCM-SIV under the `veil/reversible/v1` subkey, a zero nonce and associated data
    `veil/reversible/v1:<key_id>:<policy>` (ciphertext then the 16-byte tag)."""
    if text is None:
        return None
    _, _, _, AESGCMSIV = aes()
    associated = ("veil/reversible/v1:%s:%s" % (key_id, policy_name)).encode("utf-8")
    sealed = AESGCMSIV(subkey(key, "veil/reversible/v1")).encrypt(bytes(12), text.encode("utf-8"), associated)
    return "v1:%s:%s" % (key_id, base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("="))


def uniform(key, seed):
    """The plugin's uniform(key_id, seed): the first 8 bytes of HMAC-SHA256(`veil/uniform/v1`
    subkey, UTF-8 seed), unsigned big-endian, shifted right by 11, divided by 2^53."""
    mac = hmac.new(subkey(key, "veil/uniform/v1"), seed.encode("utf-8"), hashlib.sha256).digest()
    return (int.from_bytes(mac[:8], "big") >> 11) / float(2 ** 53)


# ----------------------------------------------------------------------------------------------
# The seed of a randomized draw: the row's columns as text, as Trino's json_format writes them


def trino_double_text(number):
    """CAST(double AS varchar) as Trino 476 writes it: always scientific, `d.dddE<n>` with at least
    one fraction digit (`1.5E0`, `1.0E2`, `-2.5E10`, `1.0E-5`), zero as `0E0` or `-0E0`, `NaN`,
    `Infinity`, `-Infinity`."""
    # ASSUMPTION: the digits are the shortest that read back as the double (Python's repr). Trino
    # formats with java.text.DecimalFormat("0.0###############E0"), whose digits come from the JDK's
    # older FloatingDecimal conversion; the two agree on the doubles the generator makes (checked
    # against the JDK on 90,000 of the generator's kinds and 30,000 uniform in +-10^6) but not
    # always above 10^16 (DecimalFormat writes 1e23 as 9.999999999999999E22), so the generator
    # keeps doubles well below that.
    if number != number:
        return "NaN"
    if number in (float("inf"), float("-inf")):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "-0E0" if math.copysign(1.0, number) < 0 else "0E0"
    shortest = decimal.Decimal(repr(abs(number))).normalize()
    digits = "".join(str(digit) for digit in shortest.as_tuple().digits)
    return "%s%s.%sE%d" % ("-" if number < 0 else "", digits[0], digits[1:] or "0", shortest.adjusted())


def cast_to_varchar_text(value, column_type):
    """CAST(value AS varchar) as Trino writes it, for every column type the generator makes."""
    if value is None:
        return None
    if sql.parse_type(column_type)[0] == "double":
        return trino_double_text(value)
    return sql.text_of(value, column_type)


JACKSON_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def jackson_string(text):
    """A JSON string as Trino's Jackson (2.19, UTF-8 generator, default features) writes it: `"`
    and `\\` escaped, control characters as \\b \\t \\n \\f \\r or \\u00XX, a character beyond
    the BMP as its two UTF-16 surrogates \\uD83D\\uDE42 (upper-case hex), the rest as is."""
    out = []
    for char in text:
        code = ord(char)
        if char in JACKSON_SHORT_ESCAPES:
            out.append(JACKSON_SHORT_ESCAPES[char])
        elif code < 0x20:
            out.append("\\u%04X" % code)
        elif code > 0xFFFF:
            # ASSUMPTION: Trino 476's Jackson (jackson-core 2.19.0) escapes each surrogate of a
            # character beyond the BMP rather than writing its UTF-8 bytes; found by running that
            # jar's generator, and confirmed by the runs against Trino.
            code -= 0x10000
            out.append("\\u%04X\\u%04X" % (0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)))
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def json_format_texts(texts):
    """json_format(CAST(ARRAY[...] AS JSON)) of an array of varchar (NULL as null): no spaces."""
    return "[" + ",".join("null" if text is None else jackson_string(text) for text in texts) + "]"


SEEDLESS_TYPES = ("varbinary", "json", "array", "map", "row")


def randomized_seed(policy, column, columns, row):
    """The seed text of a row's randomized draw for one policy and column."""
    # ASSUMPTION: `concat('<policy>/<column>/', json_format(CAST(ARRAY[CAST(c AS varchar), ...]
    # AS JSON)))` over every data-source column in the data source's order (each one's unmasked
    # value; NULL as JSON null), but those of types that do not cast to text (varbinary, json,
    # containers). The documentation says only "seeded by the row's every column that casts to
    # text"; the exact text was settled by experiment against Trino.
    texts = [cast_to_varchar_text(row[item["name"]], item["type"]) for item in columns
             if sql.parse_type(item["type"])[0] not in SEEDLESS_TYPES]
    return "%s/%s/%s" % (policy["name"], column["name"], json_format_texts(texts))


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
    if base == "timestamp":
        return sql.parse_timestamp(value)
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
    if base == "timestamp":
        return sql.timestamp_text(value, params[0] if params else 3)
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

# The conflict order, most restrictive first (policy-language.md, "Conflicts").
METHOD_ORDER = ["nullify", "constant", "hash", "reversible", "format_preserving", "partial", "regex", "round",
                "randomized_response", "k_anonymize", "expression"]
METHOD_RANK = {method: rank for rank, method in enumerate(METHOD_ORDER)}
NOISE_TYPES = ("tinyint", "smallint", "integer", "bigint", "real", "double", "date", "timestamp")
CONTAINER_TYPES = ("array", "map", "row")
KEYED_METHODS = ("hash", "reversible", "format_preserving", "randomized_response")
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


def method_fits(policy, column_type, column_names=()):
    """Does the mask's method fit the column's type (and, for k_anonymize, the data source,
    whose column names are `column_names`)? A misfit falls back to nullify."""
    method = policy["method"]
    base, params = sql.parse_type(column_type)
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
    if method == "reversible":
        # A token is longer than its value: only a varchar without a length holds it.
        return base == "varchar" and not params
    if method == "format_preserving":
        return sql.is_string_type(column_type)
    if method == "randomized_response":
        # ASSUMPTION: categories on a column that is no string nullify (even one named by
        # `columns:`: the product does not refuse them), and so does noise on a string.
        if "noise" in policy:
            return base in NOISE_TYPES
        if not sql.is_string_type(column_type):
            return False
        try:
            for value in policy["values"]:
                sql.constant_value(constant_text(value), column_type)
        except sql.CastError:
            return False
        return True
    if method == "k_anonymize":
        # A data source that lacks a quasi-identifier nullifies the policy's columns.
        return base not in CONTAINER_TYPES and all(name in column_names for name in policy["quasi_identifiers"])
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
    """date_trunc(unit, date or timestamp); weeks start on Monday."""
    if isinstance(value, datetime.datetime):
        if unit == "minute":
            return value.replace(second=0, microsecond=0)
        if unit == "hour":
            return value.replace(minute=0, second=0, microsecond=0)
        return datetime.datetime.combine(truncate_date(value.date(), unit), datetime.time())
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


def randomized_category(policy, value, column_type, draw):
    """randomized_response with `values`: with probability p another of the values, uniformly."""
    # ASSUMPTION: replaced when draw < p; then, with n values, a value that is not one of them
    # becomes value number 1 + floor(draw / p * n), and the value at (1-based) position `pos` (its
    # first, when `values` lists it twice) becomes number 1 + o when 1 + o < pos, else 2 + o, where
    # o = floor(draw / p * (n - 1)): one draw decides both whether and what. A NULL stays NULL.
    # (With a value listed twice a row can so be answered by its own value: the product accepts
    # such lists and behaves this way.)
    probability = float(policy["probability"])
    if value is None or not draw < probability:
        return value
    values = [sql.constant_value(constant_text(item), column_type) for item in policy["values"]]
    if value in values:
        position = values.index(value) + 1
        other = math.floor(draw / probability * (len(values) - 1))
        index = 1 + other if 1 + other < position else 2 + other
    else:
        index = 1 + math.floor(draw / probability * len(values))
    return values[index - 1]


def randomized_noise(policy, value, column_type, draw):
    """randomized_response with `noise`: with probability p the value moved by up to `noise`."""
    # ASSUMPTION: replaced when draw < p, moved by shift = (2 * draw / p - 1) * noise (uniform in
    # [-noise, noise)); whole numbers by CAST(truncate(shift) AS bigint) steps, cast back to the
    # column type, dates by truncate(shift) days, timestamps by truncate(shift * 86400000)
    # milliseconds, doubles by shift itself. A NULL stays NULL.
    probability = float(policy["probability"])
    if value is None or not draw < probability:
        return value
    shift = (2 * draw / probability - 1) * float(policy["noise"])
    base = sql.parse_type(column_type)[0]
    if base in sql.INTEGER_RANGES:
        return sql.cast_value(value + math.trunc(shift), "bigint", column_type)
    if base == "date":
        return value + datetime.timedelta(days=math.trunc(shift))
    if base == "timestamp":
        return value + datetime.timedelta(milliseconds=math.trunc(shift * 86400000))
    return value + shift


def k_anonymous_value(policy, value, row, counts):
    """k_anonymize: the value when at least k of the rows the user may see share the row's
    quasi-identifiers; NULL otherwise, and NULL when a quasi-identifier is NULL."""
    group = tuple(row[name] for name in policy["quasi_identifiers"])
    if any(item is None for item in group) or counts.get(group, 0) < int(policy["k"]):
        return None
    return value


def k_anonymity_counts(policy, rows):
    """How many of `rows` (the rows the user may see) share each quasi-identifier combination."""
    # ASSUMPTION: the rows counted are those of the backing table that pass every row filter
    # applying to this user (the documented "rows the user may see"), whatever the mask's `when`;
    # values compare as SQL equality of the unmasked values, and a NULL equals nothing.
    counts = {}
    for row in rows:
        group = tuple(row[name] for name in policy["quasi_identifiers"])
        if all(item is not None for item in group):
            counts[group] = counts.get(group, 0) + 1
    return counts


def apply_method(policy, method, value, column, context, keyring):
    """The masked value of one cell under one method (the mask's own, or nullify).

    `keyring` holds what the keyed and the row-dependent methods need: the mask key (`key`) and
    its id (`key_id`), the data source's columns (`columns`) and the k-anonymity counts per
    policy name (`counts`)."""
    column_type = column["type"]
    base = sql.parse_type(column_type)[0]
    key = keyring["key"]
    if method == "nullify":
        return None
    if method == "reversible":
        return reversible_token(key, keyring["key_id"], policy["name"], value)
    if method == "format_preserving":
        return sql.cast_value(fpe_value(key, sql.text_of(value, column_type)), "varchar", column_type)
    if method == "randomized_response":
        if value is None:
            return None
        draw = uniform(key, randomized_seed(policy, column, keyring["columns"], context.row))
        if "noise" in policy:
            return randomized_noise(policy, value, column_type, draw)
        return randomized_category(policy, value, column_type, draw)
    if method == "k_anonymize":
        return k_anonymous_value(policy, value, context.row, keyring["counts"][policy["name"]])
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
    column_names = [column["name"] for column in columns]
    keyed = any(policy is not None and policy["method"] in KEYED_METHODS for policy in chosen.values())
    keyring = {"key": bytes.fromhex(keys[estate.mask_key_id]) if keyed else b"", "key_id": estate.mask_key_id,
               "columns": columns, "counts": {}}

    raw_columns = case["raw"]["columns"]
    raw_index = {name: position for position, name in enumerate(raw_columns)}
    visible = []
    for raw_row in case["raw"]["rows"]:
        # Row filters, `when` and `sql` all see the row's unmasked values.
        # ASSUMPTION: predicates and expressions are evaluated on the backing values, never on
        # another column's masked value.
        row = {column["name"]: from_json_value(raw_row[raw_index[column["name"]]], column["type"])
               for column in columns}
        context = sql.Context(row, column_types, identity.name, identity.groups, identity.purposes,
                              identity.attributes)
        if all(row_filter_keeps(policy, context, column_types, now) for policy in row_filters):
            visible.append(context)
    for policy in chosen.values():
        if policy is not None and policy["method"] == "k_anonymize" and policy["name"] not in keyring["counts"]:
            if all(name in column_names for name in policy["quasi_identifiers"]):
                keyring["counts"][policy["name"]] = k_anonymity_counts(policy, [item.row for item in visible])

    output_rows = []
    for context in visible:
        output = []
        for column in columns:
            value = context.row[column["name"]]
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
                    fits = method_fits(policy, column["type"], column_names)
                    method = policy["method"] if fits else "nullify"
                    value = apply_method(policy, method, value, column, context, keyring)
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
