"""One outgoing message (text + HTML alternative) as SMTP-ready bytes, by the e-mail package.

Built the way Flask-Mail builds its messages (email.mime parts), with two differences
that made us keep our own small class rather than flask_mail.Message: the To and Cc
headers keep their order (Flask-Mail joins a set), and the bytes use CRLF line ends
(policy SMTP), which servers that refuse bare LFs require. The attribute names are
Flask-Mail's (body, html, msgId), as callers and tests read them.

Header values must already be on one line (messages.one_line): that is what stops
header injection; the e-mail package encodes and folds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email import charset, policy
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate


# Bodies as quoted-printable UTF-8: every line stays under SMTP's 998 octets whatever the
# text, and is still readable raw. (Set per part: Flask-Mail changes the package-wide
# default for "utf-8" to 8bit when it is imported.)
_UTF8_QP = charset.Charset("utf-8")
_UTF8_QP.body_encoding = charset.QP
# Headers exactly as encoded here (the modern policies would parse and re-render them,
# unquoting a display name's commas), with CRLF line ends as SMTP wants them.
_AS_SENT = policy.compat32.clone(linesep="\r\n")


def _address(address: str) -> str:
    """An address for a header: a non-ASCII domain as IDNA, a non-ASCII local part as an
    encoded word (as Flask-Mail does)."""
    if address.isascii():
        return address
    local, at, domain = address.rpartition("@")
    if not at:
        return Header(address, "utf-8").encode()
    if not local.isascii():
        local = Header(local, "utf-8").encode()
    return f"{local}@{domain.encode('idna').decode('ascii')}"


def _name_and_address(name: str, address: str) -> str:
    """The display name as encoded words (so commas and colons stay inside it)."""
    if not name:
        return _address(address)
    return formataddr((Header(name, "utf-8").encode(linesep="\r\n"), _address(address)))


@dataclass
class Message:
    subject: str
    sender: tuple[str, str]  # (display name, address)
    recipients: list[str]
    body: str
    html: str
    msgId: str  # noqa: N815 - Flask-Mail's name
    cc: list[str] = field(default_factory=list)
    date: float | None = None

    def as_bytes(self) -> bytes:
        message = MIMEMultipart("alternative")
        message.attach(MIMEText(self.body, "plain", _UTF8_QP))
        message.attach(MIMEText(self.html, "html", _UTF8_QP))
        message["From"] = _name_and_address(*self.sender)
        message["To"] = ", ".join(_address(a) for a in self.recipients)
        if self.cc:
            message["Cc"] = ", ".join(_address(a) for a in self.cc)
        message["Subject"] = Header(self.subject, "utf-8", header_name="Subject").encode(linesep="\r\n")
        message["Date"] = formatdate(self.date, localtime=True)
        message["Message-ID"] = self.msgId
        return message.as_bytes(policy=_AS_SENT)
