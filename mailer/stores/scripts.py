"""Lua scripts from ``mailer/stores/lua/``, and pipelines that may carry them.

A script is sent in full once per Redis server; after that, EVALSHA names it. A Redis that
restarted has forgotten it, so a ``NoScriptError`` is answered by sending the script again,
inside a pipeline too, where redis-py's own ``Script`` asks ``SCRIPT EXISTS`` before every
execute: one more round trip per email.

Scripts are composed of files: small functions (``now.lua``, ``claim.lua``, ...) that several
scripts share, then the body that calls them, so each piece of logic is written once.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import redis
from redis.exceptions import NoScriptError

from mailer.stores import lua

Arg = Any  # what redis-py sends as an argument: str, bytes, int or float


class Script:
    """One Lua script, made of the named files of ``mailer/stores/lua/`` in order (or, given
    ``source``, of that text: see ``composed``)."""

    def __init__(self, *files: str, source: str | None = None) -> None:
        if source is None:
            source = "\n".join(lua.source(name.removesuffix(".lua")) for name in files)
            _EVERY_SCRIPT.append(self)
        self.source = source
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()

    def __call__(self, client: redis.Redis, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return client.eval(self.source, len(keys), *keys, *args)


_EVERY_SCRIPT: list[Script] = []
_APPLY_WRITES = Script("apply_writes.lua")

# Each distinct script becomes a function of its own KEYS and ARGV, and each part of a batch
# runs one of them in order under pcall, so that one failing leaves the others to run and is
# answered as its own error, as in a pipeline. ARGV opens with the number of parts, then for
# each its function's number and its counts of keys and of arguments.
_RUN_PARTS = """
local replies, n = {}, tonumber(ARGV[1])
local key, arg = 0, 1 + 3 * n
for i = 1, n do
  local head = 3 * i - 1
  local run = functions[tonumber(ARGV[head])]
  local key_count, arg_count = tonumber(ARGV[head + 1]), tonumber(ARGV[head + 2])
  local keys, argv = {}, {}
  for j = 1, key_count do keys[j] = KEYS[key + j] end
  for j = 1, arg_count do argv[j] = ARGV[arg + j] end
  key, arg = key + key_count, arg + arg_count
  local ok, reply = pcall(run, keys, argv)
  if not ok and type(reply) ~= 'table' then reply = {err = tostring(reply)} end
  if reply == nil then reply = false end  -- a nil would end the array of replies
  replies[i] = reply
end
return replies
"""


@functools.lru_cache(maxsize=64)
def composed(scripts: tuple[Script, ...]) -> Script:
    """The distinct ``scripts`` as one script that runs any sequence of them, answering the
    list of their replies (see ``_RUN_PARTS``; ``Batch`` says which runs when). Each is
    written once, so ten parts of one script cost Redis no more to compile than one, and a
    batch of any length made of the same scripts is the same script, sent in full once per
    Redis. Effects replication is asked for first, before any part has written. ``preload``
    cannot know which scripts a worker's batches will join: the first of each kind sends
    its script in full."""
    functions = "".join(
        f"functions[{i}] = function(KEYS, ARGV)\n{script.source}\nend\n"
        for i, script in enumerate(scripts, start=1)
    )
    head = "if redis.replicate_commands then redis.replicate_commands() end\n"
    return Script(source=head + "local functions = {}\n" + functions + _RUN_PARTS)


def preload(client: redis.Redis) -> None:
    """Send every script to Redis once, so no email pays for a script's first use; a Redis
    that restarts later is sent them again as they are used."""
    with client.pipeline(transaction=False) as pipe:
        for script in _EVERY_SCRIPT:
            pipe.script_load(script.source)
        pipe.execute()


class Writes:
    """Write-only commands whose replies nobody reads, gathered to run as one script call.

    redis-py spends several microseconds of Python on each pipeline entry, packing it and
    parsing its reply; the counters, expiries and kept content of a send were a dozen entries
    a worker paid for on every email. Here each is a few words in a list, and ``Batch`` sends
    them all as the arguments of ``apply_writes.lua``, after its other commands. The method
    names and arguments are redis-py's, so a store writes them the same way to either.
    """

    def __init__(self) -> None:
        self.words: list[Arg] = []
        self.count = 0

    def _add(self, *words: Arg) -> None:
        self.words += (len(words), *words)
        self.count += 1

    def set(self, key: str, value: Arg, *, ex: int | None = None, px: int | None = None) -> None:
        expiry = ("EX", ex) if ex is not None else ("PX", px) if px is not None else ()
        self._add("SET", key, value, *expiry)

    def delete(self, *keys: str) -> None:
        self._add("DEL", *keys)

    def expire(self, key: str, seconds: int) -> None:
        self._add("EXPIRE", key, seconds)

    def rpush(self, key: str, *values: Arg) -> None:
        self._add("RPUSH", key, *values)

    def hincrby(self, key: str, field: str, amount: int = 1) -> None:
        self._add("HINCRBY", key, field, amount)

    def hincrbyfloat(self, key: str, field: str, amount: float) -> None:
        self._add("HINCRBYFLOAT", key, field, repr(float(amount)))


class Batch:
    """Commands and scripts sent to Redis together: one round trip, in order, the gathered
    ``writes`` last.

    ``then`` callbacks receive their command's reply once the batch has run, so a store can
    act on what its script answered without a round trip of its own.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.pipe: Any = client.pipeline(transaction=False)
        self.writes = Writes()
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
        return len(self.pipe.command_stack) + self.writes.count

    def execute(self) -> list[Any]:
        """Run everything; a script Redis had forgotten is sent again in full, once."""
        if not len(self):
            return []
        self._fold_writes()
        if len(self._scripts) > 1 and self._scripts_only():
            replies = _run_parts(self.client, self._parts())
            self.pipe.reset()
        else:
            replies = self.pipe.execute(raise_on_error=False)
        return self._finish(replies)

    def composable(self) -> bool:
        """Whether the batch, its gathered writes included, is scripts alone."""
        self._fold_writes()
        return self._scripts_only()

    def composed_call(self) -> tuple[Script, list[str], list[Arg]]:
        """The batch as one composed script's call, to send on a connection of one's own
        (``mailer.worker.settler``); a batch of scripts and gathered writes alone."""
        self._fold_writes()
        if not self._scripts_only():
            raise ValueError("only a batch of scripts is one composed call")
        return _composed_call(self._parts())

    def execute_composed(self) -> Any:
        """Run ``composed_call`` through the client: the replies, unread."""
        script, keys, args = self.composed_call()
        return script(self.client, keys, args)

    def finish_composed(self, replies: list[Any]) -> Exception | None:
        """What ``execute`` does with the composed call's replies; the first part's error
        instead of raising it, the others having run."""
        self.pipe.reset()
        try:
            self._finish(replies)
        except Exception as err:
            return err
        return None

    def _fold_writes(self) -> None:
        if self.writes.count:
            self.script(_APPLY_WRITES, [], self.writes.words)
            self.writes = Writes()

    def _scripts_only(self) -> bool:
        return len(self._scripts) == len(self.pipe.command_stack)

    def _parts(self) -> list[tuple[Script, Sequence[str], Sequence[Arg]]]:
        return [self._scripts[index] for index in range(len(self._scripts))]

    def _finish(self, replies: list[Any]) -> list[Any]:
        """Raise the first error among ``replies``, else run the ``then`` callbacks."""
        for index, reply in enumerate(replies):
            if isinstance(reply, NoScriptError) and index in self._scripts:
                script, keys, args = self._scripts[index]
                replies[index] = reply = script(self.client, keys, args)
            if isinstance(reply, Exception):
                raise reply
        for index, then in self._then.items():
            then(replies[index])
        return replies


Part = tuple[Script, Sequence[str], Sequence[Arg]]


def _run_parts(client: redis.Redis, parts: list[Part]) -> Any:
    """Scripts run as one composed script: one call instead of one per script, each of which
    costs Redis about 11 us and redis-py a pipeline entry."""
    script, keys, args = _composed_call(parts)
    return script(client, keys, args)


def _composed_call(parts: list[Part]) -> tuple[Script, list[str], list[Arg]]:
    distinct = tuple(dict.fromkeys(script for script, _, _ in parts))
    number = {script: n for n, script in enumerate(distinct, start=1)}
    keys = [key for _, part_keys, _ in parts for key in part_keys]
    args: list[Arg] = [len(parts)]
    for script, part_keys, part_args in parts:
        args += (number[script], len(part_keys), len(part_args))
    args += [arg for _, _, part_args in parts for arg in part_args]
    return composed(distinct), keys, args
