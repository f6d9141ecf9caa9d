"""The Info tab's "Portal logins" section, the Overview's login activity and the portal settings,
as staff read and use them: headings, table columns, badges and buttons by their text.

Buttons are pressed the way a browser submits them (the button's form as it is, plus the
button's own name and value); with HX-Request the answer is the section alone.
Invitations are outbox rows; their secret link is minted when the worker builds the mail,
which `send_invitations` does here (without SMTP) when a test needs a real link.
"""

from __future__ import annotations

import re
import pytest
from sqlalchemy import func, select

from mailers import jobs, messages, routing
from models.audit import AuditEvent
from models.customers import Customer
from models.db import db
from models.outbox import MailCategory, MailStatus, OutboundEmail
from models.portal_access import PortalAccess, PortalUser
from models.settings import BusinessSettings
from tests import factories
from tests.conftest import csrf_token, field_error, input_value, soup_of

# Not example.test: email_validator refuses special-use domains for login addresses.
ANNA = "anna@example.com"
ANNE = "anne@example.com"
BOB = "bob@example.org"
PASSWORD = "a long and unusual passphrase"


@pytest.fixture(autouse=True)
def _redis_unreachable(app, monkeypatch):
    """Enqueueing after a commit is best-effort: with Redis down the rows just stay queued."""
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")


@pytest.fixture
def anna(app):
    return factories.customer(name="Anna Archer", email=ANNA, language="en")


# ---------------------------------------------------------------- reading pages like a person


def section(soup, heading: str):
    """The <section> (or <aside>) a heading introduces."""
    h = soup.find(["h1", "h2"], string=lambda s: s and s.strip() == heading)
    assert h is not None, f"no heading {heading!r}"
    return h.find_parent(["section", "aside"])


def info(client, customer):
    return client.soup(f"/admin/customers/{customer.id}/info")


def logins_section(client, customer):
    return section(info(client, customer), "Portal logins")


def button(scope, text: str):
    found = scope.find("button", string=lambda s: s and s.strip() == text)
    assert found is not None, f"no button {text!r} in {[b.get_text(strip=True) for b in scope.find_all('button')]}"
    return found


def button_texts(scope) -> list[str]:
    return [b.get_text(strip=True) for b in scope.find_all("button")]


def form_data(form) -> dict[str, list[str]]:
    """What a browser would submit for this <form> as it is (without any button)."""
    data: dict[str, list[str]] = {}
    for control in form.find_all(["input", "select", "textarea"]):
        name = control.get("name")
        if not name or control.has_attr("disabled"):
            continue
        if control.name == "input":
            kind = control.get("type", "text")
            if kind in ("submit", "button", "reset", "file", "image"):
                continue
            if kind in ("checkbox", "radio") and not control.has_attr("checked"):
                continue
            data.setdefault(name, []).append(control.get("value", "on"))
        elif control.name == "select":
            options = control.find_all("option")
            chosen = [o for o in options if o.has_attr("selected")] or options[:1]
            data.setdefault(name, []).extend(o.get("value", o.get_text()) for o in chosen)
        else:
            data.setdefault(name, []).append(control.get_text().removeprefix("\n"))
    return data


def press(client, scope, text: str, *, htmx: bool = False, change: dict | None = None, untick: tuple = ()):
    """Press the button labelled `text`: its form as a browser sends it, plus its name=value.
    `change` types into fields (by name), `untick` clears checkboxes (by name)."""
    pressed = button(scope, text)
    form = pressed.find_parent("form")
    if htmx:  # what hx-post sends: the same fields, to the same URL
        assert form["hx-post"] == form["action"]
    data = form_data(form)
    for name in untick:
        data.pop(name, None)
    for name, value in (change or {}).items():
        assert form.find(attrs={"name": name}) is not None, f"no field {name!r} in the form"
        data[name] = [value]
    if pressed.get("name"):
        data[pressed["name"]] = [pressed.get("value", "")]
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(form["action"], data=data, headers=headers)


# Buttons that ask first (admin/confirmations.py): their "Yes, …" button does it.
CONFIRMS = {"Login on — turn off": "Yes, turn the login off", "Turn portal access off": "Yes, turn portal access off"}


def press_and_confirm(client, scope, text: str, *, htmx: bool = False, **kwargs):
    """Press a button that asks first, then the "Yes, …" button of its confirmation."""
    asked = press(client, scope, text, htmx=htmx, **kwargs)
    assert asked.status_code == 200, (asked.status_code, asked.data[:500])
    return press(client, soup_of(asked), CONFIRMS[text], htmx=htmx)


def press_action(client, scope, text: str, **kwargs):
    """Press a button as a person does, answering its confirmation if it asks one."""
    return (press_and_confirm if text in CONFIRMS else press)(client, scope, text, **kwargs)


def table_rows(table) -> list[dict[str, str]]:
    headers = [th.get_text(strip=True) for th in table.thead.find_all("th")]
    return [
        dict(zip(headers, (cell.get_text(" ", strip=True) for cell in row.find_all(["td", "th"]))))
        for row in table.tbody.find_all("tr")
    ]


def login_row(scope, email: str):
    """The table row of a login: its address is the text (accepted) or the address field's value."""
    for row in scope.find("table").tbody.find_all("tr"):
        cell = row.find("td")
        field = cell.find("input", attrs={"name": re.compile("-email$")})
        text = [t.strip() for t in cell.find_all(string=True, recursive=False) if t.strip()]
        if (field.get("value") if field else text[0] if text else None) == email:
            return row
    raise AssertionError(f"no row for {email!r}")


def row_cells(scope, email: str) -> dict[str, str]:
    row = login_row(scope, email)
    headers = [th.get_text(strip=True) for th in scope.find("table").thead.find_all("th")]
    return dict(zip(headers, (cell for cell in row.find_all("td"))))


def status_of(scope, email: str) -> str:
    return row_cells(scope, email)["Status"].find(class_="badge").get_text(strip=True)


def add_form(scope):
    return button(scope, "Add login and send invitation").find_parent("form")


def history(soup) -> list[dict[str, str]]:
    table = section(soup, "History").find("table")
    return table_rows(table) if table else []


def flashes(soup, category: str) -> list[str]:
    return [p.get_text(strip=True) for p in soup.find_all("p", class_=f"alert-{category}")]


def assert_section_only(response):
    """An HTMX answer: the section's content, not a page."""
    assert response.status_code in (200, 422), response.status_code
    soup = soup_of(response)
    assert soup.find("html") is None and soup.find("body") is None
    assert soup.find("h2", id="portal-logins-h").get_text(strip=True) == "Portal logins"
    assert soup.find(string=lambda s: s and s.strip() in ("History", "Account details", "Dossier link")) is None
    return soup


def assert_back_to_info(response, customer):
    assert response.status_code == 302, (response.status_code, response.data[:500])
    assert response.headers["Location"] == f"/admin/customers/{customer.id}/info#portal-logins-h"


# ---------------------------------------------------------------- the database behind the page


def accesses(app, customer) -> list[dict]:
    with app.app_context():
        rows = db.session.execute(
            select(PortalAccess, PortalUser.email).join(PortalUser, PortalUser.id == PortalAccess.portal_user_id)
            .where(PortalAccess.customer_id == customer.id).order_by(PortalAccess.id)
        ).all()
        return [{"id": a.id, "email": email, "status": a.status, "invited_at": a.invited_at,
                 "revoked_at": a.revoked_at, "accepted_at": a.accepted_at, "hash": a.invite_token_hash,
                 "notify": (a.notify, a.notify_invoice, a.notify_account)} for a, email in rows]


def invitations(app) -> list[dict]:
    """Every queued invitation, oldest first."""
    with app.app_context():
        rows = db.session.scalars(
            select(OutboundEmail).where(OutboundEmail.template == "portal_invitation").order_by(OutboundEmail.id)
        ).all()
        return [{"id": r.id, "to": r.to_address, "category": r.category, "status": r.status,
                 "customer_id": r.customer_id, "access_id": r.context.get("access_id")} for r in rows]


def counts(app) -> dict[str, int]:
    with app.app_context():
        return {model.__name__: db.session.scalar(select(func.count()).select_from(model))
                for model in (PortalUser, PortalAccess, OutboundEmail, AuditEvent, Customer)}


def send_invitations(app) -> dict[str, str]:
    """Build every queued invitation as the mail worker does (no SMTP): the link is minted now.
    Returns address → token, read from the mail's text; the rows are marked sent."""
    tokens = {}
    with app.app_context():
        queued = db.session.scalars(
            select(OutboundEmail).where(OutboundEmail.template == "portal_invitation",
                                        OutboundEmail.status == MailStatus.queued).order_by(OutboundEmail.id)
        ).all()
        for email in queued:
            customer = db.session.get(Customer, email.customer_id)
            recipients = routing.recipients_for(email, customer)
            built = messages.build(email, customer, recipients)
            text = built.message.body
            tokens[email.to_address] = re.search(r"/portal/invite/([A-Za-z0-9_-]+)", text).group(1)
            email.status = MailStatus.sent
            db.session.commit()
    return tokens


def accept(app, token: str) -> None:
    """The invited person opens the link and chooses a password (the portal logs them in)."""
    client = app.test_client()
    path = f"/portal/invite/{token}"
    response = client.post(path, data={"password": PASSWORD, "confirm": PASSWORD,
                                       "csrf_token": csrf_token(client, path)})
    assert response.status_code == 302, soup_of(response).get_text(" ", strip=True)[:500]


def invitation_link_status(app, token: str) -> int:
    return app.test_client().get(f"/portal/invite/{token}").status_code


def add_login(client, customer, email: str):
    response = press(client, logins_section(client, customer), "Add login and send invitation",
                     change={"add-email": email})
    assert_back_to_info(response, customer)


# ---------------------------------------------------------------- the section as it first appears


def test_empty_section_offers_the_primary_address_first(owner_client, anna):
    part = logins_section(owner_client, anna)
    assert part.find("p", class_="empty").get_text(strip=True) == "No portal logins yet."
    assert part.find("table") is None
    assert input_value(part, "Login e-mail address") == ANNA
    assert part.find(class_="badge").get_text(strip=True) == "Portal access on"
    assert button_texts(part) == ["Turn portal access off", "Add login and send invitation"]


def test_a_customer_without_an_address_gets_an_empty_add_field(owner_client):
    nameless = factories.customer(name="No Mail", email=None)
    assert input_value(logins_section(owner_client, nameless), "Login e-mail address") in (None, "")


# ---------------------------------------------------------------- adding a login


def test_adding_the_offered_address_invites_it(app, owner_client, anna):
    before = counts(app)
    response = press(owner_client, logins_section(owner_client, anna), "Add login and send invitation")
    assert_back_to_info(response, anna)

    page = info(owner_client, anna)
    part = section(page, "Portal logins")
    assert [th.get_text(strip=True) for th in part.find("table").thead.find_all("th")] == [
        "Login", "Status", "Last login", "Notifications", "Actions"]
    assert len(part.find("table").tbody.find_all("tr")) == 1
    cells = row_cells(part, ANNA)
    assert cells["Status"].get_text(strip=True) == "invited"
    assert cells["Last login"].get_text(strip=True) == "never"
    assert button_texts(cells["Actions"]) == ["Login on — turn off", "Resend invitation"]
    assert [box.has_attr("checked") for box in cells["Notifications"].find_all("input", type="checkbox")] == [
        True, True, True]
    # The primary address has a login now: the add field is no longer prefilled.
    assert input_value(add_form(part), "Login e-mail address") in (None, "")

    [access] = accesses(app, anna)
    assert access["email"] == ANNA and access["status"] == "invited"
    assert access["invited_at"] is not None and access["hash"] is None  # the link is minted when sent
    [invitation] = invitations(app)  # exactly one, to that address, queued as system mail
    del invitation["id"]
    assert invitation == {"to": ANNA, "category": MailCategory.system, "status": MailStatus.queued,
                          "customer_id": anna.id, "access_id": access["id"]}
    after = counts(app)
    assert after["PortalUser"] == before["PortalUser"] + 1
    assert after["OutboundEmail"] == before["OutboundEmail"] + 1
    # Adding turns the LOGIN switch on: two events, newest first.
    assert [(e["What"], e["Changes"]) for e in history(page)] == [
        ("Portal login turned on", f"email : {ANNA} → {ANNA}"), ("Portal login added", f"email : — → {ANNA}"),
    ]


def test_adding_another_address_normalises_it(app, owner_client, anna):
    add_login(owner_client, anna, "Bob@Example.ORG")
    [access] = accesses(app, anna)
    assert access["email"] == BOB
    assert [i["to"] for i in invitations(app)] == [BOB]
    part = logins_section(owner_client, anna)
    assert status_of(part, BOB) == "invited"
    assert input_value(add_form(part), "Login e-mail address") == ANNA  # still offered


def test_a_login_known_from_another_customer_gets_access_too(app, owner_client, anna):
    other = factories.customer(name="Other Company")
    add_login(owner_client, other, BOB)
    add_login(owner_client, anna, BOB)
    assert counts(app)["PortalUser"] == 1  # one identity, two accesses
    assert [a["email"] for a in accesses(app, anna)] == [BOB]
    assert [(i["to"], i["customer_id"]) for i in invitations(app)] == [(BOB, other.id), (BOB, anna.id)]


REFUSED_ADDRESSES = [
    ("not-an-address", "Enter a valid e-mail address."),
    ("anna@example", "Enter a valid e-mail address."),
    ("someone@example.test", "Enter a valid e-mail address."),  # special-use domain
    (ANNA, "This address has a login for this customer already."),
    ("ANNA@Example.COM", "This address has a login for this customer already."),
]


@pytest.mark.parametrize("typed,message", REFUSED_ADDRESSES)
def test_a_refused_address_is_explained_next_to_the_field(app, owner_client, anna, typed, message):
    add_login(owner_client, anna, ANNA)
    before = counts(app)
    response = press(owner_client, logins_section(owner_client, anna), "Add login and send invitation",
                     htmx=True, change={"add-email": typed})
    assert response.status_code == 422
    part = assert_section_only(response)
    form = add_form(part)
    assert field_error(form, "Login e-mail address") == message
    assert input_value(form, "Login e-mail address") == typed  # kept as typed, to correct it
    control = form.find("input", attrs={"name": "add-email"})
    assert control["aria-invalid"] == "true"
    assert counts(app) == before
    assert [a["email"] for a in accesses(app, anna)] == [ANNA]


def test_an_empty_address_is_refused(app, owner_client, anna):
    before = counts(app)
    response = press(owner_client, logins_section(owner_client, anna), "Add login and send invitation",
                     htmx=True, change={"add-email": ""})
    assert response.status_code == 422
    assert field_error(add_form(assert_section_only(response)), "Login e-mail address")
    assert counts(app) == before


def test_a_refused_address_without_javascript_comes_back_as_a_message(app, owner_client, anna):
    before = counts(app)
    response = press(owner_client, logins_section(owner_client, anna), "Add login and send invitation",
                     change={"add-email": "not-an-address"})
    assert_back_to_info(response, anna)
    assert flashes(owner_client.soup(f"/admin/customers/{anna.id}/info"), "error") == ["Enter a valid e-mail address."]
    assert counts(app) == before


# ---------------------------------------------------------------- the LOGIN switch and invitations


def test_login_off_revokes_at_once_and_on_invites_again(app, owner_client, anna):
    add_login(owner_client, anna, ANNA)
    token = send_invitations(app)[ANNA]
    assert accesses(app, anna)[0]["hash"] is not None
    assert invitation_link_status(app, token) == 200

    part = logins_section(owner_client, anna)
    assert_back_to_info(press_and_confirm(owner_client, login_row(part, ANNA), "Login on — turn off"), anna)
    part = logins_section(owner_client, anna)
    assert status_of(part, ANNA) == "revoked"
    assert button_texts(row_cells(part, ANNA)["Actions"]) == ["Login off — turn on"]
    [access] = accesses(app, anna)
    assert access["status"] == "revoked" and access["revoked_at"] is not None and access["hash"] is None
    assert invitation_link_status(app, token) == 404  # the mailed link is dead
    with app.app_context():  # the customer is untouched: only the login is off
        customer = db.session.get(Customer, anna.id)
        assert customer is not None and customer.archived_at is None and customer.portal_access is True
    assert len(invitations(app)) == 1

    assert_back_to_info(press(owner_client, login_row(part, ANNA), "Login off — turn on"), anna)
    part = logins_section(owner_client, anna)
    assert status_of(part, ANNA) == "invited"
    assert button_texts(row_cells(part, ANNA)["Actions"]) == ["Login on — turn off", "Resend invitation"]
    [again] = accesses(app, anna)
    assert again["revoked_at"] is None and again["invited_at"] > access["invited_at"]
    assert [(i["to"], i["status"]) for i in invitations(app)] == [(ANNA, MailStatus.sent), (ANNA, MailStatus.queued)]
    assert invitation_link_status(app, token) == 404  # the old link stays dead
    fresh = send_invitations(app)[ANNA]
    assert fresh != token and invitation_link_status(app, fresh) == 200

    events = [e["What"] for e in history(info(owner_client, anna))]
    assert events[:3] == ["Portal login turned on", "Portal login turned off", "Portal login turned on"]
    assert "Portal login added" in events


def test_an_accepted_login_turned_back_on_is_active_without_a_new_invitation(app, owner_client, anna):
    add_login(owner_client, anna, ANNA)
    accept(app, send_invitations(app)[ANNA])
    press_and_confirm(owner_client, login_row(logins_section(owner_client, anna), ANNA), "Login on — turn off")
    assert status_of(logins_section(owner_client, anna), ANNA) == "revoked"
    press(owner_client, login_row(logins_section(owner_client, anna), ANNA), "Login off — turn on")
    part = logins_section(owner_client, anna)
    assert status_of(part, ANNA) == "active"
    assert button_texts(row_cells(part, ANNA)["Actions"]) == ["Login on — turn off"]
    assert len(invitations(app)) == 1  # the first one only: the person has a password already
    assert accesses(app, anna)[0]["hash"] is None


def test_resend_queues_a_new_invitation_and_voids_the_old_link(app, owner_client, anna):
    add_login(owner_client, anna, ANNA)
    old = send_invitations(app)[ANNA]
    response = press(owner_client, login_row(logins_section(owner_client, anna), ANNA), "Resend invitation")
    assert_back_to_info(response, anna)
    assert accesses(app, anna)[0]["hash"] is None  # the previous token hash is gone
    assert invitation_link_status(app, old) == 404
    assert [(i["to"], i["status"]) for i in invitations(app)] == [(ANNA, MailStatus.sent), (ANNA, MailStatus.queued)]
    new = send_invitations(app)[ANNA]
    assert new != old and invitation_link_status(app, new) == 200
    assert history(info(owner_client, anna))[0]["What"] == "Portal invitation sent again"


def test_change_address_before_acceptance_moves_the_invitation(app, owner_client, anna):
    add_login(owner_client, anna, ANNA)
    old_token = send_invitations(app)[ANNA]
    [before] = accesses(app, anna)
    row = login_row(logins_section(owner_client, anna), ANNA)
    response = press(owner_client, row, "Change address", change={f"e{before['id']}-email": ANNE})
    assert_back_to_info(response, anna)

    [after] = accesses(app, anna)
    assert (after["id"], after["email"], after["status"]) == (before["id"], ANNE, "invited")
    assert after["hash"] is None
    assert invitation_link_status(app, old_token) == 404
    sent = invitations(app)
    assert [(i["to"], i["status"]) for i in sent] == [(ANNA, MailStatus.sent), (ANNE, MailStatus.queued)]
    part = logins_section(owner_client, anna)
    assert status_of(part, ANNE) == "invited"
    assert input_value(add_form(part), "Login e-mail address") == ANNA  # the primary is free again
    page = info(owner_client, anna)
    assert history(page)[0]["What"] == "Portal login address changed"
    assert history(page)[0]["Changes"] == f"email : {ANNA} → {ANNE}"
    assert invitation_link_status(app, send_invitations(app)[ANNE]) == 200


def test_an_invitation_queued_for_the_old_address_is_not_sent(app, owner_client, anna):
    """Changed before the worker got to it: the old row is dropped, not mailed to the old address."""
    add_login(owner_client, anna, ANNA)
    [access] = accesses(app, anna)
    press(owner_client, login_row(logins_section(owner_client, anna), ANNA), "Change address",
          change={f"e{access['id']}-email": ANNE})
    old, new = invitations(app)
    assert (old["to"], new["to"]) == (ANNA, ANNE)
    with app.app_context():
        assert jobs.deliver(old["id"]) == "not-needed"
    assert accesses(app, anna)[0]["hash"] is None


def test_the_address_of_an_accepted_login_cannot_change(app, owner_client, anna):
    add_login(owner_client, anna, ANNA)
    accept(app, send_invitations(app)[ANNA])
    part = logins_section(owner_client, anna)
    cells = row_cells(part, ANNA)
    assert cells["Login"].get_text(strip=True) == ANNA and cells["Login"].find("input") is None
    assert cells["Status"].get_text(strip=True) == "active"
    assert cells["Last login"].get_text(strip=True) != "never"
    assert button_texts(cells["Actions"]) == ["Login on — turn off"]  # nothing to resend
    [access] = accesses(app, anna)
    before = counts(app)
    # A crafted request (the page offers no field): refused, with the reason in the row.
    response = owner_client.post(f"/admin/customers/{anna.id}/portal-logins", headers={"HX-Request": "true"},
                                 data={"action": "change_email", "access_id": access["id"],
                                       f"e{access['id']}-email": ANNE})
    assert response.status_code == 422
    row = login_row(assert_section_only(response), ANNA)
    assert row.find(class_="error").get_text(strip=True) == "The address of an accepted login cannot be changed."
    assert accesses(app, anna) == [access]
    assert counts(app) == before


def test_an_invalid_new_address_is_refused_in_the_row(app, owner_client, anna):
    add_login(owner_client, anna, ANNA)
    add_login(owner_client, anna, BOB)
    [a, b] = accesses(app, anna)
    before = counts(app)
    for typed, message in (("nope", "Enter a valid e-mail address."),
                           (BOB, "This address has a login for this customer already.")):
        response = press(owner_client, login_row(logins_section(owner_client, anna), ANNA), "Change address",
                         htmx=True, change={f"e{a['id']}-email": typed})
        assert response.status_code == 422
        part = assert_section_only(response)
        row = part.find("tr", id=f"access-{a['id']}")
        assert row.find(class_="error").get_text(strip=True) == message
        assert row.find("input", attrs={"name": f"e{a['id']}-email"})["value"] == typed  # kept as typed
    assert accesses(app, anna) == [a, b]
    assert counts(app) == before


# ---------------------------------------------------------------- notifications and portal access


def test_notification_choices_are_saved(app, owner_client, anna):
    add_login(owner_client, anna, ANNA)
    [access] = accesses(app, anna)
    row = login_row(logins_section(owner_client, anna), ANNA)
    labels = [label.get_text(strip=True) for label in row_cells(logins_section(owner_client, anna), ANNA)[
        "Notifications"].find_all("label")]
    assert labels == ["Notify", "Invoice e-mails", "Account e-mails"]
    response = press(owner_client, row, "Save notifications", untick=(f"n{access['id']}-notify_invoice",))
    assert_back_to_info(response, anna)
    assert accesses(app, anna)[0]["notify"] == (True, False, True)
    boxes = row_cells(logins_section(owner_client, anna), ANNA)["Notifications"].find_all("input", type="checkbox")
    assert [box.has_attr("checked") for box in boxes] == [True, False, True]

    response = press(owner_client, login_row(logins_section(owner_client, anna), ANNA), "Save notifications",
                     htmx=True, untick=(f"n{access['id']}-notify",), change={f"n{access['id']}-notify_invoice": "y"})
    assert response.status_code == 200
    boxes = row_cells(assert_section_only(response), ANNA)["Notifications"].find_all("input", type="checkbox")
    assert [box.has_attr("checked") for box in boxes] == [False, True, True]
    assert accesses(app, anna)[0]["notify"] == (False, True, True)
    assert history(info(owner_client, anna))[0]["What"] == "Portal login notifications changed"


def test_portal_access_off_and_on_for_the_customer(app, owner_client, anna):
    add_login(owner_client, anna, ANNA)
    response = press_and_confirm(owner_client, logins_section(owner_client, anna), "Turn portal access off")
    assert_back_to_info(response, anna)
    part = logins_section(owner_client, anna)
    assert part.find(class_="badge").get_text(strip=True) == "Portal access off: no login of this customer gets in"
    assert "Turn portal access on" in button_texts(part) and "Turn portal access off" not in button_texts(part)
    assert status_of(part, ANNA) == "invited"  # the logins themselves are kept
    with app.app_context():
        assert db.session.get(Customer, anna.id).portal_access is False
    page = info(owner_client, anna)
    assert (history(page)[0]["What"], history(page)[0]["Changes"]) == ("Portal access changed",
                                                                        "portal_access : True → False")

    response = press(owner_client, logins_section(owner_client, anna), "Turn portal access on", htmx=True)
    part = assert_section_only(response)
    assert part.find(class_="badge").get_text(strip=True) == "Portal access on"
    with app.app_context():
        assert db.session.get(Customer, anna.id).portal_access is True
    assert history(info(owner_client, anna))[0]["Changes"] == "portal_access : False → True"


# ---------------------------------------------------------------- every action: HTMX and plain posts


def _ready(app, client, customer, action: str) -> tuple[str, dict]:
    """A login in the state the action needs; returns the button text and what to type."""
    if action == "add":
        return "Add login and send invitation", {}
    add_login(client, customer, ANNA)
    [access] = accesses(app, customer)
    if action == "login_on":
        press_and_confirm(client, login_row(logins_section(client, customer), ANNA), "Login on — turn off")
    if action == "portal_on":
        press_and_confirm(client, logins_section(client, customer), "Turn portal access off")
    return {
        "login_on": ("Login off — turn on", {}),
        "login_off": ("Login on — turn off", {}),
        "resend": ("Resend invitation", {}),
        "change_email": ("Change address", {f"e{access['id']}-email": ANNE}),
        "notifications": ("Save notifications", {f"n{access['id']}-notify": ""}),
        "portal_off": ("Turn portal access off", {}),
        "portal_on": ("Turn portal access on", {}),
    }[action]


ACTIONS = ["add", "login_off", "login_on", "resend", "change_email", "notifications", "portal_off", "portal_on"]


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_answers_htmx_with_the_section_only(app, owner_client, anna, action):
    text, typed = _ready(app, owner_client, anna, action)
    before = counts(app)
    response = press_action(owner_client, logins_section(owner_client, anna), text, htmx=True, change=typed)
    assert response.status_code == 200, soup_of(response).get_text(" ", strip=True)[:500]
    assert "HX-Request" in response.headers.get("Vary", "")
    part = assert_section_only(response)
    assert part.find(class_="error") is None
    assert counts(app)["AuditEvent"] == before["AuditEvent"] + (2 if action == "add" else 1)
    # The fragment is what the full page shows after the same change.
    page_part = logins_section(owner_client, anna)
    assert button_texts(part) == button_texts(page_part)
    assert [b.get_text(strip=True) for b in part.find_all(class_="badge")] == [
        b.get_text(strip=True) for b in page_part.find_all(class_="badge")]


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_without_javascript_redirects_to_the_info_tab(app, owner_client, anna, action):
    text, typed = _ready(app, owner_client, anna, action)
    before = counts(app)
    response = press_action(owner_client, logins_section(owner_client, anna), text, change=typed)
    assert_back_to_info(response, anna)
    assert counts(app)["AuditEvent"] == before["AuditEvent"] + (2 if action == "add" else 1)


def test_an_employee_uses_the_section_of_an_assigned_customer(app, employee, employee_client):
    mine = factories.customer(name="Mine", email=ANNA, assigned_to=[employee])
    add_login(employee_client, mine, ANNA)
    assert [a["email"] for a in accesses(app, mine)] == [ANNA]
    assert history(info(employee_client, mine))[-1]["Who"].startswith(employee.name)


# ---------------------------------------------------------------- history and overview


def test_history_lists_add_revoke_and_address_change(app, owner, owner_client, anna):
    add_login(owner_client, anna, ANNA)
    [access] = accesses(app, anna)
    press(owner_client, login_row(logins_section(owner_client, anna), ANNA), "Change address",
          change={f"e{access['id']}-email": ANNE})
    press_and_confirm(owner_client, login_row(logins_section(owner_client, anna), ANNE), "Login on — turn off")
    events = [(e["What"], e["Changes"]) for e in history(info(owner_client, anna))]
    assert events == [
        ("Portal login turned off", f"email : {ANNE} → {ANNE}"),
        ("Portal login address changed", f"email : {ANNA} → {ANNE}"),
        ("Portal login turned on", f"email : {ANNA} → {ANNA}"),
        ("Portal login added", f"email : — → {ANNA}"),
    ]
    assert {e["Who"] for e in history(info(owner_client, anna))} == {f"{owner.name} <{owner.email}>"}


def test_overview_shows_login_activity(app, owner_client, anna):
    empty = section(owner_client.soup(f"/admin/customers/{anna.id}"), "Login activity")
    assert empty.find(class_="empty").get_text(strip=True) == "No portal logins."
    add_login(owner_client, anna, BOB)
    add_login(owner_client, anna, ANNA)
    accept(app, send_invitations(app)[ANNA])
    activity = section(owner_client.soup(f"/admin/customers/{anna.id}"), "Login activity")
    entries = [p.get_text(" ", strip=True) for p in activity.find_all("p")]
    assert len(entries) == 2
    assert entries[0].startswith(f"{ANNA} · active") and "Last login:" in entries[0]
    assert entries[1] == f"{BOB} · invited Never logged in"
    with app.app_context():
        assert db.session.scalar(
            select(PortalAccess.last_login_at).join(PortalUser).where(PortalUser.email == ANNA)) is not None
    # The Info tab shows the same last login for that row.
    assert row_cells(logins_section(owner_client, anna), ANNA)["Last login"].get_text(strip=True) == \
        entries[0].split("Last login:")[1].strip()


# ---------------------------------------------------------------- settings


def _settings_form(soup):
    return soup.find("input", attrs={"type": "submit", "value": "Save settings"}).find_parent("form")


def _save_settings(client, *, portal_default: bool):
    soup = client.soup("/admin/settings")
    form = _settings_form(soup)
    data = form_data(form)
    data.pop("portal_access_default", None)
    if portal_default:
        data["portal_access_default"] = ["y"]
    response = client.post(form.get("action") or "/admin/settings", data=data)
    assert response.status_code == 302, soup_of(response).get_text(" ", strip=True)[:500]


def _checkbox(soup, label_text: str) -> bool:
    label = soup.find("label", string=lambda s: s and s.strip() == label_text)
    assert label is not None, f"no label {label_text!r}"
    return soup.find(id=label["for"]).has_attr("checked")


def _new_customer(client, name: str, *, tick: bool | None = None) -> int:
    """Fill in the new-customer form as it comes; `tick` sets or clears "Portal access"."""
    soup = client.soup("/admin/customers/new")
    form = soup.find("input", attrs={"type": "submit", "value": "Save customer"}).find_parent("form")
    data = form_data(form)
    data.update({"name": [name], "kind": ["individual"]})
    if tick is not None:
        data.pop("portal_access", None)
        if tick:
            data["portal_access"] = ["y"]
    response = client.post("/admin/customers/new", data=data)
    assert response.status_code == 302, soup_of(response).get_text(" ", strip=True)[:800]
    return int(response.headers["Location"].split("/")[3])


def _portal_access(app, customer_id: int) -> bool:
    with app.app_context():
        return db.session.get(Customer, customer_id).portal_access


def test_new_customers_follow_the_default_of_the_settings(app, owner_client):
    assert _checkbox(owner_client.soup("/admin/settings"), "New customers get portal access") is True
    assert _checkbox(owner_client.soup("/admin/customers/new"), "Portal access") is True
    assert _portal_access(app, _new_customer(owner_client, "Default On")) is True

    _save_settings(owner_client, portal_default=False)
    assert flashes(owner_client.soup("/admin/settings"), "success") == ["The settings were saved."]
    assert _checkbox(owner_client.soup("/admin/settings"), "New customers get portal access") is False
    with app.app_context():
        assert db.session.scalar(select(BusinessSettings.portal_access_default)) is False
    assert _checkbox(owner_client.soup("/admin/customers/new"), "Portal access") is False
    off = _new_customer(owner_client, "Default Off")  # the form as it comes: not ticked
    assert _portal_access(app, off) is False
    assert section(info(owner_client, factories_customer(app, off)), "Portal logins").find(
        class_="badge").get_text(strip=True) == "Portal access off: no login of this customer gets in"
    assert _portal_access(app, _new_customer(owner_client, "Ticked Anyway", tick=True)) is True

    _save_settings(owner_client, portal_default=True)
    assert _checkbox(owner_client.soup("/admin/customers/new"), "Portal access") is True
    assert _portal_access(app, _new_customer(owner_client, "Unticked", tick=False)) is False


def factories_customer(app, customer_id: int) -> Customer:
    with app.app_context():
        customer = db.session.get(Customer, customer_id)
        db.session.expunge(customer)
        return customer


def _apply_section(soup):
    return section(soup, "Portal access for all existing customers")


def _portal_flags(app) -> list[bool]:
    with app.app_context():
        return list(db.session.scalars(select(Customer.portal_access).order_by(Customer.id)))


@pytest.fixture
def five_customers(app):
    on = [factories.customer(name=f"On {n}") for n in range(3)]
    off = [factories.customer(name=f"Off {n}", portal_access=False) for n in range(2)]
    return on + off


def test_apply_to_all_shows_what_would_change(owner_client, five_customers):
    part = _apply_section(owner_client.soup("/admin/settings"))
    assert part.find("p").get_text().split() == (
        "Turning it on would change 2 customers. Turning it off would change 3 customers.").split()
    assert [i["value"] for i in part.find_all("input", type="submit")] == ["Apply to all customers"]


def test_apply_to_all_needs_the_confirmation(app, owner_client, five_customers):
    soup = owner_client.soup("/admin/settings")
    form = _apply_section(soup).find("form")
    data = form_data(form)
    assert "confirm" not in data  # not ticked as the page comes
    data["enabled"] = ["off"]
    before = (_portal_flags(app), counts(app))
    response = owner_client.post(form["action"], data=data)
    assert response.status_code == 422
    page = soup_of(response)
    assert field_error(page, "Yes, change all these customers") == "Tick this box to confirm."
    assert input_value(page, "Portal access for all existing customers") == "off"  # the choice is kept
    assert (_portal_flags(app), counts(app)) == before


@pytest.mark.parametrize("enabled,changed", [("off", 3), ("on", 2)])
def test_apply_to_all_changes_every_customer(app, owner_client, five_customers, enabled, changed):
    form = _apply_section(owner_client.soup("/admin/settings")).find("form")
    data = {**form_data(form), "enabled": [enabled], "confirm": ["y"]}
    response = owner_client.post(form["action"], data=data)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/settings"
    page = owner_client.soup("/admin/settings")
    assert flashes(page, "success") == [f"Portal access changed for {changed} customers."]
    assert _portal_flags(app) == [enabled == "on"] * 5
    would_on, would_off = (0, 5) if enabled == "on" else (5, 0)
    assert _apply_section(page).find("p").get_text().split() == (
        f"Turning it on would change {would_on} customers. Turning it off would change {would_off} customers.").split()
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "settings.portal_access_applied"))
        assert event.changes == {"portal_access": [None, str(enabled == "on")], "customers": [None, str(changed)]}


def test_apply_to_all_counts_one_customer_in_the_singular(app, owner_client):
    factories.customer(name="Lonely", portal_access=False)
    part = _apply_section(owner_client.soup("/admin/settings"))
    assert part.find("p").get_text().split() == (
        "Turning it on would change 1 customer. Turning it off would change 0 customers.").split()
    form = part.find("form")
    owner_client.post(form["action"], data={**form_data(form), "enabled": ["on"], "confirm": ["y"]})
    assert flashes(owner_client.soup("/admin/settings"), "success") == ["Portal access changed for 1 customer."]

