"""The ``mailer`` subcommands that have grown past a few lines, one module each, each with a
``register(commands)`` that adds its parser to ``mailer``'s."""
