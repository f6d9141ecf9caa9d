"""Master data the customer changes themselves, from the portal login or the dossier link.

Four groups, each switched on or off in the settings: contact details (primary e-mail
address, phone, language), postal address, bank details (IBAN, BIC, account holder) and
tax details (VAT id, tax number). The rules are the same from both entry points; the
entry point only decides who the customer is and who acts (`CustomerActor`).

- Every change is audited with the old and new values ("customer.changed_by_customer"),
  marks the customer as having changes no staff member has confirmed yet (the Attention
  filter) and is e-mailed to the responsible staff member.
- Bank details need a one-time code sent to the primary address (step-up): the new details
  wait with the code and are saved when it is entered. The primary address (and the one
  before it, if the customer changed it lately) gets a notice; staff see a warning until
  one of them confirms the new details.
- A new primary address takes effect only once a link sent to that address is followed;
  the previous address gets a notice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from sqlalchemy import select

from models.audit import AuditEvent
from models.customers import COUNTRY_CODES, Customer, customer_assignments
from models.db import db, now_utc
from models.one_time_codes import CodePurpose, OneTimeCode
from models.portal_access import PortalUser
from models.services import addresses, audit, events, notifications, one_time_codes, outbox
from models.services.errors import DomainError
from models.settings import BusinessSettings
from models.staff import StaffUser

GROUPS: dict[str, tuple[str, ...]] = {
    "contact": ("email", "phone", "language"),
    "address": ("street", "postal_code", "city", "country"),
    "bank": ("iban", "bic", "bank_holder"),
    "tax": ("vat_id", "tax_number"),
}
SETTING = {group: f"customer_edits_{group}" for group in GROUPS}
LANGUAGES = ("en", "nl", "de")
CHANGED = "customer.changed_by_customer"
EMAIL_REQUESTED = "customer.email_change_requested"
CONFIRMED = "customer.changes_confirmed"
# The primary address the customer replaced within this long also hears of a bank change.
RECENT_EMAIL_CHANGE = timedelta(days=30)
_PHONE = re.compile(r"[0-9 +()./-]+")
_LIMITS = {"phone": 40, "street": 200, "postal_code": 20, "city": 100, "tax_number": 30, "bank_holder": 200}


@dataclass(frozen=True)
class CustomerActor:
    """Who changes the master data: a portal login, or whoever holds the dossier link."""

    portal_user: PortalUser | None = None

    @property
    def label(self) -> str:
        """Kept in the audit trail as written (like the dossier's "dossier link")."""
        if self.portal_user is not None:
            return f"customer via portal login <{self.portal_user.email}>"
        return "customer via dossier link"


@dataclass(frozen=True)
class Saved:
    """What a save did: the fields changed now, and a new primary address waiting for its link."""

    changes: dict[str, list]
    email_pending: str | None = None


def editable(settings: BusinessSettings) -> dict[str, bool]:
    return {group: bool(getattr(settings, SETTING[group])) for group in GROUPS}


def _allowed(settings: BusinessSettings, group: str) -> None:
    if not getattr(settings, SETTING[group]):
        raise DomainError(_l("These details cannot be changed here. Please contact us to change them."))


def _text(values: dict, name: str) -> str | None:
    value = (values.get(name) or "").strip()
    if len(value) > _LIMITS.get(name, 254):
        raise DomainError(_l("Use at most %(n)s characters.", n=_LIMITS[name]), field=name)
    return value or None


# --- checks of single values (also what the forms show at the field) ---------------------


def normalised_iban(value: str | None) -> str | None:
    if not (value or "").strip():
        return None
    try:
        return IBAN(value).compact
    except SchwiftyException:
        raise DomainError(_l("This is not a valid IBAN."), field="iban") from None


def normalised_bic(value: str | None) -> str | None:
    if not (value or "").strip():
        return None
    try:
        return str(BIC(value.strip()))
    except SchwiftyException:
        raise DomainError(_l("This is not a valid BIC."), field="bic") from None


def normalised_vat_id(value: str | None) -> str | None:
    """A VAT id with its country prefix, checked with python-stdnum: every EU country (and
    XI), Switzerland, the United Kingdom and Norway. (python-stdnum is imported on first use:
    its EU module loads every member state's.)"""
    from stdnum import get_cc_module
    from stdnum.eu import vat as eu_vat
    from stdnum.exceptions import ValidationError as StdnumError

    text = (value or "").strip()
    if not text:
        return None
    invalid = DomainError(_l("This is not a valid VAT id. Enter it with its country code, e.g. NL123456789B01."),
                          field="vat_id")
    compact = "".join(ch for ch in text if ch.isalnum()).upper()
    prefix = compact[:2].lower()
    try:
        if prefix in eu_vat.MEMBER_STATES or prefix == "el":
            return eu_vat.validate(compact)
        if prefix in ("ch", "gb", "no"):
            module = get_cc_module(prefix, "mva" if prefix == "no" else "vat")
            number = module.validate(compact)
            return number if number[:2].isalpha() else compact[:2] + number
    except StdnumError:
        raise invalid from None
    raise invalid


def _phone(values: dict) -> str | None:
    phone = _text(values, "phone")
    if phone and not _PHONE.fullmatch(phone):
        raise DomainError(_l("Use digits, spaces and + ( ) - only."), field="phone")
    return phone


# --- recording, marking, telling ----------------------------------------------------------


def _record(actor: CustomerActor | str, customer: Customer, action: str, changes: dict) -> AuditEvent:
    event = audit.record(None, action, "customer", customer.id, customer_id=customer.id, changes=changes)
    event.actor_label = actor if isinstance(actor, str) else actor.label
    return event


def _changed(actor: CustomerActor | str, customer: Customer, changes: dict, *, bank: bool = False) -> None:
    """Audit the change, mark it unconfirmed and tell the responsible staff member."""
    _record(actor, customer, CHANGED, changes)
    customer.changes_unconfirmed_at = customer.changes_unconfirmed_at or now_utc()
    if bank:
        customer.bank_unconfirmed = True
    _tell_staff(customer, changes)
    # The new values, so the business's package can take them over (bank details included:
    # the receiver is the business's own system, reached over HTTPS with a signed body).
    events.record("master_data.changed", customer=customer,
                  data={"changed": {field: new for field, (_old, new) in sorted(changes.items())}})


def _masked(field: str, value: str | None) -> str:
    """What a mail shows of a value: bank account numbers only by their last four characters."""
    if value and field == "iban":
        return "…" + value[-4:]
    return value or ""


def _tell_staff(customer: Customer, changes: dict) -> None:
    staff = notifications.responsible_staff(customer.id)
    if staff is None:
        return
    outbox.queue_system_email(staff.email, "customer_details_changed", context={
        "language": staff.language or "en",
        "staff_name": staff.name,
        "customer_name": customer.display_name,
        "customer_number": customer.number,
        "number": customer.number,
        "changes": [[field, _masked(field, old), _masked(field, new)] for field, (old, new) in changes.items()],
        "bank": any(field in GROUPS["bank"] for field in changes),
        "staff_url": current_app.config["BASE_URL"] + f"/admin/customers/{customer.id}/info",
    })


def _notice(customer: Customer, address: str, what: str, **context) -> None:
    """A security notice to one address (never CC): what changed, not the new values."""
    outbox.queue_system_email(address, "customer_details_notice", customer_id=customer.id,
                              context={"what": what, **context})


def _previous_primary(customer: Customer) -> str | None:
    """The primary address the customer replaced within RECENT_EMAIL_CHANGE, if any."""
    since = now_utc() - RECENT_EMAIL_CHANGE
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.customer_id == customer.id, AuditEvent.action == CHANGED,
                                 AuditEvent.at >= since)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(20))
    for event in events:
        old = (event.changes or {}).get("email", [None])[0]
        if old and old.lower() != (customer.email or "").lower():
            return old
    return None


# --- contact details, address, tax details --------------------------------------------------


def _apply(customer: Customer, values: dict) -> dict:
    before = {name: getattr(customer, name) for name in values}
    for name, value in values.items():
        setattr(customer, name, value)
    return audit.diff(before, values)


def save_contact(actor: CustomerActor, customer: Customer, settings: BusinessSettings, values: dict) -> Saved:
    """Phone and language now; a new primary address only once its link is followed."""
    _allowed(settings, "contact")
    language = values.get("language") or customer.language
    if language not in LANGUAGES:
        raise DomainError(_l("Choose one of the options."), field="language")
    email = (values.get("email") or "").strip()
    new_email = None
    if email:
        new_email = addresses.normalised(email)
        if new_email is None:
            raise DomainError(_l("Enter a valid e-mail address."), field="email")
        new_email = new_email.lower()
    elif customer.email:
        raise DomainError(_l("Enter an e-mail address: we send your invoices there."), field="email")
    changes = _apply(customer, {"phone": _phone(values), "language": language})
    pending = None
    if new_email and new_email != (customer.email or "").lower():
        request_email_change(actor, customer, new_email)
        pending = new_email
    if changes:
        _changed(actor, customer, changes)
    return Saved(changes, pending)


def save_address(actor: CustomerActor, customer: Customer, settings: BusinessSettings, values: dict) -> Saved:
    _allowed(settings, "address")
    country = (values.get("country") or "").strip().upper()
    if country not in COUNTRY_CODES:
        raise DomainError(_l("Choose one of the options."), field="country")
    if not (values.get("street") or "").strip():
        raise DomainError(_l("Enter the street and number."), field="street")
    if not (values.get("city") or "").strip():
        raise DomainError(_l("Enter the city."), field="city")
    changes = _apply(customer, {"street": _text(values, "street"), "postal_code": _text(values, "postal_code"),
                                "city": _text(values, "city"), "country": country})
    if changes:
        _changed(actor, customer, changes)
    return Saved(changes)


def save_tax(actor: CustomerActor, customer: Customer, settings: BusinessSettings, values: dict) -> Saved:
    _allowed(settings, "tax")
    changes = _apply(customer, {"vat_id": normalised_vat_id(values.get("vat_id")),
                                "tax_number": _text(values, "tax_number")})
    if changes:
        _changed(actor, customer, changes)
    return Saved(changes)


# --- bank details: with a one-time code ------------------------------------------------------


def _bank_values(values: dict) -> dict:
    iban = normalised_iban(values.get("iban"))
    bic = normalised_bic(values.get("bic"))
    holder = _text(values, "bank_holder")
    if iban and not holder:
        raise DomainError(_l("Enter the name of the account holder."), field="bank_holder")
    if not iban and (bic or holder):
        raise DomainError(_l("Enter the IBAN."), field="iban")
    return {"iban": iban, "bic": bic, "bank_holder": holder}


def request_bank_change(actor: CustomerActor, customer: Customer, settings: BusinessSettings,
                        values: dict) -> OneTimeCode | None:
    """Check the new bank details and send a code to the primary address; they are saved
    when the code is entered (confirm_bank_change). None: nothing would change."""
    _allowed(settings, "bank")
    wanted = _bank_values(values)
    if not audit.diff({name: getattr(customer, name) for name in wanted}, wanted):
        return None
    return one_time_codes.issue_code(customer, CodePurpose.bank, payload=wanted)


def waiting(customer: Customer) -> tuple[OneTimeCode | None, str | None]:
    """What waits for the customer (one statement): new bank details for their code, and a
    new primary address for its link."""
    found = one_time_codes.waiting_all(customer, (CodePurpose.bank, CodePurpose.email))
    link = found.get(CodePurpose.email)
    return found.get(CodePurpose.bank), (link.payload.get("email") if link is not None else None)


def confirm_bank_change(actor: CustomerActor, customer: Customer, settings: BusinessSettings,
                        entered: str) -> one_time_codes.Redeemed:
    """Save the bank details waiting with the customer's code, if `entered` is that code.
    A refusal is returned (the try is counted, nothing else changes): commit, then show it."""
    _allowed(settings, "bank")
    redeemed = one_time_codes.redeem_code(customer, CodePurpose.bank, entered)
    if not redeemed:
        return redeemed
    wanted = {name: redeemed.code.payload.get(name) for name in GROUPS["bank"]}
    changes = _apply(customer, wanted)
    if changes:
        _changed(actor, customer, changes, bank=True)
        notified = {(customer.email or "").lower()}
        if customer.email:
            _notice(customer, customer.email, "bank")
        previous = _previous_primary(customer)
        if previous and previous.lower() not in notified:
            _notice(customer, previous, "bank")
    return redeemed


# --- the primary e-mail address: confirmed by a link to the new address -----------------------


def request_email_change(actor: CustomerActor, customer: Customer, new_email: str) -> OneTimeCode:
    link = one_time_codes.issue_link(customer, new_email,
                                     payload={"email": new_email, "old": customer.email, "by": actor.label})
    _record(actor, customer, EMAIL_REQUESTED, {"email": [customer.email, new_email]})
    return link


def email_link(token: str) -> tuple[OneTimeCode, Customer] | None:
    """The open link `token` names and its customer (not archived), else None."""
    link = one_time_codes.link_for(token)
    if link is None:
        return None
    customer = db.session.get(Customer, link.customer_id)
    if customer is None or customer.archived_at is not None:
        return None
    return link, customer


def confirm_email_change(token: str) -> Customer:
    """Follow the link: the new address becomes the primary one (once); the previous one
    gets a notice. Refused if the address was changed otherwise in the meantime."""
    found = email_link(token)
    if found is None:
        raise DomainError(_l("This link is not valid any more. Ask for a new one on your details page."))
    link, customer = found
    old, new = link.payload.get("old"), link.payload.get("email")
    if (customer.email or "").lower() != (old or "").lower():
        raise DomainError(_l("Your e-mail address was changed in the meantime. Ask for a new link on your details page."))
    one_time_codes.use_link(link)
    customer.email = new
    label = f"{link.payload.get('by') or 'customer'}, confirmed from the new address"
    _changed(label, customer, {"email": [old, new]})
    if old and old.lower() != new.lower():
        _notice(customer, old, "email", new_email=new)
    return customer


# --- staff: what the customer changed, and confirming it ---------------------------------------


def unconfirmed_changes(customer: Customer, limit: int = 20) -> list[AuditEvent]:
    """The customer's own changes since staff last confirmed, newest first (no query when none)."""
    if customer.changes_unconfirmed_at is None:
        return []
    return list(db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.customer_id == customer.id, AuditEvent.action == CHANGED,
               AuditEvent.at >= customer.changes_unconfirmed_at)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)))


def may_confirm(staff: StaffUser, customer: Customer) -> bool:
    """Owners and admins, and the staff assigned to the customer (seeing every customer is
    not enough for an employee)."""
    if staff.is_manager:
        return True
    return db.session.scalar(select(customer_assignments.c.staff_user_id).where(
        customer_assignments.c.customer_id == customer.id,
        customer_assignments.c.staff_user_id == staff.id)) is not None


def confirm_changes(staff: StaffUser, customer: Customer, seen_iban: str | None) -> None:
    """A staff member has checked the customer's changes (and the bank details as shown:
    `seen_iban`); the warning and the Attention mark go away. Refused when the bank details
    changed again after the page was shown."""
    if not may_confirm(staff, customer):
        raise DomainError(_l("Only staff assigned to this customer (or an owner or admin) can confirm."))
    if (seen_iban or "") != (customer.iban or ""):
        raise DomainError(_l("The bank details changed again after you opened this page. Check them and confirm again."))
    changes = {"bank details": [customer.iban, "confirmed"]} if customer.bank_unconfirmed else {}
    if customer.changes_unconfirmed_at is not None:
        changes["changes since"] = [customer.changes_unconfirmed_at.isoformat(timespec="minutes"), "confirmed"]
    customer.changes_unconfirmed_at = None
    customer.bank_unconfirmed = False
    audit.record(staff, CONFIRMED, "customer", customer.id, customer_id=customer.id, changes=changes)
