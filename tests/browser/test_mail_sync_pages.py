"""The mail sync pages (issue 21) pass axe-core's WCAG 2.2 A/AA rules at 1280 px, with
content: the mailbox settings with a sync error, unmatched mail, a customer's conversations,
one message with HTML and a held-back remote image, and the E-mail sync page. The message's
remote image is not requested by the browser until "Load remote images" is clicked."""

from __future__ import annotations

import pytest

from models.contacts import ContactPerson
from models.db import db, now_utc
from models.mailbox import ContactEmail, MailboxSettings, SyncedEmail, SyncedEmailLink
from models.services import mail_html
from tests import factories
from tests.browser.conftest import log_in
from tests.browser.test_confirmations import axe_violations, expect
from tests.mail_sync.records import synced_email

pytestmark = pytest.mark.browser


@pytest.fixture
def customer(app, owner):
    customer = factories.customer(name="Dirk Dekker", email="dirk@example.com", language="en", assigned_to=[owner])
    with app.app_context():
        contact = ContactPerson(customer_id=customer.id, name="Carla Contact", email="carla@example.com")
        db.session.add(contact)
        db.session.flush()
        db.session.add(ContactEmail(customer_id=customer.id, contact_id=contact.id, email="carla@home.example"))
        db.session.add(MailboxSettings(enabled=True, host="imap.example.com", port=993, security="ssl",
                                       username="billing@example.com", folders="INBOX", failures=1,
                                       last_error="The server refused the user name or password.",
                                       last_error_at=now_utc(), next_attempt_at=now_utc()))
        db.session.commit()
        synced_id, _ = synced_email(customer.id, sender="dirk@example.com", subject="Re: Invoice 2026-0001")
        email = db.session.get(SyncedEmail, synced_id)
        email.html_body = mail_html.sanitise('<p>Paid <b>today</b>.</p><img src="http://127.0.0.1:9/pixel.gif" alt="logo">')
        unmatched_id, _ = synced_email(customer.id, sender="stranger@example.net", subject="Who is this?")
        db.session.query(SyncedEmailLink).filter_by(synced_email_id=unmatched_id).delete()
        db.session.get(SyncedEmail, unmatched_id).matched = False
        db.session.commit()
    customer.synced_id = synced_id
    return customer


def test_mail_sync_pages_pass_axe_and_hold_back_remote_images(page, page_problems, owner, customer):
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, owner)
    base = f"/admin/customers/{customer.id}"
    requested = []
    page.context.on("request", lambda request: requested.append(request.url))  # popups too
    found = {}
    for path in ("/admin/settings/mailbox", "/admin/mailbox/unmatched", f"{base}/emails",
                 f"{base}/emails/synced/{customer.synced_id}", f"{base}/email-sync",
                 "/admin/customers?attention=replies_to_read"):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        violations = axe_violations(page)
        if violations:
            found[path] = violations
    assert found == {}
    assert not [url for url in requested if "pixel.gif" in url]  # the message page loaded no remote image
    page.goto(f"{base}/emails/synced/{customer.synced_id}")
    expect(page.get_by_text("Paid today.")).to_be_visible()
    with page.expect_popup() as popup:
        page.get_by_role("link", name="Load remote images").click()
    popup.value.wait_for_load_state()
    assert [url for url in requested if "pixel.gif" in url]  # asked for only after the click
    page_problems.assert_none()
