"""One-time codes (step-up) and e-mail confirmation links: issued, minted when their mail
is built, redeemed once.

- A code is 6 digits, e-mailed to the customer's primary address only (a system mail: To
  that one address, never CC), valid for CODE_VALID, at most MAX_ATTEMPTS tries; a new code
  of the same purpose replaces the open one. At most MAX_PER_HOUR codes per customer an hour.
- The secret is minted by the mail worker when it builds the message (mailers.messages),
  like invitation links: no table and no outbox row ever holds it, only its HMAC (keyed with
  SECRET_KEY, so a leaked table alone cannot be tried offline).
- Redeeming counts the try in the caller's transaction and *returns* the refusal instead of
  raising it, so the caller commits the counted try (a raised DomainError rolls back).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import func, select, update

from models.customers import Customer
from models.db import db, now_utc
from models.one_time_codes import CodePurpose, OneTimeCode
from models.services import outbox
from models.services.errors import DomainError

CODE_VALID = timedelta(minutes=15)
LINK_VALID = timedelta(hours=24)
MAX_ATTEMPTS = 5
MAX_PER_HOUR = 5
CODE_TEMPLATE = "customer_code"
LINK_TEMPLATE = "customer_email_confirm"
# The mails whose secret the worker mints when it builds them (mailers.messages).
MINTED_TEMPLATES = frozenset({CODE_TEMPLATE, LINK_TEMPLATE})


class NotMintable(Exception):
    """The code's mail lost its purpose before it was sent (used, replaced, expired)."""


@dataclass(frozen=True)
class Redeemed:
    """The redeemed code (its payload), or why not: `error` is for the code field."""

    code: OneTimeCode | None = None
    error: DomainError | None = None

    def __bool__(self) -> bool:
        return self.error is None


def _digest(code_id: int, secret: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"one-time:{code_id}:{secret}".encode(), hashlib.sha256).hexdigest()


def _open(customer_id: int, purpose: CodePurpose):
    return select(OneTimeCode).where(
        OneTimeCode.customer_id == customer_id, OneTimeCode.purpose == purpose,
        OneTimeCode.used_at.is_(None), OneTimeCode.replaced_at.is_(None),
    )


def _refuse_too_many(customer: Customer) -> None:
    since = now_utc() - timedelta(hours=1)
    issued = db.session.scalar(
        select(func.count()).select_from(OneTimeCode)
        .where(OneTimeCode.customer_id == customer.id, OneTimeCode.created_at >= since)
    ) or 0
    if issued >= MAX_PER_HOUR:
        raise DomainError(_l("We have sent you several codes in the last hour. Please wait a while and try again."))


def _replace_open(customer_id: int, purpose: CodePurpose) -> None:
    db.session.execute(
        update(OneTimeCode)
        .where(OneTimeCode.customer_id == customer_id, OneTimeCode.purpose == purpose,
               OneTimeCode.used_at.is_(None), OneTimeCode.replaced_at.is_(None))
        .values(replaced_at=now_utc())
        .execution_options(synchronize_session=False)
    )


def issue_code(customer: Customer, purpose: CodePurpose, payload: dict | None = None) -> OneTimeCode:
    """A new code for `purpose`, e-mailed to the customer's primary address alone; the open
    code of the same purpose stops working. Refused without a primary address, and after
    MAX_PER_HOUR codes within the hour."""
    if not customer.email:
        raise DomainError(_l("We have no e-mail address for you, so we cannot send you a code. "
                             "Please contact us to change this."))
    _refuse_too_many(customer)
    _replace_open(customer.id, purpose)
    now = now_utc()
    code = OneTimeCode(customer_id=customer.id, purpose=purpose, sent_to=customer.email, payload=payload or {},
                       created_at=now, expires_at=now + CODE_VALID)
    db.session.add(code)
    db.session.flush()
    outbox.queue_system_email(customer.email, CODE_TEMPLATE, customer_id=customer.id,
                              context={"code_id": code.id, "purpose": purpose.value,
                                       "minutes": int(CODE_VALID.total_seconds() // 60)})
    return code


def issue_link(customer: Customer, address: str, payload: dict) -> OneTimeCode:
    """A confirmation link for a new primary address, e-mailed to that address alone."""
    _refuse_too_many(customer)
    _replace_open(customer.id, CodePurpose.email)
    now = now_utc()
    link = OneTimeCode(customer_id=customer.id, purpose=CodePurpose.email, sent_to=address, payload=payload,
                       created_at=now, expires_at=now + LINK_VALID)
    db.session.add(link)
    db.session.flush()
    outbox.queue_system_email(address, LINK_TEMPLATE, customer_id=customer.id,
                              context={"code_id": link.id, "hours": int(LINK_VALID.total_seconds() // 3600)})
    return link


def _mintable(code_id, to_address: str | None) -> OneTimeCode:
    code = db.session.get(OneTimeCode, code_id) if isinstance(code_id, int) else None
    if code is None or code.used_at or code.replaced_at or code.expires_at <= now_utc() or code.sent_to != to_address:
        raise NotMintable("the code was used, replaced or expired before it was sent")
    return code


def mint_code(code_id, to_address: str | None) -> str:
    """The code's 6 digits, made now (its HMAC is written); for the worker building its mail."""
    code = _mintable(code_id, to_address)
    secret = f"{secrets.randbelow(10**6):06d}"
    code.secret_hash = _digest(code.id, secret)
    return secret


def mint_link_token(code_id, to_address: str | None) -> str:
    """The link's token: the row id and 256 random bits, signed (itsdangerous) so an altered
    token is refused before any lookup; only the bits' HMAC is kept."""
    from itsdangerous import URLSafeSerializer

    link = _mintable(code_id, to_address)
    secret = secrets.token_urlsafe(32)
    link.secret_hash = _digest(link.id, secret)
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="customer-email-link").dumps([link.id, secret])


def _tried(code: OneTimeCode) -> bool:
    """Count one try, atomically: False when the code is locked (or used) meanwhile."""
    counted = db.session.execute(
        update(OneTimeCode)
        .where(OneTimeCode.id == code.id, OneTimeCode.attempts < MAX_ATTEMPTS, OneTimeCode.used_at.is_(None))
        .values(attempts=OneTimeCode.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.expire(code, ["attempts"])
    return counted == 1


def _use(code: OneTimeCode) -> bool:
    used = db.session.execute(
        update(OneTimeCode).where(OneTimeCode.id == code.id, OneTimeCode.used_at.is_(None))
        .values(used_at=now_utc())
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.expire(code, ["used_at"])
    return used == 1


def redeem_code(customer: Customer, purpose: CodePurpose, entered: str) -> Redeemed:
    """The customer's open code of `purpose`, if `entered` is it: used up now. Every try
    counts (5 per code); a wrong, expired or locked code is returned as the refusal, with
    nothing else changed, for the caller to commit (the counted try) and show."""
    code = db.session.scalar(_open(customer.id, purpose).order_by(OneTimeCode.id.desc()).limit(1))
    if code is None:
        return Redeemed(error=DomainError(_l("There is no code waiting for you. Ask for a new code."), field="code"))
    if code.expires_at <= now_utc():
        return Redeemed(error=DomainError(_l("This code has expired. Ask for a new code."), field="code"))
    if not _tried(code):
        return Redeemed(error=DomainError(
            _l("This code was entered wrongly too often and no longer works. Ask for a new code."), field="code"))
    entered = "".join((entered or "").split())
    if code.secret_hash is None or not hmac.compare_digest(code.secret_hash, _digest(code.id, entered)):
        left = MAX_ATTEMPTS - code.attempts
        if left <= 0:
            message = _l("This code was entered wrongly too often and no longer works. Ask for a new code.")
        else:
            message = ngettext("This code is not right. You can try %(num)s more time.",
                               "This code is not right. You can try %(num)s more times.", left)
        return Redeemed(error=DomainError(message, field="code"))
    if not _use(code):
        return Redeemed(error=DomainError(_l("This code was used already. Ask for a new code."), field="code"))
    return Redeemed(code=code)


def link_for(token: str) -> OneTimeCode | None:
    """The open e-mail link a token names (signature, secret, neither used, replaced nor
    expired), else None: an altered, used or old link all look the same."""
    from itsdangerous import BadSignature, URLSafeSerializer

    try:
        code_id, secret = URLSafeSerializer(current_app.config["SECRET_KEY"], salt="customer-email-link").loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(code_id, int) or not isinstance(secret, str) or not 0 < code_id < 2**31:
        return None
    link = db.session.get(OneTimeCode, code_id)
    if (link is None or link.purpose != CodePurpose.email or link.secret_hash is None or link.used_at
            or link.replaced_at or link.expires_at <= now_utc()
            or not hmac.compare_digest(link.secret_hash, _digest(link.id, secret))):
        return None
    return link


def use_link(link: OneTimeCode) -> None:
    """Single use, even when the link is posted twice at once (a conditional UPDATE)."""
    if not _use(link):
        raise DomainError(_l("This link was used already."))


def waiting_all(customer: Customer, purposes: tuple[CodePurpose, ...]) -> dict[CodePurpose, OneTimeCode]:
    """The open, unexpired code or link of each of `purposes` (one statement; a new one
    replaces the open one, so there is at most one each)."""
    found: dict[CodePurpose, OneTimeCode] = {}
    for code in db.session.scalars(
            select(OneTimeCode).where(OneTimeCode.customer_id == customer.id, OneTimeCode.purpose.in_(purposes),
                                      OneTimeCode.used_at.is_(None), OneTimeCode.replaced_at.is_(None),
                                      OneTimeCode.expires_at > now_utc())
            .order_by(OneTimeCode.id.desc())):
        found.setdefault(code.purpose, code)
    return found


def waiting(customer: Customer, purpose: CodePurpose) -> OneTimeCode | None:
    """The customer's open, unexpired code or link of `purpose` (what the page says is on its way)."""
    return db.session.scalar(
        _open(customer.id, purpose).where(OneTimeCode.expires_at > now_utc()).order_by(OneTimeCode.id.desc()).limit(1))
