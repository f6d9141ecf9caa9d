"""Storing mail read from the business's mailbox on the customers it concerns (issue 21).

The worker (mailers.mail_sync) reads raw messages per folder and hands them here a batch at
a time; `store_batch` parses them, matches them to customers and writes them in a bounded
number of statements whatever the batch size (address look-ups, reference look-ups, one
INSERT each for messages, links and attachments, one for the folder's position), all in
the caller's transaction.

- **Once**: `dedupe_key` (a hash of the Message-ID, or of the bytes when there is none) is
  unique and the INSERT does nothing on a conflict, so a re-read folder (new UIDVALIDITY),
  the same message in two folders, or two workers at once never store a message twice.
- **Matching**: every address in From/To/Cc against the synced addresses: the customer's
  primary address, contact persons' addresses (also their further ones) and portal logins,
  each with its own SYNC switch. A message that names only addresses whose SYNC is off is
  not stored. One naming no known address at all is stored unmatched, for staff to assign.
- **Threads**: `thread_key` is the first Message-ID in References (the thread's root), else
  In-Reply-To, else the message's own. A reply to a mail Dossier sent (In-Reply-To or
  References naming an outbox Message-ID) is linked to that outbox row and its document.
- **Bad input**: headers that cannot be parsed, unknown charsets and broken MIME are stored
  as far as they can be read, with what was wrong in `problem`; attachments above the cap
  keep their name, type and size only, with the reason.
"""

from __future__ import annotations

import codecs
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy
from email.header import decode_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from flask import current_app
from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from models.contacts import ContactPerson
from models.customers import Customer
from models.db import db, now_utc
from models.mailbox import ContactEmail, MailFolderState, SyncedAttachment, SyncedEmail, SyncedEmailLink
from models.outbox import OutboundEmail
from models.portal_access import PortalAccess, PortalUser
from models.services import mail_html

_MESSAGE_ID = re.compile(r"<[^<>\s\x00]{1,298}>")
# Dossier's own Message-IDs (mailers.messages.message_id): the row's, or a contact's copy.
_OUTBOX_ID = re.compile(r"^<outbox\.(\d+)(?:\.c(\d+))?\.([0-9a-f]{16})@")
# compat32, not policy.default: its structured header classes cost some 10 ms a message;
# the headers we read are decoded here (RFC 2047) and addresses parsed by getaddresses.
_PARSER = BytesParser(policy=policy.compat32)


@dataclass
class Attachment:
    filename: str
    content_type: str
    size: int
    content: bytes | None
    skipped_reason: str | None = None


@dataclass
class Parsed:
    dedupe_key: str
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    from_address: str | None = None
    from_name: str | None = None
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    subject: str | None = None
    sent_at: datetime | None = None
    text: str | None = None
    html: str | None = None
    problems: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)

    @property
    def addresses(self) -> set[str]:
        return {a for a in [self.from_address, *self.to, *self.cc] if a}

    @property
    def thread_key(self) -> str | None:
        return (self.references[0] if self.references else None) or self.in_reply_to or self.message_id


@dataclass
class BatchResult:
    stored: int = 0
    duplicates: int = 0
    not_synced: int = 0  # only addresses whose SYNC is off
    unmatched: int = 0
    skipped: list[str] = field(default_factory=list)  # "uid: reason"


def attachment_cap() -> int:
    return int(current_app.config.get("MAIL_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024))


# --- parsing -------------------------------------------------------------------------------

def _decoded(value: str, problems: list[str]) -> str:
    """An RFC 2047 header value as text; an unknown or wrong charset is read as UTF-8 with
    replacements and said in `problems`."""
    out = []
    try:
        chunks = decode_header(value)
    except Exception:  # noqa: BLE001 - a malformed encoded word: keep it as it came
        problems.append("malformed encoded header")
        return value
    for data, charset in chunks:
        if isinstance(data, str):
            out.append(data)
            continue
        try:
            out.append(data.decode(charset or "ascii"))
        except (LookupError, UnicodeDecodeError):
            problems.append(f"header charset {str(charset)[:40]!r} unreadable: replaced")
            out.append(data.decode("utf-8", errors="replace"))
    return "".join(out).replace("\x00", "")


def _header(message: Message, name: str, problems: list[str]) -> str | None:
    value = message.get(name)
    return None if value is None else _decoded(str(value), problems)


def _ids(value: str | None) -> list[str]:
    return _MESSAGE_ID.findall(value or "")


def _addresses(message: Message, name: str, problems: list[str]) -> list[tuple[str, str]]:
    found = []
    for display, address in getaddresses([str(v) for v in message.get_all(name, [])]):
        address = address.strip().lower()
        if "@" in address and len(address) <= 254 and not any(c.isspace() or c == "\x00" for c in address):
            found.append((_decoded(display, problems).strip()[:200], address))
    return found


def _text_of(part: Message, problems: list[str]) -> str:
    payload = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "utf-8"
    try:
        codecs.lookup(charset)
    except LookupError:
        problems.append(f"unknown charset {charset[:40]!r}: read as UTF-8 with replacements")
        charset = "utf-8"
    try:
        return payload.decode(charset)
    except UnicodeDecodeError:
        problems.append(f"text not valid {charset[:40]}: undecodable bytes replaced")
        return payload.decode(charset, errors="replace")


def _walk(message: Message, parsed: Parsed, cap: int) -> None:
    for part in message.walk():
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        try:
            disposition = part.get_content_disposition()
            filename = part.get_filename()
        except Exception:  # noqa: BLE001
            disposition, filename = "attachment", None
        if disposition != "attachment" and not filename and content_type in ("text/plain", "text/html"):
            if content_type == "text/plain" and parsed.text is None:
                parsed.text = _text_of(part, parsed.problems).replace("\x00", "")
                continue
            if content_type == "text/html" and parsed.html is None:
                parsed.html = mail_html.sanitise(_text_of(part, parsed.problems))
                continue
        if disposition != "attachment" and not filename:
            continue  # an alternative we do not show (e.g. text/calendar without a name)
        payload = part.get_payload(decode=True) or b""
        name = (_decoded(filename, parsed.problems) if filename else "attachment")[:255]
        if len(payload) > cap:
            parsed.attachments.append(Attachment(name, content_type[:120], len(payload), None,
                                                 f"larger than {cap // 1024} KiB: not stored"))
        else:
            parsed.attachments.append(Attachment(name, content_type[:120], len(payload), payload))
    for defect in message.defects:
        parsed.problems.append(f"MIME: {type(defect).__name__}")


def parse(raw: bytes, cap: int | None = None) -> Parsed:
    """Everything the E-mails tab shows, read as far as the message allows."""
    cap = attachment_cap() if cap is None else cap
    problems: list[str] = []
    try:
        message = _PARSER.parsebytes(raw)
    except Exception as error:  # noqa: BLE001 - the parser is lenient; this is the last resort
        return Parsed(dedupe_key=hashlib.sha256(raw).hexdigest(), problems=[f"unreadable: {type(error).__name__}"],
                      text=raw[:20000].decode("utf-8", errors="replace"))
    message_ids = _ids(_header(message, "Message-ID", problems))
    message_id = message_ids[0] if message_ids else None
    key = hashlib.sha256((message_id.lower() if message_id else raw).encode() if message_id else raw).hexdigest()
    parsed = Parsed(dedupe_key=key, message_id=message_id, problems=problems)
    parsed.in_reply_to = next(iter(_ids(_header(message, "In-Reply-To", problems))), None)
    parsed.references = _ids(_header(message, "References", problems))[:50]
    senders = _addresses(message, "From", problems)
    if senders:
        parsed.from_name, parsed.from_address = senders[0][0] or None, senders[0][1]
    parsed.to = list(dict.fromkeys(a for _, a in _addresses(message, "To", problems)))[:100]
    parsed.cc = list(dict.fromkeys(a for _, a in _addresses(message, "Cc", problems)))[:100]
    subject = _header(message, "Subject", problems)
    parsed.subject = " ".join(subject.split())[:500] if subject else None
    try:
        date = message.get("Date")
        sent = parsedate_to_datetime(str(date)) if date else None
        if sent is not None:
            parsed.sent_at = (sent if sent.tzinfo else sent.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    except Exception:  # noqa: BLE001
        problems.append("Date header unreadable")
    try:
        _walk(message, parsed, cap)
    except Exception as error:  # noqa: BLE001
        problems.append(f"body unreadable: {type(error).__name__}")
    if not parsed.from_address:
        problems.append("no sender address")
    return parsed


# --- matching ------------------------------------------------------------------------------

@dataclass
class Directory:
    """Who the batch's addresses belong to: address -> customer ids it syncs to, and the
    addresses known with SYNC off (so their mail is not stored)."""

    synced: dict[str, set[int]] = field(default_factory=dict)
    off: set[str] = field(default_factory=set)

    def add(self, address: str, customer_id: int, sync: bool) -> None:
        if sync:
            self.synced.setdefault(address.lower(), set()).add(customer_id)
        else:
            self.off.add(address.lower())


def directory(addresses: set[str]) -> Directory:
    """Four statements for any number of addresses."""
    found = Directory()
    if not addresses:
        return found
    wanted = sorted(addresses)
    for address, customer_id, sync in db.session.execute(
            select(Customer.email, Customer.id, Customer.email_sync).where(func.lower(Customer.email).in_(wanted))):
        found.add(address, customer_id, sync)
    for address, customer_id, sync in db.session.execute(
            select(ContactPerson.email, ContactPerson.customer_id, ContactPerson.email_sync)
            .where(func.lower(ContactPerson.email).in_(wanted))):
        found.add(address, customer_id, sync)
    for address, customer_id, sync in db.session.execute(
            select(ContactEmail.email, ContactEmail.customer_id, ContactEmail.sync)
            .join(ContactPerson, ContactPerson.id == ContactEmail.contact_id).where(ContactEmail.email.in_(wanted))):
        found.add(address, customer_id, sync)
    for address, customer_id, sync in db.session.execute(
            select(PortalUser.email, PortalAccess.customer_id, PortalAccess.email_sync)
            .join(PortalAccess, PortalAccess.portal_user_id == PortalUser.id)
            .where(PortalUser.email.in_(wanted), PortalAccess.revoked_at.is_(None))):
        found.add(address, customer_id, sync)
    return found


def _outbox_tag(email_id: int, contact_id: str | None) -> str:
    """mailers.messages.message_id's tag (models import nothing from mailers)."""
    name = f"{email_id}" if contact_id is None else f"{email_id}.c{contact_id}"
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"outbox:{name}".encode(), hashlib.sha256).hexdigest()[:16]


def _genuine_outbox_id(ref: str | None) -> int | None:
    """The outbox row a Message-ID names, if Dossier made it (its HMAC tag checks out)."""
    found = _OUTBOX_ID.match(ref or "")
    if found and hmac.compare_digest(found.group(3), _outbox_tag(int(found.group(1)), found.group(2))):
        return int(found.group(1))
    return None


def _outbox_rows(parsed: list[Parsed]) -> dict[int, tuple[int, int | None]]:
    """Outbox id -> (id, document id) for every Dossier Message-ID the batch refers to."""
    ids = {i for p in parsed for i in map(_genuine_outbox_id, [p.in_reply_to, *p.references]) if i}
    if not ids:
        return {}
    return {row.id: (row.id, row.document_id) for row in db.session.execute(
        select(OutboundEmail.id, OutboundEmail.document_id).where(OutboundEmail.id.in_(sorted(ids))))}


def _replied_outbox(p: Parsed, rows: dict[int, tuple[int, int | None]]) -> tuple[int, int | None] | None:
    """The Dossier mail this one answers: In-Reply-To first, else the latest in References."""
    for ref in [p.in_reply_to, *reversed(p.references)]:
        email_id = _genuine_outbox_id(ref)
        if email_id in rows:
            return rows[email_id]
    return None


def _insert(model):
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


# --- storing -------------------------------------------------------------------------------

def own_addresses(mailbox_user: str | None, sender_email: str | None) -> set[str]:
    return {a.strip().lower() for a in (mailbox_user, sender_email) if a and "@" in a}


def store_batch(folder: str, uidvalidity: int, messages: list[tuple[int, bytes]], *,
                own: set[str], now: datetime | None = None) -> BatchResult:
    """Parse, match and insert one batch of (uid, raw) from a folder; moves the folder's
    last UID to the batch's highest. The caller commits."""
    now = now or now_utc()
    result = BatchResult()
    parsed = [(uid, parse(raw)) for uid, raw in messages]
    known = directory({a for _, p in parsed for a in p.addresses} - own)
    outbox = _outbox_rows([p for _, p in parsed])
    rows, links, seen = [], {}, set()
    for uid, p in parsed:
        if p.dedupe_key in seen:
            result.duplicates += 1
            continue
        seen.add(p.dedupe_key)
        others = p.addresses - own
        customers = set().union(*(known.synced.get(a, set()) for a in others)) if others else set()
        outgoing = bool(p.from_address and p.from_address in own)
        if not customers and (others & known.off or outgoing):
            result.not_synced += 1  # SYNC off for every known address, or our own mail to a stranger
            continue
        replied = _replied_outbox(p, outbox)
        if p.problems:
            result.skipped.append(f"{uid}: stored with problems: {'; '.join(p.problems)[:300]}")
        rows.append({
            "dedupe_key": p.dedupe_key, "folder": folder[:200], "uidvalidity": uidvalidity, "uid": uid,
            "message_id": p.message_id, "in_reply_to": p.in_reply_to,
            "references": " ".join(p.references) or None, "thread_key": p.thread_key,
            "outgoing": outgoing, "from_address": p.from_address, "from_name": p.from_name,
            "to_addresses": p.to, "cc_addresses": p.cc, "subject": p.subject, "sent_at": p.sent_at or now,
            "text_body": p.text, "html_body": p.html, "problem": "; ".join(p.problems)[:500] or None,
            "matched": bool(customers), "outbound_email_id": replied[0] if replied else None,
            "document_id": replied[1] if replied else None, "synced_at": now,
        })
        links[p.dedupe_key] = (customers, outgoing, p.attachments)
    if rows:
        inserted = db.session.execute(
            _insert(SyncedEmail).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(SyncedEmail.id, SyncedEmail.dedupe_key)
        ).all()
        result.duplicates += len(rows) - len(inserted)
        link_rows, attachment_rows = [], []
        for email_id, key in inserted:
            customers, outgoing, attachments = links[key]
            link_rows += [{"synced_email_id": email_id, "customer_id": c, "read_at": now if outgoing else None}
                          for c in sorted(customers)]
            attachment_rows += [{"synced_email_id": email_id, **a.__dict__} for a in attachments]
            result.stored += 1
            result.unmatched += not customers
        if link_rows:
            db.session.execute(insert(SyncedEmailLink), link_rows)
        if attachment_rows:
            db.session.execute(insert(SyncedAttachment), attachment_rows)
    if messages:
        advance(folder, uidvalidity, max(uid for uid, _ in messages), now)
    return result


def folder_state(folder: str) -> MailFolderState | None:
    return db.session.scalar(select(MailFolderState).where(MailFolderState.folder == folder))


def start_folder(folder: str, uidvalidity: int) -> int:
    """The last UID read in this folder, 0 if never read or re-created (new UIDVALIDITY:
    the UIDs start over, so it is read again; dedupe keeps the messages single)."""
    db.session.execute(_insert(MailFolderState).values(folder=folder, uidvalidity=uidvalidity, last_uid=0)
                       .on_conflict_do_nothing(index_elements=["folder"]))
    state = db.session.execute(select(MailFolderState.uidvalidity, MailFolderState.last_uid)
                               .where(MailFolderState.folder == folder)).one()
    if state.uidvalidity != uidvalidity:
        db.session.execute(update(MailFolderState).where(MailFolderState.folder == folder)
                           .values(uidvalidity=uidvalidity, last_uid=0))
        return 0
    return state.last_uid


def advance(folder: str, uidvalidity: int, uid: int, now: datetime) -> None:
    """Never backwards: a slower worker finishing an older batch keeps the newer position."""
    db.session.execute(
        update(MailFolderState)
        .where(MailFolderState.folder == folder, MailFolderState.uidvalidity == uidvalidity,
               MailFolderState.last_uid < uid)
        .values(last_uid=uid, synced_at=now)
    )
