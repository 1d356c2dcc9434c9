"""A transactional email renders while the gate's answer is on its way; news waits for the
answer, which may drop a recipient or change its unsubscribe link. Either way the gate's
verdict rules: a message already sent is not sent again (one another worker holds is put back:
``test_send_once``, through the same path)."""

from __future__ import annotations

from typing import Any

import pytest

from mailer import send_email, settings, stores
from mailer.backends import memory
from mailer.stores.send_gate import SendGate
from mailer.templates import Templates
from mailer.worker.settler import Settler
from tests.support.brokers import drain

WELCOME = {"name": "Ann"}
NEW_POST = {"title": "Hello", "url": "https://example.com/p/1", "excerpt": "First post"}


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The order of the gate's call, its answer being read, and the render."""
    seen: list[str] = []
    call_ahead, begin = Settler.call_ahead, SendGate.begin
    render = Templates.render

    def recorded_call_ahead(self: Settler, *args: Any) -> Any:
        answer = call_ahead(self, *args)
        seen.append("gate sent")

        def read() -> Any:
            seen.append("gate read")
            return answer()

        return read

    def recorded_begin(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append("gate sent and read")
        return begin(self, *args, **kwargs)

    def recorded_render(self: Templates, *args: Any, **kwargs: Any) -> Any:
        seen.append("render")
        return render(self, *args, **kwargs)

    monkeypatch.setattr(Settler, "call_ahead", recorded_call_ahead)
    monkeypatch.setattr(SendGate, "begin", recorded_begin)
    monkeypatch.setattr(Templates, "render", recorded_render)
    return seen


def test_a_transactional_email_renders_while_the_gates_answer_is_on_its_way(
    stub_broker, stub_worker, steps
):
    send_email("welcome", to="ann@example.com", context=WELCOME)
    drain(stub_broker, stub_worker)

    assert steps == ["gate sent", "render", "gate read"]
    assert [email.to for email in memory.sent()] == [["ann@example.com"]]


def test_news_renders_once_the_gate_has_answered(stub_broker, stub_worker, steps):
    send_email("new_post", to="bob@example.com", context=NEW_POST)
    drain(stub_broker, stub_worker)

    assert steps == ["gate sent and read", "render"]
    assert len(memory.sent()) == 1


def test_a_message_sent_already_is_skipped_though_it_rendered_ahead(
    stub_broker, stub_worker, steps
):
    message_id = send_email("welcome", to="ann@example.com", context=WELCOME)
    receipts = stores.for_settings(settings.current()).receipts
    receipts.record(message_id, "memory", "memory-earlier")  # another worker sent it
    drain(stub_broker, stub_worker)

    assert steps == ["gate sent", "render", "gate read"]
    assert memory.sent() == []
