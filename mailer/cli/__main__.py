"""``python -m mailer.cli``: the ``mailer`` command."""

from mailer.cli.main import main

main()
