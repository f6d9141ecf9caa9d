"""Writing a text + HTML message as SMTP-ready bytes, without the e-mail package's generator.

Why not Flask-Mail / email.generator: serialising one message through them cost ~2 ms,
more than everything else a worker does for it. Our messages always have the same
shape (multipart/alternative: text/plain + text/html, UTF-8), so the bytes are written
directly; only header encoding (RFC 2047 words, folding) uses the e-mail package.

Header values must already be on one line (messages.one_line): that is what stops
header injection. Bodies are 8bit with CRLF line ends, or quoted-printable when a line
would exceed SMTP's 998-octet limit.
"""

from __future__ import annotations

import binascii
import functools
import re
import secrets
from dataclasses import dataclass, field
from email.header import Header
from email.utils import formataddr, formatdate

_EOL = re.compile(r"\r\n|\r|\n")
_MAX_LINE = 998  # octets, SMTP's limit


def _header_text(value: str, name: str) -> str:
    """ASCII as is (folded at spaces when long), anything else as RFC 2047 encoded words."""
    if value.isascii() and len(value) + len(name) + 2 <= 78:
        return value
    charset = "us-ascii" if value.isascii() else "utf-8"
    return Header(value, charset, header_name=name).encode(linesep="\r\n")


def _address(address: str) -> str:
    """An address for a header; a non-ASCII domain as IDNA, a non-ASCII local part encoded
    (as Flask-Mail did)."""
    if address.isascii():
        return address
    local, at, domain = address.rpartition("@")
    if not at:
        return Header(address, "utf-8").encode()
    if not local.isascii():
        local = Header(local, "utf-8").encode()
    return f"{local}@{domain.encode('idna').decode('ascii')}"


@functools.lru_cache(maxsize=256)
def _name_and_address(name: str, address: str) -> str:
    """The display name as encoded words (never quoted, so commas and colons stay inside it)."""
    if not name:
        return _address(address)
    return formataddr((Header(name, "utf-8", header_name="From").encode(linesep="\r\n"), _address(address)))


def _address_list(addresses: list[str]) -> str:
    return ",\r\n ".join(_address(a) for a in addresses)


def _part(subtype: str, text: str) -> bytes:
    data = _EOL.sub("\r\n", text).encode("utf-8")
    if len(data) <= _MAX_LINE or max(map(len, data.split(b"\r\n"))) <= _MAX_LINE:
        encoding = b"8bit"
    else:
        encoding = b"quoted-printable"
        data = binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")
    return (b"Content-Type: text/" + subtype.encode() + b'; charset="utf-8"\r\n'
            b"Content-Transfer-Encoding: " + encoding + b"\r\n\r\n" + data)


@dataclass
class Message:
    """What is sent: the attribute names are Flask-Mail's (body, html, msgId), as callers
    and tests read them."""

    subject: str
    sender: tuple[str, str]  # (display name, address)
    recipients: list[str]
    body: str
    html: str
    msgId: str  # noqa: N815 - Flask-Mail's name
    cc: list[str] = field(default_factory=list)
    date: float | None = None

    def as_bytes(self) -> bytes:
        text, html = _part("plain", self.body), _part("html", self.html)
        boundary = "=_" + secrets.token_hex(16)
        while boundary.encode() in text or boundary.encode() in html:
            boundary = "=_" + secrets.token_hex(16)
        headers = [
            f"From: {_name_and_address(*self.sender)}",
            f"To: {_address_list(self.recipients)}",
        ]
        if self.cc:
            headers.append(f"Cc: {_address_list(self.cc)}")
        headers += [
            f"Subject: {_header_text(self.subject, 'Subject')}",
            f"Date: {formatdate(self.date, localtime=True)}",
            f"Message-ID: {self.msgId}",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/alternative; boundary="{boundary}"',
        ]
        delimiter = b"\r\n--" + boundary.encode()
        return b"".join((
            "\r\n".join(headers).encode("ascii"), b"\r\n", delimiter, b"\r\n", text,
            delimiter, b"\r\n", html, delimiter, b"--\r\n",
        ))
