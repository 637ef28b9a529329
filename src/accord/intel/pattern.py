"""STIX patterning (STIX 2.1 §9): a recursive-descent checker of the grammar (the OASIS
``STIXPattern.g4``), with the checks ``stix2-patterns`` makes on top: one qualifier of each
kind per observation expression (§9.3), hash values of the form their algorithm names (§6.7),
valid object type and property names (§3.1). Pure; over ten times faster than the ANTLR
parser, which is what lets ingest validate every indicator (ADR 0014).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from accord.intel.validate_names import OBSERVABLE_PROPERTY, OBSERVABLE_TYPE

MAX_PATTERN = 64 * 1024


class PatternInvalid(ValueError):
    pass


KEYWORDS = frozenset(
    [
        "AND",
        "OR",
        "NOT",
        "FOLLOWEDBY",
        "LIKE",
        "MATCHES",
        "ISSUPERSET",
        "ISSUBSET",
        "EXISTS",
        "LAST",
        "IN",
        "START",
        "STOP",
        "SECONDS",
        "true",
        "false",
        "WITHIN",
        "REPEATS",
        "TIMES",
    ]
)
HASHES = {
    "MD5": r"[a-fA-F0-9]{32}",
    "SHA1": r"[a-fA-F0-9]{40}",
    "SHA256": r"[a-fA-F0-9]{64}",
    "SHA512": r"[a-fA-F0-9]{128}",
    "SHA3256": r"[a-fA-F0-9]{64}",
    "SHA3512": r"[a-fA-F0-9]{128}",
    "SHA224": r"[a-fA-F0-9]{56}",
    "SHA384": r"[a-fA-F0-9]{96}",
    "SHA3224": r"[a-fA-F0-9]{56}",
    "SHA3384": r"[a-fA-F0-9]{96}",
    "RIPEMD160": r"[a-fA-F0-9]{40}",
    "WHIRLPOOL": r"[a-fA-F0-9]{128}",
    "SSDEEP": r"[a-zA-Z0-9/+:.]{1,128}",
    "MD6": r"[a-fA-F0-9]{32}|[a-fA-F0-9]{40}|[a-fA-F0-9]{56}|[a-fA-F0-9]{64}|[a-fA-F0-9]{96}|"
    r"[a-fA-F0-9]{128}",
}
ORDERABLE = frozenset({"int", "float", "string", "binary", "hex", "timestamp"})
EQUALITY = frozenset({"=", "==", "!=", "<>"})
ORDER = frozenset({"<", "<=", ">", ">="})


class Token(NamedTuple):
    kind: str
    text: str
    at: int


_CLASSES = {
    "timestamp": re.compile(
        r"t'\d{4}-(?:0[1-9]|1[012])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:"
        r"(?:[0-5]\d|60)(?:\.\d+)?Z'"
    ),
    "hex": re.compile(r"h'(?:[a-fA-F0-9]{2})*'"),
    "binary": re.compile(r"b'(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?'"),
    "string": re.compile(r"'(?:\\['\\]|[^'\\])*'"),
    "number": re.compile(r"[+-]?(?:\d*\.\d+|0|[1-9]\d*)"),
    "word": re.compile(r"[a-zA-Z_][a-zA-Z0-9_-]*"),
    "op": re.compile(r"==|!=|<>|<=|>=|[=<>:.\[\](),*]"),
    "ws": re.compile(r"\s+"),
}
_LITERAL = {"t": "timestamp", "h": "hex", "b": "binary"}


def _class_of(pattern: str, index: int) -> str:
    """Which token class can start at ``index`` (the grammar's tokens differ by their start)."""
    char = pattern[index]
    if char in _LITERAL and pattern[index + 1 : index + 2] == "'":
        return _LITERAL[char]
    if char == "'":
        return "string"
    if char.isdigit() or (char in "+-." and pattern[index + 1 : index + 2][:1] in "0123456789."):
        return "number"
    if char.isalpha() or char == "_":
        return "word"
    return "ws" if char.isspace() else "op"


def tokens(pattern: str) -> list[Token]:
    out, index, end = [], 0, len(pattern)
    while index < end:
        kind = _class_of(pattern, index)
        match = _CLASSES[kind].match(pattern, index)
        if match is None:
            raise PatternInvalid(f"unexpected character {pattern[index]!r} at {index}")
        if kind != "ws":
            text = match.group()
            if kind == "number":
                kind = "float" if "." in text else "int"
            out.append(Token("keyword" if text in KEYWORDS else kind, text, index))
        index = match.end()
    return out


def check_pattern(pattern: str) -> None:
    """Raise PatternInvalid unless ``pattern`` is a valid STIX 2.1 pattern."""
    if len(pattern) > MAX_PATTERN:
        raise PatternInvalid(f"longer than {MAX_PATTERN} characters")
    parser = _Parser(tokens(pattern))
    parser.observations()
    if parser.peek() is not None:
        raise PatternInvalid(f"unexpected {parser.peek().text!r} at {parser.peek().at}")  # type: ignore[union-attr]


class _Parser:
    def __init__(self, items: list[Token]) -> None:
        self.items, self.index = items, 0

    def peek(self) -> Token | None:
        return self.items[self.index] if self.index < len(self.items) else None

    def is_(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token.text == text and token.kind in ("keyword", "op")

    def take(self, text: str | None = None, kind: str | None = None) -> Token:
        token = self.peek()
        if token is None:
            raise PatternInvalid(f"the pattern ends where {text or kind} was expected")
        if (text is not None and (token.text != text or token.kind not in ("keyword", "op"))) or (
            kind is not None and token.kind != kind
        ):
            raise PatternInvalid(f"expected {text or kind}, found {token.text!r} at {token.at}")
        self.index += 1
        return token

    # observationExpressions: FOLLOWEDBY binds loosest, then OR, then AND (§9.5)
    def observations(self) -> None:
        self._binary(("FOLLOWEDBY", "OR", "AND"), self.observation)

    def _binary(self, levels: tuple[str, ...], operand: object) -> None:
        head, rest = levels[0], levels[1:]

        def below() -> None:
            if rest:
                self._binary(rest, operand)
            else:
                operand()  # type: ignore[operator]

        below()
        while self.is_(head):
            self.take(head)
            below()

    def observation(self) -> None:
        if self.is_("["):
            self.take("[")
            self.comparisons()
            self.take("]")
            self.qualifiers(simple=True)
        elif self.is_("("):
            self.take("(")
            self.observations()
            self.take(")")
            self.qualifiers(simple=False)
        else:
            token = self.peek()
            where = f"{token.text!r} at {token.at}" if token else "the end"
            raise PatternInvalid(f"expected '[' or '(' to open an observation, found {where}")

    def qualifiers(self, *, simple: bool) -> None:
        """§9.3: WITHIN, REPEATS, START/STOP; each once directly on a simple observation."""
        seen: set[str] = set()
        while self.is_("WITHIN") or self.is_("REPEATS") or self.is_("START"):
            word = self.take().text
            if word == "WITHIN":
                number = self.peek()
                if number is None or number.kind not in ("int", "float") or number.text[0] in "+-":
                    raise PatternInvalid("WITHIN takes a positive number of seconds")
                self.take()
                self.take("SECONDS")
            elif word == "REPEATS":
                count = self.take(kind="int")
                if count.text.startswith("-"):
                    raise PatternInvalid("REPEATS takes a positive integer")
                self.take("TIMES")
            else:
                self.take(kind="timestamp")
                self.take("STOP")
                self.take(kind="timestamp")
            if simple and word in seen:
                raise PatternInvalid(f"duplicate qualifier type {word}")
            seen.add(word)

    def comparisons(self) -> None:
        self._binary(("OR", "AND"), self.test)

    def test(self) -> None:
        if self.is_("("):
            self.take("(")
            self.comparisons()
            self.take(")")
            return
        if self.is_("EXISTS"):
            self.take("EXISTS")
            self.path()
            return
        path = self.path()
        if self.is_("NOT"):
            self.take("NOT")
        operator = self.take()
        if operator.text in EQUALITY and operator.kind == "op":
            value = self.literal(ORDERABLE | {"keyword-bool"})
        elif operator.text in ORDER and operator.kind == "op":
            value = self.literal(ORDERABLE)
        elif operator.text == "IN" and operator.kind == "keyword":
            self.set_literal()
            _check_hash(path, "(set)")
            return
        elif operator.text in ("LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET"):
            value = self.take(kind="string")
        else:
            raise PatternInvalid(f"expected a comparison operator, found {operator.text!r}")
        _check_hash(path, value.text)

    def set_literal(self) -> None:
        self.take("(")
        if self.is_(")"):
            self.take(")")
            return
        self.literal(ORDERABLE | {"keyword-bool"})
        while self.is_(","):
            self.take(",")
            self.literal(ORDERABLE | {"keyword-bool"})
        self.take(")")

    def literal(self, allowed: frozenset[str]) -> Token:
        token = self.peek()
        if token is None:
            raise PatternInvalid("the pattern ends where a value was expected")
        kind = "keyword-bool" if token.text in ("true", "false") else token.kind
        if kind not in allowed:
            raise PatternInvalid(f"{token.text!r} at {token.at} is not a value allowed here")
        self.index += 1
        return token

    def path(self) -> list[str]:
        """objectType ':' property ('.' name | '[' index ']')*"""
        kind = self.take(kind="word").text
        if kind not in OBSERVABLE_TYPE and not _type_name(kind):
            raise PatternInvalid(f"'{kind}' is not a valid observable type name")
        self.take(":")
        first = self.peek()
        if (
            first is None
            or first.kind not in ("word", "string")
            or ("-" in first.text and (first.kind == "word"))
        ):
            raise PatternInvalid(f"expected a property name after '{kind}:'")
        self.index += 1
        steps = [first.text.strip("'")]
        prop = steps[0]
        known = OBSERVABLE_PROPERTY.get(kind, frozenset())
        if prop not in known and not re.match(r"^[a-z0-9_]{3,250}$", prop):
            raise PatternInvalid(f"'{prop}' is not a valid observable property name")
        while self.is_(".") or self.is_("["):
            if self.take().text == ".":
                step = self.peek()
                if step is None or step.kind not in ("word", "string", "keyword"):
                    raise PatternInvalid("expected a property name after '.'")
                if step.kind == "word" and "-" in step.text:
                    raise PatternInvalid(f"property {step.text!r} needs quotes (it has '-')")
                self.index += 1
                steps.append(step.text.strip("'"))
            else:
                index = self.peek()
                if index is None or not (index.kind == "int" or index.text == "*"):
                    raise PatternInvalid("a list index is an integer or '*'")
                self.index += 1
                self.take("]")
                steps.append("[*]" if index.text == "*" else "[i]")
        return [kind, *steps]


def _type_name(kind: str) -> bool:
    return (
        3 <= len(kind) <= 250 and re.match(r"^([a-z][a-z0-9]*)+(-[a-z0-9]+)*-?$", kind) is not None
    )


def _check_hash(path: list[str], value: str) -> None:
    """``file:hashes.MD5 = '…'`` must compare with a value that looks like an MD5, whatever
    the operator (as stix2-patterns checks: a set of values never does)."""
    if "hashes" not in path[1:] or path[-1] in ("[*]", "[i]"):
        return
    algorithm = path[-1].upper().replace("-", "")
    shape = HASHES.get(algorithm)
    if shape and not re.match(f"^(?:{shape})$", value.replace("'", "")):
        raise PatternInvalid(f"{value} is not a valid {path[-1]} hash")
