"""Business settings: one business per installation, so one row."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import JSON, Boolean, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.db import Money, db

PAYMENT_PROVIDERS = ("test", "mollie", "stripe")
DOSSIER_CHECKS = ("none", "postal_code", "customer_number")
# Number prefixes per document kind until the owner sets their own (invoices keep the
# plain year-sequence numbers they always had).
DEFAULT_PREFIXES = {"invoice": "", "quote": "Q-", "credit_note": "CN-", "reminder": "R-",
                    "delivery_note": "DN-", "order_confirmation": "OC-"}
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "DKK", "SEK", "NOK", "PLN", "CZK")


class BusinessSettings(db.Model):
    __tablename__ = "business_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    business_name: Mapped[str] = mapped_column(String(200), default="My business")
    address: Mapped[str | None] = mapped_column(Text)
    sender_name: Mapped[str | None] = mapped_column(String(200))
    sender_email: Mapped[str | None] = mapped_column(String(254))
    default_currency: Mapped[str] = mapped_column(String(3), default="EUR")
    # The logo lives in the database so any web process can serve it (no shared disk).
    # Deferred: every page reads the settings, only the logo route needs the bytes.
    logo: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    logo_content_type: Mapped[str | None] = mapped_column(String(40))
    logo_version: Mapped[int] = mapped_column(Integer, default=0)
    # Portal access for customers created from now on (Billomat's default switch).
    portal_access_default: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")

    # The online dossier (/d/<token>).
    # Asked before documents are shown: nothing, the postal code or the customer number.
    dossier_check: Mapped[str] = mapped_column(String(20), default="none", server_default="none")
    allow_payments: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    allow_questions: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # Which provider the Pay buttons use; its keys come from the environment.
    payment_provider: Mapped[str] = mapped_column(String(20), default="test", server_default="test")
    # Instalment plans: limits, and up to which total a request is approved without staff.
    allow_instalments: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    instalment_max_count: Mapped[int] = mapped_column(Integer, default=6, server_default="6")
    instalment_min_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("25.00"), server_default="2500")
    instalment_auto_approve_up_to: Mapped[Decimal] = mapped_column(
        Money(), default=Decimal("500.00"), server_default="50000"
    )
    # Letters print a request for an e-mail address when none is known.
    letter_invoice_asks_email: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    letter_reminder_asks_email: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")

    # Documents: the number prefix per kind ({kind: prefix}; missing kinds use
    # DEFAULT_PREFIXES), which kinds customers see, and what they may do with them.
    document_prefixes: Mapped[dict | None] = mapped_column(JSON)
    released_kinds: Mapped[list | None] = mapped_column(JSON)  # None: every kind
    allow_quote_decisions: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    allow_pdf_download: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # Master data customers may change themselves (portal and dossier link), per group.
    customer_edits_contact: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    customer_edits_address: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    customer_edits_bank: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    customer_edits_tax: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # Customer credit is applied to the next invoice when it is issued.
    apply_credit_automatically: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # The opening text of each kind's e-mail ({kind: text}; missing kinds use the standard
    # sentence), with placeholders (models.services.settings.MAIL_PLACEHOLDERS).
    document_mail_texts: Mapped[dict | None] = mapped_column(JSON)
    # Automatic reminders (models.dunning has the levels): off until the business turns them on.
    dunning_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    # The business as a seller: the legal details every invoice, its PDF, letter and
    # e-invoice carries, and the account debtors pay into (the EPC QR code's payee).
    street: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2), default="NL", server_default="NL")
    iban: Mapped[str | None] = mapped_column(String(34))
    bic: Mapped[str | None] = mapped_column(String(11))
    account_holder: Mapped[str | None] = mapped_column(String(200))
    vat_id: Mapped[str | None] = mapped_column(String(30))
    tax_number: Mapped[str | None] = mapped_column(String(30))
    # Chamber of commerce / commercial register number (KvK, Handelsregister).
    registration_number: Mapped[str | None] = mapped_column(String(40))

    def prefix_for(self, kind: str) -> str:
        return (self.document_prefixes or {}).get(kind, DEFAULT_PREFIXES[kind])

    def releases(self, kind: str) -> bool:
        return self.released_kinds is None or kind in self.released_kinds

    def mail_text_for(self, kind: str) -> str | None:
        return (self.document_mail_texts or {}).get(kind) or None
