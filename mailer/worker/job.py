"""What the sender is handed for one email message, apart from the sender so that the settle
and the actors name it without importing the sender; and the render a transactional email
runs while the gate's answer is on its way (``mailer.worker.send``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import dramatiq

from mailer.envelope import Email
from mailer.masking import DEFAULT_SENSITIVE


@dataclass
class Job:
    """One email message, as the actor hands it over."""

    message: dramatiq.Message[Any]
    template: str
    email: Email
    context: Mapping[str, Any]
    transactional: bool
    actor_options: Mapping[str, Any]
    #: ``Templates.fingerprint`` of what the render used, for the log's attempt.
    template_sha: str | None = None
    #: The message carries its subject, text and HTML already (an app's own, from Django).
    prerendered: bool = False
    #: Context keys masked in what the log keeps (``email_type(..., sensitive=...)``).
    sensitive: tuple[str, ...] = DEFAULT_SENSITIVE


def rendered_now(render: Callable[[], None]) -> Callable[[], None]:
    """Render now; the function returned raises what the render raised, if anything, once
    called (where the send handles a render's failure)."""
    try:
        render()
    except Exception as err:  # a RenderError, or a bug: raised where the send expects it
        error = err

        def failed() -> None:
            raise error

        return failed
    return lambda: None
