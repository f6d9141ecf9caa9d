"""A contact person decides which e-mails they receive (issue 17): each contact's own copy of
the customer's mail carries their personal preferences link and an RFC 8058 one-click
List-Unsubscribe; the customer and the other contacts never see them. End to end through
the staff pages, the outbox, an RQ worker and the real SMTP sink."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from bs4 import BeautifulSoup
from sqlalchemy import select

from models.audit import AuditEvent
from models.contacts import ContactPerson
from models.db import db
from tests import factories
from tests.conftest import csrf_token, soup_of
from tests.mailers.conftest import add_contact

LINK = re.compile(r"https://dossier\.example/portal/(?:contact|unsubscribe)/[A-Za-z0-9_.\-]+")


def send_invoice(staff_client, customer) -> None:
    response = staff_client.post(f"/admin/invoices/{factories.invoice(customer).id}/send")
    assert response.status_code == 302, response.data[:300]


def by_recipient(mails) -> dict:
    result = {}
    for mail in mails:
        assert len(mail.rcpt_tos) == 1, mail.rcpt_tos
        result[mail.rcpt_tos[0]] = mail
    return result


def links_in(mail) -> set[str]:
    found = set(LINK.findall(mail.text))
    html = BeautifulSoup(mail.html, "html.parser")
    found |= {a["href"] for a in html.find_all("a", href=True) if LINK.fullmatch(a["href"])}
    return found


def path_of(url: str) -> str:
    return urlsplit(url).path


def contact(app, contact_id: int) -> ContactPerson:
    with app.app_context():
        found = db.session.get(ContactPerson, contact_id)
        db.session.expunge(found)
        return found


def preference_events(app, contact_id: int) -> list[AuditEvent]:
    with app.app_context():
        events = list(db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "contact.preferences_chosen", AuditEvent.entity_id == contact_id)))
        db.session.expunge_all()
        return events


def delivered(mail_app, sink, run_worker, owner_client):
    customer = factories.customer(name="Anna Albers", email="anna@example.test", language="en")
    bill = add_contact(mail_app, customer.id, "bill@example.test", name="Bill Baker", invoice=True, account=True)
    cleo = add_contact(mail_app, customer.id, "cleo@example.test", name="Cleo Cole", invoice=True)
    send_invoice(owner_client, customer)
    run_worker()
    return customer, bill, cleo, by_recipient(sink.received())


def test_each_contact_gets_a_copy_of_their_own_with_their_own_links(mail_app, sink, run_worker, owner_client):
    customer, bill, cleo, mails = delivered(mail_app, sink, run_worker, owner_client)
    assert list(mails) == ["anna@example.test", "bill@example.test", "cleo@example.test"]
    own = mails["anna@example.test"]
    assert own.cc == [] and own.header("List-Unsubscribe") is None
    assert links_in(own) == set()  # the customer's message holds no contact's secret

    seen = {}
    for address in ("bill@example.test", "cleo@example.test"):
        mail = mails[address]
        assert (mail.to, mail.cc) == ([address], [])
        assert mail.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
        unsubscribe = re.fullmatch(r"<(https://dossier\.example/portal/unsubscribe/[^>]+)>", mail.header("List-Unsubscribe"))
        assert unsubscribe, mail.header("List-Unsubscribe")
        links = links_in(mail)
        preferences = {link for link in links if "/portal/contact/" in link}
        assert len(preferences) == 1 and unsubscribe.group(1) in links
        html = BeautifulSoup(mail.html, "html.parser")
        assert html.find("a", string="Choose which e-mails you receive")["href"] in preferences
        assert "as a contact person of Anna Albers" in mail.text
        seen[address] = links
    assert not seen["bill@example.test"] & seen["cleo@example.test"]  # no contact sees another's links
    # Each contact's preferences link opens their own page
    client = mail_app.test_client()
    for address, name in (("bill@example.test", "Bill Baker"), ("cleo@example.test", "Cleo Cole")):
        page = client.get(path_of(next(u for u in seen[address] if "/portal/contact/" in u)))
        assert page.status_code == 200
        assert name in soup_of(page).get_text() and address in soup_of(page).get_text()


def test_one_click_unsubscribe_without_cookie_or_csrf_changes_only_that_contact_and_category(
        mail_app, sink, run_worker, owner_client):
    customer, bill, cleo, mails = delivered(mail_app, sink, run_worker, owner_client)
    url = mails["bill@example.test"].header("List-Unsubscribe").strip("<>")
    client = mail_app.test_client()  # as a mail provider: no cookie, no CSRF token
    response = client.post(path_of(url), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200, response.data[:300]

    after = contact(mail_app, bill)
    assert (after.invoice_emails, after.account_emails) == (False, True)  # only the invoice category
    assert (contact(mail_app, cleo).invoice_emails, contact(mail_app, cleo).account_emails) == (True, False)
    event, = preference_events(mail_app, bill)
    assert event.actor_label.startswith("contact person Bill Baker")
    assert event.changes == {"invoice_emails": ["True", "False"]}
    assert event.customer_id == customer.id and event.actor_staff_id is None
    assert preference_events(mail_app, cleo) == []

    # Twice is harmless; the next invoice goes to the customer and Cleo only
    assert client.post(path_of(url), data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert len(preference_events(mail_app, bill)) == 1
    before = sink.count()
    send_invoice(owner_client, customer)
    run_worker()
    assert list(by_recipient(sink.received()[before:])) == ["anna@example.test", "cleo@example.test"]

    # Staff see what Bill receives now, and who changed it
    contacts_page = soup_of(owner_client.get(f"/admin/customers/{customer.id}/contacts"))
    bill_row = next(tr for tr in contacts_page.find_all("tr") if "Bill Baker" in tr.get_text())
    assert "Account e-mails" in bill_row.get_text() and "Invoice e-mails" not in bill_row.get_text()
    info = owner_client.get(f"/admin/customers/{customer.id}/info").get_data(as_text=True)
    assert "contact person Bill Baker" in info


def test_a_post_without_the_one_click_body_changes_nothing(mail_app, sink, run_worker, owner_client):
    _customer, bill, _cleo, mails = delivered(mail_app, sink, run_worker, owner_client)
    url = mails["bill@example.test"].header("List-Unsubscribe").strip("<>")
    assert mail_app.test_client().post(path_of(url), data={}).status_code == 400
    assert contact(mail_app, bill).invoice_emails is True
    assert preference_events(mail_app, bill) == []


def test_an_altered_or_misused_link_is_404(mail_app, sink, run_worker, owner_client):
    _customer, bill, _cleo, mails = delivered(mail_app, sink, run_worker, owner_client)
    links = links_in(mails["bill@example.test"])
    preferences = path_of(next(u for u in links if "/portal/contact/" in u))
    unsubscribe = path_of(next(u for u in links if "/portal/unsubscribe/" in u))
    client = mail_app.test_client()
    token = soup_of(client.get(preferences)).find("input", attrs={"name": "csrf_token"})["value"]
    for path in (preferences, unsubscribe):
        altered = path[:-2] + ("AA" if not path.endswith("AA") else "BB")
        assert client.get(altered).status_code == 404
        assert client.post(altered, data={"List-Unsubscribe": "One-Click", "csrf_token": token}).status_code == 404
    # a preferences token is no unsubscribe token, and the other way round (a salt each)
    assert client.post("/portal/unsubscribe/" + preferences.rsplit("/", 1)[1],
                       data={"List-Unsubscribe": "One-Click"}).status_code == 404
    assert client.get("/portal/contact/" + unsubscribe.rsplit("/", 1)[1]).status_code == 404
    assert contact(mail_app, bill).invoice_emails is True
    # once the contact's address changes, the links sent to the old one open nothing
    with mail_app.app_context():
        db.session.get(ContactPerson, bill).email = "bill.new@example.test"
        db.session.commit()
    assert client.get(preferences).status_code == 404
    assert client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}).status_code == 404


def test_the_preferences_page_and_its_form(mail_app, sink, run_worker, owner_client):
    customer, bill, cleo, mails = delivered(mail_app, sink, run_worker, owner_client)
    links = links_in(mails["bill@example.test"])
    preferences = path_of(next(u for u in links if "/portal/contact/" in u))
    unsubscribe = path_of(next(u for u in links if "/portal/unsubscribe/" in u))
    client = mail_app.test_client()

    # The unsubscribe link clicked by a person (or a link scanner): the form, nothing changed
    page = soup_of(client.get(unsubscribe))
    assert page.find("h1").get_text(strip=True) == "Which e-mails you receive"
    form = page.find("form", method="post")
    assert form["action"] == preferences
    assert contact(mail_app, bill).invoice_emails is True

    page = client.get(preferences)
    soup = soup_of(page)
    invoice = soup.find("input", id=soup.find("label", string=re.compile("Invoice e-mails"))["for"])
    account = soup.find("input", id=soup.find("label", string=re.compile("Account e-mails"))["for"])
    assert invoice.has_attr("checked") and account.has_attr("checked")

    # Without the CSRF token: refused, nothing changed
    assert client.post(preferences, data={"invoice_emails": "y"}).status_code == 400
    assert contact(mail_app, bill).account_emails is True

    # Nothing at all
    token = soup.find("input", attrs={"name": "csrf_token"})["value"]
    response = client.post(preferences, data={"csrf_token": token})
    assert response.status_code == 200
    assert soup_of(response).find(role="status").get_text(strip=True) == "Your choice is saved."
    after = contact(mail_app, bill)
    assert (after.invoice_emails, after.account_emails) == (False, False)
    event, = preference_events(mail_app, bill)
    assert event.changes == {"invoice_emails": ["True", "False"], "account_emails": ["True", "False"]}
    assert event.actor_label.startswith("contact person Bill Baker")

    # ...and account e-mails again
    response = client.post(preferences, data={"csrf_token": token, "account_emails": "y"})
    assert response.status_code == 200
    assert (contact(mail_app, bill).invoice_emails, contact(mail_app, bill).account_emails) == (False, True)
    assert contact(mail_app, cleo).invoice_emails is True  # the other contact untouched

    # The customer sees it on their contacts page (logged in)
    from tests.portal.conftest import active_login, logged_in
    active_login(mail_app, customer, "anna.login@example.com")
    portal = logged_in(mail_app.test_client(), "anna.login@example.com")
    contacts_page = soup_of(portal.get("/portal/contacts"))
    bill_row = next(tr for tr in contacts_page.find_all("tr") if "Bill Baker" in tr.get_text())
    assert "Account e-mails" in bill_row.get_text() and "Invoice e-mails" not in bill_row.get_text()
