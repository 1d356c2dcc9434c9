"""``check_json_object`` hands back what a JSON round trip would, whether it took its fast
path (plain JSON already) or the round trip itself."""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Any

import pytest

from mailer.argument_checks import check_json_object
from mailer.errors import InvalidContext


class Level(IntEnum):
    HIGH = 1


class Text(str):
    """A ``str`` subclass: JSON-safe, but not the plain ``str`` the fast path copies as is."""


def cyclic() -> dict[str, Any]:
    value: dict[str, Any] = {"name": "Ann"}
    value["self"] = value
    return value


PLAIN = [
    {},
    {"name": "Ann", "count": 3, "ratio": 0.5, "on": True, "none": None},
    {"items": [1, 2.5, None, False, "x", {"nested": ["deep", {"deeper": -0.0}]}]},
    {"big": 1e300, "small": -1e-300, "long": 10**40},
]
CONVERTED = [
    {1: "int key"},
    {"pair": (1, 2)},
    {"level": Level.HIGH},
    {"text": Text("sub")},
    {"inner": {True: 1, None: 2, 1.5: 3}},
    {"rows": [{"cells": ("a", "b")}]},
]
REFUSED = [{"nan": float("nan")}, {"inf": [float("inf")]}, {"object": object()}, cyclic()]


@pytest.mark.parametrize("value", PLAIN + CONVERTED)
def test_the_checked_value_is_what_json_gives_back(value):
    checked = check_json_object(value, "context", InvalidContext)
    expected = json.loads(json.dumps(value))
    assert checked == expected
    assert json.dumps(checked) == json.dumps(expected)  # same types: 1 stays 1, not 1.0
    assert checked is not value


def test_a_plain_value_is_copied_not_shared():
    value = {"items": [1, 2], "inner": {"a": 1}}
    checked = check_json_object(value, "context", InvalidContext)
    value["items"].append(3)
    value["inner"]["b"] = 2
    assert checked == {"items": [1, 2], "inner": {"a": 1}}


@pytest.mark.parametrize("value", REFUSED)
def test_what_json_refuses_is_refused(value):
    with pytest.raises(InvalidContext, match="context"):
        check_json_object(value, "context", InvalidContext)
