"""The business as a seller: its legal address, tax ids and the account debtors pay into.

Every invoice, its PDF, its letter, the dossier and the e-mails carry these details
(`seller_lines`); the IBAN is the EPC QR code's payee (models.services.epc). IBAN, BIC and
VAT id are checked with the same functions as the customers' own (master_data), so a value
one form accepts the other accepts too.
"""

from __future__ import annotations

from babel import Locale
from flask_babel import lazy_gettext as _l

from models.customers import COUNTRY_CODES
from models.services import audit
from models.services.errors import DomainError
from models.services.master_data import normalised_bic, normalised_iban, normalised_vat_id
from models.services.settings import get_settings
from models.settings import BusinessSettings
from models.staff import StaffUser

FIELDS = ("street", "postal_code", "city", "country", "iban", "bic", "account_holder", "vat_id", "tax_number",
          "registration_number")
_LIMITS = {"street": 200, "postal_code": 20, "city": 100, "account_holder": 200, "tax_number": 30,
           "registration_number": 40}


def _text(values: dict, name: str) -> str | None:
    value = (values.get(name) or "").strip()
    if len(value) > _LIMITS[name]:
        raise DomainError(_l("Use at most %(n)s characters.", n=_LIMITS[name]), field=name)
    return value or None


def update_business_details(actor: StaffUser, values: dict) -> BusinessSettings:
    """Save the seller details form; a bad IBAN, BIC, VAT id or country is refused at its field."""
    settings = get_settings(for_update=True)
    before = {name: getattr(settings, name) for name in FIELDS}
    country = (values.get("country") or "").strip().upper()
    if country not in COUNTRY_CODES:
        raise DomainError(_l("Choose one of the options."), field="country")
    new = {name: _text(values, name) for name in _LIMITS}
    new.update(country=country, iban=normalised_iban(values.get("iban")), bic=normalised_bic(values.get("bic")),
               vat_id=normalised_vat_id(values.get("vat_id")))
    for name, value in new.items():
        setattr(settings, name, value)
    audit.record(actor, "settings.updated", "settings", settings.id,
                 changes=audit.diff(before, {name: getattr(settings, name) for name in FIELDS}))
    return settings


def address_lines(settings: BusinessSettings, language: str) -> list[str]:
    """The legal address: street, postal code and city, country in `language`. Before the
    structured address is filled in, the free-text address of the general settings."""
    if not (settings.street or settings.city):
        return [line.strip() for line in (settings.address or "").splitlines() if line.strip()]
    lines = [settings.street or "", " ".join(part for part in (settings.postal_code, settings.city) if part)]
    if settings.country:
        lines.append(Locale.parse(language).territories.get(settings.country, settings.country))
    return [line for line in lines if line.strip()]


def seller_lines(settings: BusinessSettings, language: str) -> list[tuple[str, str]]:
    """(label, value) pairs an invoice's footer shows, in `language` (the caller forces the
    locale): address, VAT id, tax and registration number, bank account. Only what is set."""
    pairs: list[tuple[str, str]] = []
    address = address_lines(settings, language)
    if address:
        pairs.append((str(_l("Address")), ", ".join(address)))
    for name, label in (("vat_id", _l("VAT ID")), ("tax_number", _l("Tax number")),
                        ("registration_number", _l("Registration number"))):
        if getattr(settings, name):
            pairs.append((str(label), getattr(settings, name)))
    if settings.iban:
        pairs.append((str(_l("IBAN")), grouped_iban(settings.iban)))
        if settings.bic:
            pairs.append((str(_l("BIC")), settings.bic))
        pairs.append((str(_l("Account holder")), settings.account_holder or settings.business_name))
    return pairs


def grouped_iban(iban: str) -> str:
    """NL91ABNA0417164300 → NL91 ABNA 0417 1643 00 (how people read and type it)."""
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))


def payment_qr_missing(settings: BusinessSettings) -> bool:
    """No IBAN: invoices carry no payment QR code (the settings pages say so)."""
    return not settings.iban
