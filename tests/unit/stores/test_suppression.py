"""The suppression list, the worker's check of it, and the unsubscribe link and endpoint."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from mailer import send_email, settings, stores
from mailer.api import suppression as suppressing
from mailer.backends import memory
from mailer.errors import ConfigurationError, InvalidAddress, InvalidToken, ValidationError
from mailer.settings import Settings
from mailer.stores import keys as store
from mailer.stores import redis_client
from mailer.stores.suppression import SuppressionList
from mailer.web import unsubscribe
from mailer.worker.unsubscribe_links import address_of, unsubscribe_url
from tests.support.brokers import drain

SECRET = "s" * 40
NEWS = {"title": "T", "url": "https://example.com/p", "excerpt": "E"}


@pytest.fixture(autouse=True)
def empty_list(mailer_settings: Settings) -> Iterator[None]:
    redis_client(settings.current().redis_url).delete(store.key("suppressed"))
    yield
    redis_client(settings.current().redis_url).delete(store.key("suppressed"))


@pytest.fixture
def public(mailer_settings: Settings) -> Settings:
    configured = dataclasses.replace(
        mailer_settings, secret_key=SECRET, public_url="https://app.example"
    )
    settings.configure(configured)
    return configured


def test_addresses_are_suppressed_by_mailbox_whatever_their_form():
    assert suppressing.suppress(["Ann <Ann@Example.com>", "bob@example.com"], "bounced") == 2
    assert suppressing.suppress("ann@example.com") == 0  # already there: not new
    assert suppressing.is_suppressed("ANN@example.COM")
    entry = suppressed_list().get("ann@example.com")
    assert entry is not None and entry.reason == "manual"
    assert {s.address for s in suppressed_list()} == {"ann@example.com", "bob@example.com"}
    assert suppressing.unsuppress("Bob <bob@example.com>") == 1
    assert not suppressing.is_suppressed("bob@example.com")


def test_a_bad_call_changes_nothing():
    with pytest.raises(InvalidAddress):
        suppressing.suppress(["ann@example.com", "not an address"])
    with pytest.raises(ValidationError, match="reason"):
        suppressing.suppress("ann@example.com", reason="because")
    assert len(suppressed_list()) == 0


def test_a_suppressed_recipient_is_skipped_and_logged(stub_broker, stub_worker):
    suppressing.suppress("ann@example.com", "unsubscribed")
    skipped = send_email("new_post", to="ann@example.com", context=NEWS)
    sent = send_email("new_post", to="bob@example.com", context=NEWS)
    drain(stub_broker, stub_worker)
    assert [email.message_id for email in memory.sent()] == [sent]
    record = stores.for_settings(settings.current()).delivery_log.get(skipped)
    assert record is not None and record.status == "suppressed"
    assert "ann@example.com" in (record.attempts[-1].error or "")


def test_suppressed_copies_are_dropped_and_the_rest_sent(stub_broker, stub_worker):
    suppressing.suppress("cc@example.com")
    send_email(
        "new_post", to="ann@example.com", cc=["cc@example.com", "dan@example.com"], context=NEWS
    )
    drain(stub_broker, stub_worker)
    [email] = memory.sent()
    assert email.recipients == ["ann@example.com", "dan@example.com"]


def test_transactional_types_are_exempt(stub_broker, stub_worker):
    suppressing.suppress("ann@example.com", "unsubscribed")
    send_email(
        "password_reset",
        to="ann@example.com",
        context={"name": "A", "reset_url": "https://x.example/r"},
    )
    drain(stub_broker, stub_worker)
    [email] = memory.sent()
    assert "List-Unsubscribe" not in email.headers


def test_news_carries_a_one_click_unsubscribe_link(public, stub_broker, stub_worker):
    send_email("new_post", to="Ann <Ann@example.com>", context=NEWS)
    drain(stub_broker, stub_worker)
    [email] = memory.sent()
    assert email.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = email.headers["List-Unsubscribe"].strip("<>")
    assert url.startswith("https://app.example/unsubscribe/")
    assert url in (email.html or "")  # the footer's link is the same one
    assert address_of(public, urlsplit(url).path.rsplit("/", 1)[1]) == "ann@example.com"


def test_an_apps_own_unsubscribe_header_is_kept(public, stub_broker, stub_worker):
    own = "<mailto:leave@example.com>"
    send_email("new_post", to="ann@example.com", context=NEWS, headers={"List-Unsubscribe": own})
    drain(stub_broker, stub_worker)
    [email] = memory.sent()
    assert email.headers["List-Unsubscribe"] == own


def _call(app_settings: Settings, method: str, path: str, body: bytes = b"") -> tuple[str, str]:
    answer: list[str] = []
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    app = unsubscribe.app_for(app_settings)
    chunks = app(environ, lambda status, headers: answer.append(status))
    return answer[0], b"".join(chunks).decode()


def test_one_click_post_unsubscribes(public):
    path = urlsplit(unsubscribe_url(public, "ann@example.com") or "").path
    status, page = _call(public, "POST", path, b"List-Unsubscribe=One-Click")
    assert status.startswith("200") and "a**@example.com" in page
    assert suppressed_list().get("ann@example.com").reason == "unsubscribed"


def test_a_visit_only_asks(public):
    path = urlsplit(unsubscribe_url(public, "ann@example.com") or "").path
    status, page = _call(public, "GET", path)
    assert status.startswith("200") and "<form" in page
    assert not suppressing.is_suppressed("ann@example.com")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        lambda token: "Ym9iQGV4YW1wbGUuY29t" + token[token.index(".") :],  # bob's address
        lambda token: "garbage",
    ],
)
def test_a_forged_token_is_refused(public, tamper):
    token = urlsplit(unsubscribe_url(public, "ann@example.com") or "").path.rsplit("/", 1)[1]
    status, page = _call(public, "POST", f"/unsubscribe/{tamper(token)}")
    assert status.startswith("400") and "not valid" in page
    assert len(suppressed_list()) == 0


def test_a_link_from_another_key_is_refused(public):
    other = dataclasses.replace(public, secret_key="t" * 40)
    token = urlsplit(unsubscribe_url(other, "ann@example.com") or "").path.rsplit("/", 1)[1]
    with pytest.raises(InvalidToken):
        address_of(public, token)


def test_no_link_without_a_public_url(mailer_settings):
    without = dataclasses.replace(mailer_settings, public_url=None)
    assert unsubscribe_url(without, "ann@example.com") is None


def test_news_without_its_link_is_refused_at_the_call_site_naming_what_is_missing(
    mailer_settings, stub_broker
):
    from mailer import send_bulk, send_email, settings

    settings.configure(dataclasses.replace(mailer_settings, public_url=None, secret_key=None))
    post = {"title": "Spring", "url": "https://x.test/1", "excerpt": "New."}
    for call in (
        lambda: send_email("new_post", "ann@example.com", post),
        lambda: send_bulk("new_post", ["ann@example.com"], post),
    ):
        with pytest.raises(ConfigurationError) as caught:
            call()
        assert caught.value.variable == "MAILER_PUBLIC_URL and MAILER_SECRET_KEY"
        assert "required to send new_post" in str(caught.value)
    assert send_email("welcome", "ann@example.com", {"name": "Ann"})  # transactional: no link
    assert sum(len(queue.queue) for queue in stub_broker.queues.values()) == 1


def test_the_suppress_command_adds_lists_and_removes(capsys):
    from mailer.cli.main import main

    assert main(["suppress", "add", "ann@example.com", "Bob <bob@example.com>"]) == 0
    assert "2 added, 0 already suppressed" in capsys.readouterr().out
    assert main(["suppress", "add", "--reason", "bounced", "ann@example.com"]) == 0
    assert main(["suppress", "list"]) == 0
    listing = capsys.readouterr().out
    assert (
        "ann@example.com" in listing and "bounced" in listing and "2 suppressed in all" in listing
    )
    assert main(["suppress", "remove", "bob@example.com"]) == 0
    assert main(["suppress", "remove", "bob@example.com"]) == 1  # nothing left to remove
    assert main(["suppress", "add", "not an address"]) == 2
    assert "addresses:" in capsys.readouterr().err


def suppressed_list() -> SuppressionList:
    return stores.for_settings(settings.current()).suppression
