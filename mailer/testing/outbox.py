"""What a test reads: the emails sent (``Outbox``, a list of ``SentEmail``), a user's
notifications, and the test's clock, which ``advance`` moves."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, overload

import dramatiq
import redis

from mailer.backends import memory
from mailer.envelope import Attachment, Email
from mailer.message import context_of, template_of
from mailer.settings import Settings
from mailer.stores.inbox import Notification, NotificationStore
from mailer.stores.keys import DEFAULT_PREFIX
from mailer.testing.inline_broker import InlineBroker


@dataclasses.dataclass(frozen=True)
class SentEmail:
    """One email as the backend got it, and what the app asked for."""

    template: str
    context: dict[str, Any]
    subject: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    reply_to: list[str]
    from_email: str
    html: str | None
    text: str
    headers: dict[str, str]
    attachments: list[Attachment]
    message_id: str


class Outbox(Sequence[SentEmail]):
    """The emails sent so far in this test, oldest first, and the test's clock."""

    def __init__(self, broker: InlineBroker, settings: Settings) -> None:
        self.broker = broker
        self.settings = settings
        self._asked: dict[str, tuple[str, dict[str, Any]]] = {}
        broker.add_middleware(_RememberWhatWasAsked(self._asked))

    @property
    def emails(self) -> list[SentEmail]:
        return [self._sent(email) for email in memory.sent()]

    @overload
    def __getitem__(self, index: int) -> SentEmail: ...
    @overload
    def __getitem__(self, index: slice) -> list[SentEmail]: ...
    def __getitem__(self, index: int | slice) -> SentEmail | list[SentEmail]:
        return self.emails[index]

    def __len__(self) -> int:
        return len(memory.sent())

    def to(self, address: str) -> list[SentEmail]:
        """The emails with ``address`` among their ``to``, ``cc`` or ``bcc``."""
        wanted = address.lower()
        return [e for e in self.emails if wanted in (a.lower() for a in _bare(e))]

    def notifications(self, user_id: str | int) -> list[Notification]:
        """Every notification ``user_id`` has, newest first, read or not."""
        store = NotificationStore(self._client(), per_user=self.settings.notifications_per_user)
        return store.page(str(user_id), limit=self.settings.notifications_per_user).items

    def advance(self, by: timedelta | None = None, **units: float) -> None:
        """Let time pass: ``advance(hours=24)``. Schedule entries due by then are sent, then
        delayed messages (``send_at`` within 15 minutes, retries) in the order they come due.
        Without an argument, the scheduler's tick runs now."""
        delta_ms = round(((by or timedelta()) + timedelta(**units)).total_seconds() * 1000)
        if delta_ms < 0:
            raise ValueError("the clock only moves forward")
        self._bring_schedules_forward(delta_ms)
        from mailer.actors.schedules import fire_due_schedules

        fire_due_schedules.send()
        self.broker.advance(delta_ms)

    @property
    def dead_letters(self) -> list[dramatiq.Message[Any]]:
        """Messages that failed for good (raised in the test as they failed)."""
        return list(self.broker.dead_letters_list)

    def clear(self) -> None:
        """Forget what was sent so far (not what is scheduled)."""
        memory.reset()

    def _sent(self, email: Email) -> SentEmail:
        template, context = self._asked.get(email.message_id or "", ("", {}))
        return SentEmail(
            template=template or (email.tags[0] if email.tags else ""),
            context=context,
            subject=email.subject,
            to=list(email.to),
            cc=list(email.cc),
            bcc=list(email.bcc),
            reply_to=list(email.reply_to),
            from_email=email.from_email,
            html=email.html,
            text=email.text,
            headers=dict(email.headers),
            attachments=list(email.attachments),
            message_id=email.message_id or "",
        )

    def _bring_schedules_forward(self, delta_ms: int) -> None:
        """Every schedule entry comes ``delta_ms`` nearer, as if that much time had passed:
        the scheduler compares them with Redis's own clock, which a test cannot move."""
        due = f"{DEFAULT_PREFIX}:schedule:due"
        client = self._client()
        entries = client.zrange(due, 0, -1, withscores=True)
        if entries:
            client.zadd(due, {key: score - delta_ms for key, score in entries})

    def _client(self) -> redis.Redis:
        from mailer import stores

        return stores.redis_client(self.settings.redis_url)


class _RememberWhatWasAsked(dramatiq.Middleware):
    """Each email's template and the context the app gave, by message id, as it is sent."""

    def __init__(self, asked: dict[str, tuple[str, dict[str, Any]]]) -> None:
        self.asked = asked

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        if message.actor_name.startswith("send_"):
            self.asked[message.message_id] = (template_of(message), dict(context_of(message)))


def _bare(email: SentEmail) -> list[str]:
    from mailer.addresses import addr_spec

    return [addr_spec(address) for address in (*email.to, *email.cc, *email.bcc)]
