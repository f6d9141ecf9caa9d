"""Records from the business's accounting package, one upsert at a time (REST API, CSV import).

Both functions take one plain dict, check every value, find the record the package means
(by its external id, else by its number) and create it, change it, or leave it: sending
the same record twice changes nothing and answers "unchanged". They flush, never commit;
a bad value raises `DomainError(message, field=...)` naming the input, e.g.
"lines[2].unit_price" or "contact_persons[0].email". Unknown keys are refused. Values may
be Python values or strings (dates "YYYY-MM-DD", amounts "12.50": the caller parses
locale formats such as a decimal comma). A key left out keeps what is stored (a new
record gets the default); None clears an optional value. The existing services do the
work, so their rules (number clashes, ≤10 contact persons, totals, dates) hold here too.

upsert_customer(data, *, actor_label) -> (Customer, "created" | "updated" | "unchanged")
    external_id      str ≤100: the package's id, matched first
    number           str ≤30 (letters, digits, . _ / -): matched next; new without one: the next free number
    kind             "individual" | "company"
    name             str ≤200, required for a new customer
    company_name     str ≤200, required when kind is "company"
    email            a valid address ≤254
    phone            str ≤40 (digits, spaces, + ( ) . / -)
    street ≤200, postal_code ≤20, city ≤100, vat_id ≤30, tax_number ≤30, bank_holder ≤200
    country          ISO code from models.customers.COUNTRY_CODES
    language         "en" | "nl" | "de"
    iban, bic        checked (schwifty)
    portal_access    bool
    tags             list of str (≤10, each ≤40): replaces the customer's tags
    custom_fields    {label: value}: labels defined in the settings; None or "" clears the value
    contact_persons  list (≤10) of {name, email, phone?, role? (models.contacts.ContactRole),
                     invoice_emails? (default true), account_emails? (default false)}:
                     replaces the list, matched by e-mail address ignoring case

upsert_document(data, *, actor_label) -> (Document, "created" | "updated" | "unchanged")
    kind             required: invoice, quote, credit_note, reminder, order_confirmation, delivery_note
    external_id      str ≤100: matched first (per kind)
    number           str ≤40: the package's own number, kept; matched next (per kind);
                     a new document without one gets the next number of its kind
    customer_external_id | customer_number   the customer, which must exist (required when new)
    issue_date       required when new; due_date (invoices: required), valid_until (quotes: required)
    currency         models.settings.CURRENCIES (new: the settings' default currency)
    status           invoice: draft, open, partially_paid, paid, cancelled; quote: pending,
                     accepted, rejected; reminder: open, partially_paid, paid, issued; others: issued
    amount_paid      invoices and reminders: paid outside Dossier. "paid" without it means the
                     whole total. It only ever raises what is paid: money recorded in Dossier stays.
    lines            list (1–100) of {description ≤300, quantity (≤3 decimals), unit_price
                     (≤2 decimals), vat_rate (percent, ≤2 decimals, 0–100)}
    totals           {net, tax, gross} (≤2 decimals, net + tax = gross): without lines, the
                     document's totals; with lines, a check that they add up to it
    notes ≤4000, language, released_to_portal (bool)
    related_number   credit notes (required, with lines): the invoice credited
    reminder_level (1–3), fee, interest, invoice_numbers (list): reminders (invoices unpaid)

Batches: call `prefetch_documents(records)` first (optional) and the upserts of those
records find their customers and documents without a statement each; the result is the
same. One transaction per batch is the caller's (flush here, commit there).

Money received for an invoice (payment.received etc.) is not part of a document: see
models.services.recorded_payments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import String, delete, func, inspect, or_, select
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from models import clock
from models.contacts import MAX_CONTACTS_PER_CUSTOMER, ContactPerson, ContactRole
from models.customers import COUNTRY_CODES, Customer, CustomerKind, CustomFieldDefinition, CustomFieldKind
from models.db import db, now_utc
from models.documents import REMINDER_LEVELS, Document, DocumentKind, DocumentStatus
from models.services import audit, bulk, contacts, credit_notes, credits, customers, documents, reminders, settlement
from models.services.documents import MAX_LINES, MAX_TOTAL, LineInput, Totals
from models.services.errors import DomainError
from models.services.master_data import LANGUAGES, normalised_bic, normalised_iban
from models.services.settings import get_settings
from models.settings import CURRENCIES, BusinessSettings

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"
CENT = Decimal("0.01")
MILLI = Decimal("0.001")
NUMBER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
PHONE_PATTERN = re.compile(r"^[0-9 +()./-]+$")
MAX_TAGS = 10

# The customer's own text columns: (name, longest).
_CUSTOMER_TEXT = {
    "name": 200, "company_name": 200, "street": 200, "postal_code": 20, "city": 100,
    "vat_id": 30, "tax_number": 30, "bank_holder": 200,
}
CUSTOMER_KEYS = frozenset({
    "external_id", "number", "kind", "email", "phone", "country", "language", "iban", "bic",
    "portal_access", "tags", "custom_fields", "contact_persons", *_CUSTOMER_TEXT,
})
CONTACT_KEYS = frozenset({"name", "email", "phone", "role", "invoice_emails", "account_emails"})
DOCUMENT_KEYS = frozenset({
    "kind", "external_id", "number", "customer_external_id", "customer_number", "issue_date", "due_date",
    "valid_until", "currency", "status", "amount_paid", "lines", "totals", "notes", "language",
    "released_to_portal", "related_number", "reminder_level", "fee", "interest", "invoice_numbers",
})
LINE_KEYS = frozenset({"description", "quantity", "unit_price", "vat_rate"})
TOTALS_KEYS = frozenset({"net", "tax", "gross"})

# The statuses the package may give, per kind (expired and overdue are derived, never given).
STATUSES = {
    DocumentKind.invoice: ("draft", "open", "partially_paid", "paid", "cancelled"),
    DocumentKind.quote: ("pending", "accepted", "rejected"),
    DocumentKind.reminder: ("open", "partially_paid", "paid", "issued"),
    DocumentKind.credit_note: ("issued",),
    DocumentKind.order_confirmation: ("issued",),
    DocumentKind.delivery_note: ("issued",),
}
_PAID_STATUSES = ("open", "partially_paid", "paid")


# --- single values ----------------------------------------------------------------------


def _refuse_unknown(data: Any, allowed: frozenset[str], prefix: str = "") -> dict:
    if not isinstance(data, dict):
        raise DomainError(_l("Expected an object."), field=prefix.rstrip(".") or None)
    for key in data:
        if key not in allowed:
            raise DomainError(_l("Unknown field."), field=f"{prefix}{key}")
    return data


def _text(value: Any, field: str, longest: int, *, required: bool = False) -> str | None:
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise DomainError(_l("Expected text."), field=field)
    if "\x00" in text:
        raise DomainError(_l("Expected text."), field=field)
    if not text:
        if required:
            raise DomainError(_l("This field is required."), field=field)
        return None
    if len(text) > longest:
        raise DomainError(_l("At most %(n)s characters.", n=longest), field=field)
    return text


def _bool(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise DomainError(_l("Expected true or false."), field=field)


def _decimal(value: Any, field: str, places: Decimal, *, required: bool = True) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise DomainError(_l("This field is required."), field=field)
        return None
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, float, str)):
        raise DomainError(_l("Expected a number."), field=field)
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise DomainError(_l("Expected a number."), field=field) from None
    if not number.is_finite() or abs(number) >= MAX_TOTAL:
        raise DomainError(_l("Expected a number."), field=field)
    if number != number.quantize(places):
        if places == CENT:
            raise DomainError(_l("At most 2 decimals."), field=field)
        raise DomainError(_l("At most 3 decimals."), field=field)
    return number.quantize(places)


def _date(value: Any, field: str, *, required: bool = False) -> date | None:
    if value is None or value == "":
        if required:
            raise DomainError(_l("This field is required."), field=field)
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise DomainError(_l("Expected a date (YYYY-MM-DD)."), field=field)


def _choice(value: Any, field: str, choices, message) -> str:
    if not isinstance(value, str) or value.strip() not in choices:
        raise DomainError(message, field=field)
    return value.strip()


def _external_id(data: dict) -> str | None:
    return _text(data.get("external_id"), "external_id", 100)


# --- customers -------------------------------------------------------------------------


def _customer_values(data: dict, creating: bool, current_kind: CustomerKind | None) -> dict[str, Any]:
    """The customer's columns as save_customer takes them, checked; only the keys given."""
    values: dict[str, Any] = {}
    for name, longest in _CUSTOMER_TEXT.items():
        if name in data:
            values[name] = _text(data[name], name, longest, required=name == "name")
    if creating and "name" not in data:
        raise DomainError(_l("This field is required."), field="name")
    if "kind" in data:
        values["kind"] = _choice(data["kind"], "kind", ("individual", "company"),
                                 _l("Choose individual or company."))
    else:
        values["kind"] = (current_kind or CustomerKind.individual).value
    if "number" in data:
        number = _text(data["number"], "number", 30)
        if number and not NUMBER_PATTERN.match(number):
            raise DomainError(_l("Use letters, digits, dots, dashes or slashes."), field="number")
        values["number"] = number
    if "email" in data:
        email = _text(data["email"], "email", 254)
        if email is not None:
            from models.services import addresses

            email = addresses.normalised(email)
            if email is None:
                raise DomainError(_l("Enter a valid e-mail address."), field="email")
        values["email"] = email
    if "phone" in data:
        phone = _text(data["phone"], "phone", 40)
        if phone and not PHONE_PATTERN.match(phone):
            raise DomainError(_l("Use digits, spaces and + ( ) - only."), field="phone")
        values["phone"] = phone
    if "country" in data:
        values["country"] = _choice((data["country"] or "").upper() if isinstance(data["country"], str) else None,
                                    "country", COUNTRY_CODES, _l("Choose a country."))
    if "language" in data:
        values["language"] = _choice(data["language"], "language", LANGUAGES, _l("Choose a language."))
    if "iban" in data:
        values["iban"] = normalised_iban(_text(data["iban"], "iban", 42))
    if "bic" in data:
        values["bic"] = normalised_bic(_text(data["bic"], "bic", 11))
    if "portal_access" in data:
        values["portal_access"] = _bool(data["portal_access"], "portal_access")
    if "tags" in data:
        tags = data["tags"] if data["tags"] is not None else []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise DomainError(_l("Expected a list of tags."), field="tags")
        tags = [t.strip() for t in tags if t.strip()]
        if len(tags) > MAX_TAGS:
            raise DomainError(_l("Use at most 10 tags."), field="tags")
        if any(len(t.lower()) > 40 for t in tags):
            raise DomainError(_l("A tag has at most 40 characters."), field="tags")
        values["tags"] = tags
    return values


def _custom_field_values(given: Any, definitions: dict[str, CustomFieldDefinition] | None = None
                        ) -> dict[int, str | None]:
    """{label: value} → {field id: stored text}, checked against each field's kind
    (`definitions`: by casefolded label, when a batch read them once)."""
    given = given or {}
    if not isinstance(given, dict):
        raise DomainError(_l("Expected an object."), field="custom_fields")
    if definitions is None:
        definitions = _definitions()
    values: dict[int, str | None] = {}
    for label, value in given.items():
        field = f"custom_fields.{label}"
        definition = definitions.get(str(label).casefold())
        if definition is None:
            raise DomainError(_l("No custom field has this label."), field=field)
        if value is None or value == "":
            values[definition.id] = None
        elif definition.kind == CustomFieldKind.number:
            try:
                number = Decimal(str(value).strip()) if not isinstance(value, bool) else None
            except InvalidOperation:
                number = None
            if number is None or not number.is_finite() or abs(number) > Decimal("1e12"):
                raise DomainError(_l("Expected a number."), field=field)
            values[definition.id] = str(number)
        elif definition.kind == CustomFieldKind.date:
            values[definition.id] = _date(value, field).isoformat()
        else:
            values[definition.id] = _text(value if isinstance(value, str) else str(value), field, 500)
    return values


def _definitions() -> dict[str, CustomFieldDefinition]:
    return {d.label.casefold(): d for d in db.session.scalars(select(CustomFieldDefinition))}


def _contact_inputs(given: Any) -> list[contacts.ContactInput]:
    if given is None:
        given = []
    if not isinstance(given, list):
        raise DomainError(_l("Expected a list."), field="contact_persons")
    if len(given) > MAX_CONTACTS_PER_CUSTOMER:
        raise DomainError(_l("A customer has at most %(n)s contact persons.", n=MAX_CONTACTS_PER_CUSTOMER),
                          field="contact_persons")
    inputs, seen = [], set()
    for i, item in enumerate(given):
        prefix = f"contact_persons[{i}]."
        _refuse_unknown(item, CONTACT_KEYS, prefix)
        email = _text(item.get("email"), prefix + "email", 254, required=True)
        if email.lower() in seen:
            raise DomainError(_l("A contact person with this address exists already."), field=prefix + "email")
        seen.add(email.lower())
        role = item.get("role") or ContactRole.general.value
        inputs.append(contacts.ContactInput(
            name=_text(item.get("name"), prefix + "name", 120, required=True),
            email=email,
            phone=_text(item.get("phone"), prefix + "phone", 40),
            role=ContactRole(_choice(role, prefix + "role", [r.value for r in ContactRole], _l("Choose a role."))),
            invoice_emails=_bool(item.get("invoice_emails", True), prefix + "invoice_emails"),
            account_emails=_bool(item.get("account_emails", False), prefix + "account_emails"),
        ))
    return inputs


def _sync_contacts(customer: Customer, inputs: list[contacts.ContactInput], label: str) -> bool:
    """The customer's contact persons become `inputs`: removed first, so the cap holds."""
    actor = contacts.Actor(via=label)
    current = {c.email.lower(): c for c in contacts.contacts_of(customer)}
    wanted = {i.email.lower(): (n, i) for n, i in enumerate(inputs)}
    changed = False
    for key, contact in current.items():
        if key not in wanted:
            contacts.remove_contact(actor, contact)
            changed = True
    for key, (n, data) in wanted.items():
        try:
            if key in current:
                before = contacts._snapshot(current[key])
                contacts.update_contact(actor, customer, current[key], data)
                changed = changed or contacts._snapshot(current[key]) != before
            else:
                contacts.add_contact(actor, customer, data)
                changed = True
        except DomainError as error:
            raise DomainError(error.message, field=f"contact_persons[{n}]" + (f".{error.field}" if error.field else ""))
    return changed


def _find_customer(external_id: str | None, number: str | None) -> Customer | None:
    if external_id:
        found = db.session.scalar(select(Customer).where(Customer.external_id == external_id))
        if found is not None:
            return found
    if number:
        found = db.session.scalar(select(Customer).where(func.lower(Customer.number) == number.lower()))
        if found is not None and external_id and found.external_id not in (None, external_id):
            raise DomainError(_l("This customer number is already in use."), field="number")
        return found
    return None


def _customer_state(customer: Customer) -> tuple:
    return (
        customers._snapshot(customer), customer.external_id,
        sorted(customers.custom_field_values(customer).items()),
    )


def upsert_customer(data: dict, *, actor_label: str) -> tuple[Customer, str]:
    """Create or update one customer from the package's record (shape: module docstring)."""
    _refuse_unknown(data, CUSTOMER_KEYS)
    external_id = _external_id(data)
    number = _text(data.get("number"), "number", 30)
    customer = _find_customer(external_id, number)
    creating = customer is None
    values = _customer_values(data, creating, None if creating else customer.kind)
    if "custom_fields" in data:
        values["custom_fields"] = _custom_field_values(data["custom_fields"])
    inputs = _contact_inputs(data["contact_persons"]) if "contact_persons" in data else None

    with audit.acting_as(actor_label):
        before = None if creating else _customer_state(customer)
        if not creating and number is None and "number" in values:
            del values["number"]  # None keeps the customer's number
        if not creating and "company_name" not in values:
            values["company_name"] = customer.company_name  # save_customer checks a company has one
        customer = customers.save_customer(None, values, customer)
        if external_id and customer.external_id != external_id:
            customer.external_id = external_id
            db.session.flush()
        contacts_changed = _sync_contacts(customer, inputs, actor_label) if inputs is not None else False
    if creating:
        return customer, CREATED
    changed = contacts_changed or _customer_state(customer) != before
    return customer, UPDATED if changed else UNCHANGED


# --- documents -------------------------------------------------------------------------


def _lines(given: Any) -> list[LineInput]:
    if not isinstance(given, list):
        raise DomainError(_l("Expected a list."), field="lines")
    if not given:
        raise DomainError(_l("Add at least one line."), field="lines")
    if len(given) > MAX_LINES:
        raise DomainError(_l("A document has at most %(n)s lines.", n=MAX_LINES), field="lines")
    lines = []
    for i, item in enumerate(given):
        prefix = f"lines[{i}]."
        _refuse_unknown(item, LINE_KEYS, prefix)
        vat_rate = _decimal(item.get("vat_rate", "0"), prefix + "vat_rate", CENT)
        if not 0 <= vat_rate <= 100:
            raise DomainError(_l("A VAT rate is a percentage from 0 to 100."), field=prefix + "vat_rate")
        quantity = _decimal(item.get("quantity"), prefix + "quantity", MILLI)
        if abs(quantity) >= Decimal("1e9"):
            raise DomainError(_l("Expected a number."), field=prefix + "quantity")
        lines.append(LineInput(
            description=_text(item.get("description"), prefix + "description", 300, required=True),
            quantity=quantity, unit_price=_decimal(item.get("unit_price"), prefix + "unit_price", CENT),
            vat_rate=vat_rate,
        ))
    return lines


def _totals(given: Any) -> Totals:
    _refuse_unknown(given, TOTALS_KEYS, "totals.")
    net, tax, gross = (_decimal(given.get(k), f"totals.{k}", CENT) for k in ("net", "tax", "gross"))
    if net + tax != gross:
        raise DomainError(_l("Net plus tax is not the gross total."), field="totals.gross")
    return Totals(net=net, tax=tax, gross=gross)


def _customer_of(data: dict) -> Customer | None:
    external_id = _text(data.get("customer_external_id"), "customer_external_id", 100)
    number = _text(data.get("customer_number"), "customer_number", 30)
    if external_id:
        customer = _known_customer(("external_id", external_id), Customer.external_id == external_id)
        if customer is None:
            raise DomainError(_l("No customer has this external id."), field="customer_external_id")
        if number and customer.number.lower() != number.lower():
            raise DomainError(_l("The customer with this external id has another number."), field="customer_number")
        return customer
    if number:
        customer = _known_customer(("number", number.lower()), func.lower(Customer.number) == number.lower())
        if customer is None:
            raise DomainError(_l("No customer has this number."), field="customer_number")
        return customer
    return None


def _transaction_cache(name: str) -> dict:
    """A dict that lives as long as the session's current transaction (a rollback or commit
    starts a fresh one): what a batch already looked up, kept as objects so the session's
    weak identity map keeps them too."""
    transaction = db.session().get_transaction()
    if transaction is None:  # none begun yet: nothing to keep
        return {}
    cached = db.session.info.get(name)
    if cached is None or cached[0] is not transaction:
        cached = db.session.info[name] = (transaction, {})
    return cached[1]


def _settings() -> BusinessSettings:
    """The business settings, read once per transaction: a batch's documents all need them."""
    known = _transaction_cache("intake_settings")
    if "settings" not in known:
        known["settings"] = get_settings()
    return known["settings"]


def _known_customer(key: tuple, condition) -> Customer | None:
    """The customer a document names, looked up once per transaction: a batch of documents
    (API batch, CSV import) reads each customer once, or not at all after `prefetch`."""
    known = _transaction_cache("intake_customers")
    customer = known.get(key)
    if customer is None or not inspect(customer).persistent:  # (made in a savepoint rolled back)
        customer = db.session.scalar(select(Customer).where(condition))
        if customer is not None:
            known[key] = customer
    return customer


def prefetch_documents(records: list[dict]) -> None:
    """Read the customers and documents a batch of document records names in a few
    statements, so that upsert_document finds them without one each. Optional: a speed-up
    for batches (the REST API's /documents/batch, the CSV import), never a change in result."""
    customers = _transaction_cache("intake_customers")
    externals = {r["customer_external_id"] for r in records if isinstance(r.get("customer_external_id"), str)}
    numbers = {r["customer_number"].strip().lower() for r in records if isinstance(r.get("customer_number"), str)}
    if externals:
        for customer in db.session.scalars(select(Customer).where(bulk.among(Customer.external_id, externals))):
            customers[("external_id", customer.external_id)] = customer
    if numbers:
        for customer in db.session.scalars(select(Customer).where(
                bulk.among(func.lower(Customer.number), numbers, String()))):
            customers[("number", customer.number.lower())] = customer
    known = _transaction_cache("intake_documents")
    by_kind: dict[str, tuple[set, set]] = {}
    for record in records:
        if record.get("kind") in DocumentKind._value2member_map_:
            ids, nums = by_kind.setdefault(record["kind"], (set(), set()))
            if isinstance(record.get("external_id"), str) and record["external_id"].strip():
                ids.add(record["external_id"].strip())
            if isinstance(record.get("number"), str) and record["number"].strip():
                nums.add(record["number"].strip())
    for kind_value, (ids, nums) in by_kind.items():
        kind = DocumentKind(kind_value)
        for value in ids:
            known.setdefault((kind, "external_id", value), None)
        for value in nums:
            known.setdefault((kind, "number", value), None)
        conditions = [c for c in (bulk.among(Document.external_id, ids) if ids else None,
                                  bulk.among(Document.number, nums) if nums else None) if c is not None]
        if not conditions:
            continue
        for document in db.session.scalars(select(Document).options(selectinload(Document.lines))
                                           .where(Document.kind == kind, or_(*conditions))):
            _remember(document)


def _remember(document: Document) -> None:
    known = _transaction_cache("intake_documents")
    if document.external_id:
        known[(document.kind, "external_id", document.external_id)] = document
    if document.number:
        known[(document.kind, "number", document.number)] = document


def _find_document(kind: DocumentKind, external_id: str | None, number: str | None) -> Document | None:
    """By external id, else by number: one statement for both."""
    conditions = [column == value for column, value in ((Document.external_id, external_id),
                                                        (Document.number, number)) if value]
    if not conditions:
        return None
    known = _transaction_cache("intake_documents")
    keys = [(kind, name, value) for name, value in (("external_id", external_id), ("number", number)) if value]
    cached = [known[key] for key in keys if key in known]
    if len(cached) == len(keys) and all(d is None or (inspect(d).persistent and getattr(d, name) == value)
                                        for d, (_k, name, value) in zip(cached, keys)):
        rows = [d for d in cached if d is not None]  # prefetched (or made) in this transaction
    else:
        rows = db.session.scalars(select(Document).options(selectinload(Document.lines))
                                  .where(Document.kind == kind, or_(*conditions))).all()
    found = next((d for d in rows if external_id and d.external_id == external_id), None)
    if found is not None:
        return found
    found = next((d for d in rows if number and d.number == number), None)
    if found is not None and external_id and found.external_id not in (None, external_id):
        raise DomainError(_l("Number %(number)s is already used.", number=number), field="number")
    return found


def _by_numbers(customer: Customer, kind: DocumentKind, numbers: list[str], field: str) -> list[Document]:
    found = {d.number: d for d in db.session.scalars(
        select(Document).where(Document.customer_id == customer.id, Document.kind == kind,
                               Document.number.in_(numbers)))}
    for i, number in enumerate(numbers):
        if number not in found:
            raise DomainError(_l("This customer has no invoice with this number."), field=f"{field}[{i}]"
                              if field == "invoice_numbers" else field)
    return [found[n] for n in numbers]


def _amount_paid_target(kind: DocumentKind, status: str | None, amount_paid: Decimal | None,
                        gross: Decimal) -> Decimal | None:
    """What the package says was paid on a receivable, or None when it says nothing."""
    if kind not in (DocumentKind.invoice, DocumentKind.reminder) or status not in (*_PAID_STATUSES, None):
        if amount_paid:
            raise DomainError(_l("Only invoices and reminders are paid."), field="amount_paid")
        return None
    if amount_paid is not None:
        if amount_paid < 0 or amount_paid > gross:
            raise DomainError(_l("Enter an amount from zero up to the total."), field="amount_paid")
        if status == "paid" and amount_paid != gross:
            raise DomainError(_l("A paid document is paid in full."), field="amount_paid")
        if status == "partially_paid" and not 0 < amount_paid < gross:
            raise DomainError(_l("Partially paid is more than zero and less than the total."), field="amount_paid")
        if status == "open" and amount_paid:
            raise DomainError(_l("An open document has nothing paid."), field="amount_paid")
        return amount_paid
    if status == "paid":
        return gross
    if status == "partially_paid":
        raise DomainError(_l("Say how much was paid."), field="amount_paid")
    return None


def _record(document: Document, action: str, changes: dict) -> None:
    audit.record(None, action, "document", document.id, customer_id=document.customer_id, changes=changes)


@dataclass
class _New:
    """A document made from a record, written (reminders, credit notes) or only added to
    the session (the other kinds: upsert_documents writes those of a batch together)."""

    document: Document
    paid: Decimal | None  # what the record says is paid outside Dossier
    plain: bool  # made by documents.new_document: documents.document_created follows


def _new_document(data: dict, kind: DocumentKind, external_id: str | None, number: str | None) -> _New:
    customer = _customer_of(data)
    if customer is None:
        raise DomainError(_l("Name the customer by customer_external_id or customer_number."),
                          field="customer_external_id")
    status = data.get("status")
    if status is not None:
        status = _choice(status, "status", STATUSES[kind], _l("This status does not exist for this kind."))
    issue_date = _date(data.get("issue_date"), "issue_date", required=True)
    due_date = _date(data.get("due_date"), "due_date")
    valid_until = _date(data.get("valid_until"), "valid_until")
    settings = _settings()
    currency = data.get("currency") or settings.default_currency
    currency = _choice(currency, "currency", CURRENCIES, _l("This currency is not supported."))
    lines = _lines(data["lines"]) if data.get("lines") is not None else []
    totals = _totals(data["totals"]) if data.get("totals") is not None else None
    notes = _text(data.get("notes"), "notes", 4000)
    language = _choice(data["language"], "language", LANGUAGES, _l("Choose a language.")) \
        if data.get("language") is not None else None
    released = _bool(data["released_to_portal"], "released_to_portal") \
        if data.get("released_to_portal") is not None else True
    amount_paid = _decimal(data.get("amount_paid"), "amount_paid", CENT, required=False)

    if kind == DocumentKind.reminder:
        level = data.get("reminder_level", 1)
        if not isinstance(level, int) or isinstance(level, bool) or level not in REMINDER_LEVELS:
            raise DomainError(_l("Choose the reminder level."), field="reminder_level")
        numbers = data.get("invoice_numbers") or []
        if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
            raise DomainError(_l("Expected a list of invoice numbers."), field="invoice_numbers")
        invoices = _by_numbers(customer, DocumentKind.invoice, numbers, "invoice_numbers")
        document = reminders.create_reminder(
            None, customer, invoices, level=level, issue_date=issue_date, number=number,
            fee=_decimal(data.get("fee"), "fee", CENT, required=False),
            interest=_decimal(data.get("interest"), "interest", CENT, required=False))
        document.released_to_portal = released
    elif kind == DocumentKind.credit_note:
        related = _text(data.get("related_number"), "related_number", 40, required=True)
        invoice = _by_numbers(customer, DocumentKind.invoice, [related], "related_number")[0]
        if not lines:
            raise DomainError(_l("Add at least one line."), field="lines")
        if totals is not None:
            documents.check_lines(kind, lines, totals)
        document = credit_notes.create_credit_note(None, invoice, issue_date=issue_date, lines=lines, notes=notes,
                                                   number=number)
    else:
        if not lines and totals is None:
            raise DomainError(_l("Give the lines or the totals."), field="lines")
        related = None
        if data.get("related_number") is not None:
            related_kind = DocumentKind.quote if kind != DocumentKind.quote else DocumentKind.invoice
            related = _by_numbers(customer, related_kind,
                                  [_text(data["related_number"], "related_number", 40, required=True)],
                                  "related_number")[0]
        draft = status in ("draft", "cancelled")
        document = documents.new_document(
            customer, kind, issue_date=issue_date, currency=currency, lines=lines, due_date=due_date,
            valid_until=valid_until, draft=draft, number=number, language=language, notes=notes,
            released=released, related=related, expected_totals=totals, external_id=external_id,
            number_checked=number is not None)  # _find_document found no document with it
        if status == "cancelled":
            document.number = document.number or documents.allocate_number(kind, issue_date)
            document.status = DocumentStatus.cancelled
        elif status in ("accepted", "rejected"):
            document.status, document.decided_at = DocumentStatus(status), now_utc()
        return _New(document, _amount_paid_target(kind, status, amount_paid, document.gross_total), plain=True)
    document.external_id = external_id
    return _New(document, _amount_paid_target(kind, status, amount_paid, document.gross_total), plain=False)


def _write_new(made: list[_New]) -> None:
    """Write the documents made so far in one flush (one INSERT for them, one for their
    lines), then per document, in order: its credit (which customers have any is asked
    once), its audit line and what the record says is paid. Empties `made`."""
    if not made:
        return
    db.session.flush()
    settings = _settings()
    invoices = {new.document.customer_id for new in made if new.plain and new.document.kind == DocumentKind.invoice}
    credit = credits.with_credit(invoices) if settings.apply_credit_automatically else set()
    for new in made:
        document = new.document
        if new.plain:
            documents.document_created(None, document, settings,
                                       credit_possible=(document.customer_id, document.currency) in credit)
        documents.audit_created(None, document)
        if new.paid is not None and new.paid > document.amount_paid:
            settlement.lock_customer(document.customer_id)
            settlement.change(document.id, paid=new.paid - document.amount_paid)
    made.clear()


def _line_tuples(lines) -> list[tuple]:
    return [(line.description, line.quantity, line.unit_price, line.vat_rate) for line in lines]


def _update_document(document: Document, data: dict, number: str | None, external_id: str | None) -> bool:
    """Apply what differs; True when anything did."""
    kind = document.kind
    changes: dict[str, list] = {}
    customer = _customer_of(data)
    if customer is not None and customer.id != document.customer_id:
        raise DomainError(_l("A document cannot move to another customer."), field="customer_external_id")
    if external_id and document.external_id != external_id:
        changes["external_id"] = [document.external_id, external_id]
        document.external_id = external_id
    if number and number != document.number:
        changes["number"] = [document.number, documents.external_number(kind, number)]
        document.number = changes["number"][1]
    status = data.get("status")
    if status is not None:
        status = _choice(status, "status", STATUSES[kind], _l("This status does not exist for this kind."))

    fields: dict[str, Any] = {}
    for name in ("issue_date", "due_date", "valid_until"):
        if name in data:
            fields[name] = _date(data[name], name, required=name == "issue_date")
    if "currency" in data:
        fields["currency"] = _choice(data["currency"], "currency", CURRENCIES, _l("This currency is not supported."))
    if "notes" in data:
        fields["notes"] = _text(data["notes"], "notes", 4000)
    if "language" in data and data["language"] is not None:
        fields["language"] = _choice(data["language"], "language", LANGUAGES, _l("Choose a language."))
    content = {k: v for k, v in fields.items() if getattr(document, k) != v}
    lines = _lines(data["lines"]) if data.get("lines") is not None else None
    totals = _totals(data["totals"]) if data.get("totals") is not None else None
    new_lines = lines is not None and _line_tuples(lines) != _line_tuples(document.lines)
    current_totals = Totals(document.net_total, document.tax_total, document.gross_total)
    if lines is not None:
        computed = documents.check_lines(kind, lines, totals)
    elif totals is not None:
        computed = totals
    else:
        computed = current_totals
    new_totals = computed != current_totals
    if content or new_lines or new_totals:
        if kind in (DocumentKind.credit_note, DocumentKind.reminder):
            raise DomainError(_l("A credit note or reminder is not changed once issued; issue another."),
                              field="lines" if (new_lines or new_totals) else next(iter(content)))
        if "currency" in content and (document.amount_paid or document.amount_credited):
            raise DomainError(_l("Money was received for this document: its currency stays."), field="currency")
        merged = {n: content.get(n, getattr(document, n)) for n in ("issue_date", "due_date", "valid_until")}
        documents.check_dates(kind, merged["issue_date"], merged["due_date"], merged["valid_until"])
        if lines is None and new_totals:
            documents.check_totals(kind, computed)
        settled = document.amount_paid + document.amount_credited + document.amount_written_off
        if new_totals and computed.gross < settled:
            raise DomainError(_l("%(settled)s was already paid, credited or written off on this document: its total "
                                 "cannot become less.", settled=settled),
                              field="lines" if lines is not None else "totals")
        for name, value in content.items():
            changes[name] = [str(getattr(document, name)), str(value)]
            setattr(document, name, value)
        if new_lines:
            document.lines = documents.line_rows(lines)
            changes["lines"] = [None, str(len(lines))]
        elif lines is None and new_totals and document.lines:
            document.lines = []  # the package now sends totals only
        if new_totals:
            changes["gross_total"] = [str(document.gross_total), str(computed.gross)]
            document.net_total, document.tax_total, document.gross_total = computed.net, computed.tax, computed.gross
        db.session.flush()
        if new_totals and document.status.value in _PAID_STATUSES:
            settlement.lock_customer(document.customer_id)
            settlement.change(document.id)  # open / partially paid / paid follow the new total
            db.session.refresh(document)

    if "released_to_portal" in data and data["released_to_portal"] is not None:
        released = _bool(data["released_to_portal"], "released_to_portal")
        if released != document.released_to_portal:
            changes["released_to_portal"] = [document.released_to_portal, released]
            document.released_to_portal = released

    if status is not None and status != document.status.value:
        before = document.status.value
        if kind == DocumentKind.invoice:
            if status == "draft":
                raise DomainError(_l("An issued invoice cannot become a draft again."), field="status")
            if document.status == DocumentStatus.cancelled:
                raise DomainError(_l("This invoice is already cancelled."), field="status")
            if status == "cancelled":
                if document.status == DocumentStatus.draft:
                    document.number = document.number or documents.allocate_number(kind, document.issue_date)
                    document.status = DocumentStatus.cancelled
                else:
                    try:
                        credit_notes.cancel_invoice(None, document, clock.today())
                    except DomainError as error:  # e.g. payments received: the status asked for
                        raise DomainError(error.message, field=error.field or "status") from None
            elif document.status == DocumentStatus.draft:
                documents.issue_draft(None, document)
        elif kind == DocumentKind.quote:
            document.status = DocumentStatus(status)
            document.decided_at = now_utc() if status != "pending" else None
        if document.status.value != before:
            changes["status"] = [before, document.status.value]
    amount_paid = _decimal(data.get("amount_paid"), "amount_paid", CENT, required=False)
    target = _amount_paid_target(kind, status, amount_paid, document.gross_total)
    if target is not None and target > document.amount_paid and document.status.value in _PAID_STATUSES:
        settlement.lock_customer(document.customer_id)
        changes["amount_paid"] = [str(document.amount_paid), str(target)]
        settlement.change(document.id, paid=target - document.amount_paid)
        db.session.refresh(document)
    if changes:
        db.session.flush()
        _record(document, "document.updated", changes)
    return bool(changes)


def upsert_document(data: dict, *, actor_label: str) -> tuple[Document, str]:
    """Create or update one document from the package's record (shape: module docstring)."""
    return upsert_documents([data], actor_label=actor_label)[0]


def upsert_documents(records: list[dict], *, actor_label: str, name: str | None = None) -> list[tuple[Document, str]]:
    """upsert_document for each record, in order, with the same results; the new documents
    of the plain kinds (not reminders or credit notes) that follow one another are written
    together (_write_new). The first refused record raises its DomainError, its field
    prefixed `name[i].` when a name is given ("documents[3].lines[0].unit_price"); the
    caller rolls the batch back."""
    results: list[tuple[Document, str]] = []
    made: list[_New] = []
    with audit.acting_as(actor_label):
        for index, data in enumerate(records):
            try:
                results.append(_upsert(data, made))
            except DomainError as error:
                if name is None:
                    raise
                raise error.within(f"{name}[{index}]") from None
        _write_new(made)
    return results


def _upsert(data: dict, made: list[_New]) -> tuple[Document, str]:
    _refuse_unknown(data, DOCUMENT_KEYS)
    kind = DocumentKind(_choice(data.get("kind"), "kind", [k.value for k in DocumentKind],
                                _l("Choose the kind of document.")))
    external_id = _external_id(data)
    number = _text(data.get("number"), "number", 40)
    document = _find_document(kind, external_id, number)
    if document is not None or kind not in documents.CREATABLE_KINDS:
        _write_new(made)  # what came before is written first: this record reads or changes it
    if document is None:
        new = _new_document(data, kind, external_id, number)
        made.append(new)
        _remember(new.document)
        if not new.plain:  # a reminder or credit note is written at once
            _write_new(made)
        return new.document, CREATED
    changed = _update_document(document, data, number, external_id)
    _remember(document)
    return document, UPDATED if changed else UNCHANGED


# --- customers in batches (the CSV import) -------------------------------------------------


def upsert_customers(records: list[dict], *, actor_label: str) -> list[tuple[Customer | None, str | DomainError]]:
    """upsert_customer for many records, with the same results in a constant number of queries.

    Each record gets (customer, "created" | "updated" | "unchanged"), or (None, DomainError)
    when it is refused; a refused record leaves nothing behind (as upsert_customer inside a
    savepoint of its own), and the records after it see the data as if it had not been sent.
    Customers, contact persons, tags, custom fields, audit rows and events come out as
    sequential upsert_customer calls in the same order would leave them (ids and the order
    of rows aside), checked by the same helpers (_customer_values, _contact_inputs,
    customers.check_details / apply_details, contacts._normalised / refuse_full ...).

    How: the batch's customers are matched by external id or number in one query (their
    tags, assigned staff, custom field values and contact persons in one more each), the
    settings and custom field definitions are read once, and the records are then worked
    through in memory, in order, against indexes kept up to date (so the same external id
    twice in a batch finds the customer the first made). Writes go out at the end as a few
    multi-row statements (the ORM's insertmanyvalues / executemany). A record that touches a
    customer an earlier record of the batch touched first flushes what came before (a few
    statements per such duplicate), so its "updated"/"unchanged" compares with the real state.
    New customers without a number take the counter's next free values, the counter row
    locked for the batch and advanced once. Every record shape upsert_customer takes is
    handled here; no record falls back to it.
    """
    with audit.acting_as(actor_label), db.session.no_autoflush:
        return _CustomerBatch(records, actor_label).run()


class _CustomerBatch:
    """One call of upsert_customers: the prefetched rows, the in-memory indexes, and the
    records applied but not yet written (`ops`)."""

    def __init__(self, records: list[dict], label: str) -> None:
        self.records, self.label = records, label
        self.results: list[Any] = [None] * len(records)
        self.by_external: dict[str, Customer] = {}
        self.by_number: dict[str, Customer] = {}  # lower-cased number
        self.contacts: dict[Customer, dict[str, ContactPerson]] = {}  # lower-cased address
        self.fields: dict[Customer, dict[int, Any]] = {}  # field id -> CustomFieldValue
        self.tags: dict[str, Any] = {}
        self.further: dict[Customer, dict[str, int]] = {}  # contact persons' further addresses -> contact id
        self.definitions: dict[str, CustomFieldDefinition] | None = None
        self.portal_default: bool | None = None
        self.ops: list[dict] = []
        self.touched: set[Customer] = set()
        # Automatic numbers: the counter's value when locked, the last value taken, and the
        # numbers (lower-cased: unique ignoring case) known to be taken (read a window at a
        # time) or given up in the batch.
        self.counter_start: int | None = None
        self.counter = 0
        self.window_end = 0
        self.taken: set[str] = set()
        self.released: set[str] = set()

    # -- reading, once per batch

    def _prefetch(self, keys: list[tuple[str | None, str | None] | None]) -> None:
        """The customers the batch names, and what the batch compares of them, in a
        statement each whatever the batch's size: every key goes as one array parameter
        (bulk.among), read through an index (unique on external_id and lower(number)) even
        before the table has statistics."""
        external_ids = {k[0] for k in keys if k and k[0]}
        numbers = {k[1].lower() for k in keys if k and k[1]}
        conditions = []
        if external_ids:
            conditions.append(bulk.among(Customer.external_id, sorted(external_ids)))
        if numbers:
            conditions.append(bulk.among(func.lower(Customer.number), sorted(numbers), String()))
        found: list[Customer] = []
        if conditions:
            found = list(db.session.scalars(select(Customer).where(or_(*conditions)).order_by(Customer.id)))
        for customer in found:
            if customer.external_id:
                self.by_external.setdefault(customer.external_id, customer)
            self.by_number.setdefault(customer.number.lower(), customer)
            self.fields[customer] = {}
            self.contacts[customer] = {}
        if found:
            from models.customers import CustomFieldValue, Tag, customer_assignments, customer_tags
            from models.staff import StaffUser

            by_id = {c.id: c for c in found}
            ids = sorted(by_id)
            # Their tags and assigned staff, as the relationships order them (selectinload's
            # work, with one array parameter): only where not loaded already.
            for key, link, target, order in (
                    ("tags", customer_tags.c.tag_id, Tag, (Tag.name,)),
                    ("assigned_staff", customer_assignments.c.staff_user_id, StaffUser,
                     (StaffUser.name, StaffUser.id))):
                owner = link.table.c.customer_id
                collections: dict[int, list] = {i: [] for i in ids}
                for customer_id, item in db.session.execute(
                        select(owner, target).join(target, target.id == link)
                        .where(bulk.among(owner, ids)).order_by(*order)):
                    collections[customer_id].append(item)
                for customer in found:
                    if key not in inspect(customer).dict:
                        set_committed_value(customer, key, collections[customer.id])
            for row in db.session.scalars(select(CustomFieldValue).where(bulk.among(CustomFieldValue.customer_id, ids))):
                self.fields[by_id[row.customer_id]][row.field_id] = row
            if any(isinstance(d, dict) and "contact_persons" in d for d in self.records):
                for contact in db.session.scalars(
                        select(ContactPerson).where(bulk.among(ContactPerson.customer_id, ids))
                        .order_by(ContactPerson.name, ContactPerson.id)):
                    self.contacts[by_id[contact.customer_id]][contact.email.lower()] = contact
                from models.mailbox import ContactEmail  # further addresses count as taken (contacts._refuse_taken)

                for customer_id, contact_id, email in db.session.execute(
                        select(ContactEmail.customer_id, ContactEmail.contact_id, ContactEmail.email)
                        .where(bulk.among(ContactEmail.customer_id, ids))):
                    self.further.setdefault(by_id[customer_id], {})[email.lower()] = contact_id
        names: set[str] = set()
        for data in self.records:
            given = data.get("tags") if isinstance(data, dict) else None
            if isinstance(given, list) and all(isinstance(t, str) for t in given):
                names.update(customers.tag_names(given))
        if names:
            from models.customers import Tag

            self.tags = {t.name: t for t in db.session.scalars(select(Tag).where(bulk.among(Tag.name, sorted(names))))}
        if any(isinstance(d, dict) and "custom_fields" in d for d in self.records):
            self.definitions = _definitions()

    def _auto_number(self) -> str:
        """save_customer's next free number (customers._next_customer_number), without a
        query per customer: counter values in order, skipping numbers taken."""
        from models.services import counters

        if self.counter_start is None:
            self.counter_start = self.counter = self.window_end = counters.locked_value("customer")
        while True:
            self.counter += 1
            if self.counter > self.window_end:
                start, self.window_end = self.counter, self.counter + len(self.records) + 10
                candidates = [customers.customer_number(v).lower() for v in range(start, self.window_end + 1)]
                self.taken.update(n.lower() for n in db.session.scalars(
                    select(Customer.number).where(bulk.among(func.lower(Customer.number), candidates, String())))
                    if n.lower() not in self.released)
            candidate = customers.customer_number(self.counter)
            if candidate.lower() not in self.taken:
                return candidate

    # -- the records, in order

    def run(self) -> list[tuple[Customer | None, str | DomainError]]:
        keys: list[tuple[str | None, str | None] | None] = []
        for i, data in enumerate(self.records):
            try:
                _refuse_unknown(data, CUSTOMER_KEYS)
                keys.append((_external_id(data), _text(data.get("number"), "number", 30)))
            except DomainError as error:
                keys.append(None)
                self.results[i] = (None, error)
        self._prefetch(keys)
        for i, (data, key) in enumerate(zip(self.records, keys)):
            if key is None:
                continue
            try:
                self._one(i, data, *key)
            except DomainError as error:
                self.results[i] = (None, error)
        self._settle()
        if self.counter_start is not None and self.counter > self.counter_start:
            from models.services import counters

            counters.advance("customer", self.counter - self.counter_start)
        return self.results

    def _find(self, external_id: str | None, number: str | None) -> Customer | None:
        """_find_customer against the batch's indexes."""
        if external_id:
            found = self.by_external.get(external_id)
            if found is not None:
                return found
        if number:
            found = self.by_number.get(number.lower())
            if found is not None and external_id and found.external_id not in (None, external_id):
                raise DomainError(_l("This customer number is already in use."), field="number")
            return found
        return None

    def _state(self, customer: Customer) -> tuple:
        """_customer_state from what the batch holds (no query)."""
        return (customers._snapshot(customer), customer.external_id,
                sorted((field_id, row.value) for field_id, row in self.fields[customer].items()))

    def _one(self, i: int, data: dict, external_id: str | None, number: str | None) -> None:
        customer = self._find(external_id, number)
        if customer is not None and customer in self.touched:
            self._settle()  # the batch changed it already: compare with what was written
        creating = customer is None
        # As upsert_customer, step by step (the same checks in the same order).
        values = _customer_values(data, creating, None if creating else customer.kind)
        if "custom_fields" in data:
            values["custom_fields"] = _custom_field_values(data["custom_fields"], self.definitions)
        inputs = _contact_inputs(data["contact_persons"]) if "contact_persons" in data else None
        if not creating and number is None and "number" in values:
            del values["number"]
        if not creating and "company_name" not in values:
            values["company_name"] = customer.company_name
        # save_customer's rules
        wanted_number = customers.given_number(values)
        if wanted_number:
            clash = self.by_number.get(wanted_number.lower())
            if clash is not None and clash is not customer:
                raise DomainError(customers.NUMBER_IN_USE, field="number")
        values = customers.check_details(values)
        plan = None
        if inputs is not None:
            owner = contacts.Owner(customer.id if customer else None, customers.stored_email(values, customer))
            plan = self._contacts_plan(self.contacts.get(customer, {}), owner, inputs,
                                       self.further.get(customer, {}))

        # Nothing below refuses: the record is applied.
        if creating:
            if self.portal_default is None:
                self.portal_default = customers.default_portal_access()
            # Empty collections, known to be empty: no lazy load once the customer is inserted.
            customer = Customer(portal_access=self.portal_default, tags=[], assigned_staff=[])
            before_snapshot, before_state = {}, None
            self.fields[customer], self.contacts[customer] = {}, {}
        else:
            before_snapshot = customers._snapshot(customer)
            before_state = self._state(customer)
        old_number = customer.number
        customers.apply_details(customer, values)
        customer.number = wanted_number or customer.number or self._auto_number()
        if "tags" in values:
            customer.tags = customers._tags_named(values["tags"], self.tags)
        # A new customer's diff is taken once it is inserted (its column defaults filled in).
        changes = None if creating else audit.diff(before_snapshot, customers._snapshot(customer))
        if external_id and customer.external_id != external_id:
            customer.external_id = external_id
        if old_number and old_number != customer.number:
            if self.by_number.get(old_number.lower()) is customer:
                del self.by_number[old_number.lower()]
            self.taken.discard(old_number.lower())
            self.released.add(old_number.lower())
        self.by_number[customer.number.lower()] = customer
        self.taken.add(customer.number.lower())
        self.released.discard(customer.number.lower())
        if customer.external_id:
            self.by_external[customer.external_id] = customer
        self.touched.add(customer)
        self.ops.append({"i": i, "customer": customer, "creating": creating, "changes": changes,
                         "before": before_state, "custom_fields": values.get("custom_fields"), "contacts": plan})

    def _contacts_plan(self, current: dict[str, ContactPerson], owner: contacts.Owner,
                       inputs: list[contacts.ContactInput], further: dict[str, int]) -> tuple[list, list]:
        """_sync_contacts's decisions and checks, without writing: (removed, [(n, contact or
        None, clean input, changes)] in the input's order)."""
        wanted = {item.email.lower(): (n, item) for n, item in enumerate(inputs)}
        removed = [contact for key, contact in current.items() if key not in wanted]
        taken = {contact.email.lower(): contact for key, contact in current.items() if key in wanted}
        count, steps = len(taken), []
        gone = {contact.id for contact in removed}  # their further addresses go with them
        further = {email for email, contact_id in further.items() if contact_id not in gone}
        for key, (n, item) in wanted.items():
            try:
                contact = current.get(key)
                if contact is None:
                    contacts.refuse_full(count)
                clean = contacts._normalised(owner, item)
                if contact is not None:
                    changes = audit.diff(contacts._snapshot(contact), contacts._snapshot(clean))
                    if not changes:
                        continue
                    other = taken.get(clean.email.lower())
                    if clean.email.lower() != contact.email.lower() and (
                            (other is not None and other is not contact) or clean.email.lower() in further):
                        raise DomainError(contacts.TAKEN, field="email")
                else:
                    if clean.email.lower() in taken or clean.email.lower() in further:
                        raise DomainError(contacts.TAKEN, field="email")
                    changes = {"name": [None, clean.name], "email": [None, clean.email]}
                    count += 1
                if contact is not None:
                    taken.pop(contact.email.lower(), None)
                taken[clean.email.lower()] = contact or clean
                steps.append((n, contact, clean, changes))
            except DomainError as error:
                raise DomainError(error.message,
                                  field=f"contact_persons[{n}]" + (f".{error.field}" if error.field else "")) from None
        return removed, steps

    # -- writing what the applied records changed

    def _settle(self) -> None:
        if not self.ops:
            return
        from models.services import events

        db.session.add_all([op["customer"] for op in self.ops if op["creating"]])
        db.session.flush()  # the customers (one INSERT for the new ones), their tags
        done: list[tuple[str, ContactPerson, dict, str, list, Customer]] = []
        added: list[ContactPerson] = []
        audits: list[tuple] = []
        for op in self.ops:
            customer = op["customer"]
            if op["custom_fields"] is not None:
                customers._save_custom_fields(customer, op["custom_fields"], self.fields[customer])
            if op["creating"]:
                op["changes"] = audit.diff({}, customers._snapshot(customer))
            if op["creating"] or op["changes"]:
                audits.append(("customer.created" if op["creating"] else "customer.updated", "customer",
                               customer.id, customer.id, op["changes"]))
            op["contacts_changed"] = False
            if op["contacts"] is None:
                continue
            removed, steps = op["contacts"]
            current = self.contacts[customer]
            op["contacts_changed"] = bool(removed or steps)
            if removed:
                from models.mailbox import ContactEmail

                db.session.execute(delete(ContactEmail).where(ContactEmail.contact_id.in_([c.id for c in removed]))
                                   .execution_options(synchronize_session=False))
                kept = self.further.get(customer, {})
                for email in [e for e, contact_id in kept.items() if contact_id in {c.id for c in removed}]:
                    del kept[email]
            for contact in removed:
                del current[contact.email.lower()]
                db.session.delete(contact)
                done.append(("contact.removed", contact, {"name": [contact.name, None], "email": [contact.email, None]},
                             "removed", [], customer))
            for _n, contact, clean, changes in steps:
                if contact is None:
                    contact = ContactPerson(customer_id=customer.id, **clean.__dict__)
                    added.append(contact)
                    done.append(("contact.added", contact, changes, "added", list(contacts._snapshot(clean)), customer))
                else:
                    current.pop(contact.email.lower(), None)
                    for name, value in clean.__dict__.items():
                        setattr(contact, name, value)
                    done.append(("contact.updated", contact, changes, "updated", list(changes), customer))
                current[contact.email.lower()] = contact
        db.session.add_all(added)
        db.session.flush()  # contact persons (one INSERT for the new ones), custom field values
        built = []
        for action, contact, changes, event_action, changed, customer in done:
            # as contacts.Actor(via=label).record: the label is the audit's actor (acting_as)
            audits.append((action, "contact_person", contact.id, contact.customer_id, changes))
            built.append(events.contact_persons_changed_event(contact, event_action, changed, customer))
        audit.record_many(None, audits)
        events.record_all(built)
        for op in self.ops:
            customer = op["customer"]
            if op["creating"]:
                outcome = CREATED
            else:
                outcome = UPDATED if op["contacts_changed"] or self._state(customer) != op["before"] else UNCHANGED
            self.results[op["i"]] = (customer, outcome)
        self.ops.clear()
        self.touched.clear()
