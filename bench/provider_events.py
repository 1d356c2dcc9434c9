"""Provider events applied per second by one web process, with the cost of checking their
signatures measured beside it.

``mailer dashboard`` runs as deployed, in a process of its own, with a SendGrid public key the
benchmark makes. Each request is a signed SendGrid Event Webhook batch of ``--batch-size``
``delivered`` events (1,000 by default, about what SendGrid sends at once), each for a
delivery-log record written beforehand, as a worker leaves it. Bodies and signatures are made
before the clock starts; ``--clients`` connections post them at once, keep-alive.

Beside it, in this process, on the same bodies: the ECDSA check of one batch's signature,
reading its JSON into events, and the Lua call that applies it (to records of its own), so
the share of each in the web process's time per batch is plain.

    python -m bench.provider_events [--batches 20] [--batch-size 1000] [--clients 2]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import secrets
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dramatiq
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench.common import (
    HOST,
    BenchRedis,
    add_common_options,
    bench_parser,
    bench_redis,
    configure_process,
    write_json,
)
from bench.processes import DashboardProcess

TEMPLATE = "bench_events"
RUN = secrets.token_hex(4)
Body = tuple[bytes, dict[str, str]]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = _parser().parse_args(argv)
    key = ec.generate_private_key(ec.SECP256R1())
    with bench_redis(args.redis_url) as server:
        configure_process(server.url)
        os.environ["MAILER_SENDGRID_WEBHOOK_PUBLIC_KEY"] = _public_key_text(key)
        figures = run(server, key, args)
    write_json(args.json, figures)
    return figures


def run(
    server: BenchRedis, key: ec.EllipticCurvePrivateKey, args: argparse.Namespace
) -> dict[str, Any]:
    total = args.batches * args.batch_size
    print(f"provider_events: {args.batches} signed SendGrid batches of {args.batch_size} events,")
    print(
        f"  {args.clients} client(s) posting to one `mailer dashboard`, on the {server.describe()}"
    )
    ids = _seed(server, total + args.batch_size, "web")
    bodies = [_signed(key, ids[n : n + args.batch_size]) for n in range(0, total, args.batch_size)]
    spare = _signed(key, ids[total:])  # for the in-process breakdown, applied to records unused
    try:
        with DashboardProcess() as web:
            _post(web.port, [_signed(key, [])])  # the first request builds the app: not timed
            elapsed_s = _timed(lambda: _post(web.port, bodies, args.clients))
        breakdown = _breakdown(server, key, spare, args.repeat)
    finally:
        _clean(server, ids)
    return _report(total, elapsed_s, args, breakdown)


def _seed(server: BenchRedis, count: int, label: str) -> list[str]:
    """``count`` records as a worker leaves them once SendGrid accepted the message."""
    from mailer.stores.delivery_log import Attempt, DeliveryLog
    from mailer.stores.scripts import Batch

    ids = []
    with server.client() as client:
        log = DeliveryLog(client)
        for start in range(0, count, 1_000):
            batch = Batch(client)
            for n in range(start, min(start + 1_000, count)):
                message = dramatiq.Message(
                    queue_name="mailer.normal",
                    actor_name=f"send_{TEMPLATE}",
                    args=({"to": [f"bench-{RUN}-{n}@example.com"]}, {}),
                    kwargs={},
                    options={},
                )
                attempt = Attempt(time.time(), "sent", "sendgrid", provider_id=f"{RUN}-{n}")
                log.settled_into(
                    batch, message.message_id, TEMPLATE, "sent", attempt, describe=message
                )
                ids.append(message.message_id)
            batch.execute()
    return ids


def _signed(key: ec.EllipticCurvePrivateKey, ids: Sequence[str]) -> Body:
    now = int(time.time())
    events = [
        {
            "email": f"bench-{RUN}@example.com",
            "timestamp": now,
            "event": "delivered",
            "sg_event_id": secrets.token_urlsafe(16),
            "sg_message_id": f"{RUN}.filter-{n}",
            "mailer_message_id": message_id,
            "response": "250 2.0.0 OK",
        }
        for n, message_id in enumerate(ids)
    ]
    body = json.dumps(events).encode()
    stamp = str(now)
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return body, {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
    }


def _post(port: int, bodies: Sequence[Body], clients: int = 1) -> None:
    def post_share(share: Sequence[Body]) -> None:
        connection = http.client.HTTPConnection(HOST, port, timeout=60)
        try:
            for body, headers in share:
                connection.request("POST", "/webhooks/sendgrid", body, headers)
                answer = connection.getresponse()
                text = answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"the webhook answered {answer.status}: {text!r}")
        finally:
            connection.close()

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(post_share, [bodies[n::clients] for n in range(clients)]))


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _breakdown(
    server: BenchRedis, key: ec.EllipticCurvePrivateKey, spare: Body, repeat: int
) -> dict[str, float]:
    """One batch's verification, parsing and Lua apply, in ms, each the best of ``repeat``."""
    from mailer.provider_events import sendgrid
    from mailer.stores.delivery_events import DeliveryEvents

    body, headers = spare
    verifier = sendgrid.SendGridVerifier(sendgrid.load_public_key(_public_key_text(key)))
    signature = headers["X-Twilio-Email-Event-Webhook-Signature"]
    stamp = headers["X-Twilio-Email-Event-Webhook-Timestamp"]
    verify_ms = _best_ms(lambda: verifier.verify(body, signature, stamp), repeat)
    parse_ms = _best_ms(lambda: list(sendgrid.events(body)), repeat)
    with server.client() as client:
        events = list(sendgrid.events(body))
        apply_ms = _timed(lambda: DeliveryEvents(client).apply(events)) * 1000
    return {"verify_ms": verify_ms, "parse_ms": parse_ms, "apply_ms": apply_ms}


def _best_ms(call: Callable[[], object], repeat: int) -> float:
    return min(_timed(call) for _ in range(repeat)) * 1000


def _clean(server: BenchRedis, ids: Sequence[str]) -> None:
    """Remove what the run wrote to a given Redis: its records, their index entries, its
    counters (a private Redis is simply stopped)."""
    from mailer.stores.delivery_search import DeliverySearch

    if server.owned:
        return
    with server.client() as client:
        log = DeliverySearch(client)
        with client.pipeline(transaction=False) as pipe:
            for n, message_id in enumerate(ids):
                record = log.record_key(message_id)
                pipe.delete(record, record + ":attempts")
                pipe.delete(log.index_key("to", f"bench-{RUN}-{n}@example.com"))
            for index in ("all", "status:sent", "status:delivered", f"template:{TEMPLATE}"):
                pipe.zrem(log.index_key(*index.split(":")), *ids)
            for field in ("delivered|sendgrid|", "sent|sendgrid|"):
                pipe.hdel(log.metrics_key("events"), field + TEMPLATE)
            pipe.execute()
        for found in client.scan_iter(f"mailer:log:provider:sendgrid:{RUN}-*", count=1_000):
            client.delete(found)


def _report(
    total: int, elapsed_s: float, args: argparse.Namespace, breakdown: dict[str, float]
) -> dict[str, Any]:
    per_batch_ms = elapsed_s * 1000 / args.batches * args.clients
    figures: dict[str, Any] = {
        "events": total,
        "events_per_s": total / elapsed_s,
        "web_ms_per_batch": per_batch_ms,
        **breakdown,
        "verify_share": breakdown["verify_ms"] / per_batch_ms,
    }
    print(f"  {total} events in {elapsed_s:.2f} s: {figures['events_per_s']:,.0f} events/s")
    print(f"  per batch of {args.batch_size} in the web process: {per_batch_ms:.1f} ms, of which")
    print(
        f"    signature check (ECDSA P-256)  {breakdown['verify_ms']:7.2f} ms"
        f"  ({figures['verify_share']:.1%})"
    )
    print(f"    JSON into events               {breakdown['parse_ms']:7.2f} ms")
    print(f"    Lua apply (one round trip)     {breakdown['apply_ms']:7.2f} ms")
    return figures


def _public_key_text(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def _parser() -> argparse.ArgumentParser:
    parser = bench_parser("bench.provider_events", __doc__)
    parser.add_argument("--batches", type=int, default=20, help="signed batches posted")
    parser.add_argument("--batch-size", type=int, default=1_000, help="events per batch")
    parser.add_argument("--clients", type=int, default=2, help="connections posting at once")
    parser.add_argument("--repeat", type=int, default=20, help="runs of each in-process step")
    add_common_options(parser)
    return parser


if __name__ == "__main__":
    main()
