"""Lua scripts from ``mailer/stores/lua/``, and pipelines that may carry them.

A script is sent in full once per Redis server; after that, EVALSHA names it. A Redis that
restarted has forgotten it, so a ``NoScriptError`` is answered by sending the script again,
inside a pipeline too, where redis-py's own ``Script`` asks ``SCRIPT EXISTS`` before every
execute: one more round trip per email.

Scripts are composed of files: small functions (``now.lua``, ``claim.lua``, ...) that several
scripts share, then the body that calls them, so each piece of logic is written once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import redis
from redis.exceptions import NoScriptError

from mailer.stores import lua

Arg = Any  # what redis-py sends as an argument: str, bytes, int or float


class Script:
    """One Lua script, made of the named files of ``mailer/stores/lua/`` in order."""

    def __init__(self, *files: str) -> None:
        self.source = "\n".join(lua.source(name.removesuffix(".lua")) for name in files)
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()
        _EVERY_SCRIPT.append(self)

    def __call__(self, client: redis.Redis, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return client.eval(self.source, len(keys), *keys, *args)


_EVERY_SCRIPT: list[Script] = []


def preload(client: redis.Redis) -> None:
    """Send every script to Redis once, so no email pays for a script's first use; a Redis
    that restarts later is sent them again as they are used."""
    with client.pipeline(transaction=False) as pipe:
        for script in _EVERY_SCRIPT:
            pipe.script_load(script.source)
        pipe.execute()


class Batch:
    """Commands and scripts sent to Redis together: one round trip, in order.

    ``then`` callbacks receive their command's reply once the batch has run, so a store can
    act on what its script answered without a round trip of its own.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.pipe: Any = client.pipeline(transaction=False)
        self._scripts: dict[int, tuple[Script, Sequence[str], Sequence[Arg]]] = {}
        self._then: dict[int, Callable[[Any], None]] = {}

    def script(
        self,
        script: Script,
        keys: Sequence[str],
        args: Sequence[Arg],
        then: Callable[[Any], None] | None = None,
    ) -> None:
        index = len(self.pipe.command_stack)
        self._scripts[index] = (script, keys, args)
        self.pipe.evalsha(script.sha, len(keys), *keys, *args)
        if then is not None:
            self._then[index] = then

    def __len__(self) -> int:
        return len(self.pipe.command_stack)

    def execute(self) -> list[Any]:
        """Run everything; a script Redis had forgotten is sent again in full, once."""
        if not len(self):
            return []
        replies: list[Any] = self.pipe.execute(raise_on_error=False)
        for index, reply in enumerate(replies):
            if isinstance(reply, NoScriptError) and index in self._scripts:
                script, keys, args = self._scripts[index]
                replies[index] = reply = script(self.client, keys, args)
            if isinstance(reply, Exception):
                raise reply
        for index, then in self._then.items():
            then(replies[index])
        return replies
