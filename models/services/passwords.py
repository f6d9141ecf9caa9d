"""Passwords: the one policy every login follows, and hashing with argon2id (argon2-cffi).

The policy (check_password) holds for staff (added by a manager, changed by themselves,
created with `flask create-user`) and portal logins (invitation, reset, change) alike.

The default profile is RFC 9106's low-memory recommendation (t=3, m=64 MiB, p=4), above
OWASP ASVS 5's minimum; werkzeug's scrypt defaults are below it.
"""

from __future__ import annotations

import string
from dataclasses import replace

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import lazy_gettext as _l

from models.services.errors import DomainError

PROFILES = {
    "rfc9106-low-memory": profiles.RFC_9106_LOW_MEMORY,
    # OWASP's smallest argon2id setting (m=19 MiB, t=2, p=1): for the test-suite only.
    "owasp-minimum": replace(
        profiles.RFC_9106_LOW_MEMORY, time_cost=2, memory_cost=19 * 1024, parallelism=1
    ),
}

_hasher = PasswordHasher.from_parameters(PROFILES["rfc9106-low-memory"])
# Verified against when the account does not exist, so both paths cost the same.
_DUMMY_HASH = _hasher.hash("dossier-timing-equaliser")

MIN_LENGTH = 12


class _CommonPasswords:
    """zxcvbn's list of the 30,000 most common passwords (a kept library, not ours to curate),
    read when a password is first checked: the module holds zxcvbn's other lists too (words,
    names), some 12 MiB in every web and mail process that would never set a password."""

    _words: frozenset[str] | None = None

    def __contains__(self, word: object) -> bool:
        if self._words is None:
            from zxcvbn.frequency_lists import FREQUENCY_LISTS

            self._words = frozenset(FREQUENCY_LISTS["passwords"])
        return word in self._words


COMMON_PASSWORDS = _CommonPasswords()
# What people put around a common word to pass a length rule: "password12345", "Monkey!2024!".
_DECORATION = string.digits + string.punctuation + string.whitespace
# Fewer different characters than this is a pattern ("aaaaaaaaaaaa", "abababababab"), not a secret.
MIN_DISTINCT = 5


def check_password(password: str | None, field: str = "password") -> None:
    """Refuse a password a guesser would try early; DomainError at `field` says why.

    At least MIN_LENGTH characters; not a common password in any case, nor one with only
    digits or punctuation added before or after it; not one or two characters repeated.
    """
    password = password or ""
    if len(password) < MIN_LENGTH:
        raise DomainError(_l("Use at least %(n)s characters.", n=MIN_LENGTH), field=field)
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or lowered.strip(_DECORATION) in COMMON_PASSWORDS:
        raise DomainError(_l("This password is too common. Choose another one."), field=field)
    if len(set(lowered)) < MIN_DISTINCT:
        raise DomainError(_l("This password is too easy to guess. Choose another one."), field=field)


def configure(profile: str) -> None:
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHasher.from_parameters(PROFILES[profile])
    _DUMMY_HASH = _hasher.hash("dossier-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
