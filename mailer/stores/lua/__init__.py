"""The stores' Lua scripts, one ``.lua`` file each, so they read, diff and lint as Lua.

Each file opens with its contract: what it does, its KEYS and its ARGV. A store loads its
scripts once, in its constructor, and registers them on its client (``register_script``),
which runs them by SHA and reloads them after a Redis restart.
"""

from __future__ import annotations

from importlib import resources


def source(name: str) -> str:
    """The text of ``<name>.lua`` beside this module, as installed (checkout or wheel)."""
    return resources.files(__name__).joinpath(f"{name}.lua").read_text(encoding="utf-8")
