"""JSON serialization of step outputs and inputs: JSON values and pydantic models (DESIGN §2)."""

import datetime
import json
import uuid

import pytest
from pydantic import BaseModel

from orchestrator.errors import SerializationError
from orchestrator.serialization import dumps, loads, to_jsonable


class Brief(BaseModel):
    title: str
    written_at: datetime.datetime
    tags: list[str] = []


WHEN = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)


def test_json_values_round_trip() -> None:
    value = {"a": [1, 2.5, "x", None, True], "b": {"c": False}}

    assert loads(dumps(value)) == value


def test_a_pydantic_model_is_dumped_as_its_json_fields() -> None:
    data = dumps(Brief(title="t", written_at=WHEN, tags=["x"]))

    assert json.loads(data) == {"title": "t", "written_at": "2024-05-06T07:08:09Z", "tags": ["x"]}


def test_a_dumped_model_validates_back_into_the_model() -> None:
    brief = Brief(title="t", written_at=WHEN)

    assert Brief.model_validate(loads(dumps(brief))) == brief


def test_a_datetime_is_dumped_as_iso_8601() -> None:
    assert json.loads(dumps({"at": WHEN})) == {"at": "2024-05-06T07:08:09Z"}


def test_a_uuid_is_dumped_as_its_text() -> None:
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")

    assert json.loads(dumps(u)) == str(u)


def test_dumps_returns_bytes_and_loads_accepts_str_too() -> None:
    data = dumps([1])

    assert isinstance(data, bytes)
    assert loads(data.decode()) == [1]


def test_a_non_serializable_object_raises_serialization_error_with_its_code() -> None:
    class Opaque:
        pass

    with pytest.raises(SerializationError) as info:
        dumps(Opaque())

    assert info.value.code == "output_not_serializable"
    assert info.value.details == {"type": "Opaque"}


def test_a_non_serializable_object_nested_in_a_dict_raises_serialization_error() -> None:
    with pytest.raises(SerializationError) as info:
        dumps({"ok": 1, "bad": object()})

    assert info.value.code == "output_not_serializable"


def test_to_jsonable_turns_models_into_plain_json_types() -> None:
    assert to_jsonable({"b": Brief(title="t", written_at=WHEN)}) == {
        "b": {"title": "t", "written_at": "2024-05-06T07:08:09Z", "tags": []}
    }


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON (RFC 8259)")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_float_is_never_dumped_as_invalid_json(value: float) -> None:
    # Outputs travel to web and Excel clients as JSON (DESIGN §2, §6): NaN and Infinity literals
    # break JSON.parse there, so dumps() must either refuse them or write valid JSON.
    try:
        data = dumps({"x": value})
    except SerializationError as exc:
        assert exc.code == "output_not_serializable"
        return

    json.loads(data, parse_constant=_reject_constant)
