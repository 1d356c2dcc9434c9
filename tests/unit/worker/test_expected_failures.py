"""Dramatiq's worker logs each exception an actor raises with its traceback; mailer keeps that
for the unexpected ones and for ``--verbose``."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest

from mailer.errors import TransientSendError
from mailer.middleware.redeliveries import WORKER_LOGGER, quiet_expected_failures


@pytest.fixture
def worker_logger() -> Iterator[logging.Logger]:
    quiet_expected_failures()
    logger = logging.getLogger(WORKER_LOGGER)
    level = logger.level
    yield logger
    logger.setLevel(level)


def _shown(logger: logging.Logger, error: BaseException) -> bool:
    try:
        raise error
    except BaseException:
        record = logger.makeRecord(
            logger.name, logging.ERROR, __file__, 1, "unhandled exception", (), sys.exc_info()
        )
    return all(f.filter(record) for f in logger.filters)  # type: ignore[union-attr]


def test_a_send_error_loses_its_traceback_unless_verbose(worker_logger: logging.Logger) -> None:
    worker_logger.setLevel(logging.INFO)
    assert not _shown(worker_logger, TransientSendError("smtp", "try later", status=451))
    assert _shown(worker_logger, KeyError("a bug"))
    worker_logger.setLevel(logging.DEBUG)  # what ``dramatiq --verbose`` sets
    assert _shown(worker_logger, TransientSendError("smtp", "try later", status=451))
