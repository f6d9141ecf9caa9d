"""Cached pages (web/page_cache.py) and the revisions that key them (models/revisions.py).

What must hold: a cached page is never served after a change that shows on it, whichever
way the change was written (a form, the ORM, a Core statement of a worker); the per-visitor
CSRF token is never shared between sessions; per-user parts stay per user.
"""

from __future__ import annotations

import warnings

import pytest
from sqlalchemy import update

from models import revisions
from models.customers import Customer
from models.db import db
from models.documents import Document
from models.outbox import MailCategory
from models.outbox import OutboundEmail
from models.services import outbox
from models.services.settings import get_settings
from models.staff import StaffUser
from tests import factories
from tests.conftest import StaffClient, count_queries, login, soup_of
from tests.dossier.test_dossier_page import form_token, page_token
from tests.portal.test_dossier_link import dossier_url, path_of
from web import page_cache

ENGLISH = {"Accept-Language": "en"}


def revision_of(app, customer) -> int:
    with app.app_context():
        return db.session.get(Customer, customer.id).revision


def business_revision_of(app) -> int:
    with app.app_context():
        return revisions.business_revision()


def kept_pages(app) -> int:
    with app.app_context():
        return len(page_cache.cache())


def latest_notes(staff, customer) -> list[str]:
    section = staff.soup(f"/admin/customers/{customer.id}").find(id="latest-notes").find_parent("section")
    return [article.p.get_text(" ", strip=True) for article in section.find_all("article", class_="note")] or [
        section.find(class_="empty").get_text(strip=True)]


def latest_email_statuses(staff, customer) -> list[str]:
    section = staff.soup(f"/admin/customers/{customer.id}").find(id="latest-emails").find_parent("section")
    return [tr.find_all("td")[2].get_text(strip=True) for tr in section.tbody.find_all("tr")]


@pytest.fixture
def saved_settings(app):
    """The settings row, which holds the business revision (before it exists nothing is kept)."""
    with app.app_context():
        get_settings(for_update=True)
        db.session.commit()


# --- the cache itself ------------------------------------------------------------------------


def test_the_cache_keeps_the_most_recently_used_pages():
    store = page_cache.PageCache(size=2)
    store.put("a", "A")
    store.put("b", "B")
    assert store.get("a") == "A"  # "a" is now the most recent: "b" goes first
    store.put("c", "C")
    assert (store.get("a"), store.get("b"), store.get("c")) == ("A", None, "C")


# --- revisions: every write moves the right counter ------------------------------------------


def test_a_note_moves_its_customers_revision_only(app, owner_client):
    noted, other = factories.customer(), factories.customer()
    before = revision_of(app, noted), revision_of(app, other), business_revision_of(app)
    response = owner_client.post(f"/admin/customers/{noted.id}/notes", data={"body": "Called about the invoice"})
    assert response.status_code in (302, 303)
    assert revision_of(app, noted) > before[0]
    assert (revision_of(app, other), business_revision_of(app)) == before[1:]


def test_settings_move_the_business_revision(app, owner, saved_settings):
    before = business_revision_of(app)
    with app.app_context():
        get_settings(for_update=True).business_name = "Renamed B.V."
        db.session.commit()
    assert business_revision_of(app) > before


def test_an_object_marked_dirty_but_unchanged_moves_nothing(app):
    customer = factories.customer(name="Una Unchanged")
    before = revision_of(app, customer)
    with app.app_context():
        loaded = db.session.get(Customer, customer.id)
        loaded.name = "Una Unchanged"  # the same value: dirty, not modified
        db.session.commit()
    assert revision_of(app, customer) == before


def test_a_core_write_that_says_nothing_about_revisions_is_an_error(app):
    customer = factories.customer()
    before = revision_of(app, customer)
    with app.app_context():
        with warnings.catch_warnings():
            warnings.simplefilter("error", revisions.RevisionWarning)
            with pytest.raises(revisions.RevisionWarning, match="customers"):
                db.session.execute(update(Customer).where(Customer.id == customer.id).values(phone="1"))
        db.session.rollback()
        # Saying it is handled, and touching the customer, is the way.
        db.session.execute(update(Customer).where(Customer.id == customer.id).values(phone="1")
                           .execution_options(revisions=revisions.HANDLED))
        revisions.touch_customers(db.session, [customer.id])
        db.session.commit()
    assert revision_of(app, customer) == before + 1


def test_a_bulk_transaction_moves_each_customer_once(app):
    """One UPDATE per customer and transaction, however many flushes: queueing mail for
    every customer in one go stays linear."""
    customers = [factories.customer() for _ in range(3)]
    before = [revision_of(app, c) for c in customers]
    with app.app_context(), count_queries(app) as statements:
        for customer in customers * 2:
            outbox.queue_customer_email(db.session.get(Customer, customer.id), MailCategory.account, "account_notice")
        assert revisions.unsettled(db.session)
        db.session.commit()
        assert not revisions.unsettled(db.session)
    moves = [s for s in statements if s.startswith("UPDATE customers SET revision")]
    assert len(moves) == 3
    assert [revision_of(app, c) for c in customers] == [b + 1 for b in before]


def test_a_savepoint_rolled_back_does_not_hide_a_later_change(app):
    customer = factories.customer()
    before = revision_of(app, customer)
    with app.app_context():
        loaded = db.session.get(Customer, customer.id)
        with db.session.begin_nested() as savepoint:
            loaded.phone = "020 1234567"
            db.session.flush()  # moves the revision inside the savepoint ...
            savepoint.rollback()  # ... and the move is undone with it
        loaded.city = "Utrecht"
        db.session.commit()  # so this change must move it again
    assert revision_of(app, customer) == before + 1


def test_a_page_rendered_after_a_change_in_its_own_transaction_is_not_kept(app, saved_settings):
    """Its key already holds the moved revision, but more may change before the commit."""
    customer = factories.customer()
    with app.test_request_context("/admin/"):
        db.session.get(Customer, customer.id).city = "Delft"
        db.session.flush()
        page = page_cache.render_page("error.html", ("test",), {"status": 200, "message": "Delft"}, dict)
        assert b"Delft" in page.data
        db.session.commit()
    assert kept_pages(app) == 0
    with app.test_request_context("/admin/"):  # after the commit the same page is kept
        page_cache.render_page("error.html", ("test",), {"status": 200, "message": "Delft"}, dict)
    assert kept_pages(app) == 1


# --- cached pages follow every kind of change -------------------------------------------------


def test_the_overview_shows_a_note_added_after_it_was_cached(app, owner_client, saved_settings):
    customer = factories.customer()
    assert latest_notes(owner_client, customer) == ["No notes yet."]
    assert kept_pages(app) == 1
    assert latest_notes(owner_client, customer) == ["No notes yet."]  # served from the cache
    owner_client.post(f"/admin/customers/{customer.id}/notes", data={"body": "Promised to pay Friday"})
    assert latest_notes(owner_client, customer) == ["Promised to pay Friday"]


def test_the_overview_follows_the_workers_core_statements(app, owner_client, saved_settings):
    customer = factories.customer(language="en")
    invoice = factories.invoice(customer)
    with app.app_context():
        email_id = outbox.queue_customer_email(
            db.session.get(Customer, customer.id), MailCategory.invoice, "invoice_issued",
            document=db.session.get(Document, invoice.id)).id
        db.session.commit()
    assert latest_email_statuses(owner_client, customer) == ["queued"]

    with app.app_context():  # a worker claims the row (UPDATE … RETURNING) …
        assert [row.id for row in outbox.claim_batch([email_id])] == [email_id]
    assert latest_email_statuses(owner_client, customer) == ["sending"]

    with app.app_context():  # … and records the outcome with one executemany
        outbox.record([outbox.sent_values(email_id, subject="Invoice", to=[customer.email], cc=[],
                                          refused={}, message_id="<m@test>")], [customer.id])
        db.session.commit()
        assert db.session.get(OutboundEmail, email_id).status.value == "sent"
    assert latest_email_statuses(owner_client, customer) == ["sent"]


def test_a_business_change_shows_on_every_cached_page(app, owner_client, owner, saved_settings):
    customer = factories.customer()
    owner_client.post(f"/admin/customers/{customer.id}/notes", data={"body": "Signed"})
    assert "Olga Owner" in staff_of_notes(owner_client, customer)
    with app.app_context():  # not this customer's data: the business revision moves
        db.session.get(StaffUser, owner.id).name = "Olga Renamed"
        db.session.commit()
    assert "Olga Renamed" in staff_of_notes(owner_client, customer)


def staff_of_notes(staff, customer) -> str:
    section = staff.soup(f"/admin/customers/{customer.id}").find(id="latest-notes").find_parent("section")
    return " ".join(footer.get_text(" ", strip=True) for footer in section.find_all("footer"))


def test_each_staff_member_gets_their_own_page(app, owner_client, saved_settings):
    customer = factories.customer()
    admin = factories.staff(role="admin", name="Ada Admin")
    admin_client = StaffClient(login(app.test_client(), admin), admin)
    assert "Olga Owner" in owner_client.soup(f"/admin/customers/{customer.id}").get_text()
    page = admin_client.soup(f"/admin/customers/{customer.id}").get_text()
    assert "Ada Admin" in page and "Olga Owner" not in page


def test_a_page_with_a_flashed_message_is_not_kept(app, owner_client, saved_settings):
    customer = factories.customer()
    added = owner_client.post(f"/admin/customers/{customer.id}/notes", data={"body": "Hello", "back": "overview"},
                              follow_redirects=True)
    assert added.request.path == f"/admin/customers/{customer.id}"
    assert soup_of(added).find(class_="flashes", role="status") is not None
    again = owner_client.soup(f"/admin/customers/{customer.id}")
    assert again.find(class_="flashes") is None
    assert latest_notes(owner_client, customer) == ["Hello"]


# --- the CSRF token in a cached page ----------------------------------------------------------


@pytest.fixture
def silent_link(owner_client):
    customer = factories.customer(name="Sam Silent", language="en", email=None)
    factories.invoice(customer)
    return customer, path_of(dossier_url(owner_client, customer))


def test_two_visitors_of_a_cached_dossier_get_their_own_token(app, silent_link, saved_settings):
    customer, link = silent_link
    first, second = app.test_client(), app.test_client()
    first_page = soup_of(first.get(link, headers=ENGLISH))
    assert kept_pages(app) == 1
    second_response = second.get(link, headers=ENGLISH)  # the kept copy
    second_page = soup_of(second_response)

    assert page_token(first_page) != page_token(second_page)
    assert form_token(second_page, "/email") == page_token(second_page)
    assert b"csrf-" not in second_response.data  # the placeholder never leaves the server
    # The first visitor's token is no good in the second one's session; their own is.
    stolen = second.post(f"{link}/email", data={"email": "sam@example.com",
                                                 "csrf_token": form_token(first_page, "/email")})
    assert stolen.status_code == 400
    own = second.post(f"{link}/email", data={"email": "sam@example.com",
                                             "csrf_token": form_token(second_page, "/email")})
    assert own.status_code == 302, own.data
    with app.app_context():
        assert db.session.get(Customer, customer.id).provided_email == "sam@example.com"
    # And the page the next visit gets says so (the cached copy is gone with the revision).
    assert not soup_of(first.get(link, headers=ENGLISH)).find("h2", string="Receive your invoices by e-mail")


def test_nothing_is_kept_before_the_settings_are_saved(app, owner_client, silent_link):
    customer, link = silent_link
    with app.app_context():
        assert revisions.business_revision() is None
    owner_client.soup(f"/admin/customers/{customer.id}")
    app.test_client().get(link)
    assert kept_pages(app) == 0
    with app.app_context():
        get_settings(for_update=True)
        db.session.commit()
    owner_client.soup(f"/admin/customers/{customer.id}")
    app.test_client().get(link)
    assert kept_pages(app) == 2


def test_the_dossier_shows_a_new_business_name(app, silent_link, saved_settings):
    customer, link = silent_link
    client = app.test_client()
    assert "Renamed B.V." not in client.get(link).get_data(as_text=True)
    with app.app_context():
        get_settings(for_update=True).business_name = "Renamed B.V."
        db.session.commit()
    assert "Renamed B.V." in client.get(link).get_data(as_text=True)


def test_the_cache_can_be_switched_off(app, owner_client, monkeypatch, saved_settings):
    monkeypatch.setitem(app.config, "PAGE_CACHE_SIZE", 0)
    customer = factories.customer()
    owner_client.soup(f"/admin/customers/{customer.id}")
    assert kept_pages(app) == 0


def test_a_returning_visitor_gets_no_new_cookies(app, silent_link, saved_settings):
    """The first visit starts a session (it holds the CSRF token); later visits leave it as
    it is: no re-signed session, no cleared login cookies, from a kept page or not."""
    customer, link = silent_link
    visitor = app.test_client()
    first = visitor.get(link)
    assert [c.split("=")[0] for c in first.headers.getlist("Set-Cookie")] == [app.config["SESSION_COOKIE_NAME"]]
    again = visitor.get(link)
    assert again.status_code == 200 and again.headers.getlist("Set-Cookie") == []
