"""``mailer types``: every email type, its priority, and the context its template needs."""

from __future__ import annotations

import argparse
from typing import Any


def register(commands: Any) -> None:
    types = commands.add_parser("types", help="list email types, their priority and context")
    types.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from mailer import settings
    from mailer.actors.emails import EMAIL_TYPES
    from mailer.templates import for_settings

    templates = for_settings(settings.current())
    for name, declared in sorted(EMAIL_TYPES.items()):
        needs = ", ".join(sorted(templates.required_variables(name)))
        print(f"{name:28} {declared.priority.name:9} {needs}")
    return 0
