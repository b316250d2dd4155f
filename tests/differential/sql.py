"""A tiny SQL expression parser and evaluator for the differential reference model.

It understands only the small predicate/expression grammar that generate.py produces
(and that Veil's policy files use in `where`, `when` and `sql`):

    literals      123  -4  12.50  'text' (with '' for a quote)  DATE 'YYYY-MM-DD'  TRUE FALSE NULL
                  TIMESTAMP 'YYYY-MM-DD HH:MM:SS.fff'
    identifiers   col  "quoted col" (with "" for a double quote)
    operators     = <> != < <= > >=  + -  ||  AND OR NOT  IS [NOT] NULL  [NOT] IN (...)
    functions     length lower upper substr concat coalesce
                  user_name() user_in_group('g') user_has_purpose('p')
                  user_attribute_contains('attribute', expr)
    CAST(expr AS type)    CASE WHEN p THEN a [WHEN ...] [ELSE b] END

Evaluation follows SQL three-valued logic: a comparison with NULL is NULL, AND/OR/NOT follow
Kleene logic, `CASE WHEN p` takes a branch only when p is TRUE.

Values are Python values: int (bigint, integer), float (double), decimal.Decimal (decimal),
str (varchar), datetime.date (date), datetime.datetime (timestamp(p), milliseconds at most),
bool (boolean) and None (NULL). Every evaluated value is
paired with its SQL type string, which CAST to varchar needs (the text of a decimal has its scale).
"""

import datetime
import decimal
import re

# ----------------------------------------------------------------------------------------------
# Types


class CastError(Exception):
    """A value that cannot be cast to the target type (Trino would raise an error)."""


def parse_type(type_text):
    """Split a Trino type into (base, params): 'varchar(12)' -> ('varchar', [12])."""
    text = type_text.strip().lower()
    match = re.fullmatch(r"([a-z ]+?)\s*(?:\((.*)\))?", text)
    if not match:
        raise ValueError("unsupported type: %r" % type_text)
    base = match.group(1).strip()
    params = []
    if match.group(2) is not None:
        params = [int(part.strip()) for part in match.group(2).split(",")]
    return base, params


def is_string_type(type_text):
    return parse_type(type_text)[0] in ("varchar", "char")


def is_integer_type(type_text):
    return parse_type(type_text)[0] in ("bigint", "integer", "smallint", "tinyint")


def is_numeric_type(type_text):
    return parse_type(type_text)[0] in ("bigint", "integer", "smallint", "tinyint", "double", "real", "decimal")


INTEGER_RANGES = {
    "tinyint": (-2 ** 7, 2 ** 7 - 1),
    "smallint": (-2 ** 15, 2 ** 15 - 1),
    "integer": (-2 ** 31, 2 ** 31 - 1),
    "bigint": (-2 ** 63, 2 ** 63 - 1),
}


def decimal_text(value, scale):
    """Text of a decimal with exactly `scale` digits after the point ('12.30', '-0.50', '7')."""
    quantum = decimal.Decimal(1).scaleb(-scale)
    rounded = value.quantize(quantum, rounding=decimal.ROUND_HALF_UP)
    # Trino's decimals have no negative zero: round(-0.4, 0) is 0, not -0.
    if rounded.is_zero():
        rounded = abs(rounded)
    return format(rounded, "f")


def text_of(value, type_text):
    """The text of CAST(value AS varchar) for the types the generator uses.

    Doubles are deliberately not supported: Trino prints them in its own scientific format,
    and the generator never hashes, matches, samples or casts a double to text.
    """
    if value is None:
        return None
    base, params = parse_type(type_text)
    if base in ("varchar", "char"):
        return value
    if base == "boolean":
        return "true" if value else "false"
    if base in INTEGER_RANGES:
        return str(value)
    if base == "decimal":
        return decimal_text(value, params[1] if len(params) > 1 else 0)
    if base == "date":
        return value.isoformat()
    if base == "timestamp":
        return timestamp_text(value, params[0] if params else 3)
    raise CastError("no text form for type %s in this model" % type_text)


TIMESTAMP_PATTERN = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?: ([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,3}))?)?)?")


def timestamp_text(value, precision=3):
    """The text of a timestamp(p) as Trino writes it: `YYYY-MM-DD HH:MM:SS` and p fraction digits
    (the model keeps milliseconds: p <= 3)."""
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    if precision:
        text += "." + ("%03d" % (value.microsecond // 1000))[:precision]
    return text


def parse_timestamp(text):
    """A timestamp from `YYYY-MM-DD[ HH:MM[:SS[.fff]]]`, or None when the text is not one."""
    match = TIMESTAMP_PATTERN.fullmatch(text.strip())
    if not match:
        return None
    day, hour, minute, second, fraction = match.groups()
    try:
        return datetime.datetime.combine(datetime.date.fromisoformat(day), datetime.time(
            int(hour or 0), int(minute or 0), int(second or 0), int((fraction or "0").ljust(3, "0")) * 1000))
    except ValueError:
        return None


def constant_value(text, to_type):
    """A `constant` mask's value as the column type. Stricter than CAST: a string longer than a
    `varchar(n)` column does not cast (Trino's CAST would cut it), as the product documents."""
    base, params = parse_type(to_type)
    if base in ("varchar", "char") and params and len(text) > params[0]:
        raise CastError("%r is longer than %s" % (text, to_type))
    return cast_value(text, "varchar", to_type)


def cast_value(value, from_type, to_type):
    """CAST(value AS to_type) for a value of from_type, as Trino does it (for our types)."""
    if value is None:
        return None
    base, params = parse_type(to_type)
    from_base = parse_type(from_type)[0]
    if base in ("varchar", "char"):
        if from_base == "double":
            raise CastError("double to varchar is not modelled")
        text = text_of(value, from_type)
        # Trino's CAST to varchar(n) truncates to n code points.
        if params:
            text = text[: params[0]]
        return text
    if base in INTEGER_RANGES:
        low, high = INTEGER_RANGES[base]
        if from_base in ("varchar", "char"):
            if not re.fullmatch(r"[+-]?[0-9]+", value.strip()):
                raise CastError("not an integer: %r" % value)
            result = int(value.strip())
        elif from_base == "boolean":
            result = 1 if value else 0
        elif from_base == "decimal":
            # ASSUMPTION: CAST(decimal AS bigint/integer) rounds half away from zero.
            result = int(value.to_integral_value(rounding=decimal.ROUND_HALF_UP))
        elif from_base == "double":
            raise CastError("double to integer is not modelled")
        elif from_base in INTEGER_RANGES or from_base == "unknown":
            result = int(value)
        else:
            raise CastError("cannot cast %s to %s" % (from_type, to_type))
        if not low <= result <= high:
            raise CastError("out of range for %s: %d" % (base, result))
        return result
    if base in ("double", "real"):
        if from_base in ("varchar", "char"):
            try:
                return float(value.strip())
            except ValueError:
                raise CastError("not a double: %r" % value)
        if from_base in ("date",):
            raise CastError("cannot cast date to double")
        return float(value)
    if base == "decimal":
        precision, scale = (params + [0])[:2] if params else (38, 0)
        if from_base in ("varchar", "char"):
            if not re.fullmatch(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)", value.strip()):
                raise CastError("not a decimal: %r" % value)
            number = decimal.Decimal(value.strip())
        elif from_base in INTEGER_RANGES or from_base in ("decimal", "unknown"):
            number = decimal.Decimal(value)
        elif from_base == "double":
            number = decimal.Decimal(repr(value))
        else:
            raise CastError("cannot cast %s to %s" % (from_type, to_type))
        # ASSUMPTION: a cast to decimal(p,s) rounds extra digits half away from zero
        # (CAST('1.5' AS decimal(5,0)) = 2) and fails when the integer part needs more than p-s digits.
        quantum = decimal.Decimal(1).scaleb(-scale)
        result = number.quantize(quantum, rounding=decimal.ROUND_HALF_UP)
        digits = len(result.as_tuple().digits) if result != 0 else 1
        integer_digits = max(digits - scale, 0)
        if integer_digits > precision - scale:
            raise CastError("decimal overflow: %s for %s" % (value, to_type))
        return result
    if base == "timestamp":
        if from_base == "timestamp":
            return value
        if from_base == "date":
            return datetime.datetime.combine(value, datetime.time())
        if from_base in ("varchar", "char"):
            result = parse_timestamp(value)
            if result is None:
                raise CastError("not a timestamp: %r" % value)
            return result
        raise CastError("cannot cast %s to timestamp" % from_type)
    if base == "date":
        if from_base == "timestamp":
            return value.date()
        if from_base == "date":
            return value
        if from_base in ("varchar", "char"):
            if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value.strip()):
                raise CastError("not a date: %r" % value)
            try:
                return datetime.date.fromisoformat(value.strip())
            except ValueError:
                raise CastError("not a date: %r" % value)
        raise CastError("cannot cast %s to date" % from_type)
    if base == "boolean":
        if from_base == "boolean":
            return value
        if from_base in ("varchar", "char"):
            # ASSUMPTION: CAST(varchar AS boolean) accepts true/t/1 and false/f/0, any case.
            lowered = value.strip().lower()
            if lowered in ("true", "t", "1"):
                return True
            if lowered in ("false", "f", "0"):
                return False
            raise CastError("not a boolean: %r" % value)
        if from_base in INTEGER_RANGES:
            return value != 0
        raise CastError("cannot cast %s to boolean" % from_type)
    raise CastError("unsupported target type %s" % to_type)


# ----------------------------------------------------------------------------------------------
# ASSUMPTION: case mapping as Trino does it: code point by code point, one code point to one code point
# (Java's Character.toUpperCase(int)/toLowerCase(int)); a code point whose full mapping is
# several characters (German sharp s) stays as it is.


def simple_upper(text):
    out = []
    for char in text:
        mapped = char.upper()
        out.append(mapped if len(mapped) == 1 else char)
    return "".join(out)


def simple_lower(text):
    out = []
    for char in text:
        mapped = char.lower()
        out.append(mapped if len(mapped) == 1 else char)
    return "".join(out)


# ----------------------------------------------------------------------------------------------
# Tokenizer

TOKEN_PATTERN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><>|!=|<=|>=|\|\||[=<>+\-*/(),])
    """,
    re.VERBOSE,
)

KEYWORDS = {"and", "or", "not", "is", "null", "in", "true", "false", "cast", "as", "date", "timestamp",
            "case", "when", "then", "else", "end"}


class ParseError(Exception):
    pass


def tokenize(text):
    tokens = []
    position = 0
    while position < len(text):
        match = TOKEN_PATTERN.match(text, position)
        if not match:
            raise ParseError("unexpected character at %d in %r" % (position, text))
        position = match.end()
        kind = match.lastgroup
        value = match.group()
        if kind == "space":
            continue
        if kind == "string":
            tokens.append(("string", value[1:-1].replace("''", "'")))
        elif kind == "quoted":
            tokens.append(("ident", value[1:-1].replace('""', '"')))
        elif kind == "number":
            tokens.append(("number", value))
        elif kind == "word":
            lowered = value.lower()
            if lowered in KEYWORDS:
                tokens.append(("kw", lowered))
            else:
                # Trino folds unquoted identifiers to lower case.
                tokens.append(("word", lowered))
        else:
            tokens.append(("op", "<>" if value == "!=" else value))
    tokens.append(("eof", None))
    return tokens


# ----------------------------------------------------------------------------------------------
# Parser: recursive descent, producing tuples
#   ("lit", value, type) ("col", name) ("and", a, b) ("or", a, b) ("not", a)
#   ("cmp", op, a, b) ("isnull", a, negated) ("in", a, [items], negated)
#   ("arith", op, a, b) ("neg", a) ("call", name, [args]) ("cast", a, type) ("case", [(p, v)], else)


class Parser:
    def __init__(self, text):
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    def peek(self, offset=0):
        return self.tokens[self.index + offset]

    def take(self):
        token = self.tokens[self.index]
        self.index += 1
        return token

    def accept(self, kind, value=None):
        token = self.peek()
        if token[0] == kind and (value is None or token[1] == value):
            self.index += 1
            return token
        return None

    def expect(self, kind, value=None):
        token = self.accept(kind, value)
        if token is None:
            raise ParseError("expected %s %s at token %r in %r" % (kind, value, self.peek(), self.text))
        return token

    def parse(self):
        node = self.parse_or()
        self.expect("eof")
        return node

    def parse_or(self):
        node = self.parse_and()
        while self.accept("kw", "or"):
            node = ("or", node, self.parse_and())
        return node

    def parse_and(self):
        node = self.parse_not()
        while self.accept("kw", "and"):
            node = ("and", node, self.parse_not())
        return node

    def parse_not(self):
        if self.accept("kw", "not"):
            return ("not", self.parse_not())
        return self.parse_predicate()

    def parse_predicate(self):
        node = self.parse_additive()
        while True:
            token = self.peek()
            if token[0] == "op" and token[1] in ("=", "<>", "<", "<=", ">", ">="):
                self.take()
                node = ("cmp", token[1], node, self.parse_additive())
            elif token == ("kw", "is"):
                self.take()
                negated = bool(self.accept("kw", "not"))
                self.expect("kw", "null")
                node = ("isnull", node, negated)
            elif token == ("kw", "in") or (token == ("kw", "not") and self.peek(1) == ("kw", "in")):
                negated = bool(self.accept("kw", "not"))
                self.expect("kw", "in")
                self.expect("op", "(")
                items = [self.parse_additive()]
                while self.accept("op", ","):
                    items.append(self.parse_additive())
                self.expect("op", ")")
                node = ("in", node, items, negated)
            else:
                return node

    def parse_additive(self):
        node = self.parse_multiplicative()
        while True:
            token = self.peek()
            if token[0] == "op" and token[1] in ("+", "-", "||"):
                self.take()
                node = ("arith", token[1], node, self.parse_multiplicative())
            else:
                return node

    def parse_multiplicative(self):
        node = self.parse_unary()
        while True:
            token = self.peek()
            if token[0] == "op" and token[1] in ("*", "/"):
                self.take()
                node = ("arith", token[1], node, self.parse_unary())
            else:
                return node

    def parse_unary(self):
        if self.accept("op", "-"):
            operand = self.parse_unary()
            if operand[0] == "lit" and operand[1] is not None:
                return ("lit", -operand[1], operand[2])
            return ("neg", operand)
        return self.parse_primary()

    def parse_type_text(self):
        """Read a type name after AS: varchar, varchar(12), decimal(10,2), ..."""
        words = [self.expect_word()]
        text = words[0]
        if self.accept("op", "("):
            parts = [self.expect("number")[1]]
            while self.accept("op", ","):
                parts.append(self.expect("number")[1])
            self.expect("op", ")")
            text += "(" + ",".join(parts) + ")"
        return text

    def expect_word(self):
        token = self.take()
        if token[0] in ("word", "kw"):
            return token[1]
        raise ParseError("expected a type name in %r" % self.text)

    def parse_primary(self):
        token = self.take()
        kind, value = token
        if kind == "number":
            if "." in value:
                number = decimal.Decimal(value)
                scale = len(value.split(".")[1])
                precision = max(len(value.replace(".", "").lstrip("0")), scale, 1)
                return ("lit", number, "decimal(%d,%d)" % (precision, scale))
            number = int(value)
            return ("lit", number, "integer" if number < 2 ** 31 else "bigint")
        if kind == "string":
            return ("lit", value, "varchar(%d)" % len(value))
        if kind == "ident":
            return ("col", value)
        if kind == "kw":
            if value == "null":
                return ("lit", None, "unknown")
            if value in ("true", "false"):
                return ("lit", value == "true", "boolean")
            if value == "date":
                text = self.expect("string")[1]
                return ("lit", datetime.date.fromisoformat(text), "date")
            if value == "timestamp":
                text = self.expect("string")[1]
                fraction = text.split(".")[1] if "." in text else ""
                return ("lit", parse_timestamp(text), "timestamp(%d)" % len(fraction))
            if value == "cast":
                self.expect("op", "(")
                operand = self.parse_or()
                self.expect("kw", "as")
                type_text = self.parse_type_text()
                self.expect("op", ")")
                return ("cast", operand, type_text)
            if value == "case":
                branches = []
                while self.accept("kw", "when"):
                    condition = self.parse_or()
                    self.expect("kw", "then")
                    branches.append((condition, self.parse_or()))
                otherwise = ("lit", None, "unknown")
                if self.accept("kw", "else"):
                    otherwise = self.parse_or()
                self.expect("kw", "end")
                return ("case", branches, otherwise)
        if kind == "word":
            if self.accept("op", "("):
                args = []
                if not self.accept("op", ")"):
                    args.append(self.parse_or())
                    while self.accept("op", ","):
                        args.append(self.parse_or())
                    self.expect("op", ")")
                return ("call", value, args)
            return ("col", value)
        if kind == "op" and value == "(":
            node = self.parse_or()
            self.expect("op", ")")
            return node
        raise ParseError("unexpected token %r in %r" % (token, self.text))


def parse(text):
    return Parser(text).parse()


def referenced_columns(node):
    """Every column name an expression tree references (for the generator's checks)."""
    found = []

    def walk(item):
        if isinstance(item, tuple):
            if item and item[0] == "col":
                found.append(item[1])
                return
            for part in item[1:]:
                walk(part)
        elif isinstance(item, list):
            for part in item:
                walk(part)

    walk(node)
    return found


# ----------------------------------------------------------------------------------------------
# Evaluator


class Context:
    """What an expression can see: the row's values and types, and the querying user."""

    def __init__(self, row, column_types, user_name, groups, purposes, attributes):
        self.row = row                      # column name -> Python value
        self.column_types = column_types    # column name -> type text
        self.user_name = user_name
        self.groups = set(groups)
        self.purposes = set(purposes)
        self.attributes = attributes        # attribute -> list of values


def kleene_and(a, b):
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def kleene_or(a, b):
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def comparable(a, a_type, b, b_type):
    """Bring two non-NULL values to a common representation for comparison."""
    a_base = parse_type(a_type)[0]
    b_base = parse_type(b_type)[0]
    if "double" in (a_base, b_base):
        return float(a), float(b)
    return a, b


def compare(op, a, a_type, b, b_type):
    if a is None or b is None:
        return None
    a, b = comparable(a, a_type, b, b_type)
    if op == "=":
        return a == b
    if op == "<>":
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    raise ValueError(op)


def arithmetic_type(a_type, b_type):
    bases = (parse_type(a_type)[0], parse_type(b_type)[0])
    if "double" in bases:
        return "double"
    if "decimal" in bases:
        return "decimal(38,%d)" % max(
            (parse_type(t)[1] + [0, 0])[1] if parse_type(t)[0] == "decimal" else 0 for t in (a_type, b_type))
    if "bigint" in bases:
        return "bigint"
    return "integer"


def evaluate(node, context):
    """Evaluate an expression tree; returns (value, type)."""
    kind = node[0]
    if kind == "lit":
        return node[1], node[2]
    if kind == "col":
        name = node[1]
        if name not in context.column_types:
            raise KeyError("unknown column %r" % name)
        return context.row.get(name), context.column_types[name]
    if kind == "and":
        return kleene_and(evaluate(node[1], context)[0], evaluate(node[2], context)[0]), "boolean"
    if kind == "or":
        return kleene_or(evaluate(node[1], context)[0], evaluate(node[2], context)[0]), "boolean"
    if kind == "not":
        value = evaluate(node[1], context)[0]
        return (None if value is None else not value), "boolean"
    if kind == "cmp":
        a, a_type = evaluate(node[2], context)
        b, b_type = evaluate(node[3], context)
        return compare(node[1], a, a_type, b, b_type), "boolean"
    if kind == "isnull":
        value = evaluate(node[1], context)[0]
        result = value is None
        return (not result if node[2] else result), "boolean"
    if kind == "in":
        value, value_type = evaluate(node[1], context)
        result = in_list(value, value_type, [evaluate(item, context) for item in node[2]])
        if node[3]:
            result = None if result is None else not result
        return result, "boolean"
    if kind == "neg":
        value, value_type = evaluate(node[1], context)
        return (None if value is None else -value), value_type
    if kind == "arith":
        a, a_type = evaluate(node[2], context)
        b, b_type = evaluate(node[3], context)
        if node[1] == "||":
            if a is None or b is None:
                return None, "varchar"
            return cast_value(a, a_type, "varchar") + cast_value(b, b_type, "varchar"), "varchar"
        result_type = arithmetic_type(a_type, b_type)
        if a is None or b is None:
            return None, result_type
        if result_type == "double":
            a, b = float(a), float(b)
        elif result_type.startswith("decimal"):
            a, b = decimal.Decimal(a), decimal.Decimal(b)
        if node[1] == "+":
            return a + b, result_type
        if node[1] == "-":
            return a - b, result_type
        if node[1] == "*":
            return a * b, result_type
        raise ValueError("division is not modelled")
    if kind == "cast":
        value, value_type = evaluate(node[1], context)
        return cast_value(value, value_type, node[2]), node[2]
    if kind == "case":
        for condition, result in node[1]:
            if evaluate(condition, context)[0] is True:
                return evaluate(result, context)
        return evaluate(node[2], context)
    if kind == "call":
        return call_function(node[1], node[2], context)
    raise ValueError("unknown node %r" % (node,))


def in_list(value, value_type, items):
    """SQL IN: NULL when the value is NULL, or when nothing equals it and a NULL is listed."""
    if value is None:
        return None
    saw_null = False
    for item, item_type in items:
        result = compare("=", value, value_type, item, item_type)
        if result is True:
            return True
        if result is None:
            saw_null = True
    return None if saw_null else False


def call_function(name, args, context):
    # The compile-time functions: the product replaces them by literals before Trino runs.
    if name == "user_name":
        return context.user_name, "varchar"
    if name == "user_in_group":
        group = evaluate(args[0], context)[0]
        return group in context.groups, "boolean"
    if name == "user_has_purpose":
        purpose = evaluate(args[0], context)[0]
        return purpose in context.purposes, "boolean"
    if name == "user_attribute_contains":
        attribute = evaluate(args[0], context)[0]
        values = context.attributes.get(attribute) or []
        if not values:
            return False, "boolean"
        value, value_type = evaluate(args[1], context)
        return in_list(value, value_type, [(item, "varchar") for item in values]), "boolean"
    # Ordinary scalar functions.
    evaluated = [evaluate(arg, context) for arg in args]
    if name == "coalesce":
        result_type = next((t for v, t in evaluated if t != "unknown"), "unknown")
        for value, value_type in evaluated:
            if value is not None:
                return value, value_type
        return None, result_type
    if name == "concat":
        if any(value is None for value, _ in evaluated):
            return None, "varchar"
        return "".join(cast_value(v, t, "varchar") for v, t in evaluated), "varchar"
    value, value_type = evaluated[0]
    if name == "length":
        return (None if value is None else len(value)), "bigint"
    if name == "lower":
        return (None if value is None else simple_lower(value)), value_type
    if name == "upper":
        return (None if value is None else simple_upper(value)), value_type
    if name == "substr":
        if any(v is None for v, _ in evaluated):
            return None, value_type
        start = evaluated[1][0]
        length = evaluated[2][0] if len(evaluated) > 2 else None
        return substr(value, start, length), value_type
    raise ValueError("function %s is not modelled" % name)


def substr(text, start, length=None):
    """Trino substr: 1-based start, negative start counts from the end, in code points."""
    size = len(text)
    if start == 0:
        return ""
    if start > 0:
        begin = start - 1
    else:
        begin = size + start
        if begin < 0:
            return ""
    if begin >= size:
        return ""
    if length is None:
        return text[begin:]
    if length <= 0:
        return ""
    return text[begin:begin + length]


def evaluate_predicate(text, context):
    """Evaluate a predicate string: True, False or None (NULL)."""
    value = evaluate(parse(text), context)[0]
    if value is not None and not isinstance(value, bool):
        raise ValueError("predicate %r is not boolean" % text)
    return value
