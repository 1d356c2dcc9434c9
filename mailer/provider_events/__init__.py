"""What the providers say happened to a message after they accepted it, checked and normalised.

Amazon SES publishes its events through SNS (``sns`` checks the envelope's signature, ``ses``
reads the event inside); SendGrid posts signed batches (``sendgrid``). Both become
``ProviderEvent`` values with one of mailer's statuses, which ``mailer.stores.delivery_events``
applies to the delivery log and the suppression list, and ``mailer.web.webhooks`` receives.
"""

from __future__ import annotations

from mailer.provider_events.events import (
    MESSAGE_ID_ARG,
    PROVIDER_STATUSES,
    ProviderEvent,
    RefusedEvent,
)

__all__ = ["MESSAGE_ID_ARG", "PROVIDER_STATUSES", "ProviderEvent", "RefusedEvent"]
