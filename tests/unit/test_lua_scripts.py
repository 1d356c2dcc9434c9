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
    """A script says its KEYS, ARGV and what it returns; a file of shared functions, which
    scripts are composed from, says what its function does."""
    source = lua.source(name)
    header = "\n".join(line for line in source.splitlines() if line.startswith("--"))
    body = "\n".join(line for line in source.splitlines() if not line.startswith("--"))
    assert header, "opens with a comment"
    if "KEYS[" not in body and "ARGV[" not in body:
        assert "local function" in body, "a file of shared functions"
        return
    assert "KEYS" in header or "no keys" in header.lower()
    assert "ARGV" in header
    if "return " in body.replace("return end", ""):
        assert "Returns" in header or "returns" in header
