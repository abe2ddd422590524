"""What no store can keep, found with its path (issue 11, defect 5)."""

from __future__ import annotations

import json
import math

from orchestrator.storable import find_unstorable, printable


def test_nul_surrogates_and_non_finite_numbers_are_found_with_their_paths() -> None:
    value = {
        "ok": ["text", 1, 2.5, None, True, {"nested": "fine"}],
        "nul": "a\x00b",
        "deep": {"list": [1, {"x": math.nan}]},
        "inf": -math.inf,
        "sur": "\ud800",
        "k\x00": 1,
    }
    found = {(p.path, p.type) for p in find_unstorable(value)}
    assert found == {
        ("nul", "string_nul"),
        ("deep.list[1].x", "number_not_finite"),
        ("inf", "number_not_finite"),
        ("sur", "string_surrogate"),
        ("k\\u0000", "key_nul"),
    }
    assert find_unstorable({"fine": ["é", "日本", 1e308, -0.0]}) == []


def test_a_deep_value_is_walked_without_recursion() -> None:
    deep: object = "\x00"
    for _ in range(50_000):
        deep = [deep]
    (problem,) = find_unstorable(deep)
    assert problem.type == "string_nul" and problem.path.endswith("[0]")


def test_printable_makes_any_error_detail_encodable() -> None:
    safe = printable({"\udfff": ["\ud800", math.nan, "ok"], "n": 1})
    assert json.loads(json.dumps(safe, allow_nan=False)) == safe
    assert safe == {"\\udfff": ["\\ud800", None, "ok"], "n": 1}
