"""The IMAP side of mail sync: connect over TLS, check a connection, read new messages.

Stdlib `imaplib`, not imap-tools: sync needs exactly SELECT (for UIDVALIDITY), UID SEARCH
and UID FETCH of raw RFC822 bytes, which imaplib does in a few lines; imap-tools' parsed
message objects would be thrown away (models.services.mail_sync parses the bytes itself,
so malformed mail is handled in one place) and it is one more dependency to keep.

Every failure becomes a `MailboxError` with a `kind` (auth, tls, unreachable, folder,
protocol) and a message staff can act on; the password never appears in it.
"""

from __future__ import annotations

import imaplib
import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l

FETCH_CHUNK = 50  # UIDs per UID FETCH: one round trip per batch, bounded memory
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_FETCH_UID = re.compile(rb"UID (\d+)")


class MailboxError(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Connection:
    host: str
    port: int
    security: str  # "ssl" (IMAPS) or "starttls"
    username: str
    password: str


def _context() -> ssl.SSLContext:
    """Certificates verified against the system's CAs, or MAILBOX_CA_FILE (a private CA)."""
    cafile = current_app.config.get("MAILBOX_CA_FILE") or None
    return ssl.create_default_context(cafile=cafile)


def _timeout() -> float:
    return float(current_app.config.get("MAIL_SYNC_TIMEOUT", 20))


def connect(conn: Connection) -> imaplib.IMAP4:
    """A logged-in client, or MailboxError with what went wrong."""
    try:
        if conn.security == "ssl":
            client = imaplib.IMAP4_SSL(conn.host, conn.port, ssl_context=_context(), timeout=_timeout())
        else:
            client = imaplib.IMAP4(conn.host, conn.port, timeout=_timeout())
            try:
                client.starttls(ssl_context=_context())
            except BaseException:
                client.shutdown()
                raise
    except ssl.SSLCertVerificationError as error:
        raise MailboxError("tls", str(_l("The server's TLS certificate was not accepted: %(reason)s",
                                          reason=error.verify_message or error.reason))) from error
    except ssl.SSLError as error:
        raise MailboxError("tls", str(_l("No TLS connection could be made (%(reason)s). Check the port "
                                          "and whether the server expects IMAPS or STARTTLS.",
                                          reason=error.reason or error))) from error
    except (socket.timeout, TimeoutError) as error:
        raise MailboxError("unreachable", str(_l("The server %(host)s:%(port)s did not answer in time.",
                                                  host=conn.host, port=conn.port))) from error
    except OSError as error:
        raise MailboxError("unreachable", str(_l("The server %(host)s:%(port)s cannot be reached: %(reason)s",
                                                  host=conn.host, port=conn.port,
                                                  reason=error.strerror or error))) from error
    except imaplib.IMAP4.error as error:
        raise MailboxError("tls", str(_l("The server does not offer STARTTLS: %(reason)s", reason=error))) from error
    try:
        client.login(conn.username, conn.password)
    except imaplib.IMAP4.error as error:
        _close(client)
        raise MailboxError("auth", str(_l("The server refused the user name or password."))) from error
    except OSError as error:
        _close(client)
        raise MailboxError("unreachable", str(_l("The connection was lost while logging in: %(reason)s",
                                                  reason=error))) from error
    return client


def _close(client: imaplib.IMAP4) -> None:
    try:
        client.logout()
    except (imaplib.IMAP4.error, OSError):
        pass


def check(conn: Connection, folders: list[str]) -> list[tuple[str, int]]:
    """Connect, log in and open each folder read-only: (folder, message count), or MailboxError."""
    client = connect(conn)
    try:
        return [(folder, select(client, folder)[1]) for folder in folders]
    finally:
        _close(client)


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def select(client: imaplib.IMAP4, folder: str) -> tuple[int, int]:
    """Open a folder read-only (messages stay unread in the mail client): (UIDVALIDITY, count)."""
    try:
        status, data = client.select(_quoted(folder), readonly=True)
    except imaplib.IMAP4.error as error:
        raise MailboxError("folder", str(_l("The folder %(folder)s cannot be opened: %(reason)s",
                                             folder=folder, reason=error))) from error
    if status != "OK":
        raise MailboxError("folder", str(_l("The folder %(folder)s does not exist on the server.", folder=folder)))
    _, validity = client.response("UIDVALIDITY")
    if not validity or not validity[0]:
        raise MailboxError("protocol", str(_l("The server gave no UIDVALIDITY for %(folder)s.", folder=folder)))
    return int(validity[0]), int(data[0] or 0)


def uids_after(client: imaplib.IMAP4, last_uid: int) -> list[int]:
    """The UIDs above last_uid, ascending (`n:*` also answers the highest UID, even if lower)."""
    status, data = client.uid("SEARCH", None, f"UID {last_uid + 1}:*")
    if status != "OK":
        raise MailboxError("protocol", str(_l("The server refused to list the messages.")))
    return sorted(u for u in (int(x) for x in (data[0] or b"").split()) if u > last_uid)


def fetch(client: imaplib.IMAP4, uids: list[int]) -> Iterator[tuple[int, bytes]]:
    """(uid, raw bytes) for these UIDs, FETCH_CHUNK at a time; BODY.PEEK leaves them unread."""
    for start in range(0, len(uids), FETCH_CHUNK):
        chunk = uids[start:start + FETCH_CHUNK]
        status, data = client.uid("FETCH", ",".join(map(str, chunk)), "(UID BODY.PEEK[])")
        if status != "OK":
            raise MailboxError("protocol", str(_l("The server refused to send the messages.")))
        for item in data:
            if isinstance(item, tuple):
                found = _FETCH_UID.search(item[0])
                if found:
                    yield int(found.group(1)), item[1]


class Session:
    """A logged-in client for one sync run (context manager)."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.client: imaplib.IMAP4 | None = None

    def __enter__(self) -> imaplib.IMAP4:
        self.client = connect(self.conn)
        return self.client

    def __exit__(self, *exc) -> None:
        if self.client is not None:
            _close(self.client)
