"""``python -m mailer.cli``: the ``mailer`` command."""

import sys

from mailer.cli.main import main

sys.exit(main())
