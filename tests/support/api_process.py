"""mailer's public API called in a child process, against a Redis of the test's choosing.

The test process's broker is bound to the suite's Redis; a test that runs its own server
(``tests.support.redis_server``) reaches it the way an application does: a process started
with ``REDIS_URL`` pointing there, calling ``mailer.send_email`` and friends.

``call_api(redis_url, [("send_email", args, kwargs), ...])`` returns each call's result,
JSON-decoded; the calls travel as JSON on stdin (``python -m tests.support.api_process``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from tests.support.worker import REPO_ROOT

Call = tuple[str, Sequence[Any], Mapping[str, Any]]


def call_api(redis_url: str, calls: Sequence[Call], timeout_s: float = 60.0) -> list[Any]:
    """Run ``calls`` in order in one child process; raise with its output if one fails."""
    payload = json.dumps([[name, list(args), dict(kwargs)] for name, args, kwargs in calls])
    result = subprocess.run(
        [sys.executable, "-m", "tests.support.api_process"],
        input=payload,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "REDIS_URL": redis_url},
        timeout=timeout_s,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"mailer API calls failed:\n{result.stdout}\n{result.stderr}")
    results: list[Any] = json.loads(result.stdout)
    return results


def _main() -> None:
    import mailer

    results = []
    for name, args, kwargs in json.load(sys.stdin):
        results.append(_jsonable(getattr(mailer, name)(*args, **kwargs)))
    json.dump(results, sys.stdout)


def _jsonable(value: Any) -> Any:
    """Results as plain data: a dataclass (a ``Delivery``) as its fields."""
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json.loads(json.dumps(dataclasses.asdict(value), default=str))
    return value


if __name__ == "__main__":
    _main()
