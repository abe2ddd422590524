"""JSON values the stores can keep: what PostgreSQL's jsonb, UTF-8 and JSON itself refuse.

Python's ``json`` reads more than JSON: ``NaN``, ``Infinity`` and ``1e999`` (which overflows to
infinity) become non-finite floats, and ``"\\ud800"`` becomes a string with a lone surrogate.
PostgreSQL's ``jsonb`` rejects non-finite numbers and the NUL character (``\\u0000``) in strings
and keys (https://www.postgresql.org/docs/current/datatype-json.html), and a lone surrogate has no
UTF-8 encoding (RFC 3629 §3), so Redis and every JSON encoder here refuse it. A request carrying
any of them is bad input, found before anything is written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_PROBLEMS = 10
"""At most this many problems are reported for one value (the first ones, depth first)."""


@dataclass(frozen=True, slots=True)
class Unstorable:
    """One part of a value that cannot be stored.

    Attributes:
        path: Where it is: keys and ``[index]``es joined by dots (``payload.items[2]``), with
            unprintable characters escaped; ``""`` for the value itself.
        type: ``string_nul``, ``string_surrogate``, ``key_nul``, ``key_surrogate`` or
            ``number_not_finite``.
        message: For people.
    """

    path: str
    type: str
    message: str

    def as_error(self, root: str | None = None) -> dict[str, str]:
        """``{"parameter", "type", "message"}`` as in ``inputs_invalid``'s ``details["errors"]``.

        Args:
            root: A name to put before the path (e.g. the field holding the value).
        """
        parameter = ".".join(p for p in (root, self.path) if p) or (root or "")
        return {"parameter": parameter, "type": self.type, "message": self.message}


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored (``"nul"`` or ``"surrogate"``), or ``None``."""
    if "\x00" in text:
        return "nul"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "surrogate"
    return None


def printable_path(part: str) -> str:
    """A key as it may appear in an error: NUL and lone surrogates escaped, never raw."""
    return part.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\u0000")


def printable(value: Any, *, max_depth: int = 32) -> Any:
    """A copy of a small JSON value (an error's details) that every encoder accepts.

    Strings and keys get NUL and lone surrogates escaped (:func:`printable_path`), non-finite
    numbers become ``None``, and anything nested deeper than ``max_depth`` becomes ``"..."``.
    """
    if isinstance(value, str):
        return value if text_problem(value) is None else printable_path(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if max_depth <= 0 and isinstance(value, dict | list | tuple):
        return "..."
    if isinstance(value, dict):
        return {
            printable_path(str(k)): printable(v, max_depth=max_depth - 1) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [printable(v, max_depth=max_depth - 1) for v in value]
    return value


_MESSAGES = {
    "string_nul": "a string holds a NUL character (\\u0000), which cannot be stored",
    "string_surrogate": "a string holds a lone UTF-16 surrogate, which is not valid Unicode text",
    "key_nul": "a key holds a NUL character (\\u0000), which cannot be stored",
    "key_surrogate": "a key holds a lone UTF-16 surrogate, which is not valid Unicode text",
    "number_not_finite": "a number is NaN or infinite, which JSON cannot carry",
}


def find_unstorable(value: Any, *, limit: int = MAX_PROBLEMS) -> list[Unstorable]:
    """Find the strings, keys and numbers in a JSON-like value that cannot be stored.

    Iterative (a deeply nested value cannot exhaust the stack); dicts, lists and tuples are
    walked, other types other than ``str`` and ``float`` are left to the serializer.

    Args:
        value: A parsed JSON value (dicts, lists, str, int, float, bool, None).
        limit: Stop after this many problems.

    Returns:
        The problems found, depth first; empty when the value can be stored.
    """
    problems: list[Unstorable] = []
    stack: list[tuple[Any, str]] = [(value, "")]

    def add(path: str, kind: str) -> None:
        problems.append(Unstorable(path, kind, _MESSAGES[kind]))

    while stack and len(problems) < limit:
        item, path = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                add(path, f"string_{problem}")
        elif isinstance(item, float):
            if not math.isfinite(item):
                add(path, "number_not_finite")
        elif isinstance(item, dict):
            children: list[tuple[Any, str]] = []
            for key, child in item.items():
                key_text = key if isinstance(key, str) else str(key)
                step = printable_path(key_text)
                child_path = f"{path}.{step}" if path else step
                problem = text_problem(key_text)
                if problem is not None:
                    add(child_path, f"key_{problem}")
                children.append((child, child_path))
            stack.extend(reversed(children))
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{path}[{i}]") for i, child in reversed(list(enumerate(item))))
    return problems[:limit]


__all__ = [
    "MAX_PROBLEMS",
    "Unstorable",
    "find_unstorable",
    "printable",
    "printable_path",
    "text_problem",
]
