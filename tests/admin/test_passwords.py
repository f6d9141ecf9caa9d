"""One password policy for every login: staff (added by a manager, changed by themselves,
created on the command line) and portal logins (invitation, reset, change).

At least 12 characters, and not one of the 30,000 most common passwords -- nor one of them
dressed up with digits or punctuation around it ("password12345", "Monkey!2024!").
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.db import db
from models.portal_access import PasswordReset, PortalUser
from models.services import passwords, portal_access
from models.services.errors import DomainError
from models.staff import StaffUser
from tests import factories
from tests.conftest import field_error, input_value, soup_of

TOO_COMMON = "This password is too common. Choose another one."
TOO_EASY = "This password is too easy to guess. Choose another one."
TOO_SHORT = "Use at least 12 characters."

WEAK = [
    ("password1234", TOO_COMMON),
    ("PassWord1234", TOO_COMMON),
    ("qwertyuiop123", TOO_COMMON),
    ("password12345", TOO_COMMON),   # a common word with digits around it
    ("Monkey!2024!!", TOO_COMMON),
    ("2024sunshine!", TOO_COMMON),
    ("aaaaaaaaaaaaaa", TOO_EASY),    # one character repeated
    ("abababababab", TOO_EASY),
    ("1212121212121", TOO_EASY),
    ("short pass", TOO_SHORT),
]
STRONG = ["correct horse battery", "a long enough passphrase", "twelve chars", "Kw8#pz!Lq2vN"]


@pytest.mark.parametrize(("password", "message"), WEAK)
def test_the_policy_refuses_weak_passwords_at_the_given_field(app, password, message):
    with app.test_request_context():
        with pytest.raises(DomainError) as refused:
            passwords.check_password(password, field="new_password")
        assert str(refused.value.message) == message
        assert refused.value.field == "new_password"


@pytest.mark.parametrize("password", STRONG)
def test_the_policy_accepts_long_uncommon_passwords(app, password):
    with app.test_request_context():
        passwords.check_password(password)


def _staff(app, email: str) -> StaffUser | None:
    with app.app_context():
        return db.session.scalar(select(StaffUser).where(StaffUser.email == email))


def _new_owner(client, password: str):
    return client.post("/admin/staff/new", data={
        "name": "Nora New", "email": "nora@example.com", "role": "owner", "language": "en", "password": password,
    })


@pytest.mark.parametrize(("password", "message"), WEAK)
def test_an_owner_cannot_be_added_with_a_weak_password(app, owner_client, password, message):
    response = _new_owner(owner_client, password)
    assert response.status_code == 422
    soup = soup_of(response)
    assert field_error(soup, "Initial password") == message
    assert input_value(soup, "E-mail address") == "nora@example.com"  # what was typed stays
    assert _staff(app, "nora@example.com") is None


def test_an_owner_with_a_strong_password_is_added(app, owner_client):
    assert _new_owner(owner_client, "a long enough passphrase").status_code == 302
    assert _staff(app, "nora@example.com").role.value == "owner"


@pytest.mark.parametrize(("password", "message"), WEAK[:5])
def test_staff_cannot_change_to_a_weak_password(app, owner_client, owner, password, message):
    before = _staff(app, owner.email).password_hash
    response = owner_client.post("/admin/account", data={
        "pw-current_password": factories.PASSWORD, "pw-new_password": password,
        "pw-confirm_password": password, "pw-submit": "Change password",
    })
    assert response.status_code == 422
    assert field_error(soup_of(response), "New password") == message
    assert _staff(app, owner.email).password_hash == before


@pytest.mark.parametrize(("password", "message"), [("password1234", TOO_COMMON), ("password12345", TOO_COMMON),
                                                   ("zzzzzzzzzzzzzz", TOO_EASY)])
def test_create_user_refuses_a_weak_password(app, password, message):
    result = app.test_cli_runner().invoke(
        args=["create-user", "--email", "boss@example.test", "--role", "owner"], input=f"{password}\n{password}\n")
    assert result.exit_code != 0
    assert message in result.output
    assert _staff(app, "boss@example.test") is None


# --- portal logins use the same policy ---------------------------------------------------------


def _portal_user(app, email: str = "anna@example.com") -> PortalUser:
    with app.app_context():
        user = PortalUser(email=email, password_hash=passwords.hash_password("the first passphrase"))
        db.session.add(user)
        db.session.commit()
        db.session.refresh(user)
        db.session.expunge(user)
        return user


def _reset_link(app, user: PortalUser) -> str:
    with app.app_context():
        token = portal_access.mint_reset(db.session.get(PortalUser, user.id))
        db.session.commit()
        return token


def test_a_portal_reset_refuses_a_common_password_dressed_up(app, client):
    user = _portal_user(app)
    token = _reset_link(app, user)
    page = soup_of(client.get(f"/portal/reset/{token}"))
    csrf = page.find("input", attrs={"name": "csrf_token"})["value"]
    response = client.post(f"/portal/reset/{token}", data={
        "csrf_token": csrf, "password": "password12345", "confirm": "password12345"})
    assert response.status_code == 422
    assert field_error(soup_of(response), "New password") == TOO_COMMON
    with app.app_context():
        assert db.session.scalar(select(PasswordReset.used_at)) is None


def test_a_portal_password_change_uses_the_same_policy(app):
    user = _portal_user(app)
    with app.test_request_context():
        with pytest.raises(DomainError) as refused:
            portal_access.change_password(db.session.get(PortalUser, user.id), "the first passphrase", "password12345")
        assert (str(refused.value.message), refused.value.field) == (TOO_COMMON, "new_password")
        db.session.rollback()
