"""The email actors on a StubBroker and the memory backend: sent, retried, dead-lettered."""

from __future__ import annotations

from mailer import send_email
from mailer.actors import emails
from mailer.backends import memory
from mailer.errors import PermanentSendError, Throttled, TransientSendError
from mailer.priorities import LEVELS
from tests.support.brokers import dead_letters, drain


def test_worker_renders_and_sends(stub_broker, stub_worker):
    message_id = send_email(
        "welcome", to="Ann <ann@example.com>", context={"name": "Ann <3"}, bcc="audit@example.com"
    )
    drain(stub_broker, stub_worker)
    [sent] = memory.sent()
    assert sent.message_id == message_id
    assert sent.to == ["Ann <ann@example.com>"]
    assert sent.recipients == ["ann@example.com", "audit@example.com"]
    assert "Ann" in sent.subject
    assert "Ann &lt;3" in (sent.html or "")
    assert "Ann <3" in sent.text
    assert sent.from_email == "Shop <shop@example.com>"
    assert sent.tags == ["welcome"]


def test_transient_errors_retry_until_delivered_once(stub_broker, stub_worker, fast_retries):
    memory.fail_next(
        TransientSendError("memory", "try later", status=451),
        Throttled("memory", "slow down", status=429),
    )
    send_email("welcome", to="ann@example.com", context={"name": "Ann"})
    drain(stub_broker, stub_worker)
    assert len(memory.sent()) == 1
    assert dead_letters(stub_broker) == []


def test_permanent_errors_are_dead_lettered_without_retry(stub_broker, stub_worker, fast_retries):
    memory.fail_next(PermanentSendError("memory", "mailbox unavailable", status=550))
    send_email("welcome", to="ann@example.com", context={"name": "Ann"})
    drain(stub_broker, stub_worker)
    assert memory.sent() == []
    [dead] = dead_letters(stub_broker)
    assert dead.actor_name == "send_welcome"
    assert dead.options.get("retries", 0) == 0


def test_transient_errors_stop_after_the_types_retry_budget(stub_broker, stub_worker, fast_retries):
    budget = emails.new_post.actor.options["max_retries"]
    memory.fail_next(*[TransientSendError("memory", "down", status=503)] * (budget + 1))
    send_email(
        "new_post",
        to="ann@example.com",
        context={"title": "T", "url": "https://example.com/p", "excerpt": "E"},
    )
    drain(stub_broker, stub_worker)
    assert memory.sent() == []
    [dead] = dead_letters(stub_broker)
    assert dead.options["retries"] == budget + 1


def test_each_type_has_its_declared_priority():
    expected = {
        "password_reset": "critical",
        "verify_email": "critical",
        "welcome": "high",
        "appointment_confirmation": "high",
        "appointment_reminder": "normal",
        "admin_alert": "normal",
        "new_post": "low",
    }
    for name, level in expected.items():
        declared = emails.EMAIL_TYPES[name]
        assert declared.priority.name == level
        assert declared.actor.queue_name == LEVELS[level].queue_name
        assert declared.actor.actor_name == f"send_{name}"
