"""The stores' Lua scripts ship as package data, each opening with its KEYS/ARGV contract."""

from __future__ import annotations

from importlib import resources

import pytest

from mailer.stores import lua

SCRIPTS = sorted(
    entry.name.removesuffix(".lua")
    for entry in resources.files(lua).iterdir()
    if entry.name.endswith(".lua")
)


def test_the_stores_scripts_are_found():
    expected = {"dead_letter_claim", "inbox_add", "schedule_claim_due", "schedule_complete"}
    assert expected <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_script_opens_with_its_contract(name):
    header = [line for line in lua.source(name).splitlines() if line.startswith("--")]
    text = "\n".join(header)
    assert "KEYS" in text or "no keys" in text.lower()
    assert "ARGV" in text
    assert "Returns" in text
