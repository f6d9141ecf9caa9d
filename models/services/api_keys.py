"""API keys: made and revoked by the owner, checked on every API request.

The secret is `dsk_` and 43 URL-safe characters (32 random bytes); it is returned once by
`create_key` and stored only as its SHA-256. `authenticate` is one indexed lookup; the
last-used time is written at most once a minute per key, so a busy integration does not
turn every read into a write.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from models.api_keys import SCOPES, ApiKey
from models.db import db, now_utc
from models.services import audit
from models.services.errors import DomainError
from models.staff import StaffUser

PREFIX = "dsk_"
LAST_USED_PRECISION = timedelta(minutes=1)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def keys() -> list[ApiKey]:
    return list(db.session.scalars(select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.id.desc())))


def create_key(actor: StaffUser, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """A new key and its secret, which is shown this once."""
    name = " ".join((name or "").split())[:80]
    if not name:
        raise DomainError(_l("Name the key after what uses it."), field="name")
    if not scopes or any(s not in SCOPES for s in scopes):
        raise DomainError(_l("Choose what the key may do."), field="scopes")
    secret = PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, prefix=secret[:10], key_hash=_hash(secret),
                 scopes=" ".join(s for s in SCOPES if s in scopes or s == "read"), created_by_id=actor.id)
    db.session.add(key)
    db.session.flush()
    audit.record(actor, "api_key.created", "api_key", key.id, changes={"name": [None, name],
                                                                       "scopes": [None, key.scopes]})
    return key, secret


def revoke_key(actor: StaffUser, key: ApiKey) -> None:
    if key.revoked_at is not None:
        return
    key.revoked_at = now_utc()
    audit.record(actor, "api_key.revoked", "api_key", key.id, changes={"name": [key.name, None]})


def authenticate(secret: str) -> tuple[ApiKey | None, bool]:
    """The key this secret belongs to, revoked or not (the caller says which), or None; and
    whether its last-used time was written (in the request's transaction: the caller commits)."""
    if not secret.startswith(PREFIX) or len(secret) > 100:
        return None, False
    key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == _hash(secret)))
    if key is not None and key.revoked_at is None:
        now = now_utc()
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_PRECISION:
            db.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now)
                               .execution_options(synchronize_session=False))
            set_committed_value(key, "last_used_at", now)
            return key, True
    return key, False
