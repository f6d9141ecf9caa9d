"""The staff pages pass axe-core's WCAG 2.2 A and AA rules at 1280 px: the dashboard, the
customer list, a customer's tabs, the document list, a document page of each kind, the
settings, the staff list and the account page, each with realistic content (badges of every
status, failed and sent e-mails, notes, a paid and a cancelled document)."""

from __future__ import annotations

import pytest

from models.db import db
from models.documents import Document, DocumentStatus
from models.services import questions
from models.outbox import MailStatus
from models.webhooks import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests import factories
from tests.browser.conftest import log_in
from tests.browser.test_confirmations import axe_violations, expect
from tests.dashboard.helpers import emails, plan, receivable
from tests.portal.conftest import active_login

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
KINDS = ("invoice", "quote", "credit_note", "reminder", "delivery_note", "order_confirmation")


@pytest.fixture
def customer(app, owner):
    customer = factories.customer(name="Dirk Dekker", email="dirk@example.com", language="en",
                                  provided_email="dirk.private@example.com", assigned_to=[owner])
    receivable(app, customer, "120.00", days_overdue=20)
    factories.invoice(customer, amount="50.00", status=DocumentStatus.paid, amount_paid="50.00")
    factories.invoice(customer, amount="70.00", status=DocumentStatus.cancelled)
    emails(app, customer, MailStatus.failed, 1)
    emails(app, customer, MailStatus.sent, 1)
    plan(app, customer)
    active_login(app, customer, "dirk.login@example.com")
    return customer


@pytest.fixture
def documents(app, customer):
    made = {}
    for kind in KINDS:
        if kind == "credit_note":
            made[kind] = factories.credit_note(factories.invoice(customer, amount="80.00"), amount="12.00")
        elif kind == "reminder":
            late = factories.invoice(customer, amount="200.00", due_in_days=-10)
            made[kind] = factories.reminder(customer, [late], level=2, fee="5.00")
        else:
            made[kind] = factories.document(customer, kind)
    with app.app_context():  # a customer's question waiting for an answer
        invoice = db.session.get(Document, made["invoice"].id)
        questions.ask(invoice.customer, invoice, "Can I pay this in two parts?")
        db.session.commit()
    return made


@pytest.fixture
def endpoint(app, customer) -> int:
    """A webhook endpoint with a delivered and a failed delivery about the customer (its attempts)."""
    with app.app_context():
        hook = WebhookEndpoint(url="https://accounting.example.com/dossier-hooks", description="Accounting",
                               secret="whsec_" + "x" * 43, event_types=["payment.received"], active=True)
        db.session.add(hook)
        db.session.flush()
        for status, codes in ((DeliveryStatus.delivered, [200]), (DeliveryStatus.failed, [500, None])):
            delivery = WebhookDelivery(endpoint_id=hook.id, event_type="payment.received", body="{}", status=status,
                                       customer_id=customer.id, attempts=len(codes),
                                       last_error=None if status == DeliveryStatus.delivered else "HTTP 500")
            db.session.add(delivery)
            db.session.flush()
            db.session.add_all([WebhookAttempt(delivery_id=delivery.id, status_code=code, duration_ms=40,
                                               error=None if code == 200 else "HTTP 500" if code else "TimeoutError")
                                for code in codes])
        db.session.commit()
        return hook.id


def admin_pages(customer, documents, owner, endpoint_id: int) -> list[str]:
    base = f"/admin/customers/{customer.id}"
    return [
        "/admin/", "/admin/customers", "/admin/customers?attention=no_email",
        base, f"{base}/info", f"{base}/notes", f"{base}/emails", f"{base}/documents",
        "/admin/documents",
        *(f"/admin/documents/{document.id}" for document in documents.values()),
        f"/admin/documents/{documents['invoice'].id}/edit", f"{base}/documents/new?kind=quote",
        f"{base}/reminders/new", f"{base}/edit", f"{base}/contacts", "/admin/customers/new",
        "/admin/settings", "/admin/settings/fields", "/admin/staff", "/admin/staff/new",
        f"/admin/staff/{owner.id}", "/admin/account",
        "/admin/settings/webhooks", f"/admin/settings/webhooks/{endpoint_id}",
    ]


def test_every_staff_page_passes_axe_at_1280_px(page, page_problems, owner, customer, documents, endpoint):
    page.set_viewport_size(DESKTOP)
    page.goto("/admin/login")
    assert axe_violations(page) == []
    log_in(page, owner)
    page.goto(f"/admin/customers/{customer.id}/notes")
    page.get_by_role("textbox", name="Note").fill("Called about the overdue invoice; will pay on Friday.")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_text("will pay on Friday")).to_be_visible()

    found = {}
    for path in admin_pages(customer, documents, owner, endpoint):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        violations = axe_violations(page)
        if violations:
            found[path] = violations
    assert found == {}
    # The content the pages were checked with was there.
    page.goto(f"/admin/documents/{documents['invoice'].id}")
    expect(page.get_by_text("Can I pay this in two parts?")).to_be_visible()
    page.goto(f"/admin/customers/{customer.id}/info")
    expect(page.get_by_text("dirk.login@example.com").first).to_be_visible()
    page_problems.assert_none()
