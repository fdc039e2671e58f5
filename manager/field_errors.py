"""The boundary's one error: a bad field, said in one line. Pure."""
from __future__ import annotations

__all__ = ["InvalidField", "show"]


class InvalidField(ValueError):
    """"<field>: <reason>", on one line whatever the request held."""

    def __init__(self, field: str, reason: str):
        field, reason = _one_line(field), _one_line(reason)
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _one_line(text: str) -> str:
    return " ".join(str(text).splitlines())


def show(value: str, limit: int = 80) -> str:
    """A request value as a message may quote it: shortened, control characters escaped."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in value[:limit])
    return text + ("..." if len(value) > limit else "")
