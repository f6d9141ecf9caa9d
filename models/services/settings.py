"""Reading and changing the business settings (one row per installation)."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from models import clock
from models.counters import Counter
from models.db import db
from models.documents import Document, DocumentKind
from models.services import audit
from models.services.errors import DomainError
from models.settings import DOSSIER_CHECKS, PAYMENT_PROVIDERS, BusinessSettings
from models.staff import StaffUser

LOGO_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif"}
LOGO_MAX_BYTES = 512 * 1024
_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}
TEXT_FIELDS = ("business_name", "address", "sender_name", "sender_email", "default_currency")
FLAG_FIELDS = ("portal_access_default", "allow_payments", "allow_questions", "allow_instalments",
               "letter_invoice_asks_email", "letter_reminder_asks_email",
               "allow_quote_decisions", "allow_pdf_download", "apply_credit_automatically",
               "customer_edits_contact", "customer_edits_address", "customer_edits_bank", "customer_edits_tax")
# Left out of a form post (or empty): the saved value stays.
VALUE_FIELDS = ("instalment_max_count", "instalment_min_amount", "instalment_auto_approve_up_to")
CHOICE_FIELDS = {"dossier_check": DOSSIER_CHECKS, "payment_provider": PAYMENT_PROVIDERS}


# --- documents: number prefixes and sequences, portal release, e-mail texts -----------

KINDS = tuple(kind.value for kind in DocumentKind)
PREFIX_MAX = 10
_PREFIX = re.compile(r"[A-Za-z0-9_./-]*")
MAX_SEQUENCE = 99_999_999
# What a kind's e-mail text may contain, filled in when the mail is built.
MAIL_PLACEHOLDERS = ("customer_name", "document_number", "document_url", "dossier_url")
_URL_PLACEHOLDERS = frozenset({"document_url", "dossier_url"})
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
MAIL_TEXT_MAX = 2000
DOCUMENT_FIELDS = ("document_prefixes", "released_kinds", "document_mail_texts")


def counter_name(kind: str, year: int) -> str:
    """The counter documents.allocate_number counts a kind's numbers of a year with."""
    return f"{kind}-{year}"


def formatted_number(prefix: str, year: int, sequence: int) -> str:
    """A number as documents.allocate_number makes it: prefix, year, sequence of 5 digits."""
    return f"{prefix}{year}-{sequence:05d}"


def next_sequences(year: int) -> dict[str, int]:
    """The sequence number each kind's next document of `year` will get (one query)."""
    names = {counter_name(kind, year): kind for kind in KINDS}
    used = dict(db.session.execute(select(Counter.name, Counter.value).where(Counter.name.in_(names))).all())
    return {kind: (used.get(name) or 0) + 1 for name, kind in names.items()}


def document_settings(settings: BusinessSettings, year: int) -> dict:
    """The settings form's document fields as they are now (prefix, next number and e-mail
    text per kind; the kinds released to the portal)."""
    data: dict = {"released": [kind for kind in KINDS if settings.releases(kind)]}
    for kind, sequence in next_sequences(year).items():
        data[f"prefix_{kind}"] = settings.prefix_for(kind)
        data[f"next_number_{kind}"] = data[f"next_shown_{kind}"] = sequence
        data[f"mail_intro_{kind}"] = settings.mail_text_for(kind) or ""
    return data


def check_mail_text(text: str | None, field: str | None = None) -> str | None:
    """A kind's e-mail text: empty is none (the standard sentence); a placeholder other than
    MAIL_PLACEHOLDERS is refused, naming it."""
    text = (text or "").strip()
    if not text:
        return None
    if len(text) > MAIL_TEXT_MAX:
        raise DomainError(_l("Keep the text under %(n)s characters.", n=MAIL_TEXT_MAX), field=field)
    for match in _PLACEHOLDER.finditer(text):
        if match.group(1) not in MAIL_PLACEHOLDERS:
            raise DomainError(_l("Unknown placeholder %(placeholder)s. Use %(known)s.", placeholder=match.group(0),
                                 known=", ".join("{%s}" % name for name in MAIL_PLACEHOLDERS)), field=field)
    return text


def mail_intro(settings: BusinessSettings, kind: str, values: dict[str, str]) -> list[tuple[str, str | None]] | None:
    """A kind's e-mail text with its placeholders filled in, as (text, link) parts: a URL
    placeholder becomes a link, everything else plain text (the template escapes it).
    None when the business wrote no text for this kind."""
    text = settings.mail_text_for(kind)
    return fill_placeholders(text, values) if text else None


def fill_placeholders(text: str, values: dict[str, str]) -> list[tuple[str, str | None]]:
    """A text's placeholders filled in, as (text, link) parts (see mail_intro)."""
    parts: list[tuple[str, str | None]] = []
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        parts.append((text[position:match.start()], None))
        name = match.group(1)
        if name in values:
            value = values[name] or ""
            parts.append((value, value if name in _URL_PLACEHOLDERS and value else None))
        else:  # saved before it was checked: shown as written
            parts.append((match.group(0), None))
        position = match.end()
    parts.append((text[position:], None))
    return [part for part in parts if part[0]]


def _check_prefix(kind: str, value: str) -> str:
    value = value.strip()
    if len(value) > PREFIX_MAX or not _PREFIX.fullmatch(value):
        raise DomainError(_l("Use at most %(n)s letters, digits and - _ / . characters.", n=PREFIX_MAX),
                          field=f"prefix_{kind}")
    return value


def _number_exists(kind: str, number: str) -> bool:
    return db.session.scalar(select(Document.id).where(Document.kind == kind, Document.number == number)
                             .limit(1)) is not None


def set_next_sequence(settings: BusinessSettings, kind: str, year: int, sequence: int) -> int | None:
    """The next number of `kind` this year becomes `sequence`: only upward, never to a
    number already used or present (one kept from elsewhere). Returns the old next
    sequence when it changed, else None. The counter is raised with one conditional UPDATE,
    so a number allocated meanwhile is never handed out twice."""
    field = f"next_number_{kind}"
    name = counter_name(kind, year)
    used = db.session.scalar(select(Counter.value).where(Counter.name == name)) or 0
    if sequence == used + 1:
        return None
    if not 1 <= sequence <= MAX_SEQUENCE:
        raise DomainError(_l("Enter a number from 1 to %(n)s.", n=MAX_SEQUENCE), field=field)
    prefix = settings.prefix_for(kind)
    if sequence <= used:
        raise DomainError(_l("Numbers up to %(number)s are already used: the next number can only be higher.",
                             number=formatted_number(prefix, year, used)), field=field)
    if _number_exists(kind, formatted_number(prefix, year, sequence)):
        raise DomainError(_l("%(number)s already exists.", number=formatted_number(prefix, year, sequence)),
                          field=field)
    raised = db.session.execute(
        update(Counter).where(Counter.name == name, Counter.value < sequence).values(value=sequence - 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not raised:
        try:
            with db.session.begin_nested():
                db.session.execute(insert(Counter).values(name=name, value=sequence - 1))
        except IntegrityError:  # allocated meanwhile: the counter exists now and is higher
            used = db.session.scalar(select(Counter.value).where(Counter.name == name)) or 0
            raise DomainError(_l("Numbers up to %(number)s are already used: the next number can only be higher.",
                                 number=formatted_number(prefix, year, used)), field=field) from None
    return used + 1


def _update_documents(settings: BusinessSettings, values: dict, year: int) -> dict[str, list]:
    """The document part of the settings form; returns the number changes for the audit.
    `next_number_<kind>` is only a change when it differs from `next_shown_<kind>` (what the
    form showed), so saving other settings never fails on a number used meanwhile."""
    changes: dict[str, list] = {}
    old_prefixes = {kind: settings.prefix_for(kind) for kind in KINDS}
    prefixes = dict(settings.document_prefixes or {})
    for kind in KINDS:
        value = values.get(f"prefix_{kind}")
        if value is not None:
            prefixes[kind] = _check_prefix(kind, value)
    # Numbers are unique per kind only: two kinds with one prefix would give two documents
    # the same number (an invoice and its credit note). A prefix saved before this rule
    # and left as it is does not stop the other settings from being saved.
    shown = {kind: prefixes.get(kind, old_prefixes[kind]) for kind in KINDS}
    for kind in KINDS:
        if shown[kind] != old_prefixes[kind] and any(
                shown[kind].casefold() == shown[other].casefold() for other in KINDS if other != kind):
            raise DomainError(_l("Another kind of document already uses this prefix: give each kind its own, "
                                 "so no two documents share a number."), field=f"prefix_{kind}")
    if prefixes != (settings.document_prefixes or {}):
        settings.document_prefixes = prefixes
    if values.get("released") is not None:
        released = [kind for kind in KINDS if kind in set(values["released"])]
        if set(values["released"]) - set(KINDS):
            raise DomainError(_l("Choose one of the options."), field="released")
        settings.released_kinds = None if len(released) == len(KINDS) else released
    texts = dict(settings.document_mail_texts or {})
    for kind in KINDS:
        name = f"mail_intro_{kind}"
        if values.get(name) is not None:
            text = check_mail_text(values[name], field=name)
            if text:
                texts[kind] = text
            else:
                texts.pop(kind, None)
    if texts != (settings.document_mail_texts or {}):
        settings.document_mail_texts = texts or None
    db.session.flush()
    sequences = next_sequences(year)
    for kind in KINDS:
        wanted = values.get(f"next_number_{kind}")
        if wanted is not None and wanted == values.get(f"next_shown_{kind}"):
            wanted = None  # left as the page showed it: no change, even if numbers were used meanwhile
        if wanted is not None and set_next_sequence(settings, kind, year, wanted) is not None:
            prefix = settings.prefix_for(kind)
            changes[f"next_number_{kind}"] = [formatted_number(prefix, year, sequences[kind]),
                                              formatted_number(prefix, year, wanted)]
        elif settings.prefix_for(kind) != old_prefixes[kind]:
            # Numbers are unique per kind and the sequence only grows, so a new prefix can
            # only meet a number kept from elsewhere: its next number must not exist yet.
            number = formatted_number(settings.prefix_for(kind), year, sequences[kind])
            if _number_exists(kind, number):
                raise DomainError(_l("%(number)s already exists: choose another prefix or a higher next number.",
                                     number=number), field=f"prefix_{kind}")
    return changes


def get_settings(for_update: bool = False) -> BusinessSettings:
    """The settings row, or (before anyone saved settings) unsaved defaults.

    Reading never writes: only `for_update` adds the defaults row to the session.
    """
    settings = db.session.scalar(select(BusinessSettings).limit(1))
    if settings is None:
        # Column defaults apply on INSERT only; an unsaved row needs them now.
        settings = BusinessSettings(**{
            column.key: column.default.arg
            for column in BusinessSettings.__table__.columns
            if column.default is not None and column.default.is_scalar
        })
        if for_update:
            db.session.add(settings)
            db.session.flush()
    return settings


def sniff_image_type(data: bytes) -> str | None:
    """The image type from the file's own bytes; the browser's claim is not trusted."""
    for signature, content_type in _SIGNATURES.items():
        if data.startswith(signature):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def update_settings(
    actor: StaffUser, values: dict, logo: bytes | None = None, remove_logo: bool = False,
    year: int | None = None,
) -> BusinessSettings:
    """Save the settings form. `year`: the year whose next numbers the form sets (this one)."""
    settings = get_settings(for_update=True)
    audited = TEXT_FIELDS + FLAG_FIELDS + VALUE_FIELDS + tuple(CHOICE_FIELDS) + DOCUMENT_FIELDS
    before = {name: getattr(settings, name) for name in audited}
    if logo:
        if len(logo) > LOGO_MAX_BYTES:
            raise DomainError(_l("The logo may be at most 512 KB."), field="logo")
        content_type = sniff_image_type(logo)
        if content_type is None:
            raise DomainError(_l("Upload the logo as PNG, JPEG, WebP or GIF."), field="logo")
        settings.logo, settings.logo_content_type = logo, content_type
        settings.logo_version = (settings.logo_version or 0) + 1
    elif remove_logo:
        settings.logo = settings.logo_content_type = None
        settings.logo_version = (settings.logo_version or 0) + 1
    for name in TEXT_FIELDS:
        if name in values:
            value = values[name]
            setattr(settings, name, value.strip() or None if isinstance(value, str) else value)
    for name in FLAG_FIELDS:
        if name in values:
            setattr(settings, name, bool(values[name]))
    for name in VALUE_FIELDS:
        if values.get(name) is not None:
            setattr(settings, name, values[name])
    for name, allowed in CHOICE_FIELDS.items():
        if name in values:
            if values[name] not in allowed:
                raise DomainError(_l("Choose one of the options."), field=name)
            setattr(settings, name, values[name])
    settings.business_name = settings.business_name or "My business"
    numbers = _update_documents(settings, values, year or clock.today().year)
    changes = audit.diff(before, {name: getattr(settings, name) for name in audited})
    changes.update(numbers)
    if logo or remove_logo:
        changes["logo"] = ["", "changed"]
    audit.record(actor, "settings.updated", "settings", settings.id, changes=changes)
    return settings
