"""The ``mailer`` command run as a process, and the shape a refusal must have.

Exit status 0 is success, 2 is input or configuration the user must fix (the message names
the argument or variable), 1 is an operational failure such as an unreachable Redis. None of
them may end in a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.worker import REPO_ROOT


def mailer(
    *args: str, cwd: Path = REPO_ROOT, env: dict[str, str | None] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mailer.cli``; ``env`` entries add to the suite's, ``None`` removes one."""
    merged = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    merged["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.getenv("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "mailer.cli", *args],
        cwd=cwd,
        env=merged,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_refused(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert result.returncode == code, result
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("mailer: "), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
