"""Customers (accounts), their tags, custom fields, notes and staff assignments."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    func,
    literal_column,
    Boolean,
    Column,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.db import UTCDateTime, db, now_utc
from models.staff import StaffUser

customer_tags = Table(
    "customer_tags",
    db.metadata,
    Column("customer_id", ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)

customer_assignments = Table(
    "customer_assignments",
    db.metadata,
    Column("customer_id", ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("staff_user_id", ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_customer_assignments_staff", "staff_user_id"),
)


# The countries a customer's address may be in (staff form and the customer's own details).
COUNTRY_CODES = ("NL", "BE", "DE", "AT", "CH", "LU", "FR", "GB", "IE", "DK", "SE", "NO", "PL", "ES", "IT", "US")


# What a customer's invoice e-mails attach as e-invoice (models.services.einvoice.FORMATS).
EINVOICE_MAIL_FORMATS = ("none", "facturx", "xrechnung-ubl")


class CustomerKind(str, enum.Enum):
    individual = "individual"
    company = "company"


class Tag(db.Model):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)


class Customer(db.Model):
    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_sort_key", "sort_key", "id"),
        # Numbers are unique ignoring case (save_customer refuses "c1" beside "C1"), and
        # matched so (intake, save_customer's clash check). Unique, the planner knows a
        # number matches one customer at most even before the table has statistics: the
        # import's lookup of a batch's numbers stays an index scan however large the table.
        Index("ix_customers_number_lower", func.lower(text("number")), unique=True),
        # The Attention counts: customers without an address, or with one they provided.
        Index("ix_customers_no_email", "id", postgresql_where=text("email IS NULL"),
              sqlite_where=text("email IS NULL")),
        Index("ix_customers_provided_email", "id", postgresql_where=text("provided_email IS NOT NULL"),
              sqlite_where=text("provided_email IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(30), unique=True)
    # The accounting package's own id for this customer (REST API and CSV import upsert by it).
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    kind: Mapped[CustomerKind] = mapped_column(
        Enum(CustomerKind, native_enum=False, length=20, validate_strings=True),
        default=CustomerKind.individual,
    )
    name: Mapped[str] = mapped_column(String(200))
    company_name: Mapped[str | None] = mapped_column(String(200))
    # Lower-cased display name: the list's sort order, kept by save_customer (indexable
    # on every database, unlike an expression).
    sort_key: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    street: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2), default="NL")
    language: Mapped[str] = mapped_column(String(5), default="nl")
    vat_id: Mapped[str | None] = mapped_column(String(30))
    tax_number: Mapped[str | None] = mapped_column(String(30))
    iban: Mapped[str | None] = mapped_column(String(34))
    bic: Mapped[str | None] = mapped_column(String(11))
    bank_holder: Mapped[str | None] = mapped_column(String(200))
    # E-invoices: the buyer reference (BT-10; a German authority's Leitweg-ID) and which
    # e-invoice the invoice e-mails attach (EINVOICE_MAIL_FORMATS).
    buyer_reference: Mapped[str | None] = mapped_column(String(100))
    einvoice_format: Mapped[str] = mapped_column(String(20), default="none", server_default="none")
    portal_access: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    # Bumped by every UPDATE of the row (the REST API's `updated_since` filter); the lock
    # statements (settlement.lock_customer, contacts) keep it as it is.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc, index=True)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An address the debtor left on the dossier page; staff adopt it (becomes `email`) or dismiss it.
    provided_email: Mapped[str | None] = mapped_column(String(254))
    provided_email_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Master data the customer changed themselves (portal or dossier link) that no staff
    # member has confirmed yet: since when (the Attention filter), and whether the bank
    # details are among it (a warning until staff confirm them).
    changes_unconfirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    bank_unconfirmed: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # SYNC: mail exchanged with the primary address is put on the customer (issue 21).
    email_sync: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # Staff hold automatic reminders for this customer (models.services.dunning skips them).
    dunning_hold: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    tags: Mapped[list[Tag]] = relationship(secondary=customer_tags, order_by=Tag.name)
    assigned_staff: Mapped[list[StaffUser]] = relationship(
        secondary=customer_assignments, order_by=StaffUser.name
    )

    @property
    def is_company(self) -> bool:
        return self.kind == CustomerKind.company

    @property
    def display_name(self) -> str:
        return self.company_name if self.is_company and self.company_name else self.name


class CustomFieldKind(str, enum.Enum):
    text = "text"
    number = "number"
    date = "date"


class CustomFieldDefinition(db.Model):
    """A field an admin defines once; every customer then has a value slot for it."""

    __tablename__ = "custom_field_definitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(60), unique=True)
    kind: Mapped[CustomFieldKind] = mapped_column(
        Enum(CustomFieldKind, native_enum=False, length=20, validate_strings=True),
        default=CustomFieldKind.text,
    )
    position: Mapped[int] = mapped_column(Integer, default=0)


class CustomFieldValue(db.Model):
    __tablename__ = "custom_field_values"
    __table_args__ = (UniqueConstraint("customer_id", "field_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    field_id: Mapped[int] = mapped_column(
        ForeignKey("custom_field_definitions.id", ondelete="CASCADE")
    )
    value: Mapped[str] = mapped_column(String(500))


class Note(db.Model):
    __tablename__ = "notes"
    __table_args__ = (Index("ix_notes_customer_created", "customer_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    author: Mapped[StaffUser | None] = relationship()


def search_text():
    """What staff search customers by: name, company name, number and e-mail address in
    one lower-cased string. On PostgreSQL a trigram index holds exactly this expression
    (migration 3b7e0c2d9a41), so `search_text().contains(q)` is one index scan instead of
    reading every customer; the index and this expression must stay the same."""
    blank = literal_column("''")
    space = literal_column("' '")
    return func.lower(
        func.coalesce(Customer.name, blank) + space + func.coalesce(Customer.company_name, blank)
        + space + Customer.number + space + func.coalesce(Customer.email, blank)
    )
