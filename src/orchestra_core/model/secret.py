"""Secrets that travel in an operation and never anywhere else."""

from __future__ import annotations

from typing import Final

__all__ = ["REDACTED", "Secret"]

REDACTED: Final = "********"


class Secret:
    """A password or key carried by a ``set_password`` operation.

    Its ``repr`` and ``str`` are redacted, so that it cannot leak through a log line, a plan
    printed as JSON or an exception message. Only :meth:`reveal` gives the value, and only the
    code that hashes it or puts it on a step's standard input should call it.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("a Secret wraps a str")
        self._value = value

    def reveal(self) -> str:
        """The secret value. Never log, print or put it on a command line."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret is not pickled; pass it in the operation only")
