"""The API's resources: customers, documents (and their original PDF), payments, events.

Lists page by cursor (the last id of the page: stable while rows are added, unlike an
offset) and read a bounded number of statements per page whatever its size. Upserts are
POSTs matched by external id or number (models.services.intake): 201 when created, 200
when updated or unchanged.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from decimal import Decimal

from flask import Response, g, request
from flask_babel import lazy_gettext as _l
from spectree import Response as Responses
from sqlalchemy import select
from sqlalchemy.orm import contains_eager, selectinload

from api import bp, spec
from api import schemas as s
from api.problems import ApiProblem
from api.writes import write
from web.errors import MAX_ID
from models import clock
from models.contacts import ContactPerson
from models.customers import Customer, CustomFieldDefinition, CustomFieldValue
from models.db import db, now_utc
from models.document_originals import DocumentOriginal
from models.documents import Document, DocumentKind
from models.events import Event
from models.payments import Payment, PaymentItem
from models.services import audit, einvoice, intake, recorded_payments
from models.services.einvoice import incoming
from models.services.errors import DomainError

MAX_ORIGINAL_BYTES = 4 * 1024 * 1024 - 1024  # under the app's MAX_CONTENT_LENGTH


def responses(ok: str | tuple[str, ...], model, *errors: int) -> Responses:
    """The success model(s) and every problem the operation may answer."""
    codes = {code: model for code in ((ok,) if isinstance(ok, str) else ok)}
    codes.update({"HTTP_401": s.Problem, "HTTP_403": s.Problem, "HTTP_429": s.Problem})
    for status in errors:
        codes[f"HTTP_{status}"] = s.Problem
    return Responses(**codes)


WRITE_ERRORS = (400, 409, 413, 415, 422)


def _money(value: Decimal | None) -> str:
    return f"{(value or Decimal('0')):.2f}"


def _cursor_of(rows, limit: int) -> str | None:
    return str(rows[-1].id) if len(rows) == limit else None


def _after(query) -> int:
    """The cursor as an id; one beyond any id (ids are 32-bit) reads an empty page."""
    return min(int(query.cursor), MAX_ID) if query.cursor else 0


# --- customers -------------------------------------------------------------------------


def _customers_out(customers: list[Customer]) -> list[s.CustomerOut]:
    ids = [c.id for c in customers]
    fields: dict[int, dict[str, str]] = defaultdict(dict)
    contacts: dict[int, list] = defaultdict(list)
    if ids:
        for customer_id, label, value in db.session.execute(
                select(CustomFieldValue.customer_id, CustomFieldDefinition.label, CustomFieldValue.value)
                .join(CustomFieldDefinition, CustomFieldDefinition.id == CustomFieldValue.field_id)
                .where(CustomFieldValue.customer_id.in_(ids))):
            fields[customer_id][label] = value
        for contact in db.session.scalars(select(ContactPerson).where(ContactPerson.customer_id.in_(ids))
                                          .order_by(ContactPerson.name, ContactPerson.id)):
            contacts[contact.customer_id].append(s.ContactPersonOut(
                name=contact.name, email=contact.email, phone=contact.phone, role=contact.role.value,
                invoice_emails=contact.invoice_emails, account_emails=contact.account_emails))
    return [s.CustomerOut(
        id=c.id, external_id=c.external_id, number=c.number, kind=c.kind.value, name=c.name,
        company_name=c.company_name, email=c.email, phone=c.phone, street=c.street, postal_code=c.postal_code,
        city=c.city, country=c.country, language=c.language, vat_id=c.vat_id, tax_number=c.tax_number,
        iban=c.iban, bic=c.bic, bank_holder=c.bank_holder, portal_access=c.portal_access,
        archived=c.archived_at is not None, tags=[t.name for t in c.tags], custom_fields=fields[c.id],
        contact_persons=contacts[c.id], created_at=c.created_at, updated_at=c.updated_at,
    ) for c in customers]


@bp.get("/customers")
@spec.validate(query=s.ListQuery, resp=responses("HTTP_200", s.CustomerPage, 404, 422), tags=["customers"])
def customers_list(query: s.ListQuery):
    """List customers, oldest first, a page at a time."""
    stmt = (select(Customer).options(selectinload(Customer.tags)).where(Customer.id > _after(query))
            .order_by(Customer.id).limit(query.limit))
    if query.updated_since is not None:
        stmt = stmt.where(Customer.updated_at >= query.updated_since)
    rows = list(db.session.scalars(stmt))
    return s.CustomerPage(data=_customers_out(rows), next_cursor=_cursor_of(rows, query.limit))


def _customer(customer_id: int) -> Customer:
    customer = db.session.scalar(select(Customer).options(selectinload(Customer.tags))
                                 .where(Customer.id == customer_id))
    if customer is None:
        raise ApiProblem(404, "Not found", "No customer has this id.")
    return customer


@bp.get("/customers/<int:customer_id>")
@spec.validate(resp=responses("HTTP_200", s.CustomerOut, 404), tags=["customers"])
def customer_get(customer_id: int):
    """One customer."""
    return _customers_out([_customer(customer_id)])[0]


@bp.post("/customers")
@spec.validate(json=s.CustomerIn, resp=responses(("HTTP_200", "HTTP_201"), s.CustomerUpsert, *WRITE_ERRORS),
               tags=["customers"])
def customer_upsert(json: s.CustomerIn):
    """Create or update a customer, matched by external_id, else by number.

    Sending the same record twice changes nothing (outcome "unchanged"). A field left out
    keeps what Dossier has; contact_persons and tags, when sent, replace the lists.
    Answers 201 when the customer was created.
    """
    def change():
        customer, outcome = intake.upsert_customer(json.model_dump(exclude_unset=True), actor_label=g.api_key.label)
        out = _customers_out([customer])[0]
        return s.CustomerUpsert(outcome=outcome, data=out), 201 if outcome == intake.CREATED else 200

    return write(change)


# --- documents -------------------------------------------------------------------------


def _documents_out(documents: list[Document], *, new: bool = False) -> list[s.DocumentOut]:
    """`new`: just created, so without an original (no query for it)."""
    ids = [d.id for d in documents]
    originals = set(db.session.scalars(select(DocumentOriginal.document_id)
                                       .where(DocumentOriginal.document_id.in_(ids)))) if ids and not new else set()
    return [s.DocumentOut(
        id=d.id, kind=d.kind.value, number=d.number, external_id=d.external_id,
        customer=s.CustomerRef(id=d.customer.id, number=d.customer.number, external_id=d.customer.external_id),
        issue_date=d.issue_date, due_date=d.due_date, valid_until=d.valid_until, currency=d.currency,
        status=d.status.value, net_total=_money(d.net_total), tax_total=_money(d.tax_total),
        gross_total=_money(d.gross_total), amount_paid=_money(d.amount_paid),
        amount_credited=_money(d.amount_credited), amount_written_off=_money(d.amount_written_off),
        outstanding=_money(d.outstanding), released_to_portal=d.released_to_portal, language=d.language,
        notes=d.notes, related_id=d.related_id, reminder_level=d.reminder_level, has_original=d.id in originals,
        lines=[s.LineOut(description=line.description, quantity=f"{line.quantity:.3f}",
                         unit_price=_money(line.unit_price), vat_rate=_money(line.vat_rate),
                         net_amount=_money(line.net_amount)) for line in d.lines],
        created_at=d.created_at, updated_at=d.updated_at,
    ) for d in documents]


_DOCUMENTS = (select(Document).join(Document.customer)
              .options(contains_eager(Document.customer), selectinload(Document.lines)))


@bp.get("/documents")
@spec.validate(query=s.DocumentQuery, resp=responses("HTTP_200", s.DocumentPage, 404, 422), tags=["documents"])
def documents_list(query: s.DocumentQuery):
    """List documents of every kind, oldest first, a page at a time."""
    stmt = _DOCUMENTS.where(Document.id > _after(query)).order_by(Document.id).limit(query.limit)
    if query.updated_since is not None:
        stmt = stmt.where(Document.updated_at >= query.updated_since)
    if query.kind is not None:
        stmt = stmt.where(Document.kind == DocumentKind(query.kind))
    if query.customer_external_id is not None:
        stmt = stmt.where(Customer.external_id == query.customer_external_id)
    rows = list(db.session.scalars(stmt).unique())
    return s.DocumentPage(data=_documents_out(rows), next_cursor=_cursor_of(rows, query.limit))


def _document(document_id: int) -> Document:
    document = db.session.scalar(_DOCUMENTS.where(Document.id == document_id))
    if document is None:
        raise ApiProblem(404, "Not found", "No document has this id.")
    return document


@bp.get("/documents/<int:document_id>")
@spec.validate(resp=responses("HTTP_200", s.DocumentOut, 404), tags=["documents"])
def document_get(document_id: int):
    """One document with its lines."""
    return _documents_out([_document(document_id)])[0]


@bp.post("/documents")
@spec.validate(json=s.DocumentIn, resp=responses(("HTTP_200", "HTTP_201"), s.DocumentUpsert, *WRITE_ERRORS),
               tags=["documents"])
def document_upsert(json: s.DocumentIn):
    """Create or update a document of any kind, matched by external_id, else by kind and number.

    The package's own number is kept. Give the lines, or only the totals. Sending the same
    record twice changes nothing (outcome "unchanged"). Answers 201 when it was created.
    """
    def change():
        document, outcome = intake.upsert_document(json.model_dump(exclude_unset=True), actor_label=g.api_key.label)
        # (totals a Core statement changed, e.g. settlement, were expired: read again here)
        out = _documents_out([document], new=outcome == intake.CREATED)[0]
        return s.DocumentUpsert(outcome=outcome, data=out), 201 if outcome == intake.CREATED else 200

    return write(change)


def _batch(upsert, records: list, name: str) -> s.BatchResult:
    """Each record in order, in the request's one transaction; the first refused one refuses
    the batch (nothing is stored) and names itself: documents[3].lines[0].unit_price."""
    results = []
    records = [record.model_dump(exclude_unset=True) for record in records]
    for index, record in enumerate(records):
        try:
            row, outcome = upsert(record, actor_label=g.api_key.label)
        except DomainError as error:
            raise error.within(f"{name}[{index}]") from None
        results.append(s.BatchItem(id=row.id, number=row.number, external_id=row.external_id, outcome=outcome))
    return s.BatchResult(results=results)


@bp.post("/documents/batch")
@spec.validate(json=s.DocumentBatchIn, resp=responses("HTTP_200", s.BatchResult, *WRITE_ERRORS), tags=["documents"])
def documents_batch(json: s.DocumentBatchIn):
    """Create or update up to 100 documents at once, as POST /documents does each one.

    One transaction: all are stored, or (a 422 naming documents[i] and its field) none.
    """
    def change():
        records = [record.model_dump(exclude_unset=True) for record in json.documents]
        intake.prefetch_documents(records)
        upserted = intake.upsert_documents(records, actor_label=g.api_key.label, name="documents")
        return s.BatchResult(results=[s.BatchItem(id=row.id, number=row.number, external_id=row.external_id,
                                                  outcome=outcome) for row, outcome in upserted]), 200

    return write(change)


@bp.post("/customers/batch")
@spec.validate(json=s.CustomerBatchIn, resp=responses("HTTP_200", s.BatchResult, *WRITE_ERRORS), tags=["customers"])
def customers_batch(json: s.CustomerBatchIn):
    """Create or update up to 100 customers at once, as POST /customers does each one.

    One transaction: all are stored, or (a 422 naming customers[i] and its field) none.
    """
    return write(lambda: (_batch(intake.upsert_customer, json.customers, "customers"), 200))


@bp.put("/documents/<int:document_id>/original")
@spec.validate(resp=responses("HTTP_200", s.DocumentOut, 404, 413, 415, 422), tags=["documents"])
def document_original_put(document_id: int):
    """Attach the package's own PDF (body: application/pdf, up to 4 MB); the portal offers it as the original."""
    if request.mimetype != "application/pdf":
        raise ApiProblem(415, "Unsupported media type", "Send the PDF as application/pdf.")
    data = request.get_data(cache=False)
    if len(data) > MAX_ORIGINAL_BYTES:
        raise ApiProblem(413, "Body too large", "The PDF is larger than 4 MB.")
    if not data.startswith(b"%PDF-"):
        raise ApiProblem(422, "Invalid input", "This is not a PDF.", field="body")
    document = _document(document_id)
    digest = hashlib.sha256(data).hexdigest()
    original = db.session.get(DocumentOriginal, document.id)
    if original is None:
        db.session.add(DocumentOriginal(document_id=document.id, filename=f"{document.number or document.id}.pdf",
                                        data=data, sha256=digest))
    elif original.sha256 != digest:
        original.data, original.sha256, original.uploaded_at = data, digest, now_utc()
    db.session.commit()
    return _documents_out([document])[0]


@bp.get("/documents/<int:document_id>/original")
@spec.validate(resp=Responses("HTTP_200", HTTP_401=s.Problem, HTTP_403=s.Problem, HTTP_404=s.Problem,
                              HTTP_429=s.Problem), tags=["documents"])
def document_original_get(document_id: int):
    """The original PDF as it was sent (application/pdf)."""
    original = db.session.get(DocumentOriginal, document_id)
    if original is None:
        raise ApiProblem(404, "Not found", "This document has no original.")
    return Response(original.data, 200, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{original.filename}"'})


# --- e-invoices ------------------------------------------------------------------------


@bp.get("/documents/<int:document_id>/einvoice")
@spec.validate(query=s.EInvoiceQuery, resp=Responses("HTTP_200", HTTP_401=s.Problem, HTTP_403=s.Problem,
                                                     HTTP_404=s.Problem, HTTP_409=s.Problem, HTTP_422=s.Problem,
                                                     HTTP_429=s.Problem, HTTP_503=s.Problem), tags=["e-invoices"])
def document_einvoice(document_id: int, query: s.EInvoiceQuery):
    """An invoice or credit note as e-invoice: Factur-X PDF, or XRechnung as UBL or CII XML (EN 16931)."""
    document = _document(document_id)
    try:
        rendered = einvoice.render(document, query.format)
    except einvoice.PdfUnavailable:
        raise ApiProblem(503, detail="Factur-X PDFs are not available on this server; ask for XRechnung XML.") from None
    except DomainError as error:
        raise ApiProblem(409, "Not an e-invoice", str(error.message)) from None
    return Response(rendered.content, 200, mimetype=rendered.mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{rendered.filename}"'})


@bp.post("/einvoices")
@spec.validate(query=s.EInvoiceImportQuery,
               resp=responses(("HTTP_200", "HTTP_201"), s.DocumentUpsert, *WRITE_ERRORS), tags=["e-invoices"])
def einvoice_import(query: s.EInvoiceImportQuery):
    """Import an e-invoice (UBL or CII XML, or a Factur-X / ZUGFeRD PDF) as a document.

    It is checked against the EN 16931 rules first: a file that breaks any answers 422 with
    each rule in `errors`. The customer is matched by VAT id, customer number or e-mail;
    with none, 422 unless `create_customer=true`. The same file twice is "unchanged".
    """
    data = request.get_data()  # kept: an Idempotency-Key's fingerprint reads the body again
    if len(data) > incoming.MAX_BYTES:
        raise ApiProblem(413, detail="The file is larger than the limit for e-invoices.")
    try:
        reading = incoming.read(data)
    except incoming.Refused as refused:
        raise ApiProblem(422, "Not a valid e-invoice", str(refused.message), field="body",
                         errors=[{"rule": f.rule, "text": f.text} for f in refused.failures] or None) from None

    def change():
        customer = incoming.match_customer(reading.invoice, None)
        if customer is None:
            if not query.create_customer:
                raise DomainError(_l("No customer matches the buyer; send create_customer=true to create it."),
                                  field="create_customer")
            customer = incoming.new_customer(reading.invoice, None, actor_label=g.api_key.label)
        document, outcome = incoming.import_document(reading, customer, actor_label=g.api_key.label)
        out = _documents_out([document], new=outcome == intake.CREATED)[0]
        return s.DocumentUpsert(outcome=outcome, data=out), 201 if outcome == intake.CREATED else 200

    return write(change)


# --- payments --------------------------------------------------------------------------


def _payments_out(payments: list[Payment]) -> list[s.PaymentOut]:
    customer_ids = {p.customer_id for p in payments}
    document_ids = {item.document_id for p in payments for item in p.items}
    customers = {c.id: c for c in db.session.scalars(select(Customer).where(Customer.id.in_(customer_ids)))} \
        if customer_ids else {}
    numbers = dict(db.session.execute(select(Document.id, Document.number).where(Document.id.in_(document_ids)))
                   .all()) if document_ids else {}
    return [s.PaymentOut(
        id=p.id, customer=s.CustomerRef(id=p.customer_id, number=customers[p.customer_id].number,
                                        external_id=customers[p.customer_id].external_id),
        provider=p.provider, method=p.method, amount=_money(p.amount), currency=p.currency, status=p.status.value,
        paid_at=p.paid_at, reversed=p.reversed_at is not None, created_at=p.created_at,
        items=[s.PaymentItemOut(document_id=i.document_id, document_number=numbers.get(i.document_id),
                                amount=_money(i.amount)) for i in p.items],
    ) for p in payments]


@bp.get("/payments")
@spec.validate(query=s.PaymentQuery, resp=responses("HTTP_200", s.PaymentPage, 404, 422), tags=["payments"])
def payments_list(query: s.PaymentQuery):
    """Payments of every kind (online, recorded, credit applied), oldest first."""
    rows = list(db.session.scalars(
        select(Payment).options(selectinload(Payment.items)).where(Payment.id > _after(query))
        .order_by(Payment.id).limit(query.limit)))
    return s.PaymentPage(data=_payments_out(rows), next_cursor=_cursor_of(rows, query.limit))


@bp.post("/payments")
@spec.validate(json=s.PaymentIn, resp=responses("HTTP_201", s.PaymentCreated, *WRITE_ERRORS), tags=["payments"])
def payment_record(json: s.PaymentIn):
    """Record money received outside Dossier for an invoice, found by external id or number.

    Send an Idempotency-Key: a payment recorded twice is money counted twice.
    """
    kind = DocumentKind(json.document_kind)
    if json.document_external_id:
        where = Document.external_id == json.document_external_id
        field = "document_external_id"
    elif json.document_number:
        where, field = Document.number == json.document_number, "document_number"
    else:
        raise ApiProblem(422, "Invalid input", "Name the document by document_external_id or document_number.",
                         field="document_external_id")

    def change():
        document = db.session.scalar(select(Document).where(Document.kind == kind, where))
        if document is None:
            raise ApiProblem(422, "Invalid input", "No document of this kind has this id or number.", field=field)
        with audit.acting_as(g.api_key.label):
            payment = recorded_payments.record_payment(
                None, document, amount=json.amount, received_on=json.received_on, method=json.method,
                today=clock.today(), confirm_credit=json.confirm_credit)
        db.session.flush()
        return s.PaymentCreated(data=_payments_out([payment])[0]), 201

    return write(change)


# --- events ----------------------------------------------------------------------------


@bp.get("/events")
@spec.validate(query=s.EventQuery, resp=responses("HTTP_200", s.EventPage, 422), tags=["events"])
def events_list(query: s.EventQuery):
    """What happened since the event `after` (payments, quotes decided, questions, …), oldest first."""
    rows = list(db.session.scalars(select(Event).where(Event.id > query.after).order_by(Event.id).limit(query.limit)))
    return s.EventPage(
        data=[s.EventOut(id=e.id, type=e.type, created_at=e.created_at, customer_id=e.customer_id,
                         document_id=e.document_id, data=e.data or {}) for e in rows],
        next_cursor=str(rows[-1].id) if rows else None,
    )

