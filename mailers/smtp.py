"""SMTP delivery: plain smtplib with a timeout, and an honest answer about refused recipients.

Not Flask-Mail's `Mail.send`: it opens smtplib without a timeout (a server that stops
answering would hang the worker) and drops the dict of refused recipients that `sendmail`
returns (staff see who was refused). Its MAIL_* settings are read here the same way.

The connection is kept per process: open through a batch and the batches after it. A
kept connection the server has closed meanwhile is opened again, once.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass

from flask import current_app


class TemporaryFailure(Exception):
    """Try again later: connection trouble or a 4xx answer."""


class Unreachable(TemporaryFailure):
    """No usable connection to the server at all: every message waiting behind this one
    would fail the same way, so a batch stops trying (instead of a timeout per message)."""


class PermanentFailure(Exception):
    """Do not retry: a 5xx answer (or nobody at all accepted the message)."""


@dataclass
class Sent:
    refused: dict[str, str]  # address -> the server's answer


_connection: smtplib.SMTP | None = None
_settings: tuple | None = None  # what _connection was opened with


def _current_settings() -> tuple:
    c = current_app.config
    return (c["MAIL_SERVER"], c["MAIL_PORT"], c["MAIL_USE_SSL"], c["MAIL_USE_TLS"],
            c["MAIL_USERNAME"], c["MAIL_PASSWORD"], c["MAIL_TIMEOUT"])


def _connect(settings: tuple) -> smtplib.SMTP:
    server, port, use_ssl, use_tls, username, password, timeout = settings
    connection = (smtplib.SMTP_SSL if use_ssl else smtplib.SMTP)(server, port, timeout=timeout)
    try:
        if use_tls:
            connection.starttls()
        if username:
            connection.login(username, password or "")
    except BaseException:
        connection.close()
        raise
    return connection


def _open() -> smtplib.SMTP:
    """The kept connection, or a new one (also when the MAIL_* settings changed).
    Any failure to connect, greet, start TLS or log in is Unreachable."""
    global _connection, _settings
    settings = _current_settings()
    if _connection is not None and _settings == settings:
        return _connection
    close()
    try:
        _connection, _settings = _connect(settings), settings
    except (OSError, smtplib.SMTPException) as error:
        raise Unreachable(f"{type(error).__name__}: {error}") from error
    return _connection


def close() -> None:
    global _connection
    if _connection is not None:
        try:
            _connection.quit()
        except (smtplib.SMTPException, OSError):
            _connection.close()
    _connection = None


def _answer(code: int, text: bytes | str) -> str:
    text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return f"{code} {text}".strip()


def _closed_by_server(error: smtplib.SMTPException) -> bool:
    """Dropped, or 421: what a server says as it closes a connection (idle too long, or
    enough messages on it). Nothing was accepted: sending again on a new one is safe."""
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return any(code == 421 for code, _ in error.recipients.values())
    return getattr(error, "smtp_code", None) == 421


def send(envelope_from: str, recipients: list[str], data: bytes) -> Sent:
    """Deliver once, with the recipients the server refused; raises Unreachable,
    TemporaryFailure or PermanentFailure. After an error the connection is closed: the
    next message starts on a fresh one."""
    try:
        try:
            refused = _open().sendmail(envelope_from, recipients, data)
        except smtplib.SMTPException as error:
            if not _closed_by_server(error):
                raise
            close()  # the server has closed the kept connection: once more, on a new one
            refused = _open().sendmail(envelope_from, recipients, data)
    except smtplib.SMTPServerDisconnected as error:
        close()
        raise TemporaryFailure(f"disconnected: {error}") from error
    except smtplib.SMTPRecipientsRefused as error:
        close()
        answers = {address: _answer(code, text) for address, (code, text) in error.recipients.items()}
        if any(400 <= code < 500 for code, _ in error.recipients.values()):
            raise TemporaryFailure("; ".join(answers.values())) from error
        raise PermanentFailure(
            "all recipients refused: " + "; ".join(f"{a}: {m}" for a, m in answers.items())
        ) from error
    except smtplib.SMTPResponseException as error:
        close()
        answer = _answer(error.smtp_code, error.smtp_error)
        if 400 <= error.smtp_code < 500:
            raise TemporaryFailure(answer) from error
        raise PermanentFailure(answer) from error
    except (OSError, smtplib.SMTPException) as error:
        close()
        raise TemporaryFailure(f"{type(error).__name__}: {error}") from error
    except BaseException:
        close()  # stopped mid-dialogue (an address smtplib cannot encode, a job timeout): start afresh
        raise
    return Sent(refused={address: _answer(code, text) for address, (code, text) in refused.items()})
