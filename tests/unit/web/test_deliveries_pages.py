"""The /deliveries search pages through every match, with the exact number found."""

from __future__ import annotations

import html
import re

import dramatiq

from mailer import stores
from mailer.settings import Settings
from mailer.web.pages.deliveries import PAGE_ROWS
from tests.support.dashboard_client import Client


def _log_news(settings: Settings, count: int) -> None:
    messages = [
        dramatiq.Message(
            queue_name="mailer_low",
            actor_name="send_new_post",
            args=({"to": [f"user{i}@example.com"]}, {"title": "Hello"}),
            kwargs={},
            options={},
        )
        for i in range(count)
    ]
    stores.for_settings(settings).delivery_log.queued_all(messages)


def test_every_match_is_a_page_away_with_the_exact_total(
    client: Client, dashboard_settings: Settings
) -> None:
    _log_news(dashboard_settings, PAGE_ROWS + 7)
    first = client.get("/deliveries?template=new_post").body
    assert f"{PAGE_ROWS + 7} found" in first
    assert len(re.findall(r'href="/deliveries/[0-9a-f-]+"', first)) == PAGE_ROWS
    [next_link] = re.findall(r'rel="next" href="([^"]+)"', first)
    second = client.get(html.unescape(next_link)).body
    assert f"{PAGE_ROWS + 1} to {PAGE_ROWS + 7} shown" in second
    assert len(re.findall(r'href="/deliveries/[0-9a-f-]+"', second)) == 7
    assert 'rel="next"' not in second


def test_an_address_prefix_finds_the_addresses_it_starts(
    client: Client, dashboard_settings: Settings
) -> None:
    _log_news(dashboard_settings, 12)
    page = client.get("/deliveries?to=user1").body  # user1, user10, user11
    assert "3 found" in page
    assert "12 found" in client.get("/deliveries?to=%40example.com").body
    assert client.get("/deliveries?page=0").status == 400
