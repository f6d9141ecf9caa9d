"""Reading and changing the business settings (one row per installation)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from models.db import db
from models.services import audit
from models.services.errors import DomainError
from models.settings import BusinessSettings
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
FLAG_FIELDS = ("portal_access_default",)


def get_settings(for_update: bool = False) -> BusinessSettings:
    """The settings row, or (before anyone saved settings) unsaved defaults.

    Reading never writes: only `for_update` adds the defaults row to the session.
    """
    settings = db.session.scalar(select(BusinessSettings).limit(1))
    if settings is None:
        settings = BusinessSettings(
            business_name="My business", default_currency="EUR", portal_access_default=True, logo_version=0
        )
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
    before = {name: getattr(settings, name) for name in TEXT_FIELDS + FLAG_FIELDS}
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
    settings.business_name = settings.business_name or "My business"
    changes = audit.diff(before, {name: getattr(settings, name) for name in TEXT_FIELDS + FLAG_FIELDS})
    if logo or remove_logo:
        changes["logo"] = ["", "changed"]
    audit.record(actor, "settings.updated", "settings", settings.id, changes=changes)
    return settings
