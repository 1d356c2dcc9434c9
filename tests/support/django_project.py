"""A Django project's settings for the backend's tests, as an app sets them: configured once per
process (Django allows no more), mail through mailer."""

from __future__ import annotations

SHOP = "Shop <shop@example.com>"
ADMIN = "ops@example.com"


def configure_django() -> None:
    import django
    from django.conf import settings

    if settings.configured:
        return
    settings.configure(
        EMAIL_BACKEND="mailer.integrations.django.EmailBackend",
        DEFAULT_FROM_EMAIL=SHOP,
        SERVER_EMAIL="Errors <errors@example.com>",
        ADMINS=[("Ops", ADMIN)],
        EMAIL_SUBJECT_PREFIX="[Shop] ",
        USE_TZ=True,
    )
    django.setup()
