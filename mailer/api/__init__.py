"""The calls an application makes, one module per purpose: each checks its arguments in the
caller's process, then enqueues or reads, and turns Redis being away into ``BrokerUnavailable``.

``mailer/__init__.py`` re-exports them; nothing here builds the broker at import.
"""
