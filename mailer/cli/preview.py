"""``mailer preview TYPE``: render an email type to files, to look at it without sending it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mailer.cli.arguments import json_object_arg


def register(commands: Any) -> None:
    preview = commands.add_parser("preview", help="render an email type to files without sending")
    preview.add_argument("type")
    preview.add_argument("--context", help="JSON object (default: the type's sample context)")
    preview.add_argument("--out", default="preview", help="folder for the files (default: preview)")
    preview.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from mailer import settings
    from mailer.templates import for_settings

    templates = for_settings(settings.current())
    context = json_object_arg(args.context) if args.context else templates.sample_context(args.type)
    templates.check(args.type, context)
    for path in templates.write_preview(args.type, context, Path(args.out)):
        print(path)
    return 0
