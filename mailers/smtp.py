"""SMTP delivery with a timeout and an honest answer about refused recipients.

Sending goes through smtplib directly because Flask-Mail sets no connection timeout and
drops `sendmail`'s dict of refused recipients. The connection is kept per worker process
and reused across a batch and the jobs after it; a connection the server has closed in
between is opened again once.
"""

from __future__ import annotations

import smtplib
import socket
from dataclasses import dataclass

from flask import current_app


class TemporaryFailure(Exception):
    """Try again later: connection trouble or a 4xx answer."""


class Unreachable(TemporaryFailure):
    """No connection to the server at all: every message waiting behind this one would fail
    the same way, so a batch stops trying (instead of waiting for a timeout per message)."""


class PermanentFailure(Exception):
    """Do not retry: a 5xx answer (or nobody at all accepted the message)."""


@dataclass
class Sent:
    refused: dict[str, str]


_connection: smtplib.SMTP | None = None
_connection_key: tuple | None = None


def _settings_key() -> tuple:
    c = current_app.config
    return (c["MAIL_SERVER"], c["MAIL_PORT"], c["MAIL_USE_SSL"], c["MAIL_USE_TLS"], c["MAIL_USERNAME"])


def _connect() -> smtplib.SMTP:
    c = current_app.config
    timeout = c["MAIL_TIMEOUT"]
    if c["MAIL_USE_SSL"]:
        conn = smtplib.SMTP_SSL(c["MAIL_SERVER"], c["MAIL_PORT"], timeout=timeout)
    else:
        conn = smtplib.SMTP(c["MAIL_SERVER"], c["MAIL_PORT"], timeout=timeout)
    if c["MAIL_USE_TLS"]:
        conn.starttls()
    if c["MAIL_USERNAME"]:
        conn.login(c["MAIL_USERNAME"], c["MAIL_PASSWORD"] or "")
    return conn


def _get_connection() -> smtplib.SMTP:
    global _connection, _connection_key
    key = _settings_key()
    if _connection is not None and _connection_key == key:
        return _connection
    close()
    _connection, _connection_key = _connect(), key
    return _connection


def close() -> None:
    global _connection
    if _connection is not None:
        try:
            _connection.quit()
        except (smtplib.SMTPException, OSError):
            pass
    _connection = None


def _answer(code: int, text: bytes | str) -> str:
    text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return f"{code} {text}".strip()


def send(envelope_from: str, recipients: list[str], data: bytes) -> Sent:
    """Deliver once. Raises TemporaryFailure or PermanentFailure; returns refused addresses."""
    for attempt in (1, 2):
        try:
            try:
                conn = _get_connection()
            except (OSError, smtplib.SMTPServerDisconnected) as error:
                close()
                raise Unreachable(f"{type(error).__name__}: {error}") from error
            refused = conn.sendmail(envelope_from, recipients, data)
            return Sent(refused={addr: _answer(code, msg) for addr, (code, msg) in refused.items()})
        except smtplib.SMTPServerDisconnected as error:
            close()  # a kept connection the server has closed: reconnect once
            if attempt == 2:
                raise TemporaryFailure(f"disconnected: {error}") from error
        except smtplib.SMTPRecipientsRefused as error:
            close()
            answers = {addr: _answer(code, msg) for addr, (code, msg) in error.recipients.items()}
            if any(400 <= code < 500 for code, _ in error.recipients.values()):
                raise TemporaryFailure("; ".join(answers.values())) from error
            raise PermanentFailure("all recipients refused: " + "; ".join(f"{a}: {m}" for a, m in answers.items())) from error
        except smtplib.SMTPResponseException as error:
            close()
            answer = _answer(error.smtp_code, error.smtp_error)
            if 400 <= error.smtp_code < 500:
                raise TemporaryFailure(answer) from error
            raise PermanentFailure(answer) from error
        except (OSError, socket.timeout, smtplib.SMTPException) as error:
            close()
            raise TemporaryFailure(f"{type(error).__name__}: {error}") from error
    raise TemporaryFailure("unreachable")
