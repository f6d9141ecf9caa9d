"""Dossier link tokens: issue, rotate, resolve. The one place tokens are made and checked."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from flask import current_app
from sqlalchemy import select

from models.customers import Customer
from models.db import db, now_utc
from models.dossier import DossierLink
from models.services import audit
from models.staff import StaffUser

_SEPARATOR = "."


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signature(public_id: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, b"dossier-link:" + public_id.encode(), hashlib.sha256).digest()
    return _b64(digest[:16])  # 128 bits


def token_for(link: DossierLink) -> str:
    return f"{link.public_id}{_SEPARATOR}{_signature(link.public_id)}"


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
        db.session.add(link)  # pending until the caller's commit (see admin.customer_info)
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


def resolve(token: str) -> DossierLink | None:
    """The active link for a token, or None for anything unknown, revoked or forged."""
    public_id, sep, signature = (token or "").partition(_SEPARATOR)
    if not sep or len(public_id) != 22 or len(signature) != 22:
        return None
    expected = _signature(public_id)
    if not hmac.compare_digest(expected, signature):
        return None
    return db.session.scalar(
        select(DossierLink).where(
            DossierLink.public_id == public_id, DossierLink.revoked_at.is_(None)
        )
    )
