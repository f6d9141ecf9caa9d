"""E-mail for browser tests: a real SMTP sink, and the outbox delivered in the test process.

The live server serves the session `app` in a thread, so pointing `app.config` at the sink
points the web requests at it too. Redis is pointed at a closed port: enqueueing after a
commit is best-effort (the row stays queued), and the test delivers the queued rows itself
with `mailers.jobs.deliver`, exactly what the RQ job runs. No worker, and no Redis shared
with anything else that could pick the jobs up.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select

from mailers import jobs, smtp
from models.db import db
from models.outbox import MailStatus, OutboundEmail
from tests.mailers.conftest import Received, Sink

# Nothing listens on port 1: connecting is refused at once, so enqueue() returns False quickly.
UNREACHABLE_REDIS_URL = "redis://127.0.0.1:1/0"
_KEYS = ("MAIL_SERVER", "MAIL_PORT", "MAIL_TIMEOUT", "REDIS_URL")


@contextmanager
def sending_to_sink(app) -> Iterator[Sink]:
    """An aiosmtpd sink on a free port; the app sends to it until the block ends."""
    sink = Sink()
    sink.start()
    saved = {key: app.config.get(key) for key in _KEYS}
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=sink.port, MAIL_TIMEOUT=5,
                      REDIS_URL=UNREACHABLE_REDIS_URL)
    app.extensions.pop("dossier_redis", None)
    smtp.close()
    try:
        yield sink
    finally:
        smtp.close()
        for client in app.extensions.pop("dossier_redis", {}).values():
            client.close()
        app.config.update(saved)
        sink.stop()


def deliver_queued(app) -> list[int]:
    """Deliver every queued outbox row, as the worker would; each must be sent."""
    with app.app_context():
        ids = list(db.session.scalars(
            select(OutboundEmail.id).where(OutboundEmail.status == MailStatus.queued).order_by(OutboundEmail.id)
        ))
        results = {email_id: jobs.deliver(email_id) for email_id in ids}
    assert ids, "nothing was queued"
    assert set(results.values()) == {"sent"}, results
    return ids


def link_in(message: Received, path_prefix: str, base_url: str) -> str:
    """The one secret link under `path_prefix` in the message, moved from the configured
    BASE_URL (https://dossier.example in tests) to the live server's `base_url`."""
    pattern = re.compile(r"https://dossier\.example(" + re.escape(path_prefix) + r"[A-Za-z0-9_\-]+)")
    links = set(pattern.findall(message.text))
    assert len(links) == 1, f"expected one {path_prefix} link in:\n{message.text}"
    path = links.pop()
    assert path in message.html, "the HTML part carries a different link"
    return base_url + path
