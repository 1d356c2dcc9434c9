"""No news without its unsubscribe link: a worker, ``mailer send`` and ``mailer bulk`` refuse,
in one line naming the variables, while MAILER_PUBLIC_URL or MAILER_SECRET_KEY is unset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.commands import assert_refused, mailer
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

POST = {"title": "Spring", "url": "https://blog.example/spring", "excerpt": "What is new."}
UNSET = {"MAILER_PUBLIC_URL": "", "MAILER_SECRET_KEY": ""}


def test_a_worker_refuses_to_start_without_what_news_links_need() -> None:
    worker = WorkerProcess({**UNSET, "MAILER_SECRET_KEY": "s" * 40})
    worker.process.wait(timeout=30)
    worker.stop()
    refusals = [line for line in worker.output if line.startswith("mailer.")]
    assert len(refusals) == 1, worker.log()
    assert "NoUnsubscribeLinks: MAILER_PUBLIC_URL: required to send new_post" in refusals[0]
    assert "is ready for action" not in worker.log()


def test_the_commands_refuse_news_but_not_transactional_mail(tmp_path: Path) -> None:
    readers = tmp_path / "readers.csv"
    readers.write_text("email\nann@example.com\n")
    context = json.dumps(POST)
    expected = "mailer: MAILER_PUBLIC_URL and MAILER_SECRET_KEY: required to send new_post"
    for args in (
        ("send", "new_post", "--to", "ann@example.com", "--context", context),
        ("bulk", "new_post", "--recipients", str(readers), "--context", context),
    ):
        result = mailer(*args, env=UNSET)
        assert_refused(result, 2, expected)
        assert len(result.stderr.splitlines()) == 1, result.stderr
    welcome = json.dumps({"name": "Ann"})
    sent = mailer("send", "welcome", "--to", "ann@example.com", "--context", welcome, env=UNSET)
    assert sent.returncode == 0, sent.stderr
