"""Business settings (with the logo) and staff management, as owners and admins use them."""

from __future__ import annotations

import io
import struct
import zlib
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from models.db import db
from models.settings import BusinessSettings
from models.staff import StaffRole, StaffUser
from tests import factories
from tests.conftest import StaffClient, csrf_token, field_error, input_value, login, soup_of


def tiny_png() -> bytes:
    """A valid 1×1 red PNG, built from its chunks."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1×1, 8 bit, RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter 0, one red pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


SETTINGS = {
    "business_name": "Brightside Services B.V.",
    "address": "Keizersgracht 123\n1015 CJ Amsterdam",
    "sender_name": "Brightside Billing",
    "sender_email": "billing@brightside.example.com",
    "default_currency": "CHF",
}


@pytest.fixture
def admin_client(app):
    admin = factories.staff(role="admin", name="Ada Admin")
    return StaffClient(login(app.test_client(), admin), admin)


@pytest.fixture
def customer_for_invoice(app):
    return factories.customer(name="Currency Carla")


def _stored_settings(app) -> BusinessSettings | None:
    with app.app_context():
        settings = db.session.scalar(select(BusinessSettings))
        if settings is not None:
            db.session.expunge(settings)
        return settings


def _staff(app, email: str) -> StaffUser | None:
    with app.app_context():
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == email))
        if user is not None:
            db.session.expunge(user)
        return user


# ---------------------------------------------------------------- settings


def test_settings_are_saved_and_shown(app, owner_client, customer_for_invoice):
    soup = owner_client.soup("/admin/settings")
    assert soup.find("h1").get_text(strip=True) == "Business settings"
    assert input_value(soup, "Business name") == "My business"
    response = owner_client.post("/admin/settings", data=SETTINGS)
    assert response.headers["Location"] == "/admin/settings"
    soup = owner_client.soup("/admin/settings")
    assert soup.find("p", class_="alert-success").get_text(strip=True) == "The settings were saved."
    assert input_value(soup, "Business name") == "Brightside Services B.V."
    assert input_value(soup, "Address").replace("\r\n", "\n").strip() == "Keizersgracht 123\n1015 CJ Amsterdam"
    assert input_value(soup, "Sender name") == "Brightside Billing"
    assert input_value(soup, "Sender e-mail address") == "billing@brightside.example.com"
    assert input_value(soup, "Default currency") == "CHF"
    stored = _stored_settings(app)
    assert (stored.business_name, stored.address.replace("\r\n", "\n"), stored.sender_name, stored.sender_email, stored.default_currency) == (
        SETTINGS["business_name"], SETTINGS["address"], SETTINGS["sender_name"], SETTINGS["sender_email"], "CHF",
    )
    # the default currency is what a new invoice starts with
    new_invoice = owner_client.soup(f"/admin/customers/{customer_for_invoice.id}/invoices/new")
    assert input_value(new_invoice, "Currency") == "CHF"


def test_settings_validation(app, owner_client):
    response = owner_client.post("/admin/settings", data={**SETTINGS, "business_name": "", "sender_email": "nope"})
    assert response.status_code == 422
    soup = soup_of(response)
    assert field_error(soup, "Business name") is not None
    assert field_error(soup, "Sender e-mail address") == "Enter a valid e-mail address."
    assert input_value(soup, "Sender name") == "Brightside Billing"
    stored = _stored_settings(app)
    assert stored is None or stored.sender_name is None


def test_settings_are_for_managers_only(employee_client, admin_client):
    assert employee_client.get("/admin/settings").status_code == 403
    assert employee_client.post("/admin/settings", data=SETTINGS).status_code == 403
    assert admin_client.get("/admin/settings").status_code == 200
    nav = employee_client.soup("/admin/customers").find("nav", attrs={"aria-label": "Main"})
    assert [a.get_text(strip=True) for a in nav.find_all("a")] == ["Dashboard", "Customers", "Documents"]


def test_logo_upload_is_served(app, owner_client, client):
    assert client.get("/branding/logo").status_code == 404
    png = tiny_png()
    response = owner_client.post("/admin/settings", data={**SETTINGS, "logo": (io.BytesIO(png), "logo.png")})
    assert response.status_code == 302, soup_of(response).get_text(" ", strip=True)[:500]
    served = client.get("/branding/logo")  # public: no login needed
    assert served.status_code == 200
    assert served.mimetype == "image/png"
    assert served.data == png
    soup = owner_client.soup("/admin/settings")
    image = soup.find("img", alt="Current logo")
    assert image["src"].startswith("/branding/logo?v=")

    # saving the settings again without a file keeps the logo
    assert owner_client.post("/admin/settings", data=SETTINGS).status_code == 302
    assert client.get("/branding/logo").data == png


def test_logo_type_comes_from_the_bytes_not_the_name(owner_client, client):
    png = tiny_png()
    assert owner_client.post("/admin/settings", data={**SETTINGS, "logo": (io.BytesIO(png), "logo.jpg", "image/jpeg")}).status_code == 302
    assert client.get("/branding/logo").mimetype == "image/png"


NOT_IMAGES = [
    (b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"><script>alert(1)</script></svg>', "logo.svg", "image/svg+xml"),
    (b"just some text, not an image\n", "logo.txt", "text/plain"),
    (b"just some text pretending\n", "logo.png", "image/png"),
]


def test_logo_that_is_not_an_image_is_refused(app, owner_client, client):
    for content, filename, content_type in NOT_IMAGES:
        response = owner_client.post("/admin/settings", data={**SETTINGS, "logo": (io.BytesIO(content), filename, content_type)})
        assert response.status_code == 422, filename
        assert field_error(soup_of(response), "Logo") == "Upload the logo as PNG, JPEG, WebP or GIF.", filename
        assert client.get("/branding/logo").status_code == 404
    stored = _stored_settings(app)
    assert stored is None or stored.logo is None


def test_logo_can_be_removed(owner_client, client):
    owner_client.post("/admin/settings", data={**SETTINGS, "logo": (io.BytesIO(tiny_png()), "logo.png")})
    assert client.get("/branding/logo").status_code == 200
    soup = owner_client.soup("/admin/settings")
    label = soup.find("label", string=lambda s: s and "Remove the current logo" in s)
    checkbox = soup.find(id=label["for"])
    assert checkbox["type"] == "checkbox" and checkbox["name"] == "remove_logo"
    assert owner_client.post("/admin/settings", data={**SETTINGS, "remove_logo": "y"}).status_code == 302
    assert client.get("/branding/logo").status_code == 404


# ---------------------------------------------------------------- staff


def _new_staff(client, **values):
    data = {"name": "Nora New", "email": "nora@example.com", "role": "employee", "language": "en", "password": "a long enough passphrase"}
    data.update(values)
    return client.post("/admin/staff/new", data=data)


def _edit_staff(client, user_id: int, **values):
    return client.post(f"/admin/staff/{user_id}", data=values)


def test_owner_adds_an_employee_who_can_log_in(app, owner_client):
    soup = owner_client.soup("/admin/staff/new")
    assert soup.find("h1").get_text(strip=True) == "Add staff member"
    response = _new_staff(owner_client, password="too short")
    assert response.status_code == 422
    assert field_error(soup_of(response), "Initial password") == "Use at least 12 characters."
    assert _staff(app, "nora@example.com") is None

    response = _new_staff(owner_client, email="Nora@Example.COM", password="twelve chars")
    assert response.headers["Location"] == "/admin/staff"
    listing = owner_client.soup("/admin/staff")
    assert listing.find("p", class_="alert-success").get_text(strip=True) == "Nora New can now log in."
    table = listing.find("table")
    headers = [th.get_text(strip=True) for th in table.thead.find_all("th")]
    rows = [dict(zip(headers, (td.get_text(" ", strip=True) for td in tr.find_all("td")))) for tr in table.tbody.find_all("tr")]
    assert {"Name": "Nora New", "E-mail address": "nora@example.com", "Role": "Employee", "Last login": "never", "Status": "active"} in rows

    user = _staff(app, "nora@example.com")
    assert user.role == StaffRole.employee and user.password_hash.startswith("$argon2id$")
    new_client = login(app.test_client(), SimpleNamespace(email="nora@example.com"), password="twelve chars")
    soup = StaffClient(new_client, user).soup("/admin/customers")
    assert soup.find("a", href="/admin/account").get_text(strip=True) == "Nora New"


def test_duplicate_staff_address_is_refused(owner_client):
    factories.staff(email="taken@example.com")
    response = _new_staff(owner_client, email="TAKEN@example.com")
    assert response.status_code == 422
    assert field_error(soup_of(response), "E-mail address") == "A staff member with this e-mail address exists already."


def test_only_an_owner_creates_an_owner(app, owner_client, admin_client):
    response = _new_staff(admin_client, role="owner")
    assert response.status_code == 422
    assert field_error(soup_of(response), "Role") == "Only an owner can add another owner."
    assert _staff(app, "nora@example.com") is None
    # an admin may add an admin
    assert _new_staff(admin_client, role="admin", email="adrian@example.com").status_code == 302
    # an owner may add an owner
    assert _new_staff(owner_client, role="owner").status_code == 302
    assert _staff(app, "nora@example.com").role == StaffRole.owner


def test_only_an_owner_makes_or_changes_an_owner(app, owner, admin_client):
    worker = factories.staff(role="employee", name="Walter Worker")
    response = _edit_staff(admin_client, worker.id, name="Walter Worker", role="owner", active="y")
    assert response.status_code == 422
    assert field_error(soup_of(response), "Role") == "Only an owner can make someone an owner."
    response = _edit_staff(admin_client, owner.id, name="Olga Renamed", role="owner", active="y")
    assert response.status_code == 422
    assert field_error(soup_of(response), "Role") == "Only an owner can change an owner."
    assert _staff(app, worker.email).role == StaffRole.employee
    assert _staff(app, owner.email).name == "Olga Owner"


def test_staff_pages_are_for_managers_only(employee_client, employee):
    for path in ("/admin/staff", "/admin/staff/new", f"/admin/staff/{employee.id}"):
        assert employee_client.get(path).status_code == 403, path
    assert _new_staff(employee_client).status_code == 403


def test_you_cannot_deactivate_yourself(app, owner, owner_client):
    soup = owner_client.soup(f"/admin/staff/{owner.id}")
    assert soup.find("h1").get_text(strip=True) == "Olga Owner"
    assert input_value(soup, "Role") == "owner"
    response = _edit_staff(owner_client, owner.id, name="Olga Owner", role="owner")  # "Active" unticked
    assert response.status_code == 422
    assert field_error(soup_of(response), "Active") == "You cannot deactivate yourself."
    assert _staff(app, owner.email).active is True
    assert owner_client.get("/admin/customers").status_code == 200


def test_the_last_owner_cannot_be_demoted(app, owner, owner_client):
    response = _edit_staff(owner_client, owner.id, name="Olga Owner", role="admin", active="y")
    assert response.status_code == 422
    assert field_error(soup_of(response), "Role") is not None
    assert _staff(app, owner.email).role == StaffRole.owner


def test_one_of_two_owners_can_be_demoted(app, owner_client):
    second = factories.staff(role="owner", name="Second Owner")
    assert _edit_staff(owner_client, second.id, name="Second Owner", role="admin", active="y").status_code == 302
    assert _staff(app, second.email).role == StaffRole.admin


def test_a_deactivated_owner_can_still_be_edited(app, owner_client):
    # Only one active owner remains, but changing a deactivated owner does not reduce that.
    former = factories.staff(role="owner", name="Former Owner", active=False)
    response = _edit_staff(owner_client, former.id, name="Former Owner (left)", role="owner")
    assert response.status_code == 302, soup_of(response).get_text(" ", strip=True)[:500]
    assert _edit_staff(owner_client, former.id, name="Former Owner (left)", role="admin").status_code == 302
    user = _staff(app, former.email)
    assert (user.name, user.role, user.active) == ("Former Owner (left)", StaffRole.admin, False)


def test_deactivating_staff(app, owner_client):
    worker = factories.staff(role="employee", name="Walter Worker")
    assert _edit_staff(owner_client, worker.id, name="Walter Worker", role="employee").status_code == 302
    rows = owner_client.soup("/admin/staff").find("table").tbody.find_all("tr")
    row = next(r for r in rows if r.find("a", string="Walter Worker"))
    assert row.find_all("td")[-1].get_text(strip=True) == "deactivated"
    refused = app.test_client()
    response = refused.post("/admin/login", data={"email": worker.email, "password": factories.PASSWORD, "csrf_token": csrf_token(refused)})
    assert response.status_code == 422


# ---------------------------------------------------------------- language


def _html_lang(client, path="/admin/customers") -> str:
    return client.soup(path).find("html")["lang"]


def test_language_preference_changes_the_next_page(owner_client):
    assert _html_lang(owner_client) == "en"
    response = owner_client.post("/admin/account", data={"lang-language": "de", "lang-submit": "Save language"})
    assert response.headers["Location"] == "/admin/account"
    assert _html_lang(owner_client) == "de"
    select_ = owner_client.soup("/admin/account").find("select", attrs={"name": "lang-language"})
    assert select_.find("option", selected=True)["value"] == "de"
    owner_client.post("/admin/account", data={"lang-language": "nl", "lang-submit": "Save language"})
    assert _html_lang(owner_client, "/admin/invoices") == "nl"


def test_language_preference_beats_the_browser(app, owner_client):
    response = owner_client.get("/admin/customers", headers={"Accept-Language": "de-DE,de;q=0.9"})
    assert soup_of(response).find("html")["lang"] == "en"


def test_unknown_language_is_refused(owner_client):
    response = owner_client.post("/admin/account", data={"lang-language": "xx", "lang-submit": "Save language"})
    assert response.status_code == 422
    assert _html_lang(owner_client) == "en"


def test_new_staff_language_is_used_at_login(app, owner_client):
    assert _new_staff(owner_client, language="nl").status_code == 302
    client = login(app.test_client(), SimpleNamespace(email="nora@example.com"), password="a long enough passphrase")
    assert soup_of(client.get("/admin/customers")).find("html")["lang"] == "nl"


def test_online_dossier_settings_are_saved(app, owner_client):
    soup = owner_client.soup("/admin/settings")
    assert soup.find("legend", string="Online dossier") and soup.find("legend", string="Letters")
    assert input_value(soup, "Maximum number of instalments") == "6"
    data = {**SETTINGS, "dossier_check": "postal_code", "payment_provider": "mollie", "allow_payments": "y",
            "allow_instalments": "y", "instalment_max_count": "12", "instalment_min_amount": "50.00",
            "instalment_auto_approve_up_to": "1000.50", "letter_invoice_asks_email": "y"}
    assert owner_client.post("/admin/settings", data=data).status_code == 302
    stored = _stored_settings(app)
    assert (stored.dossier_check, stored.payment_provider, stored.allow_payments, stored.allow_questions,
            stored.allow_instalments, stored.instalment_max_count, str(stored.instalment_min_amount),
            str(stored.instalment_auto_approve_up_to), stored.letter_invoice_asks_email,
            stored.letter_reminder_asks_email) == (
        "postal_code", "mollie", True, False, True, 12, "50.00", "1000.50", True, False)


@pytest.mark.parametrize("field,value,label", [
    ("instalment_max_count", "1", "Maximum number of instalments"),
    ("instalment_max_count", "many", "Maximum number of instalments"),
    ("instalment_min_amount", "NaN", "Minimum instalment amount"),
    ("instalment_auto_approve_up_to", "-5", "Approve plans automatically up to"),
    ("dossier_check", "zip", "Before documents are shown, ask for"),
    ("payment_provider", "paypal", "Payment provider"),
])
def test_online_dossier_settings_refuse_bad_values(app, owner_client, field, value, label):
    response = owner_client.post("/admin/settings", data={**SETTINGS, field: value})
    assert response.status_code == 422
    assert field_error(soup_of(response), label)
    assert _stored_settings(app) is None  # nothing was saved
