"""The API's request and response bodies: pydantic models that validate every request and
response (spectree) and that /api/v1/openapi.json is generated from.

Amounts are strings with their decimals ("12.50") in responses and strings or numbers in
requests: a JSON number may pass through a float on the client's side, a string never
does. Unknown fields are refused (`extra="forbid"`). Rules that need the database (a
customer number already taken, a custom field's label) are the domain's
(models.services.intake) and come back as the same problem+json with the field.
"""


from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from models.contacts import ContactRole
from models.customers import COUNTRY_CODES
from models.documents import DocumentKind
from models.payments import RECORDED_METHODS
from models.settings import CURRENCIES

LANGUAGES = ("en", "nl", "de")
MAX_AMOUNT = Decimal("1e13")


def _finite(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("Expected a finite number.")
    return value


def _text(longest: int, shortest: int = 0):
    return Annotated[StrictStr, Field(min_length=shortest, max_length=longest)]


# Request amounts: a number or a numeric string, at most 2 decimals (money) or 3 (quantities).
MoneyIn = Annotated[Decimal, Field(decimal_places=2, gt=-MAX_AMOUNT, lt=MAX_AMOUNT, allow_inf_nan=False),
                    AfterValidator(_finite)]
QuantityIn = Annotated[Decimal, Field(decimal_places=3, gt=Decimal("-1e9"), lt=Decimal("1e9"), allow_inf_nan=False),
                       AfterValidator(_finite)]
RateIn = Annotated[Decimal, Field(decimal_places=2, ge=0, le=100, allow_inf_nan=False), AfterValidator(_finite)]
# Response amounts: a string with the stored decimals (api.views formats them).
MoneyOut = Annotated[str, Field(pattern=r"^-?[0-9]+\.[0-9]{2}$", examples=["121.00"])]
QuantityOut = Annotated[str, Field(pattern=r"^-?[0-9]+\.[0-9]{3}$", examples=["2.500"])]

Currency = Literal[CURRENCIES]  # type: ignore[valid-type]
Country = Literal[COUNTRY_CODES]  # type: ignore[valid-type]
Language = Literal[LANGUAGES]  # type: ignore[valid-type]
Kind = Literal[tuple(k.value for k in DocumentKind)]  # type: ignore[valid-type]
Status = Literal["draft", "open", "partially_paid", "paid", "cancelled", "pending", "accepted", "rejected",
                 "expired", "issued"]
Role = Literal[tuple(r.value for r in ContactRole)]  # type: ignore[valid-type]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- errors ----------------------------------------------------------------------------


class Problem(BaseModel):
    """RFC 9457 problem details; `field` names the input at fault (e.g. lines[2].unit_price)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    field: str | None = None
    errors: list[dict[str, Any]] | None = None


# --- customers -------------------------------------------------------------------------


class ContactPersonIn(Strict):
    name: _text(120, 1)
    email: _text(254, 3)
    phone: _text(40) | None = None
    role: Role = "general"
    invoice_emails: StrictBool = True
    account_emails: StrictBool = False


class CustomerIn(Strict):
    """A customer as the package knows it; a field left out keeps what Dossier has."""

    external_id: _text(100, 1) | None = None
    number: _text(30, 1) | None = None
    kind: Literal["individual", "company"] | None = None
    name: _text(200, 1) | None = None
    company_name: _text(200) | None = None
    email: _text(254) | None = None
    phone: _text(40) | None = None
    street: _text(200) | None = None
    postal_code: _text(20) | None = None
    city: _text(100) | None = None
    country: Country | None = None
    language: Language | None = None
    vat_id: _text(30) | None = None
    tax_number: _text(30) | None = None
    iban: _text(42) | None = None
    bic: _text(11) | None = None
    bank_holder: _text(200) | None = None
    portal_access: StrictBool | None = None
    tags: list[_text(40)] | None = Field(None, max_length=10)
    custom_fields: dict[StrictStr, StrictStr | StrictInt | Decimal | None] | None = None
    contact_persons: list[ContactPersonIn] | None = Field(None, max_length=10)


class ContactPersonOut(BaseModel):
    name: str
    email: str
    phone: str | None
    role: Role
    invoice_emails: bool
    account_emails: bool


class CustomerOut(BaseModel):
    id: int
    external_id: str | None
    number: str
    kind: Literal["individual", "company"]
    name: str
    company_name: str | None
    email: str | None
    phone: str | None
    street: str | None
    postal_code: str | None
    city: str | None
    country: str
    language: str
    vat_id: str | None
    tax_number: str | None
    iban: str | None
    bic: str | None
    bank_holder: str | None
    portal_access: bool
    archived: bool
    tags: list[str]
    custom_fields: dict[str, str]
    contact_persons: list[ContactPersonOut]
    created_at: datetime
    updated_at: datetime


class CustomerUpsert(BaseModel):
    outcome: Literal["created", "updated", "unchanged"]
    data: CustomerOut


class CustomerPage(BaseModel):
    data: list[CustomerOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


# --- documents -------------------------------------------------------------------------


class LineIn(Strict):
    description: _text(300, 1)
    quantity: QuantityIn
    unit_price: MoneyIn
    vat_rate: RateIn = Decimal("0")


class TotalsIn(Strict):
    net: MoneyIn
    tax: MoneyIn
    gross: MoneyIn


class DocumentIn(Strict):
    """A document as the package knows it; a field left out keeps what Dossier has."""

    kind: Kind
    external_id: _text(100, 1) | None = None
    number: _text(40, 1) | None = None
    customer_external_id: _text(100, 1) | None = None
    customer_number: _text(30, 1) | None = None
    issue_date: date | None = None
    due_date: date | None = None
    valid_until: date | None = None
    currency: Currency | None = None
    status: Status | None = None
    amount_paid: MoneyIn | None = None
    lines: list[LineIn] | None = Field(None, min_length=1, max_length=100)
    totals: TotalsIn | None = None
    notes: _text(4000) | None = None
    language: Language | None = None
    released_to_portal: StrictBool | None = None
    related_number: _text(40, 1) | None = None
    reminder_level: Literal[1, 2, 3] | None = None
    fee: MoneyIn | None = None
    interest: MoneyIn | None = None
    invoice_numbers: list[_text(40, 1)] | None = Field(None, max_length=100)


MAX_BATCH = 100


class DocumentBatchIn(Strict):
    """Up to 100 documents in one request and one transaction: all are stored, or none."""

    documents: list[DocumentIn] = Field(min_length=1, max_length=MAX_BATCH)


class CustomerBatchIn(Strict):
    """Up to 100 customers in one request and one transaction: all are stored, or none."""

    customers: list[CustomerIn] = Field(min_length=1, max_length=MAX_BATCH)


class BatchItem(BaseModel):
    id: int
    number: str | None
    external_id: str | None
    outcome: Literal["created", "updated", "unchanged"]


class BatchResult(BaseModel):
    results: list[BatchItem] = Field(description="One per record sent, in the same order.")


class LineOut(BaseModel):
    description: str
    quantity: QuantityOut
    unit_price: MoneyOut
    vat_rate: MoneyOut
    net_amount: MoneyOut


class CustomerRef(BaseModel):
    id: int
    number: str
    external_id: str | None


class DocumentOut(BaseModel):
    id: int
    kind: Kind
    number: str | None
    external_id: str | None
    customer: CustomerRef
    issue_date: date
    due_date: date | None
    valid_until: date | None
    currency: str
    status: Status
    net_total: MoneyOut
    tax_total: MoneyOut
    gross_total: MoneyOut
    amount_paid: MoneyOut
    amount_credited: MoneyOut
    amount_written_off: MoneyOut
    outstanding: MoneyOut
    released_to_portal: bool
    language: str | None
    notes: str | None
    related_id: int | None
    reminder_level: int | None
    has_original: bool
    lines: list[LineOut]
    created_at: datetime
    updated_at: datetime


class DocumentUpsert(BaseModel):
    outcome: Literal["created", "updated", "unchanged"]
    data: DocumentOut


class DocumentPage(BaseModel):
    data: list[DocumentOut]
    next_cursor: str | None


# --- payments --------------------------------------------------------------------------


class PaymentIn(Strict):
    """Money received outside Dossier for an invoice (or a reminder's fee)."""

    document_kind: Literal["invoice", "reminder"] = "invoice"
    document_external_id: _text(100, 1) | None = None
    document_number: _text(40, 1) | None = None
    amount: MoneyIn
    received_on: date
    method: Literal[RECORDED_METHODS] = "bank_transfer"  # type: ignore[valid-type]
    confirm_credit: StrictBool = Field(False, description="More than is outstanding: the rest becomes customer credit.")


class PaymentItemOut(BaseModel):
    document_id: int
    document_number: str | None
    amount: MoneyOut


class PaymentOut(BaseModel):
    id: int
    customer: CustomerRef
    provider: str
    method: str | None
    amount: MoneyOut
    currency: str
    status: str
    paid_at: datetime | None
    reversed: bool
    created_at: datetime
    items: list[PaymentItemOut]


class PaymentCreated(BaseModel):
    data: PaymentOut


class PaymentPage(BaseModel):
    data: list[PaymentOut]
    next_cursor: str | None


# --- events ----------------------------------------------------------------------------


class EventOut(BaseModel):
    id: int
    type: str
    created_at: datetime
    customer_id: int | None
    document_id: int | None
    data: dict[str, Any]


class EventPage(BaseModel):
    data: list[EventOut]
    next_cursor: str | None = Field(description="The last event's id: pass it as `after` to read on.")


# --- query strings ---------------------------------------------------------------------


class ListQuery(Strict):
    cursor: Annotated[str, Field(pattern=r"^[0-9]{1,10}$")] | None = Field(
        None, description="next_cursor of the previous page")
    limit: int = Field(50, ge=1, le=200)
    # With its offset (…Z or …+01:00): a time without one names no moment.
    updated_since: AwareDatetime | None = Field(
        None, description="Only records changed at or after this moment (ISO 8601 with its offset, e.g. Z).")


class DocumentQuery(ListQuery):
    kind: Kind | None = None
    customer_external_id: _text(100, 1) | None = None


class PaymentQuery(Strict):
    cursor: Annotated[str, Field(pattern=r"^[0-9]{1,10}$")] | None = None
    limit: int = Field(50, ge=1, le=200)


class EventQuery(Strict):
    after: int = Field(0, ge=0, le=2**31 - 1, description="The id of the last event read; 0 for the start.")
    limit: int = Field(100, ge=1, le=500)


EInvoiceFormat = Literal["facturx", "xrechnung-ubl", "xrechnung-cii"]


class EInvoiceQuery(Strict):
    format: EInvoiceFormat = Field("xrechnung-ubl", description=(
        "facturx: Factur-X PDF (EN 16931); xrechnung-ubl (the default) / xrechnung-cii: XML"))


class EInvoiceImportQuery(Strict):
    create_customer: bool = Field(
        False, description="Create the buyer as a new customer when none matches (by VAT id, number or e-mail).")
