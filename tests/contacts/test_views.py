"""The contact-person pages: the admin Info tab and the portal Contacts page, with HTMX
(fragments) and without JavaScript (full pages and redirects); who may reach them; CSRF;
and that a contact person is no customer and no login, and gets nothing once removed.

The flows run on both mounts (`side`): the same routes, templates and rules serve them.
"""

from __future__ import annotations

from bs4 import BeautifulSoup

from dataclasses import dataclass

import pytest
from flask import url_for
from sqlalchemy import func, select

from mailers.routing import recipients_for
from models.audit import AuditEvent
from models.customers import Customer
from models.db import db
from models.documents import Document
from models.outbox import MailStatus, OutboundEmail
from models.portal_access import PortalUser
from models.services import notifications
from models.staff import StaffUser
from tests import factories
from tests.conftest import csrf_token, input_value, soup_of
from tests.contacts.conftest import (
    add_contacts, all_contacts, contacts, counter_text, edit_data, form_row, hx, new_data, portal_login,
)

HEADERS = ["Name", "E-mail address", "Role", "Receives", "Actions"]
MAX_REACHED = "The maximum of 10 contacts is reached. Remove one to add another."


@dataclass
class Side:
    name: str  # "admin" or "portal"
    client: object  # StaffClient or PortalClient
    base: str  # the list URL

    def url(self, suffix: str = "") -> str:
        return self.base + suffix


@pytest.fixture(params=["admin", "portal"])
def side(request, app, customer) -> Side:
    if request.param == "admin":
        return Side("admin", request.getfixturevalue("owner_client"), f"/admin/customers/{customer.id}/contacts")
    return Side("portal", portal_login(app, customer, "pat@acme.example"), "/portal/contacts")


def section(soup):
    heading = soup.find("h2", string="Contact persons")
    assert heading is not None, soup.get_text(" ", strip=True)[:1000]
    return heading.find_parent("section")


def add_control(soup):
    return soup.find(id="contact-add")


def display_row(soup, contact_id: int):
    row = soup.find("tr", id=f"contact-{contact_id}")
    assert row is not None and "editing" not in (row.get("class") or []), str(soup)[:1500]
    return row


def assert_is_the_page(side: Side, soup) -> None:
    """The no-JS answer is the whole page the section lives on."""
    assert soup.find("html") is not None
    if side.name == "admin":
        assert soup.find("h2", string="Account details") is not None  # the Info tab
        assert soup.find("h2", string="History") is not None
    else:
        assert soup.find("h1").get_text(" ", strip=True) == "Contact persons of Acme Trading"


def assert_is_a_fragment(response) -> None:
    assert b"<html" not in response.data and b"<body" not in response.data


# --- the section ------------------------------------------------------------------------------

def test_admin_info_tab_shows_the_contact_section(app, owner_client, customer):
    ids = add_contacts(app, customer, 2)
    (quiet_id,) = add_contacts(app, customer, 1, prefix="Quiet", phone="020 555 1234", invoice_emails=False,
                               role="accountant")
    soup = owner_client.soup(f"/admin/customers/{customer.id}/info")
    box = section(soup)
    assert [th.get_text(strip=True) for th in box.find("thead").find_all("th")] == HEADERS
    assert counter_text(box) == "3 of 10 contacts added"
    first = display_row(box, ids[0])
    cells = [td.get_text(" ", strip=True) for td in first.find_all("td")]
    assert cells[:4] == ["Person 01", "person01@contacts.example", "General", "Invoice e-mails"]
    assert first.find("span", title="General contact person") is not None
    assert [a.get_text(strip=True) for a in first.find_all("a")] == ["Edit Person 01", "Remove Person 01"]
    quiet = display_row(box, quiet_id)
    quiet_cells = [td.get_text(" ", strip=True) for td in quiet.find_all("td")]
    assert quiet_cells[:4] == ["Quiet 01 020 555 1234", "quiet01@contacts.example", "Accountant", "nothing"]
    add = add_control(box).find("a", string="Add contact")
    assert add["href"] == f"/admin/customers/{customer.id}/contacts/new"
    assert "never get a login" in box.get_text(" ")


def test_empty_section(owner_client, customer):
    box = section(owner_client.soup(f"/admin/customers/{customer.id}/info"))
    assert counter_text(box) == "0 of 10 contacts added"
    assert box.find("tbody").find_all("tr") == []
    assert add_control(box).find("a", string="Add contact") is not None


def test_list_page(app, side, customer):
    add_contacts(app, customer, 3)
    soup = side.client.soup(side.base)
    assert_is_the_page(side, soup)
    box = section(soup)
    assert [th.get_text(strip=True) for th in box.find("thead").find_all("th")] == HEADERS
    assert counter_text(box) == "3 of 10 contacts added"
    assert [tr["id"] for tr in box.find("tbody").find_all("tr")] == ["contact-1", "contact-2", "contact-3"]


def test_portal_navigation_and_login_required(app, customer, portal_client):
    response = app.test_client().get("/portal/contacts")
    assert response.status_code == 302 and "/portal/login" in response.headers["Location"]
    home = portal_client.soup("/portal/")
    assert home.find("a", string="Contact persons")["href"] == "/portal/contacts"
    page = portal_client.soup("/portal/contacts")
    assert page.find("a", attrs={"aria-current": "page"}, string="Contact persons") is not None
    assert section(page) is not None


# --- HTMX -------------------------------------------------------------------------------

def test_htmx_add_returns_the_row_the_counter_and_the_add_button(app, side, customer):
    add_contacts(app, customer, 2)
    response = hx(side.client, "POST", side.base, new_data(name="Nina Noord", email="nina@partner.example",
                                                          role="billing", account=True))
    assert response.status_code == 200
    assert_is_a_fragment(response)
    soup = soup_of(response)
    (saved,) = [c for c in contacts(app, customer) if c["name"] == "Nina Noord"]
    rows = soup.find_all("tr")
    assert [r["id"] for r in rows] == [f"contact-{saved['id']}"]
    cells = [td.get_text(" ", strip=True) for td in rows[0].find_all("td")]
    assert cells[:4] == ["Nina Noord", "nina@partner.example", "Billing", "Invoice e-mails Account e-mails"]
    assert rows[0].has_attr("autofocus")  # focus moves to the new row
    counter = soup.find(id="contact-count")
    assert counter["hx-swap-oob"] == "true" and counter_text(soup) == "3 of 10 contacts added"
    add = add_control(soup)
    assert add["hx-swap-oob"] == "true" and add.find("a", string="Add contact") is not None


def test_htmx_new_row_and_its_cancel(app, side):
    response = hx(side.client, "GET", side.url("/new"))
    assert response.status_code == 200
    assert_is_a_fragment(response)
    soup = soup_of(response)
    row = form_row(soup)
    assert [r["id"] for r in soup.find_all("tr")] == ["contact-new"]
    assert input_value(row, "Name") == "" and input_value(row, "Role") == "general"
    assert row.find(id="new-invoice_emails").has_attr("checked")
    assert not row.find(id="new-account_emails").has_attr("checked")
    form = row.find("form")
    assert form["hx-post"] == side.base and form["action"] == side.base
    assert form.find("button", string="Save contact") is not None
    cancel = row.find("a", string="Cancel")
    assert cancel["hx-get"] == side.url("/new?cancel=1") and cancel["href"] == side.base

    cancelled = hx(side.client, "GET", cancel["hx-get"])
    assert cancelled.status_code == 200 and cancelled.data.strip() == b""


def test_htmx_edit_save_and_cancel(app, side, customer):
    ids = add_contacts(app, customer, 2, phone="020 111")
    target = ids[1]
    response = hx(side.client, "GET", side.url(f"/{target}/edit"))
    assert response.status_code == 200
    assert_is_a_fragment(response)
    row = form_row(soup_of(response), target)
    assert input_value(row, "Name") == "Person 02"
    assert input_value(row, "E-mail address") == "person02@contacts.example"
    assert input_value(row, "Phone (optional)") == "020 111"
    assert input_value(row, "Role") == "general"
    assert row.find(id=f"c{target}-invoice_emails").has_attr("checked")
    assert row.find("form")["hx-post"] == side.url(f"/{target}")
    cancel = row.find("a", string="Cancel")
    assert cancel["hx-get"] == side.url(f"/{target}")

    # cancel: the display row again, unchanged
    shown = hx(side.client, "GET", cancel["hx-get"])
    assert shown.status_code == 200
    assert display_row(soup_of(shown), target).find("td").get_text(" ", strip=True) == "Person 02 020 111"

    # save: the display row with the new values
    saved = hx(side.client, "POST", side.url(f"/{target}"), edit_data(
        target, name="Paula Zwei", email="paula@partner.example", phone="", role="technical", invoice=False,
        account=True))
    assert saved.status_code == 200
    assert_is_a_fragment(saved)
    row = display_row(soup_of(saved), target)
    assert [td.get_text(" ", strip=True) for td in row.find_all("td")][:4] == [
        "Paula Zwei", "paula@partner.example", "Technical", "Account e-mails"]
    after = contacts(app, customer)
    assert after[1] == {"id": target, "name": "Paula Zwei", "email": "paula@partner.example", "phone": None,
                        "role": "technical", "invoice_emails": False, "account_emails": True}
    assert after[0]["name"] == "Person 01"


def test_htmx_remove_returns_no_row_and_the_counter(app, side, customer):
    ids = add_contacts(app, customer, 3)
    response = hx(side.client, "POST", side.url(f"/{ids[0]}/remove"))
    assert response.status_code == 200
    soup = soup_of(response)
    assert soup.find("tr") is None  # the row is swapped for nothing
    assert soup.find(id="contact-count")["hx-swap-oob"] == "true"
    assert counter_text(soup) == "2 of 10 contacts added"
    assert add_control(soup)["hx-swap-oob"] == "true"
    assert [c["id"] for c in contacts(app, customer)] == ids[1:]


def test_remove_link_asks_before_posting(app, side, customer):
    (contact_id,) = add_contacts(app, customer, 1)
    link = display_row(side.client.soup(side.base), contact_id).find("a", string="Remove Person 01")
    assert link["hx-post"] == side.url(f"/{contact_id}/remove")
    assert link["hx-confirm"] == "Remove Person 01? They will receive nothing more."
    assert link["href"] == side.url(f"/{contact_id}/remove")  # without JavaScript: the confirmation page


# --- the maximum -------------------------------------------------------------------------------

def assert_add_disabled(soup) -> None:
    add = add_control(soup)
    assert add.find("a") is None
    button = add.find("button", string="Add contact")
    assert button is not None and button.has_attr("disabled")
    why = soup.find(id=button["aria-describedby"])
    assert why.get_text(" ", strip=True) == MAX_REACHED


def test_at_ten_the_add_button_is_disabled_and_says_why(app, side, customer):
    add_contacts(app, customer, 10)
    soup = side.client.soup(side.base)
    assert counter_text(soup) == "10 of 10 contacts added"
    assert_add_disabled(section(soup))


def test_adding_the_tenth_disables_the_button_and_removing_one_enables_it(app, side, customer):
    ids = add_contacts(app, customer, 9)
    added = soup_of(hx(side.client, "POST", side.base, new_data()))
    assert counter_text(added) == "10 of 10 contacts added"
    assert_add_disabled(added)
    removed = soup_of(hx(side.client, "POST", side.url(f"/{ids[0]}/remove")))
    assert counter_text(removed) == "9 of 10 contacts added"
    assert add_control(removed).find("a", string="Add contact") is not None
    assert add_control(removed).find("button") is None


# --- without JavaScript ------------------------------------------------------------------------------

def test_no_js_add(app, side, customer):
    ids = add_contacts(app, customer, 1)
    response = side.client.get(side.url("/new"))
    assert response.status_code == 200
    soup = soup_of(response)
    assert_is_the_page(side, soup)
    row = form_row(soup)
    assert display_row(soup, ids[0]) is not None  # the others stay listed
    form = row.find("form")
    assert form["method"] == "post" and form["action"] == side.base
    assert form.find("input", attrs={"name": "csrf_token"})["value"]

    # the form as the browser sends it: its own hidden token
    data = {**new_data(name="Nina Noord", email="nina@partner.example"),
            "csrf_token": form.find("input", attrs={"name": "csrf_token"})["value"]}
    created = side.client.client.post(side.base, data=data)
    assert created.status_code == 302
    assert created.headers["Location"] == side.base
    listed = side.client.soup(created.headers["Location"])
    assert "Nina Noord" in section(listed).find("tbody").get_text(" ")
    assert counter_text(listed) == "2 of 10 contacts added"


def test_no_js_edit(app, side, customer):
    ids = add_contacts(app, customer, 2)
    soup = side.client.soup(side.url(f"/{ids[0]}/edit"))
    assert_is_the_page(side, soup)
    row = form_row(soup, ids[0])
    assert input_value(row, "Name") == "Person 01"
    assert display_row(soup, ids[1]) is not None
    assert row.find("a", string="Cancel")["href"] == side.url(f"/{ids[0]}")
    assert row.find("form")["action"] == side.url(f"/{ids[0]}")

    updated = side.client.post(side.url(f"/{ids[0]}"), edit_data(ids[0], name="Paula Eins", email="paula@partner.example"))
    assert updated.status_code == 302 and updated.headers["Location"] == side.base
    assert contacts(app, customer)[0]["name"] == "Paula Eins"
    # "Cancel" without JavaScript shows the page with the row closed again
    cancel = side.client.get(side.url(f"/{ids[0]}"))
    assert cancel.status_code == 200
    row = BeautifulSoup(cancel.data, "html.parser").find(id=f"contact-{ids[0]}")
    assert row.find("input") is None and "Paula Eins" in row.get_text()


def test_no_js_remove_asks_first(app, side, customer):
    ids = add_contacts(app, customer, 2)
    soup = side.client.soup(side.url(f"/{ids[0]}/remove"))
    assert_is_the_page(side, soup)
    alert = section(soup).find(attrs={"role": "alert"})
    assert "Remove Person 01? They will receive nothing more." in alert.get_text(" ", strip=True)
    button = alert.find("button", string="Yes, remove Person 01")
    form = button.find_parent("form")
    assert form["method"] == "post" and form["action"] == side.url(f"/{ids[0]}/remove")
    assert alert.find("a", string="Cancel")["href"] == side.base
    assert len(contacts(app, customer)) == 2  # asking removes nothing

    token = form.find("input", attrs={"name": "csrf_token"})["value"]
    removed = side.client.client.post(form["action"], data={"csrf_token": token})
    assert removed.status_code == 302 and removed.headers["Location"] == side.base
    assert [c["id"] for c in contacts(app, customer)] == ids[1:]
    assert counter_text(side.client.soup(side.base)) == "1 of 10 contacts added"


def test_no_js_refusal_shows_the_page_with_the_form(app, side, customer):
    add_contacts(app, customer, 1)
    response = side.client.post(side.base, new_data(name="", email="nina@partner.example"))
    assert response.status_code == 422
    soup = soup_of(response)
    assert_is_the_page(side, soup)
    row = form_row(soup)
    assert input_value(row, "E-mail address") == "nina@partner.example"
    assert len(contacts(app, customer)) == 1


# --- a contact person is no customer and no login --------------------------------------------------

def test_contacts_are_not_customers(app, owner_client, customer):
    add_contacts(app, customer, 1, prefix="Zoe Zimmer")
    everyone = owner_client.soup("/admin/customers")
    assert everyone.find(class_="count").get_text(strip=True) == "1 customer"
    assert "Zoe Zimmer" not in everyone.get_text(" ")
    for query in ("Zoe Zimmer", "zimmer", "zoezimmer01@contacts.example", "contacts.example"):
        found = owner_client.soup(f"/admin/customers?q={query}")
        assert found.find(class_="count").get_text(strip=True) == "0 customers", query
        assert found.find(class_="empty").get_text(strip=True) == "No customers match your search."
    # the search does find the customer itself
    assert owner_client.soup("/admin/customers?q=Acme").find(class_="count").get_text(strip=True) == "1 customer"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Customer)) == 1


@pytest.mark.parametrize("password", ["anything at all 1", ""])
def test_contacts_cannot_log_in_to_the_portal(app, customer, password):
    add_contacts(app, customer, 1, prefix="Zoe Zimmer")
    client = app.test_client()
    token = csrf_token(client, "/portal/login")
    response = client.post("/portal/login", data={"email": "zoezimmer01@contacts.example", "password": password,
                                                  "csrf_token": token})
    assert response.status_code == 422
    text = soup_of(response).get_text(" ", strip=True)
    if password:
        assert "The e-mail address or password is not correct." in text
    assert "/portal/login" in client.get("/portal/contacts").headers["Location"]  # still logged out
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PortalUser)) == 0


def test_contacts_get_no_password_reset(app, customer):
    add_contacts(app, customer, 1, prefix="Zoe Zimmer")
    client = app.test_client()
    response = client.post("/portal/forgot", data={"email": "zoezimmer01@contacts.example",
                                                   "csrf_token": csrf_token(client, "/portal/forgot")})
    assert response.status_code == 302  # the same answer as for any address ...
    with app.app_context():  # ... and nothing is sent (the row it writes is settled as not sent)
        assert db.session.scalar(select(func.count()).select_from(OutboundEmail)
                                 .where(OutboundEmail.status == MailStatus.queued)) == 0


# --- who may reach which contact ------------------------------------------------------------------------------

def contact_routes(app, blueprint: str) -> list[tuple[str, str, set[str]]]:
    """(endpoint, rule, methods) of every contact route of the blueprint, from the URL map."""
    found = [
        (rule.endpoint, rule.rule, set(rule.methods) - {"HEAD", "OPTIONS"}, rule.arguments)
        for rule in app.url_map.iter_rules() if rule.endpoint.startswith(f"{blueprint}.contacts_")
    ]
    assert {e.split(".contacts_")[1] for e, *_ in found} == {"list", "new", "create", "show", "edit", "update", "remove"}
    return found


def route_urls(app, blueprint: str, **args) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) for every contact route, built with `args`."""
    result = []
    with app.test_request_context():
        for endpoint, _rule, methods, arguments in contact_routes(app, blueprint):
            if "contact_id" not in arguments and args.get("only_contact_routes"):
                continue
            url = url_for(endpoint, **{k: v for k, v in args.items() if k in arguments})
            result.extend((endpoint, method, url) for method in sorted(methods))
    return result


def post_data(endpoint: str, contact_id: int) -> dict:
    if endpoint.endswith("_create"):
        return new_data(name="Intruder", email="intruder@evil.example")
    if endpoint.endswith("_update"):
        return edit_data(contact_id, name="Intruder", email="intruder@evil.example")
    return {}


def state(app) -> tuple:
    with app.app_context():
        return all_contacts(app), db.session.scalar(select(func.count()).select_from(AuditEvent))


def test_every_admin_route_is_404_for_an_employee_not_assigned(app, employee, employee_client, customer):
    ids = add_contacts(app, customer, 2)
    before = state(app)
    urls = route_urls(app, "admin", customer_id=customer.id, contact_id=ids[0])
    assert len(urls) == 8
    for endpoint, method, url in urls:
        if method == "GET":
            answers = [employee_client.get(url), hx(employee_client, "GET", url)]
        else:
            data = post_data(endpoint, ids[0])
            answers = [employee_client.post(url, data), hx(employee_client, "POST", url, data)]
        assert [a.status_code for a in answers] == [404, 404], (endpoint, method, url)
    assert state(app) == before

    # the same employee, once assigned, gets in (the 404s came from the access check)
    with app.app_context():
        record = db.session.get(Customer, customer.id)
        record.assigned_staff.append(db.session.get(StaffUser, employee.id))
        db.session.commit()
    assert employee_client.get(f"/admin/customers/{customer.id}/contacts/{ids[0]}/edit").status_code == 200


def test_admin_routes_refuse_a_contact_of_another_customer(app, owner_client, customer, other_customer):
    add_contacts(app, customer, 1)
    (foreign,) = add_contacts(app, other_customer, 1, prefix="Foreign")
    before = state(app)
    for endpoint, method, url in route_urls(app, "admin", customer_id=customer.id, contact_id=foreign,
                                            only_contact_routes=True):
        response = (owner_client.get(url) if method == "GET"
                    else hx(owner_client, "POST", url, post_data(endpoint, foreign)))
        assert response.status_code == 404, (endpoint, method, url)
    assert state(app) == before


def test_every_portal_route_is_404_for_a_contact_of_another_customer(app, customer, other_customer, portal_client):
    add_contacts(app, customer, 1)
    b_ids = add_contacts(app, other_customer, 2, prefix="Bolt Person")
    before = state(app)
    urls = route_urls(app, "portal", contact_id=b_ids[0], only_contact_routes=True)
    assert {e for e, *_ in urls} == {"portal.contacts_show", "portal.contacts_edit", "portal.contacts_update",
                                     "portal.contacts_remove"}
    for contact_id in b_ids:
        for endpoint, method, url in route_urls(app, "portal", contact_id=contact_id, only_contact_routes=True):
            if method == "GET":
                answers = [portal_client.get(url), hx(portal_client, "GET", url)]
            else:
                data = post_data(endpoint, contact_id)
                answers = [portal_client.post(url, data), hx(portal_client, "POST", url, data)]
            assert [a.status_code for a in answers] == [404, 404], (endpoint, method, url)
            assert "Bolt Person" not in b"".join(a.data for a in answers).decode()
    assert state(app) == before
    # and B's contacts appear nowhere on A's page
    assert "Bolt Person" not in portal_client.get("/portal/contacts").data.decode()


def test_portal_routes_need_a_login(app, customer):
    (contact_id,) = add_contacts(app, customer, 1)
    client = app.test_client()
    token = csrf_token(client, "/portal/login")
    before = state(app)
    for endpoint, method, url in route_urls(app, "portal", contact_id=contact_id):
        response = client.get(url) if method == "GET" else client.post(url, data={**post_data(endpoint, contact_id),
                                                                                  "csrf_token": token})
        assert response.status_code == 302 and "/portal/login" in response.headers["Location"], (endpoint, method)
    assert state(app) == before


# --- CSRF ---------------------------------------------------------------------------------------------------

def test_every_post_needs_the_csrf_token(app, side, customer):
    (contact_id,) = add_contacts(app, customer, 1)
    blueprint = side.name
    args = {"contact_id": contact_id, **({"customer_id": customer.id} if blueprint == "admin" else {})}
    posts = [(e, u) for e, m, u in route_urls(app, blueprint, **args) if m == "POST"]
    assert {e.split("_", 1)[1] for e, _ in posts} == {"create", "update", "remove"}
    before = state(app)
    raw = side.client.client
    for endpoint, url in posts:
        data = post_data(endpoint, contact_id)
        answers = {
            "no token": raw.post(url, data=data),
            "wrong form token": raw.post(url, data={**data, "csrf_token": "forged"}),
            "htmx without header": raw.post(url, data=data, headers={"HX-Request": "true"}),
            "htmx wrong header": hx(side.client, "POST", url, data, token="forged"),
            "htmx empty header": hx(side.client, "POST", url, data, token=""),
        }
        assert {k: r.status_code for k, r in answers.items()} == dict.fromkeys(answers, 400), (endpoint, url)
        assert "Your form expired" in answers["no token"].data.decode()
    assert state(app) == before
    # another session's token is no good either
    other = app.test_client()
    foreign_token = csrf_token(other, "/portal/login")
    assert hx(side.client, "POST", side.base, new_data(), token=foreign_token).status_code == 400
    assert state(app) == before
    # the real one works
    assert hx(side.client, "POST", side.base, new_data()).status_code == 200


# --- removal and mail already queued --------------------------------------------------------------------------

def test_a_contact_removed_after_queueing_is_not_copied(app, side, customer, owner):
    gone, stays, unsubscribed = add_contacts(app, customer, 2) + add_contacts(app, customer, 1, prefix="Quiet",
                                                                             invoice_emails=False)
    invoice = factories.invoice(customer)
    with app.app_context():
        email = notifications.send_invoice(db.session.get(StaffUser, owner.id), db.session.get(Document, invoice.id))
        db.session.commit()
        email_id = email.id
        queued = recipients_for(email, db.session.get(Customer, customer.id))
        # (the portal side's login is an addressee itself, with its notifications on)
        assert queued.to == ["billing@acme.example"] + (["pat@acme.example"] if side.name == "portal" else [])
        assert queued.cc == ["person01@contacts.example", "person02@contacts.example"]

    assert hx(side.client, "POST", side.url(f"/{gone}/remove")).status_code == 200

    with app.app_context():
        row = db.session.get(OutboundEmail, email_id)
        assert row.status.value == "queued"  # not sent yet: routing happens at send time
        recipients = recipients_for(row, db.session.get(Customer, customer.id))
        assert recipients.cc == ["person02@contacts.example"]
        assert "person01@contacts.example" not in recipients.all
    assert {c["id"] for c in contacts(app, customer)} == {stays, unsubscribed}
