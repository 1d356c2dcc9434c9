"""Dramatiq middleware that mailer adds to its broker (see ``mailer.broker``)."""
