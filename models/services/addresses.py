"""E-mail address syntax: the one check (email-validator, no DNS) that forms and domain
rules share.

Cached: a form checks an address and the domain rule behind it checks the same address
again; saving a contact row unchanged checks an address already seen. The check is a pure
function of the text (no deliverability lookup), so the cache never goes stale.
"""

from __future__ import annotations

import functools

from email_validator import EmailNotValidError, validate_email


@functools.lru_cache(maxsize=4096)
def normalised(address: str) -> str | None:
    """The address in email-validator's normal form, or None when it is not valid."""
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        return None
