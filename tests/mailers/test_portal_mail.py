"""Portal mail end to end: staff add a login on the Info tab, the outbox row is delivered to a
real SMTP sink by the job the worker runs (mailers.jobs.deliver), and the link in the received
message is opened like the recipient would. Also who of a customer's logins gets the customer's
mail, and the activation banner for a login that was invited but has not accepted yet."""

from __future__ import annotations

import hashlib
import re

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select, update

from mailers import jobs
from models.db import db
from models.outbox import MailCategory, MailStatus, OutboundEmail
from models.portal_access import PortalAccess, PortalUser
from models.services import portal_access
from models.staff import StaffUser
from tests import factories
from tests.conftest import TEST_CONFIG, csrf_token, soup_of
from tests.mailers.conftest import add_contact, outbox_row

BASE_URL = TEST_CONFIG["BASE_URL"]
PASSWORD = "plum tractor velvet 42"
NEW_PASSWORD = "a brand new passphrase 9"
INVITE_LINK = re.compile(re.escape(BASE_URL) + r"/portal/invite/[A-Za-z0-9_-]+")
RESET_LINK = re.compile(re.escape(BASE_URL) + r"/portal/reset/[A-Za-z0-9_-]+")


def only(items):
    assert len(items) == 1, items
    return items[0]


# --- doing it like staff, the worker and the recipient do ------------------------------------------


def deliver_queued(app) -> dict[int, str]:
    """Run the delivery job for every queued row, oldest first, as the worker would."""
    with app.app_context():
        ids = list(db.session.scalars(
            select(OutboundEmail.id).where(OutboundEmail.status == MailStatus.queued).order_by(OutboundEmail.id)))
    results = {}
    for email_id in ids:
        with app.app_context():
            results[email_id] = jobs.deliver(email_id)
    return results


def add_login(staff_client, customer_id: int, email: str) -> None:
    response = staff_client.post(f"/admin/customers/{customer_id}/portal-logins",
                                 data={"action": "add", "add-email": email})
    assert response.status_code == 302, response.data[:500]


def login_action(staff_client, customer_id: int, access_id: int, action: str, **data) -> None:
    response = staff_client.post(f"/admin/customers/{customer_id}/portal-logins",
                                 data={"action": action, "access_id": str(access_id), **data})
    assert response.status_code == 302, response.data[:500]


def access_id_of(app, customer_id: int, email: str) -> int:
    with app.app_context():
        return db.session.scalar(
            select(PortalAccess.id).join(PortalUser, PortalUser.id == PortalAccess.portal_user_id)
            .where(PortalAccess.customer_id == customer_id, PortalUser.email == email))


def link_in(mail, pattern: re.Pattern) -> str:
    """The one link of this kind, the same in the text and the HTML part."""
    in_text = set(pattern.findall(mail.text))
    html = BeautifulSoup(mail.html, "html.parser")
    in_html = {a["href"] for a in html.find_all("a", href=True) if pattern.fullmatch(a["href"])}
    assert len(in_text) == 1 and in_text == in_html, (in_text, in_html)
    return in_text.pop()


def path_of(url: str) -> str:
    assert url.startswith(BASE_URL + "/portal/")
    return url[len(BASE_URL):]


def post_form(client, path: str, data: dict):
    return client.post(path, data={**data, "csrf_token": csrf_token(client, path)})


def accept(client, url: str, password: str | None = PASSWORD):
    data = {} if password is None else {"password": password, "confirm": password}
    return post_form(client, path_of(url), data)


def active_login(app, customer, email: str, *, notify=True, invoice=True, account=True) -> int:
    """An accepted login made through the service (its invitation row is left queued)."""
    with app.app_context():
        record = db.session.get(type(customer), customer.id)
        access = portal_access.add_login(None, record, email)
        portal_access.accept_invitation(portal_access.mint_invitation(access), PASSWORD)
        portal_access.set_notifications(None, access, notify=notify, invoice=invoice, account=account)
        db.session.commit()
        return access.id


def staff_change(app, owner, change) -> None:
    with app.app_context():
        change(db.session.get(StaffUser, owner.id))
        db.session.commit()


def send_invoice(staff_client, customer) -> None:
    invoice = factories.invoice(customer)
    response = staff_client.post(f"/admin/invoices/{invoice.id}/send")
    assert response.status_code == 302, response.data[:500]


def send_notice(staff_client, customer) -> None:
    response = staff_client.post(f"/admin/customers/{customer.id}/notice", data={"notice": "shipped", "message": ""})
    assert response.status_code == 302, response.data[:500]


def fresh_messages(app, sink) -> list:
    """Deliver what is queued and return only the messages that arrived now."""
    before = sink.count()
    deliver_queued(app)
    return sink.received()[before:]


# --- invitations -----------------------------------------------------------------------------------


def test_an_invitation_reaches_the_invited_address_only_and_its_link_works_once(mail_app, sink, owner_client):
    customer = factories.customer(name="Anna Albers", email="office@example.test", language="en")
    add_contact(mail_app, customer.id, "billing@example.test", invoice=True, account=True)

    add_login(owner_client, customer.id, "Anna.Login@Example.com")
    results = deliver_queued(mail_app)
    assert list(results.values()) == ["sent"]

    mail = only(sink.received())
    assert mail.to == ["anna.login@example.com"] and mail.cc == []
    assert mail.rcpt_tos == ["anna.login@example.com"]  # not the primary address, not the contact
    assert mail.subject.startswith("Your login for")
    url = link_in(mail, INVITE_LINK)
    assert "The link works once and for 7 days." in mail.text
    assert "/d/" not in mail.text and "/d/" not in mail.html  # no dossier link: a mistyped address keeps nothing

    # neither the outbox nor the access row holds the link: only a hash of its token
    row = outbox_row(mail_app, only(list(results)))
    assert row.category == MailCategory.system and row.recipients_cc == []
    assert url.rsplit("/", 1)[1] not in str(row.context)
    with mail_app.app_context():
        access = db.session.scalar(select(PortalAccess).where(PortalAccess.customer_id == customer.id))
        assert access.invite_token_hash == hashlib.sha256(url.rsplit("/", 1)[1].encode()).hexdigest()

    client = mail_app.test_client()
    page = client.get(path_of(url))
    assert page.status_code == 200
    assert soup_of(page).find("h1").get_text(strip=True) == "Activate your login"
    response = accept(client, url)
    assert response.status_code == 302 and response.headers["Location"] == "/portal/"
    assert soup_of(client.get("/portal/")).find("h1").get_text(strip=True) == "Anna Albers"

    # used up: the same link now only says so
    dead = mail_app.test_client().get(path_of(url))
    assert dead.status_code == 404
    assert soup_of(dead).find("h1").get_text(strip=True) == "This invitation link is no longer valid"


def test_an_invitation_is_in_the_customers_language(mail_app, sink, owner_client):
    customer = factories.customer(name="Dirk de Vries", email="dirk@example.test", language="nl")
    add_login(owner_client, customer.id, "dirk@example.com")
    deliver_queued(mail_app)

    mail = only(sink.received())
    html = BeautifulSoup(mail.html, "html.parser")
    assert html.html["lang"] == "nl"
    assert html.find("a", href=INVITE_LINK, string="Uw toegang activeren") is not None
    page = mail_app.test_client().get(path_of(link_in(mail, INVITE_LINK)))
    soup = soup_of(page)
    assert page.status_code == 200 and soup.html["lang"] == "nl"
    assert soup.find("h1").get_text(strip=True) == "Uw toegang activeren"
    assert soup.find("label", string="Kies een wachtwoord") is not None


def test_the_invitations_subject_and_body_are_translated(mail_app, sink, owner_client):
    customer = factories.customer(name="Dirk de Vries", email="dirk@example.test", language="nl")
    add_login(owner_client, customer.id, "dirk@example.com")
    deliver_queued(mail_app)
    mail = only(sink.received())
    assert not mail.subject.startswith("Your login for")
    assert "The link works once" not in mail.text and "invites you to the customer portal" not in mail.text


def test_a_resent_invitation_kills_the_link_of_the_first_one(mail_app, sink, owner_client):
    customer = factories.customer(name="Anna Albers", email="office@example.test", language="en")
    add_login(owner_client, customer.id, "anna@example.com")
    first = link_in(only(fresh_messages(mail_app, sink)), INVITE_LINK)

    login_action(owner_client, customer.id, access_id_of(mail_app, customer.id, "anna@example.com"), "resend")
    second = link_in(only(fresh_messages(mail_app, sink)), INVITE_LINK)

    assert first != second
    client = mail_app.test_client()
    assert client.get(path_of(first)).status_code == 404
    assert client.get(path_of(second)).status_code == 200
    assert accept(client, second).status_code == 302


def test_an_address_change_sends_to_the_new_address_and_kills_the_old_link(mail_app, sink, owner_client):
    customer = factories.customer(name="Anna Albers", email="office@example.test", language="en")
    add_login(owner_client, customer.id, "anna@example.com")
    old = link_in(only(fresh_messages(mail_app, sink)), INVITE_LINK)
    access_id = access_id_of(mail_app, customer.id, "anna@example.com")

    login_action(owner_client, customer.id, access_id, "change_email", **{f"e{access_id}-email": "anna@new.example.com"})
    mail = only(fresh_messages(mail_app, sink))
    assert mail.rcpt_tos == ["anna@new.example.com"]
    new = link_in(mail, INVITE_LINK)

    client = mail_app.test_client()
    assert client.get(path_of(old)).status_code == 404
    page = client.get(path_of(new))
    assert page.status_code == 200 and "anna@new.example.com" in page.get_data(as_text=True)


def test_an_invitation_still_queued_for_the_old_address_is_not_sent(mail_app, sink, owner_client):
    customer = factories.customer(name="Anna Albers", email="office@example.test", language="en")
    add_login(owner_client, customer.id, "anna@example.com")
    access_id = access_id_of(mail_app, customer.id, "anna@example.com")
    login_action(owner_client, customer.id, access_id, "change_email", **{f"e{access_id}-email": "anna@new.example.com"})

    results = deliver_queued(mail_app)
    assert sorted(results.values()) == ["not-needed", "sent"]
    assert [m.rcpt_tos for m in sink.received()] == [["anna@new.example.com"]]


# --- password reset --------------------------------------------------------------------------------


def test_a_reset_mail_arrives_with_a_working_link(mail_app, sink):
    customer = factories.customer(name="Anna Albers", email="office@example.test", language="en")
    active_login(mail_app, customer, "anna@example.com")
    # the (already accepted) invitation is not sent; the owner is told the login was activated
    activated = only(fresh_messages(mail_app, sink))
    assert activated.rcpt_tos == ["anna@example.com"] and activated.cc == []
    assert "Your login at" in activated.text and "was activated just now." in activated.text
    assert not RESET_LINK.search(activated.text) and not INVITE_LINK.search(activated.text)

    client = mail_app.test_client()
    response = client.post("/portal/forgot", data={"email": "Anna@Example.com",
                                                   "csrf_token": csrf_token(client, "/portal/forgot")},
                           headers={"Accept-Language": "de"})
    assert response.status_code == 302
    mail = only(fresh_messages(mail_app, sink))
    assert mail.rcpt_tos == ["anna@example.com"] and mail.cc == []
    assert BeautifulSoup(mail.html, "html.parser").html["lang"] == "de"  # the language the form was used in
    url = link_in(mail, RESET_LINK)

    browser = mail_app.test_client()
    page = browser.get(path_of(url))
    assert page.status_code == 200
    response = post_form(browser, path_of(url), {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/portal/login"
    notice = only(fresh_messages(mail_app, sink))  # the owner alone hears of the new password
    assert notice.rcpt_tos == ["anna@example.com"] and notice.cc == []
    assert "was reset just now." in notice.text and not RESET_LINK.search(notice.text)
    login = post_form(mail_app.test_client(), "/portal/login", {"email": "anna@example.com", "password": NEW_PASSWORD})
    assert login.status_code == 302
    again = post_form(mail_app.test_client(), path_of(url), {"password": "yet another passphrase", "confirm": "yet another passphrase"})
    assert again.status_code == 422


def test_no_reset_mail_for_an_unknown_address(mail_app, sink):
    client = mail_app.test_client()
    response = client.post("/portal/forgot", data={"email": "nobody@example.com",
                                                   "csrf_token": csrf_token(client, "/portal/forgot")})
    assert response.status_code == 302
    assert deliver_queued(mail_app) == {} and sink.received() == []


# --- logins as recipients of the customer's mail ---------------------------------------------------


@pytest.fixture
def logins(mail_app, owner):
    """A customer with logins in every state, and a CC contact who is also a login."""
    customer = factories.customer(name="Anna Albers", email="office@example.test", language="en")
    add_contact(mail_app, customer.id, "cc@example.test", invoice=True, account=True)
    add_contact(mail_app, customer.id, "on@example.com", invoice=True, account=True)  # also a login
    active_login(mail_app, customer, "on@example.com")
    active_login(mail_app, customer, "off@example.com", notify=False)
    active_login(mail_app, customer, "noinvoice@example.com", invoice=False)
    active_login(mail_app, customer, "noaccount@example.com", account=False)
    revoked = active_login(mail_app, customer, "revoked@example.com")

    def revoke(actor):
        access = db.session.get(PortalAccess, revoked)
        portal_access.set_login(actor, db.session.get(type(customer), customer.id), access, False)

    staff_change(mail_app, owner, revoke)
    with mail_app.app_context():  # a login invited but not accepted
        portal_access.add_login(None, db.session.get(type(customer), customer.id), "pending@example.com")
        db.session.commit()
    deliver_queued(mail_app)  # the invitations (only pending@'s is still wanted)
    return customer


def test_logins_with_notifications_on_get_the_customers_mail_as_to(mail_app, sink, owner_client, logins):
    sink.messages.clear()
    send_invoice(owner_client, logins)
    invoice_mail, invoice_copy = fresh_messages(mail_app, sink)
    # To: the primary address, then the logins that want invoice mail (header order not promised)
    assert invoice_mail.rcpt_tos == ["office@example.test", "noaccount@example.com", "on@example.com"]
    assert sorted(invoice_mail.to) == ["noaccount@example.com", "office@example.test", "on@example.com"]
    assert invoice_mail.cc == []
    # on@ is a contact too, but once, as To; cc@ gets a copy of its own
    assert (invoice_copy.rcpt_tos, invoice_copy.to, invoice_copy.cc) == (["cc@example.test"], ["cc@example.test"], [])

    send_notice(owner_client, logins)
    notice, notice_copy = fresh_messages(mail_app, sink)
    assert notice.rcpt_tos == ["office@example.test", "noinvoice@example.com", "on@example.com"]
    assert sorted(notice.to) == ["noinvoice@example.com", "office@example.test", "on@example.com"]
    assert notice_copy.rcpt_tos == ["cc@example.test"]

    everyone = {a for m in (invoice_mail, invoice_copy, notice, notice_copy) for a in m.rcpt_tos}
    assert not everyone & {"off@example.com", "revoked@example.com", "pending@example.com"}


def test_a_login_turning_invoice_mail_off_in_the_portal_stops_getting_it(mail_app, sink, owner_client, logins):
    client = mail_app.test_client()
    assert post_form(client, "/portal/login", {"email": "on@example.com", "password": PASSWORD}).status_code == 302
    response = post_form(client, "/portal/preferences", {"notify": "y", "notify_account": "y"})
    assert response.status_code == 302

    sink.messages.clear()
    send_invoice(owner_client, logins)
    mail, *copies = fresh_messages(mail_app, sink)
    assert "on@example.com" not in mail.to
    # still a contact subscribed to invoices: a contact's own copy
    assert sorted(c.rcpt_tos[0] for c in copies) == ["cc@example.test", "on@example.com"]


def test_no_login_gets_mail_while_the_customers_portal_access_is_off(mail_app, sink, owner, owner_client, logins):
    staff_change(mail_app, owner, lambda actor: portal_access.set_customer_portal_access(
        actor, db.session.get(type(logins), logins.id), False))
    sink.messages.clear()
    send_invoice(owner_client, logins)
    send_notice(owner_client, logins)
    delivered = fresh_messages(mail_app, sink)
    assert [m.to for m in delivered] == [["office@example.test"], ["cc@example.test"], ["on@example.com"]] * 2
    assert all(m.cc == [] for m in delivered)  # contacts stay contacts, each with a copy of their own


# --- the activation banner ---------------------------------------------------------------------------


def test_customer_mail_to_an_invited_login_carries_no_secret_even_in_cc(mail_app, sink, owner_client):
    """Contact persons in CC read the same message: its activation banner holds no
    invitation link, only the way for the login's owner to ask for one, which is then
    sent to that address alone. The earlier invitation keeps working."""
    customer = factories.customer(name="Anna Albers", email="anna@example.com", language="en")
    add_contact(mail_app, customer.id, "bookkeeper@partner.example", invoice=True)
    add_login(owner_client, customer.id, "anna@example.com")  # the primary address is invited
    invitation_link = link_in(only(fresh_messages(mail_app, sink)), INVITE_LINK)

    send_invoice(owner_client, customer)
    mail, copy = fresh_messages(mail_app, sink)
    assert mail.to == ["anna@example.com"] and mail.cc == []
    assert copy.to == ["bookkeeper@partner.example"] and copy.cc == []
    assert "Your login to our customer portal is waiting for you." in mail.text
    assert "Your login to our customer portal is waiting for you." not in copy.text  # the customer's banner
    for message in (mail, copy):
        assert not INVITE_LINK.search(message.text) and not INVITE_LINK.search(message.html)
    banner = BeautifulSoup(mail.html, "html.parser").find("a", string="Activate your login")
    assert banner["href"] == BASE_URL + "/portal/forgot"

    client = mail_app.test_client()
    assert client.get(path_of(invitation_link)).status_code == 200  # not voided by the invoice mail

    # The owner asks for their link: it goes to them alone, and works.
    assert post_form(client, "/portal/forgot", {"email": "anna@example.com"}).status_code == 302
    fresh = only(fresh_messages(mail_app, sink))
    assert fresh.rcpt_tos == ["anna@example.com"] and fresh.cc == []
    activation = link_in(fresh, INVITE_LINK)
    assert accept(client, activation).status_code == 302
    assert soup_of(client.get("/portal/")).find("h1").get_text(strip=True) == "Anna Albers"
    assert "was activated just now." in only(fresh_messages(mail_app, sink)).text

    # accepted: no banner any more
    send_invoice(owner_client, customer)
    mail, _copy = fresh_messages(mail_app, sink)
    assert "waiting for you" not in mail.text and not INVITE_LINK.search(mail.text)


def test_no_activation_banner_for_a_revoked_or_uninvited_login(mail_app, sink, owner, owner_client):
    customer = factories.customer(name="Anna Albers", email="anna@example.com", language="en")
    with mail_app.app_context():
        portal_access.add_login(None, db.session.get(type(customer), customer.id), "anna@example.com", invite=False)
        db.session.commit()
    send_invoice(owner_client, customer)
    mail = only(fresh_messages(mail_app, sink))
    assert not INVITE_LINK.search(mail.text)

    add_other = factories.customer(name="Bert Bos", email="bert@example.com", language="en")
    add_login(owner_client, add_other.id, "bert@example.com")
    access_id = access_id_of(mail_app, add_other.id, "bert@example.com")
    login_action(owner_client, add_other.id, access_id, "login_off", confirm="1")
    fresh_messages(mail_app, sink)
    send_invoice(owner_client, add_other)
    mail = only(fresh_messages(mail_app, sink))
    assert not INVITE_LINK.search(mail.text)
