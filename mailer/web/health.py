"""A health endpoint for the platform's router and uptime checks.

``GET /healthz`` answers 200 with the messages waiting per priority queue when Redis answers,
and 503 when it does not, so a load balancer stops sending traffic to a web process that
could not enqueue anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import redis

from mailer import settings as mailer_settings
from mailer.priorities import LEVELS
from mailer.stores.queue_depths import queue_depths

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    if environ.get("PATH_INFO", "/") not in ("/", "/healthz"):
        return _respond(start_response, "404 Not Found", {"error": "not found"})
    try:
        queues = _queue_sizes(mailer_settings.current().redis_url)
    except redis.RedisError as err:
        return _respond(
            start_response,
            "503 Service Unavailable",
            {"status": "down", "error": type(err).__name__},
        )
    return _respond(start_response, "200 OK", {"status": "ok", "queues": queues})


def _queue_sizes(redis_url: str) -> dict[str, int]:
    """Messages waiting or in flight per level: what the web process has handed over."""
    client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        depths = queue_depths(client)
    finally:
        client.close()
    return {
        level.name: depth.ready + depth.in_flight
        for level, depth in zip(LEVELS.values(), depths, strict=True)
    }


def _respond(start_response: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
    payload = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    )
    return [payload]
