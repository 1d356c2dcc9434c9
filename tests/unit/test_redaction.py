import logging

import dramatiq

from mailer import log_redaction as redaction


def test_dramatiq_log_lines_show_a_message_as_its_actor_and_id(caplog):
    redaction.install()
    redaction.install()  # idempotent
    logger = logging.getLogger("dramatiq.worker.WorkerThread")
    assert sum(isinstance(f, redaction.MessageRedaction) for f in logger.filters) == 1
    message = dramatiq.Message(
        queue_name="mailer_high",
        actor_name="send_welcome",
        args=({"to": ["ann@example.com"]}, {"name": "Ann"}),
        kwargs={},
        options={},
    )
    with caplog.at_level(logging.INFO, logger="dramatiq"):
        logger.info("Failed to process message %s with expected exception %s.", message, "E")
    assert caplog.messages == [
        f"Failed to process message send_welcome[{message.message_id}] with expected exception E."
    ]
