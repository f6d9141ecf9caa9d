"""Staff login, logout and sessions that end for real."""

from __future__ import annotations

import time

from models.db import db
from models.services import staff as staff_service
from tests import factories
from tests.conftest import StaffClient, csrf_token, login, soup_of


def _post_login(client, email, password, next_url=None):
    token = csrf_token(client)
    url = "/admin/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"email": email, "password": password, "csrf_token": token})


def test_login_page_has_labelled_fields(client):
    soup = soup_of(client.get("/admin/login"))
    assert soup.find("h1").get_text(strip=True) == "Staff login"
    for label in ("E-mail address", "Password"):
        assert soup.find("label", string=label) is not None
    assert soup.find("input", attrs={"type": "submit", "value": "Log in"}) is not None


def test_wrong_password_and_unknown_address_get_the_same_message(client, owner):
    wrong = _post_login(client, owner.email, "not the password")
    unknown = _post_login(client, "nobody@example.test", "not the password")
    assert wrong.status_code == unknown.status_code == 422
    message = "The e-mail address or password is not correct."
    assert soup_of(wrong).find(role="alert").get_text(strip=True) == message
    assert soup_of(unknown).find(role="alert").get_text(strip=True) == message


def test_login_redirects_to_local_next_only(client, owner):
    response = _post_login(client, owner.email, factories.PASSWORD, next_url="/admin/invoices")
    assert response.headers["Location"] == "/admin/invoices"
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/account")})
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = _post_login(client, owner.email, factories.PASSWORD, next_url=evil)
        assert response.headers["Location"] == "/admin/customers", evil
        client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/account")})


def test_login_requires_csrf(client, owner):
    response = client.post("/admin/login", data={"email": owner.email, "password": factories.PASSWORD})
    assert response.status_code == 400
    assert client.get("/admin/customers").status_code == 302


def test_deactivated_staff_cannot_log_in(client):
    user = factories.staff(active=False)
    assert _post_login(client, user.email, factories.PASSWORD).status_code == 422


def test_anonymous_is_sent_to_login(client):
    response = client.get("/admin/customers?q=x")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login?next=")


def test_htmx_request_without_session_gets_hx_redirect(client):
    response = client.get("/admin/customers", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/admin/login")


def test_logout_ends_every_session_of_the_user(app, owner):
    first = login(app.test_client(), owner)
    second = login(app.test_client(), owner)
    assert second.get("/admin/customers").status_code == 200
    first.post("/admin/logout", data={"csrf_token": csrf_token(first, "/admin/account")})
    assert first.get("/admin/customers").status_code == 302
    assert second.get("/admin/customers").status_code == 302


def test_password_change_keeps_this_session_and_ends_the_others(app, owner):
    this = StaffClient(login(app.test_client(), owner), owner)
    other = login(app.test_client(), owner)
    response = this.post("/admin/account", data={
        "pw-current_password": factories.PASSWORD, "pw-new_password": "a brand new passphrase",
        "pw-confirm_password": "a brand new passphrase", "pw-submit": "Change password",
    })
    assert response.status_code == 302
    assert this.get("/admin/customers").status_code == 200
    assert other.get("/admin/customers").status_code == 302
    assert login(app.test_client(), owner, password="a brand new passphrase")


def test_wrong_current_password_is_shown_next_to_the_field(owner_client):
    response = owner_client.post("/admin/account", data={
        "pw-current_password": "wrong", "pw-new_password": "a brand new passphrase",
        "pw-confirm_password": "a brand new passphrase", "pw-submit": "Change password",
    })
    assert response.status_code == 422
    from tests.conftest import field_error
    assert field_error(soup_of(response), "Current password") == "The current password is not correct."


def test_deactivation_ends_sessions_at_the_next_request(app, owner):
    employee = factories.staff(role="employee")
    employee_client = login(app.test_client(), employee)
    assert employee_client.get("/admin/customers").status_code == 200
    manager = StaffClient(login(app.test_client(), owner), owner)
    response = manager.post(f"/admin/staff/{employee.id}", data={"name": employee.name, "role": "employee"})
    assert response.status_code == 302
    assert employee_client.get("/admin/customers").status_code == 302


def test_idle_session_expires(app, owner):
    client = login(app.test_client(), owner)
    with client.session_transaction() as session:
        session["seen_at"] = int(time.time()) - 31 * 60
    assert client.get("/admin/customers").status_code == 302


def test_session_expires_after_twelve_hours_even_when_active(app, owner):
    client = login(app.test_client(), owner)
    with client.session_transaction() as session:
        session["login_at"] = int(time.time()) - 12 * 3600 - 5
    assert client.get("/admin/customers").status_code == 302


def test_login_is_rate_limited_per_account(client, owner):
    for _ in range(5):
        assert _post_login(client, owner.email, "wrong").status_code == 422
    response = _post_login(client, owner.email, factories.PASSWORD)
    assert response.status_code == 429
    # another account from the same address is not locked by this one
    other = factories.staff()
    assert _post_login(client, other.email, factories.PASSWORD).status_code == 302


def test_login_is_rate_limited_per_ip(client):
    statuses = [
        _post_login(client, f"user{i}@example.test", "wrong").status_code for i in range(21)
    ]
    assert statuses[:20] == [422] * 20
    assert statuses[20] == 429


def test_password_is_stored_as_argon2id(owner):
    assert owner.password_hash.startswith("$argon2id$")


def test_rehash_on_login_when_parameters_change(app, owner):
    from models.services import passwords

    passwords.configure("rfc9106-low-memory")
    try:
        with app.app_context():
            user = staff_service.authenticate(owner.email, factories.PASSWORD)
            db.session.commit()
            assert "m=65536" in user.password_hash
    finally:
        passwords.configure("owasp-minimum")
