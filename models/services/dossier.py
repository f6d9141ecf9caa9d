"""The dossier link: tokens (issue, rotate, resolve: the one place they are made and
checked), the optional postal-code / customer-number check, and what a link may reach."""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import secrets
from datetime import date, timedelta

from flask import current_app
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import bindparam, func, literal, select, true, union_all, update
from sqlalchemy.orm import selectinload

from models.customers import Customer
from models.db import db, now_utc
from models.documents import UNPAID_STATUSES, Document, DocumentKind, DocumentStatus
from models.dossier import DossierLink
from models.instalments import InstalmentPlan
from models.services.customers import SUMMARY_COLUMNS, InvoiceSummary
from models.services.instalments import RUNNING
from models.services.settings import get_settings
from models.settings import BusinessSettings
from models.services import audit
from models.staff import StaffUser

_SEPARATOR = "."


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _link_keys() -> list[str]:
    """The keys dossier links are signed with, newest first: DOSSIER_LINK_KEYS, or SECRET_KEY
    while none are configured (how every link was signed before there was a list)."""
    return current_app.config.get("DOSSIER_LINK_KEYS") or [current_app.config["SECRET_KEY"]]


def _signature(public_id: str, key: str) -> str:
    digest = hmac.new(key.encode(), b"dossier-link:" + public_id.encode(), hashlib.sha256).digest()
    return _b64(digest[:16])  # 128 bits


def token_for(link: DossierLink) -> str:
    """The link's token, signed with the newest key."""
    return f"{link.public_id}{_SEPARATOR}{_signature(link.public_id, _link_keys()[0])}"


def current_link(customer: Customer | int) -> DossierLink:
    """The customer's active link, created on first use."""
    customer_id = customer if isinstance(customer, int) else customer.id
    link = db.session.scalar(
        select(DossierLink)
        .where(DossierLink.customer_id == customer_id, DossierLink.revoked_at.is_(None))
        .order_by(DossierLink.id)
        .limit(1)
    )
    if link is None:
        link = DossierLink(customer_id=customer_id, public_id=_b64(secrets.token_bytes(16)))
        db.session.add(link)  # written with the caller's transaction
    return link


def current_token(customer: Customer | int) -> str:
    return token_for(current_link(customer))


def rotate(actor: StaffUser, customer: Customer) -> DossierLink:
    """Revoke the active link and issue a new one; old links answer 404 from now on."""
    old = current_link(customer)
    old.revoked_at = now_utc()
    db.session.flush()  # the old link is revoked before the new one is looked for
    new = current_link(customer)
    audit.record(actor, "dossier_link.rotated", "customer", customer.id, customer_id=customer.id)
    return new


# The business settings (one row, or none yet) come along: every dossier page needs them,
# and so does the id of a running instalment plan (the page shows the plan, or offers one).
_RUNNING_PLAN_ID = (
    select(InstalmentPlan.id)
    .where(InstalmentPlan.customer_id == Customer.id, InstalmentPlan.status.in_(RUNNING))
    .order_by(InstalmentPlan.id.desc())
    .limit(1)
    .scalar_subquery()
)


def _live_link(*columns):
    """The active link of a public id with its customer (not archived) and the settings row."""
    return (
        select(*columns)
        .join(Customer, Customer.id == DossierLink.customer_id)
        .outerjoin(BusinessSettings, true())
        .where(DossierLink.public_id == bindparam("public_id"), DossierLink.revoked_at.is_(None),
               Customer.archived_at.is_(None))
        .order_by(BusinessSettings.id)
        .limit(1)
    )


_LIVE_LINK = _live_link(DossierLink, Customer, BusinessSettings, _RUNNING_PLAN_ID)



@dataclass(frozen=True, slots=True)
class Resolved:
    link: DossierLink
    customer: Customer
    settings: BusinessSettings
    running_plan_id: int | None


def _public_id(token: str) -> str | None:
    """The token's public id if its signature is ours: a forged token costs no query."""
    public_id, sep, signature = (token or "").partition(_SEPARATOR)
    if not sep or len(public_id) != 22 or len(signature) != 22:
        return None
    # Every listed key is tried, each in constant time, whichever matches: a link printed
    # under an older key opens until that key leaves the list.
    matches = [hmac.compare_digest(_signature(public_id, key), signature) for key in _link_keys()]
    return public_id if any(matches) else None


def resolve(token: str) -> Resolved | None:
    """The active link for a token, its customer, the business settings and the customer's
    running instalment plan id, or None for anything unknown, revoked, forged, or of an
    archived customer. One query: every dossier request starts here."""
    public_id = _public_id(token)
    if public_id is None:
        return None
    row = db.session.execute(_LIVE_LINK, {"public_id": public_id}).first()
    if row is None:
        return None
    link, customer, settings, plan_id = row
    return Resolved(link, customer, settings if settings is not None else get_settings(), plan_id)


# --- the check before documents are shown (Payt's postcode check for letters) ----------

def _normalised(value: str | None) -> str:
    return "".join((value or "").split()).upper()


def needs_check(dossier_check: str | None, postal_code: str | None) -> bool:
    """A check is only asked when the customer has the value to check against (the
    business's `dossier_check` setting, the customer's postal code)."""
    if dossier_check == "postal_code":
        return bool(_normalised(postal_code))
    return dossier_check == "customer_number"


def check_passes(settings: BusinessSettings, customer: Customer, answer: str) -> bool:
    expected = customer.postal_code if settings.dossier_check == "postal_code" else customer.number
    given, wanted = _normalised(answer)[:40], _normalised(expected)
    return bool(wanted) and hmac.compare_digest(given.encode(), wanted.encode())


# --- what one link reaches: only its own customer's released documents ---------------

# Never shown to the customer, whatever else is set: a draft (still being written) and a
# cancelled document.
_NEVER_SHOWN = (DocumentStatus.cancelled, DocumentStatus.draft)
_SHOWN = select(Document).where(
    Document.id == bindparam("document_id"),
    Document.customer_id == bindparam("customer_id"),
    Document.released_to_portal.is_(True),
    Document.status.not_in(_NEVER_SHOWN),
)
_RELEASED_DOCUMENT = _SHOWN.options(selectinload(Document.lines))
_RELEASED_INVOICE = _SHOWN.where(Document.kind == DocumentKind.invoice)


def released_document(customer: Customer, document_id: int, settings: BusinessSettings) -> Document | None:
    """The document if it belongs to this customer and may be shown (released, of a kind
    the settings release, not a draft or cancelled), else None (a 404)."""
    document = db.session.scalar(_RELEASED_DOCUMENT, {"document_id": document_id, "customer_id": customer.id})
    return document if document is not None and settings.releases(document.kind.value) else None


def released_invoice(customer: Customer, document_id: int, settings: BusinessSettings | None = None) -> Document | None:
    """The invoice if it belongs to this customer and may be shown, else None (a 404)."""
    invoice = db.session.scalar(_RELEASED_INVOICE, {"document_id": document_id, "customer_id": customer.id})
    if invoice is not None and settings is not None and not settings.releases(DocumentKind.invoice.value):
        return None
    return invoice


def released_ids(customer: Customer, ids: list[int], settings: BusinessSettings,
                 kind: DocumentKind | None = None) -> list[int]:
    """Which of these ids (of `kind`, if given) are documents the customer may see, sorted:
    one statement, for a form that names several (Pay the chosen invoices) or a list that
    links only what opens (the account statement)."""
    if not ids:
        return []
    stmt = select(Document.id).where(Document.id.in_(sorted(set(ids))), *_visible_to(customer, settings))
    if kind is not None:
        stmt = stmt.where(Document.kind == kind)
    return sorted(db.session.scalars(stmt))


def released_invoice_ids(customer: Customer, ids: list[int], settings: BusinessSettings) -> list[int]:
    return released_ids(customer, ids, settings, DocumentKind.invoice)


# --- the customer's documents, by kind -------------------------------------------------

# The order of the kinds on the customer's Documents page.
CUSTOMER_KINDS = (DocumentKind.invoice, DocumentKind.quote, DocumentKind.order_confirmation,
                  DocumentKind.delivery_note, DocumentKind.credit_note, DocumentKind.reminder)
DOCUMENTS_PER_PAGE = 25


def released_kinds(settings: BusinessSettings) -> tuple[DocumentKind, ...]:
    return tuple(kind for kind in CUSTOMER_KINDS if settings.releases(kind.value))


def _visible_to(customer: Customer, settings: BusinessSettings) -> tuple:
    """What released_document checks, as conditions on many rows."""
    return (
        Document.customer_id == customer.id,
        Document.released_to_portal.is_(True),
        Document.status.not_in(_NEVER_SHOWN),
        Document.kind.in_(released_kinds(settings)),
    )


def clean_query(query: str | None) -> str:
    """A search for a number: no NUL (PostgreSQL refuses it), single spaces, short."""
    return " ".join((query or "").replace("\x00", "").split())[:40]


@dataclass(frozen=True, slots=True)
class CustomerDocuments:
    """One page of the customer's documents, and how many each released kind has."""

    counts: dict[DocumentKind, int]  # released kinds with at least one match, in CUSTOMER_KINDS order
    kind: DocumentKind | None
    query: str
    items: list[Document]
    total: int
    page: int
    per_page: int = DOCUMENTS_PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def all_count(self) -> int:
        return sum(self.counts.values())


def customer_documents(customer: Customer, settings: BusinessSettings, *, kind: DocumentKind | None = None,
                       query: str = "", page: int = 1) -> CustomerDocuments:
    """The documents the customer sees (released, of released kinds, no drafts, nothing
    cancelled), newest first, optionally of one kind and matching a part of the number.
    Two statements whatever the number: the counts per kind, and one page."""
    query = clean_query(query)
    conditions = list(_visible_to(customer, settings))
    if query:
        conditions.append(func.lower(Document.number).contains(query.lower(), autoescape=True))
    found = dict(db.session.execute(
        select(Document.kind, func.count(Document.id)).where(*conditions).group_by(Document.kind)).all())
    counts = {k: found[k] for k in CUSTOMER_KINDS if found.get(k)}
    total = counts.get(kind, 0) if kind is not None else sum(counts.values())
    page = min(max(1, page), max(1, -(-total // DOCUMENTS_PER_PAGE)))
    items: list[Document] = []
    if total:
        if kind is not None:
            conditions.append(Document.kind == kind)
        items = list(db.session.scalars(
            select(Document).where(*conditions)
            .order_by(Document.issue_date.desc(), Document.id.desc())
            .limit(DOCUMENTS_PER_PAGE).offset((page - 1) * DOCUMENTS_PER_PAGE)))
    return CustomerDocuments(counts, kind, query, items, total, page)


class Hidden(str, enum.Enum):
    """Why the customer does not see a document (staff are told on the document page)."""

    draft = "draft"
    cancelled = "cancelled"
    not_released = "not_released"
    kind_not_released = "kind_not_released"
    archived = "archived"  # the customer is archived: their dossier link opens nothing


def hidden_because(document: Document, settings: BusinessSettings, customer: Customer | None = None) -> Hidden | None:
    """None when the customer sees this document through their dossier link; else why not.
    The same rules as released_document, without a query."""
    if document.status == DocumentStatus.draft:
        return Hidden.draft
    if document.status == DocumentStatus.cancelled:
        return Hidden.cancelled
    if not document.released_to_portal:
        return Hidden.not_released
    if not settings.releases(document.kind.value):
        return Hidden.kind_not_released
    if customer is not None and customer.archived_at is not None:
        return Hidden.archived
    return None


def dossier_url(token: str) -> str:
    """The dossier's public address, as every e-mail, letter and the Info tab show it."""
    return current_app.config["BASE_URL"] + "/d/" + token


def document_url_in(dossier_link: str, document_id: int) -> str:
    """A document's address inside a dossier link (mail builds it from the link it has)."""
    return f"{dossier_link}/documents/{document_id}"


def document_url(document: Document) -> str:
    """The document's own customer-facing address, on the customer's current dossier link.

    Creates the customer's dossier link if there is none yet (the caller commits), as
    every first look at the link does.
    """
    return document_url_in(dossier_url(current_token(document.customer_id)), document.id)


@dataclass(frozen=True, slots=True)
class PortalRelease:
    """What the document page's "Customer portal" box shows: the URL and, when the customer
    cannot open it, why."""

    url: str
    hidden: Hidden | None

    @property
    def visible(self) -> bool:
        return self.hidden is None


def portal_release(document: Document, settings: BusinessSettings | None = None) -> PortalRelease:
    """For the document page (the caller commits: the dossier link may be created now)."""
    settings = settings or get_settings()
    return PortalRelease(document_url(document), hidden_because(document, settings, document.customer))


PAID_HISTORY = 50  # the payment history shows the latest paid invoices

_RELEASED = (
    Document.customer_id == bindparam("customer_id"),
    Document.kind == DocumentKind.invoice,
    Document.released_to_portal.is_(True),
)
# Both lists in one statement (one round trip): all open invoices, the latest paid ones.
_OPEN_AND_PAID = union_all(
    select(*SUMMARY_COLUMNS, literal(False).label("paid"))
    .where(*_RELEASED, Document.status.in_(UNPAID_STATUSES)),
    select(*SUMMARY_COLUMNS, literal(True).label("paid"))
    .where(*_RELEASED, Document.status == DocumentStatus.paid)
    .order_by(Document.issue_date.desc(), Document.id.desc())
    .limit(PAID_HISTORY)
    .subquery()
    .select(),
)


@dataclass(frozen=True, slots=True)
class DossierInvoices:
    open: list[InvoiceSummary]  # oldest due first, those without a due date last
    outstanding: dict[str, Decimal]  # per currency
    paid: list[InvoiceSummary]  # newest first


def invoices(customer: Customer) -> DossierInvoices:
    """What the dossier lists: the released open invoices with the total outstanding per
    currency, and the latest paid ones."""
    open_: list[InvoiceSummary] = []
    paid: list[InvoiceSummary] = []
    for *columns, is_paid in db.session.execute(_OPEN_AND_PAID, {"customer_id": customer.id}):
        (paid if is_paid else open_).append(InvoiceSummary(*columns))
    open_.sort(key=lambda i: (i.due_date is None, i.due_date or date.min, i.id))
    paid.sort(key=lambda i: (i.issue_date, i.id), reverse=True)
    outstanding: dict[str, Decimal] = {}
    for invoice in open_:
        outstanding[invoice.currency] = outstanding.get(invoice.currency, Decimal("0.00")) + invoice.outstanding
    return DossierInvoices(open_, outstanding, paid)


OPENED_RESOLUTION = timedelta(minutes=1)


def record_opened(link: DossierLink) -> None:
    """Staff see when the dossier was last opened, to the minute: a reload within the
    minute writes nothing (no write per page view)."""
    now = now_utc()
    if link.last_opened_at is None or now - link.last_opened_at >= OPENED_RESOLUTION:
        # One UPDATE of one column, not the unit of work's flush of the whole link object
        # (every dossier visit runs this; the link is not read again in the request).
        db.session.execute(update(DossierLink).where(DossierLink.id == link.id).values(last_opened_at=now)
                           .execution_options(synchronize_session=False))


def record_viewed(document: Document) -> None:
    """Staff see "viewed" per invoice, to the minute like `record_opened`."""
    now = now_utc()
    if document.last_viewed_at is None or now - document.last_viewed_at >= OPENED_RESOLUTION:
        document.last_viewed_at = now
