"""Reading and changing the business settings (one row per installation)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from models.db import db
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
               "letter_invoice_asks_email", "letter_reminder_asks_email")
# Left out of a form post (or empty): the saved value stays.
VALUE_FIELDS = ("instalment_max_count", "instalment_min_amount", "instalment_auto_approve_up_to")
CHOICE_FIELDS = {"dossier_check": DOSSIER_CHECKS, "payment_provider": PAYMENT_PROVIDERS}


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
    actor: StaffUser, values: dict, logo: bytes | None = None, remove_logo: bool = False
) -> BusinessSettings:
    settings = get_settings(for_update=True)
    audited = TEXT_FIELDS + FLAG_FIELDS + VALUE_FIELDS + tuple(CHOICE_FIELDS)
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
    changes = audit.diff(before, {name: getattr(settings, name) for name in audited})
    if logo or remove_logo:
        changes["logo"] = ["", "changed"]
    audit.record(actor, "settings.updated", "settings", settings.id, changes=changes)
    return settings
