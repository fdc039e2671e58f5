"""Placement constraints: `KEY==VALUE`, `KEY!=VALUE` and their soft forms `==~` / `!=~`.

A value is a literal, a glob (when it holds * ? or [) or a /regex/ (full match).
"""

import fnmatch
import re
from dataclasses import dataclass

from .types import NodeSnapshot

_FIELD_KEYS = {"node.id": "id", "node.name": "name", "node.hostname": "hostname"}
_LABEL_PREFIXES = {"node.labels.": "labels", "engine.labels.": "engine_labels"}
VALID_KEYS = (*_FIELD_KEYS, *(prefix + "<K>" for prefix in _LABEL_PREFIXES))

_OPERATOR = re.compile(r"==|!=")
_GLOB_CHARS = frozenset("*?[")
# Swarm mode's rules (swarmkit's constraint parser): a label name is letters, digits and "-_./", and a value
# holds no character an operator is made of, present or future ("=", "!", "<", ">", "~"...), so
# `zone === a` is refused instead of read as `==` with the value "= a". A /regex/ may also use
# the quantifier characters "{", "}" and ",", and a glob its negated set "[!...]".
_LABEL_NAME_RE = re.compile(r"[a-z0-9_][a-z0-9_./-]*", re.IGNORECASE)   # what a label key may be, as validation says
_VALUE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_ .*()?+[]\\^$|/")
_REGEX_EXTRA = frozenset("{},")
VALUE_RULE = 'letters, digits, space and : - _ . * ( ) ? + [ ] \\ ^ $ | /'


class ConstraintError(ValueError):
    """Raised for an expression that cannot be parsed; str() is a single line naming it."""


@dataclass(frozen=True, slots=True)
class Constraint:
    text: str  # the expression as written (outer whitespace trimmed), used in messages
    key: str
    negate: bool  # != / !=~
    soft: bool  # ==~ / !=~ : preferred, dropped when nothing fits
    pattern: str  # the value as written: literal, glob or /regex/

    def matches(self, node: NodeSnapshot) -> bool:
        return _value_matches(self.pattern, _value_of(self.key, node)) != self.negate

    @property
    def literal(self) -> str | None:
        """The value an `==` on a plain literal asks for (an index can answer it); else None."""
        if self.negate or _is_regex(self.pattern) or _GLOB_CHARS.intersection(self.pattern):
            return None
        return self.pattern


def indexed_values(node: NodeSnapshot) -> list[tuple[str, str]]:
    """(constraint key, value) for every key a literal `==` can name on this node: what an index
    over nodes holds so that `key==value` is a lookup instead of a scan."""
    pairs = [(key, getattr(node, field)) for key, field in _FIELD_KEYS.items()]
    for prefix, mapping in _LABEL_PREFIXES.items():
        pairs += [(prefix + k, v) for k, v in getattr(node, mapping).items()]
    return pairs


def parse_constraint(expr: str) -> Constraint:
    text = expr.strip()
    found = _OPERATOR.search(text)
    if found is None:
        raise _error(text, "expected KEY==VALUE, KEY!=VALUE, KEY==~VALUE or KEY!=~VALUE")
    key = text[: found.start()].strip()
    rest = text[found.end() :]
    # Swarm's soft marker: "~" right after the operator, never part of the value.
    soft = rest.startswith("~")
    operator = found.group() + ("~" if soft else "")
    value = rest[1:].strip() if soft else rest.strip()

    if not key:
        raise _error(text, f"missing key before {operator}")
    if not value:
        raise _error(
            text,
            f"missing value after {operator} (matching an absent or empty label is not supported)",
        )
    _check_key(text, key)
    _check_value(text, value)
    return Constraint(text=text, key=key, negate=found.group() == "!=", soft=soft, pattern=value)


def _check_key(text: str, key: str) -> None:
    if key in _FIELD_KEYS:
        return
    for prefix in _LABEL_PREFIXES:
        if key.startswith(prefix):
            if key == prefix:
                raise _error(text, f"missing label name after {prefix}")
            if not _LABEL_NAME_RE.fullmatch(key[len(prefix):]):
                raise _error(text, f'label name {_quote(key[len(prefix):])} may hold only letters, digits, '
                                   f'"_", ".", "/" and "-"')
            return
    raise _error(text, f"unknown key {_quote(key)}; valid keys are {', '.join(VALID_KEYS)}")


def _check_value(text: str, value: str) -> None:
    allowed = _VALUE_CHARS | _REGEX_EXTRA if _is_regex(value) else _VALUE_CHARS
    # "[!...]" is a glob's negated set, the one place a "!" is not an operator's.
    bad = sorted(set(value.replace("[!", "[")) - allowed)
    if bad:
        shown = ", ".join(_quote(c) for c in bad)
        raise _error(text, f"value {_quote(value)} holds {shown}, which a value may not (it may hold {VALUE_RULE})")
    if not _is_regex(value):
        return
    body = value[1:-1]
    if not body:
        raise _error(text, "empty regex //")
    try:
        re.compile(body)
    except re.error as err:
        raise _error(text, f"bad regex {_escape(value)}: {err}") from None


def _value_of(key: str, node: NodeSnapshot) -> str:
    field = _FIELD_KEYS.get(key)
    if field is not None:
        return getattr(node, field)
    for prefix, mapping in _LABEL_PREFIXES.items():
        if key.startswith(prefix):
            # An absent label reads as "" so `node.labels.zone!=eu` holds for unlabelled nodes.
            return getattr(node, mapping).get(key[len(prefix) :], "")
    raise ConstraintError(f"unknown constraint key {_quote(key)}")


def _value_matches(pattern: str, value: str) -> bool:
    # re and fnmatch cache their compiled patterns, so matching per call stays cheap.
    if _is_regex(pattern):
        return re.fullmatch(pattern[1:-1], value) is not None
    if _GLOB_CHARS.intersection(pattern):
        return fnmatch.fnmatchcase(value, pattern)
    return value == pattern


def _is_regex(value: str) -> bool:
    return len(value) >= 2 and value.startswith("/") and value.endswith("/")


def _error(text: str, problem: str) -> ConstraintError:
    return ConstraintError(f"constraint {_quote(text)}: {problem}")


def _quote(text: str) -> str:
    return f'"{_escape(text)}"'


def _escape(text: str) -> str:
    # Control characters are shown escaped so an error always stays on one line.
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
