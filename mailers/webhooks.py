"""The RQ job that posts webhook deliveries: signed, with short timeouts, every attempt kept.

One job carries up to queue.WEBHOOKS.batch_size delivery ids. The worker claims them in one
statement, then posts them one by one and commits each outcome as it comes (an HTTP request
takes far longer than a commit). An endpoint that gives no answer at all (refused, timed
out) is not tried again within the batch: its other deliveries share that outcome (it counts
as their try, without an attempt row) and wait for the same retry, so a dead endpoint
holds the worker (which also sends the e-mail) for one timeout per batch, not one per
delivery, and its deliveries give up together after the retry schedule. A 2xx ends a delivery; anything else (no connection, a
timeout, a redirect, a 4xx or 5xx) is retried after WEBHOOK_RETRY_DELAYS, some 3 days in
all, and then the delivery fails. A worker killed between a post and its commit leaves the
row claimed; it is taken again after the claim lease, so a receiver may see a delivery
twice (at least once): Dossier-Delivery names it the same both times.

The HTTP client is the standard library's http.client, connected to the address this module
resolved and checked (models.services.webhooks.address_allowed), so a host name that
resolves to an internal address is refused at the moment of sending, not only when saved.
Redirects are not followed.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import socket
import ssl
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app
from rq.timeouts import BaseTimeoutException

from mailers import metrics
from mailers.queue import WEBHOOKS, enqueue_retry
from models.db import db
from models.services import webhooks

log = logging.getLogger(__name__)
USER_AGENT = "Dossier-Webhooks/1"
RESPONSE_EXCERPT = 300  # characters of a refusing answer's body kept for staff
READ_LIMIT = 64 * 1024  # what is read of an answer at most (the rest is not waited for)


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer at all
    error: str | None  # None: delivered (2xx)
    duration_ms: int


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address given, whatever the host name resolves to now."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the address given, verifying the certificate for the host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext):
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_http: bool,
         allow_private: bool) -> Answer:
    """POST `body` to `url`; what came of it. Never raises for anything the network does."""
    started = time.monotonic()

    def answer(status: int | None, error: str | None) -> Answer:
        return Answer(status, error, int((time.monotonic() - started) * 1000))

    parts = urlsplit(url)
    https = parts.scheme.lower() == "https"
    if not https and not (parts.scheme.lower() == "http" and allow_http):
        return answer(None, "refused: the URL must use https")
    host = parts.hostname or ""
    port = parts.port or (443 if https else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        return answer(None, f"could not resolve {host}: {error}")
    addresses = [info[4][0] for info in infos]
    usable = [a for a in addresses
              if webhooks.address_allowed(ipaddress.ip_address(a.split("%")[0]), allow_http=allow_http,
                                          allow_private=allow_private)]
    if not usable:
        return answer(None, f"refused: {host} resolves to an internal address ({addresses[0]})")
    connection: http.client.HTTPConnection = (
        _PinnedHTTPSConnection(host, port, usable[0], timeout, ssl.create_default_context()) if https
        else _PinnedHTTPConnection(host, port, usable[0], timeout)
    )
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        excerpt = response.read(READ_LIMIT)[:RESPONSE_EXCERPT * 4].decode("utf-8", "replace")[:RESPONSE_EXCERPT]
        if 200 <= response.status < 300:
            return answer(response.status, None)
        said = " ".join(excerpt.split())
        return answer(response.status, f"HTTP {response.status} {response.reason}" + (f": {said}" if said else ""))
    except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out, TLS, bad answer
        return answer(None, f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)
    finally:
        connection.close()


def retry_delays() -> list[int]:
    return current_app.config["WEBHOOK_RETRY_DELAYS"]


def deliver(delivery_id: int) -> str:
    """Deliver one row. Returns what happened (for logs and tests)."""
    return deliver_batch([delivery_id]).get(delivery_id, "skipped")


def deliver_batch(delivery_ids: list[int]) -> dict[int, str]:
    """Post the claimable ones of these rows; returns id -> "delivered", "retry" or "failed"."""
    try:
        rows = webhooks.claim_batch(delivery_ids)
        return _run(rows) if rows else {}
    finally:
        db.session.remove()  # jobs share the worker's app context: start each one clean


def _run(rows) -> dict[int, str]:
    endpoints = webhooks.endpoints_by_id({row.endpoint_id for row in rows})
    db.session.rollback()  # no transaction held open across the HTTP requests
    config = current_app.config
    rules = webhooks.policy()
    delays = retry_delays()
    results: dict[int, str] = {}
    retries: dict[int, list[int]] = defaultdict(list)
    silent: dict[int, str] = {}  # endpoint id -> the error it gave in this batch (no HTTP answer)
    for row in rows:
        endpoint = endpoints.get(row.endpoint_id)
        if endpoint is None or not endpoint.active:
            webhooks.record_attempt(row.id, status_code=None, error="Not sent: the endpoint is disabled.",
                                    duration_ms=0, outcome="failed", attempted=False)
            results[row.id] = "failed"
        elif row.endpoint_id in silent:
            error = f"Not tried: another delivery to this endpoint got no answer: {silent[row.endpoint_id]}"
            if row.attempts > len(delays):
                outcome, delay, error = "failed", None, f"gave up after {row.attempts} attempts: {error}"
            else:
                outcome, delay = "retry", delays[row.attempts - 1]
            webhooks.record_attempt(row.id, status_code=None, error=error, duration_ms=0, outcome=outcome,
                                    retry_in=timedelta(seconds=delay) if delay else None, attempted=False)
            if delay is not None:
                retries[delay].append(row.id)
            results[row.id] = outcome
        else:
            body = row.body.encode()
            stamp = int(time.time())
            secrets_ = webhooks.signing_secrets(endpoint.secret, endpoint.previous_secret,
                                                endpoint.previous_secret_expires_at)
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "Dossier-Event": row.event_type,
                "Dossier-Delivery": str(row.id),
                "Dossier-Signature": webhooks.signature_header(secrets_, stamp, body),
            }
            try:
                answer = post(endpoint.url, body, headers, timeout=config["WEBHOOK_TIMEOUT"], **rules)
            except BaseTimeoutException:
                raise
            except Exception as error:  # a bug here: fail the attempt visibly, don't lose the row
                log.exception("webhook delivery %s could not be posted", row.id)
                answer = Answer(None, f"internal error: {type(error).__name__}: {error}", 0)
            if answer.error is None:
                outcome, delay = "delivered", None
            elif row.attempts > len(delays):
                outcome, delay = "failed", None
            else:
                outcome, delay = "retry", delays[row.attempts - 1]
            error = answer.error
            if outcome == "failed" and error:
                error = f"gave up after {row.attempts} attempts: {error}"
            webhooks.record_attempt(row.id, status_code=answer.status, error=error, duration_ms=answer.duration_ms,
                                    outcome=outcome, retry_in=timedelta(seconds=delay) if delay else None)
            if delay is not None:
                retries[delay].append(row.id)
            if answer.status is None and answer.error is not None:
                silent[row.endpoint_id] = answer.error
            results[row.id] = outcome
        db.session.commit()
        metrics.webhook_delivered(results[row.id])
    for delay, ids in retries.items():
        enqueue_retry(ids, timedelta(seconds=delay), WEBHOOKS)
    return results
