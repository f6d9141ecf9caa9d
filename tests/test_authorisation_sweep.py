"""The full authorisation sweep: every route of the app, tried by everyone who must be refused.

Every (rule, method) in `app.url_map` is classified below (ROUTE_KINDS); a route nobody
classified fails `test_every_route_is_classified`, so a new route gets swept from the day
it is added. Each actor then tries every route, GET and POST, with realistic ids (real rows
of two customers, A and B) and, for a POST, a valid CSRF token of its own session and a body
the route accepts (tests/admin/test_access.py's VALID_POST): whatever refuses is the
authorisation, never the CSRF check or the payload.

| actor                                   | what it must get                                                  |
| --------------------------------------- | ----------------------------------------------------------------- |
| anonymous                               | staff routes: the login redirect; portal account: the portal login; dossier: 404 |
| employee, B not assigned                | 404 on every route naming B or B's records, 403 on manager pages  |
| employee and owner, A's URL, B's record | 404 (an id in a URL proves nothing)                               |
| portal login of A, B's ids              | 404 for B's records; A's own pages show nothing of B              |
| dossier link of A, B's ids              | 404 for B's invoices and payments; nothing of B anywhere         |
| revoked and rotated link of A           | 404 on every dossier route (the live link, same ids: served)     |
| a logged-out cookie replayed            | staff and portal: the login redirect, as if there were no cookie |

Every refusal leaves the database as it was (tests/admin/test_access.py's `snapshot`), no
answer shows a trace of customer B, and nothing answers 5xx. Deeper checks of single areas
stay where they are: tests/admin/test_access.py (lists, search, CSRF, access-row ids),
tests/portal/test_portal_isolation.py (the account switcher, stale sessions),
tests/portal/test_dossier_link.py and tests/payments/test_payment_security.py (tokens).
"""

from __future__ import annotations

import io
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from flask import url_for
from sqlalchemy import select

from models.contacts import ContactPerson
from models.customers import Customer, CustomFieldDefinition
from models.db import db, now_utc
from models.documents import Document
from models.dossier import DossierLink
from models.instalments import Instalment, InstalmentPlan, PlanStatus
from models.outbox import MailCategory
from models.payments import Payment, PaymentItem
from models.services import dossier, outbox
from models.services.csv_import import runner as csv_runner
from models.services.settings import get_settings
from tests.mail_sync.records import synced_email as synced_record
from tests import factories
from tests.admin.test_access import CUSTOMER_RECORD_IDS, MANAGER_PAGES, VALID_POST, snapshot, webhook_records
from tests.conftest import csrf_token, login, soup_of
from tests.portal.conftest import PORTAL_PASSWORD, active_login, logged_in, session_token
from models import clock

SKIP_METHODS = {"HEAD", "OPTIONS"}
FORGED_TOKEN = "A" * 22 + "." + "A" * 22

# --- what each route is -----------------------------------------------------------------------

STAFF_LOGIN = "staff login page"  # public
STAFF = "staff, no customer in the URL"  # any logged-in staff member
STAFF_CUSTOMER = "staff, a customer's record in the URL"  # only who may see that customer
STAFF_MANAGER = "staff, owners and admins only"
STAFF_OWNER = "staff, the owner only"  # API keys: admins are refused too (tests/api)
API = "REST API, a bearer key"  # no key (any cookie notwithstanding): 401 problem+json
PORTAL_PUBLIC = "portal login area, no login needed"
PORTAL_ACCOUNT = "portal, logged-in customer"
DOSSIER = "dossier link"
PUBLIC = "public"

ROUTE_KINDS = {
    "admin.api_keys_page": STAFF_OWNER,
    "admin.api_key_revoke": STAFF_OWNER,
    "api.openapi": PUBLIC,
    "api.reference": PUBLIC,
    "api.customers_list": API,
    "api.customer_get": API,
    "api.customer_upsert": API,
    "api.documents_list": API,
    "api.document_get": API,
    "api.document_upsert": API,
    "api.documents_batch": API,
    "api.customers_batch": API,
    "api.document_original_put": API,
    "api.document_original_get": API,
    "api.payments_list": API,
    "api.payment_record": API,
    "api.events_list": API,
    "api.document_einvoice": API,
    "api.einvoice_import": API,
    "index": PUBLIC,
    "static": PUBLIC,
    "health.healthz": PUBLIC,
    "health.readyz": PUBLIC,
    "metrics.metrics": PUBLIC,  # 404 unless METRICS_TOKEN is set; then the bearer token
    "portal.logo": PUBLIC,
    "portal.payment_webhook": PUBLIC,  # no session: Stripe's signature, or asking Mollie
    "admin.login": STAFF_LOGIN,
    "admin.logout": STAFF,
    "admin.dashboard": STAFF,
    "admin.account": STAFF,
    "admin.customers": STAFF,
    "admin.customer_new": STAFF,
    "admin.invoices": STAFF,
    "admin.einvoice_upload": STAFF,  # matches only customers the staff member sees
    "admin.einvoice_confirm": STAFF,
    "admin.customer_overview": STAFF_CUSTOMER,
    "admin.customer_info": STAFF_CUSTOMER,
    "admin.customer_edit": STAFF_CUSTOMER,
    "admin.customer_archive": STAFF_CUSTOMER,
    "admin.customer_notes": STAFF_CUSTOMER,
    "admin.customer_documents": STAFF_CUSTOMER,
    "admin.customer_statement_csv": STAFF_CUSTOMER,
    "admin.customer_statement_pdf": STAFF_CUSTOMER,
    "admin.customer_notice": STAFF_CUSTOMER,
    "admin.customer_emails": STAFF_CUSTOMER,
    "admin.customer_email_resend": STAFF_CUSTOMER,
    "admin.customer_dossier_link": STAFF_CUSTOMER,
    "admin.customer_portal_logins": STAFF_CUSTOMER,
    "admin.customer_provided_email": STAFF_CUSTOMER,
    "admin.contacts_list": STAFF_CUSTOMER,
    "admin.contacts_new": STAFF_CUSTOMER,
    "admin.contacts_create": STAFF_CUSTOMER,
    "admin.contacts_show": STAFF_CUSTOMER,
    "admin.contacts_edit": STAFF_CUSTOMER,
    "admin.contacts_update": STAFF_CUSTOMER,
    "admin.contacts_remove": STAFF_CUSTOMER,
    "admin.document_new": STAFF_CUSTOMER,
    "admin.document_detail": STAFF_CUSTOMER,
    "admin.document_edit": STAFF_CUSTOMER,
    "admin.document_issue": STAFF_CUSTOMER,
    "admin.document_delete": STAFF_CUSTOMER,
    "admin.document_cancel": STAFF_CUSTOMER,
    "admin.document_write_off": STAFF_CUSTOMER,
    "admin.document_apply_credit": STAFF_CUSTOMER,
    "admin.document_release": STAFF_CUSTOMER,
    "admin.credit_note_new": STAFF_CUSTOMER,
    "admin.reminder_new": STAFF_CUSTOMER,
    "admin.payment_record": STAFF_CUSTOMER,
    "admin.payment_undo": STAFF_CUSTOMER,
    "admin.quote_decision": STAFF_CUSTOMER,
    "admin.quote_convert": STAFF_CUSTOMER,
    "admin.invoice_send": STAFF_CUSTOMER,
    "admin.invoice_answer": STAFF_CUSTOMER,
    "admin.invoice_letter": STAFF_CUSTOMER,
    "admin.invoice_letter_pdf": STAFF_CUSTOMER,
    "admin.invoice_letter_printed": STAFF_CUSTOMER,
    "admin.instalment_letter": STAFF_CUSTOMER,
    "admin.instalment_letter_pdf": STAFF_CUSTOMER,
    "admin.instalment_letter_printed": STAFF_CUSTOMER,
    "admin.document_print": STAFF_CUSTOMER,
    "admin.document_pdf": STAFF_CUSTOMER,
    "admin.document_einvoice": STAFF_CUSTOMER,
    "admin.instalment_plan_approve": STAFF_CUSTOMER,
    "admin.instalment_plan_decline": STAFF_CUSTOMER,
    "admin.instalment_plan_cancel": STAFF_CUSTOMER,
    "admin.settings": STAFF_MANAGER,
    "admin.custom_fields": STAFF_MANAGER,
    "admin.business_details": STAFF_MANAGER,
    "admin.bank_statements": STAFF_MANAGER,
    "admin.bank_statement_assign": STAFF_MANAGER,
    "admin.custom_field_delete": STAFF_MANAGER,
    "admin.mailbox_settings": STAFF_MANAGER,
    "admin.webhook_endpoints": STAFF_MANAGER,
    "admin.webhook_endpoint": STAFF_MANAGER,
    "admin.webhook_endpoint_active": STAFF_MANAGER,
    "admin.webhook_endpoint_delete": STAFF_MANAGER,
    "admin.webhook_endpoint_rotate": STAFF_MANAGER,
    "admin.webhook_endpoint_test": STAFF_MANAGER,
    "admin.webhook_delivery_resend": STAFF_MANAGER,
    "admin.dunning_settings": STAFF_MANAGER,
    "admin.dunning_letters": STAFF,
    "admin.dunning_letters_printed": STAFF,
    "admin.customer_dunning_hold": STAFF_CUSTOMER,
    "admin.document_dispute": STAFF_CUSTOMER,
    "admin.mailbox_unmatched": STAFF_MANAGER,
    "admin.mailbox_assign": STAFF_MANAGER,
    "admin.synced_email": STAFF_CUSTOMER,
    "admin.synced_email_remote": STAFF_CUSTOMER,
    "admin.synced_email_attachment": STAFF_CUSTOMER,
    "admin.synced_email_reply": STAFF_CUSTOMER,
    "admin.synced_email_delete": STAFF_CUSTOMER,
    "admin.synced_emails_read": STAFF_CUSTOMER,
    "admin.customer_email_sync": STAFF_CUSTOMER,
    "admin.portal_access_apply": STAFF_MANAGER,
    "admin.staff_list": STAFF_MANAGER,
    "admin.staff_new": STAFF_MANAGER,
    "admin.staff_edit": STAFF_MANAGER,
    # CSV import and export (#18): every customer's data, whoever it is assigned to.
    "admin.import_start": STAFF_MANAGER,
    "admin.import_mapping": STAFF_MANAGER,
    "admin.import_run": STAFF_MANAGER,
    "admin.import_status": STAFF_MANAGER,
    "admin.import_failed_rows": STAFF_MANAGER,
    "admin.export_customers": STAFF_MANAGER,
    "admin.export_documents": STAFF_MANAGER,
    "portal.login": PORTAL_PUBLIC,
    "portal.logout": PORTAL_PUBLIC,
    "portal.forgot": PORTAL_PUBLIC,
    "portal.reset": PORTAL_PUBLIC,
    "portal.accept": PORTAL_PUBLIC,
    "portal.home": PORTAL_ACCOUNT,
    "portal.accounts": PORTAL_ACCOUNT,
    "portal.preferences": PORTAL_ACCOUNT,
    "portal.password": PORTAL_ACCOUNT,
    "portal.account_bar_dismiss": PORTAL_ACCOUNT,
    "portal.contacts_list": PORTAL_ACCOUNT,
    "portal.contacts_new": PORTAL_ACCOUNT,
    "portal.contacts_create": PORTAL_ACCOUNT,
    "portal.contacts_show": PORTAL_ACCOUNT,
    "portal.contacts_edit": PORTAL_ACCOUNT,
    "portal.contacts_update": PORTAL_ACCOUNT,
    "portal.contacts_remove": PORTAL_ACCOUNT,
    "portal.dossier_page": DOSSIER,
    "portal.dossier_check": DOSSIER,
    "portal.dossier_email": DOSSIER,
    "portal.dossier_invoice": DOSSIER,
    "portal.dossier_document": DOSSIER,
    "portal.dossier_document_pdf": DOSSIER,
    "portal.dossier_document_einvoice": DOSSIER,
    "portal.dossier_ask": DOSSIER,
    "portal.dossier_pay": DOSSIER,
    "portal.dossier_pay_return": DOSSIER,
    "portal.dossier_test_checkout": DOSSIER,
    "portal.dossier_test_checkout_outcome": DOSSIER,
    "portal.dossier_instalments": DOSSIER,
    "portal.dossier_instalments_preview": DOSSIER,
    "portal.dossier_instalments_confirm": DOSSIER,
    "portal.dossier_instalments_pay": DOSSIER,
    # The customer's pages: one view each, at /d/<token>/… (the link) and /portal/… (the login).
    "portal.documents": PORTAL_ACCOUNT,
    "portal.document": PORTAL_ACCOUNT,
    "portal.document_pdf": PORTAL_ACCOUNT,
    "portal.document_einvoice": PORTAL_ACCOUNT,
    "portal.document_ask": PORTAL_ACCOUNT,
    "portal.quote_decision": PORTAL_ACCOUNT,
    "portal.statement": PORTAL_ACCOUNT,
    "portal.provide_email": PORTAL_ACCOUNT,
    "portal.pay": PORTAL_ACCOUNT,
    "portal.pay_return": PORTAL_ACCOUNT,
    "portal.test_checkout": PORTAL_ACCOUNT,
    "portal.test_checkout_outcome": PORTAL_ACCOUNT,
    "portal.instalments": PORTAL_ACCOUNT,
    "portal.instalments_preview": PORTAL_ACCOUNT,
    "portal.instalments_confirm": PORTAL_ACCOUNT,
    "portal.instalments_pay": PORTAL_ACCOUNT,
    "portal.dossier_documents": DOSSIER,
    "portal.dossier_document_ask": DOSSIER,
    "portal.dossier_quote_decision": DOSSIER,
    "portal.dossier_statement": DOSSIER,
    # The customer's own details (portal/details.py), the dossier's step-up code and its
    # contact persons, and the link that confirms a new primary address.
    "portal.details": PORTAL_ACCOUNT,
    "portal.details_contact": PORTAL_ACCOUNT,
    "portal.details_address": PORTAL_ACCOUNT,
    "portal.details_tax": PORTAL_ACCOUNT,
    "portal.details_bank": PORTAL_ACCOUNT,
    "portal.details_bank_confirm": PORTAL_ACCOUNT,
    "portal.dossier_details": DOSSIER,
    "portal.dossier_details_contact": DOSSIER,
    "portal.dossier_details_address": DOSSIER,
    "portal.dossier_details_tax": DOSSIER,
    "portal.dossier_details_bank": DOSSIER,
    "portal.dossier_details_bank_confirm": DOSSIER,
    "portal.dossier_verify": DOSSIER,
    "portal.dossier_verify_send": DOSSIER,
    "portal.dossier_contacts_list": DOSSIER,
    "portal.dossier_contacts_new": DOSSIER,
    "portal.dossier_contacts_create": DOSSIER,
    "portal.dossier_contacts_show": DOSSIER,
    "portal.dossier_contacts_edit": DOSSIER,
    "portal.dossier_contacts_update": DOSSIER,
    "portal.dossier_contacts_remove": DOSSIER,
    "portal.confirm_email": PORTAL_PUBLIC,
    # A contact person's own links (their copy of the customer's mail): the signed token alone
    "portal.contact_preferences_page": PORTAL_PUBLIC,
    "portal.contact_unsubscribe": PORTAL_PUBLIC,  # RFC 8058 one-click POST: no cookie, no CSRF
    "admin.customer_changes_confirm": STAFF_CUSTOMER,
}
# The customer's pages that name a record or pay (a login of A with B's ids, a link of A with B's
# ids: 404), and the quote decision, which takes a quote (World.url gives it the customer's quote).
RECORD_IDS = {"invoice_id", "document_id", "payment_id"}
PAY_ROUTES = ("portal.dossier_pay", "portal.pay")
QUOTE_ROUTES = ("portal.dossier_quote_decision", "portal.quote_decision")
STAFF_KINDS = (STAFF, STAFF_CUSTOMER, STAFF_MANAGER, STAFF_OWNER)
LOGOUTS = ("admin.logout", "portal.logout")
# Requests run in this order, the logouts last of all: a login form or a logout ends no
# session the other checks still need.
ORDER = (STAFF_CUSTOMER, STAFF_MANAGER, STAFF_OWNER, API, STAFF, PORTAL_ACCOUNT, DOSSIER, PUBLIC, STAFF_LOGIN, PORTAL_PUBLIC)


@dataclass(frozen=True)
class Route:
    rule: object  # werkzeug Rule
    method: str

    @property
    def endpoint(self) -> str:
        return self.rule.endpoint

    @property
    def kind(self) -> str:
        return ROUTE_KINDS[self.endpoint]

    def __str__(self) -> str:
        return f"{self.method} {self.rule.rule}"


def all_routes(app) -> list[Route]:
    """Every classified (rule, method); an unclassified one fails test_every_route_is_classified."""
    routes = [Route(rule, method) for rule in app.url_map.iter_rules() if rule.endpoint in ROUTE_KINDS
              for method in sorted(rule.methods - SKIP_METHODS)]
    return sorted(routes, key=lambda r: (r.endpoint in LOGOUTS, ORDER.index(r.kind), r.rule.rule, r.method))


def test_every_route_is_classified(app):
    """A new route fails here until someone decides who may use it (ROUTE_KINDS)."""
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert not endpoints - ROUTE_KINDS.keys(), f"classify these routes in ROUTE_KINDS: {sorted(endpoints - ROUTE_KINDS.keys())}"
    assert not ROUTE_KINDS.keys() - endpoints, f"gone from the app: {sorted(ROUTE_KINDS.keys() - endpoints)}"


def test_the_classification_agrees_with_the_urls(app):
    """Customer records in the URL mean a customer route; /d/ means the dossier; manager pages
    are test_access's MANAGER_PAGES; every POST has a body that route accepts."""
    for rule in app.url_map.iter_rules():
        kind = ROUTE_KINDS.get(rule.endpoint)
        if kind is None:
            continue  # test_every_route_is_classified names it
        if rule.rule.startswith("/admin/"):
            assert (kind == STAFF_CUSTOMER) == bool(rule.arguments & CUSTOMER_RECORD_IDS), rule.rule
        assert (kind == DOSSIER) == rule.rule.startswith("/d/"), rule.rule
        assert rule.rule.startswith("/admin/") == (kind in (*STAFF_KINDS, STAFF_LOGIN)), rule.rule
        assert rule.rule.startswith("/portal/") == (kind in (PORTAL_PUBLIC, PORTAL_ACCOUNT)), rule.rule
        if "POST" in rule.methods and rule.endpoint != "portal.payment_webhook":
            assert rule.endpoint in VALID_POST, f"{rule.rule}: add a valid POST body to test_access.VALID_POST"
    assert {e for e, _ in MANAGER_PAGES} == {e for e, k in ROUTE_KINDS.items() if k == STAFF_MANAGER}


# --- two customers with one of everything -----------------------------------------------------------


class World:
    """Customer A (assigned to the employee; portal login alpha.login@…) and customer B
    (assigned to someone else; bravo.login@…), each with an invoice, a contact, a failed
    e-mail, a portal login, a pending plan, an open test payment and a dossier link."""

    def __init__(self, app, owner, employee):
        self.app, self.owner, self.employee = app, owner, employee
        self.other = factories.staff(role="employee", name="Otto Other", email="other@example.test")
        self.a = factories.customer(assigned_to=[employee], name="Alpha Trading", email="office@alpha.example.com",
                                    language="en", street="Alphastraat 1", city="Amsterdam")
        self.b = factories.customer(assigned_to=[self.other], name="Bravo Supplies", email="office@bravo.example.com",
                                    language="en", street="Bravoweg 99", city="Breda",
                                    provided_email="bravo.new@example.com")
        self.mine = self.a  # the names test_access.VALID_POST reads
        self.invoice = {c.id: factories.invoice(c, amount=amount) for c, amount in ((self.a, "111.00"), (self.b, "987.65"))}
        self.quote = {c.id: factories.document(c, "quote", amount="55.00") for c in (self.a, self.b)}
        # The invoice each customer's active instalment plan covers (its instalment's reminder letter).
        self.plan_invoice = {c.id: factories.invoice(c, amount="60.00", due_in_days=-20) for c in (self.a, self.b)}
        self.contact_ids, self.email_ids, self.plan_ids, self.payment_ids, self.tokens = {}, {}, {}, {}, {}
        self.instalment_ids = {}
        self.synced_ids, self.attachment_ids = {}, {}  # a synced e-mail each (issue 21)
        with app.app_context():
            field = CustomFieldDefinition(label="Contract", kind="text", position=1)
            db.session.add(field)
            get_settings(for_update=True).vat_id = "NL123456789B01"  # e-invoices need one
            db.session.commit()
            self.field_id = field.id
            for customer, short in ((self.a, "alpha"), (self.b, "bravo")):
                self._records(customer, short)
            self._dead_links()
            self.endpoint_id, self.delivery_id = webhook_records()
            # An uploaded CSV import (admin/imports.py), waiting for its mapping.
            self.import_id = csv_runner.create_job(None, "customers", "customers.csv",
                                                   io.BytesIO(b"number,name\r\nK-90,Posted Import\r\n"), 1024 * 1024).id
            db.session.commit()
        self.logins = {c.id: active_login(app, c, f"{short}.login@example.com")
                       for c, short in ((self.a, "alpha"), (self.b, "bravo"))}

    def _records(self, customer, short: str) -> None:
        record = db.session.get(Customer, customer.id)
        contact = ContactPerson(customer_id=customer.id, name=f"{short.title()} Contactperson",
                                email=f"contact@{short}.example.com")
        db.session.add(contact)
        email = outbox.queue_customer_email(record, MailCategory.account, "account_notice",
                                            context={"notice": "shipped", "message": ""})
        outbox.mark_failed(email, "550 mailbox unavailable")
        plan = InstalmentPlan(customer_id=customer.id, status=PlanStatus.pending, total=Decimal("100.00"),
                              currency="EUR", count=2, start_date=clock.today())
        db.session.add(plan)
        # An active plan too, with an instalment due yesterday: its reminder letter can be printed.
        active = InstalmentPlan(customer_id=customer.id, status=PlanStatus.active, total=Decimal("72.60"),
                                currency="EUR", count=1, start_date=clock.today() - timedelta(days=1))
        active.instalments = [Instalment(position=1, due_date=clock.today() - timedelta(days=1), amount=Decimal("72.60"))]
        active.documents = [db.session.get(Document, self.plan_invoice[customer.id].id)]
        db.session.add(active)
        invoice = db.session.get(Document, self.invoice[customer.id].id)
        payment = Payment(customer_id=customer.id, provider="test", idempotency_key=secrets.token_hex(16),
                          amount=invoice.gross_total, currency="EUR")
        payment.items = [PaymentItem(document_id=invoice.id, amount=invoice.gross_total)]
        db.session.add(payment)
        token = dossier.current_token(customer.id)
        db.session.commit()
        self.contact_ids[customer.id], self.email_ids[customer.id] = contact.id, email.id
        self.plan_ids[customer.id], self.payment_ids[customer.id] = plan.id, payment.id
        self.instalment_ids[customer.id] = active.instalments[0].id
        self.tokens[customer.id] = token
        self.synced_ids[customer.id], self.attachment_ids[customer.id] = synced_record(customer.id)

    def _dead_links(self) -> None:
        """A's first link, rotated away by staff, and its second, revoked; A's live link is the third."""
        customer = db.session.get(Customer, self.a.id)
        self.rotated = self.tokens[self.a.id]
        dossier.rotate(db.session.get(type(self.owner), self.owner.id), customer)
        self.revoked = dossier.current_token(customer.id)
        db.session.flush()
        link = db.session.scalar(select(DossierLink).where(DossierLink.customer_id == customer.id,
                                                           DossierLink.revoked_at.is_(None)))
        link.revoked_at = now_utc()
        db.session.flush()
        self.tokens[self.a.id] = dossier.current_token(customer.id)
        db.session.commit()

    # --- URLs -------------------------------------------------------------------------------

    def values(self, customer, *, token: str | None = None, **override) -> dict:
        """URL values naming `customer`'s records."""
        return {"customer_id": customer.id, "invoice_id": self.invoice[customer.id].id,
                "document_id": self.invoice[customer.id].id,
                "contact_id": self.contact_ids[customer.id], "email_id": self.email_ids[customer.id],
                "plan_id": self.plan_ids[customer.id], "payment_id": self.payment_ids[customer.id],
                "instalment_id": self.instalment_ids[customer.id],
                "field_id": self.field_id, "user_id": self.other.id, "token": token or FORGED_TOKEN,
                "endpoint_id": self.endpoint_id, "delivery_id": self.delivery_id, "import_id": self.import_id,
                "provider": "mollie", "filename": "css/app.css", "fmt": "xrechnung-ubl", "key_id": 999999,
                "synced_id": self.synced_ids[customer.id], "attachment_id": self.attachment_ids[customer.id],
                "unmatched_id": self.synced_ids[customer.id], **override}

    def url(self, route: Route, values: dict, query: str = "") -> str:
        if route.endpoint in QUOTE_ROUTES:
            values = {**values, "document_id": self.quote[values["customer_id"]].id}
        with self.app.test_request_context():
            return url_for(route.endpoint, **{k: values[k] for k in route.rule.arguments}) + query

    def body(self, route: Route, customer=None) -> dict:
        """A body the route accepts; with `customer`, that customer's ids wherever a form names one."""
        if route.endpoint in ("admin.login", "portal.login"):  # never a real login
            return {"email": "nobody@example.com", "password": "not the password"}
        if route.endpoint == "portal.payment_webhook":
            return {"id": "tr_unknown"}
        body = dict(VALID_POST[route.endpoint](self))
        if customer is not None:
            body.update(customer_id=str(customer.id), customer=str(customer.id),
                        contact_id=str(self.contact_ids[customer.id]), access_id=str(self.logins[customer.id]))
            if route.endpoint in PAY_ROUTES:
                body["invoice"] = str(self.invoice[customer.id].id)
        return body

    # --- what must not be seen or changed ----------------------------------------------------

    def b_traces(self) -> list[str]:
        return ["Bravo Supplies", self.b.number, "office@bravo.example.com", "Bravoweg", "Breda", "bravo.new@",
                self.invoice[self.b.id].number, "Bravo Contactperson", "contact@bravo.example.com",
                "bravo.login@example.com", "987.65", "1,195.06", "1.195,06"]

    def b_rows(self) -> dict[str, list[str]]:
        """Every row that belongs to customer B (by customer, document, plan or payment)."""
        with self.app.app_context():
            documents = select(Document.id).where(Document.customer_id == self.b.id)
            plans = select(InstalmentPlan.id).where(InstalmentPlan.customer_id == self.b.id)
            payments = select(Payment.id).where(Payment.customer_id == self.b.id)
            rows = {}
            for table in db.metadata.sorted_tables:
                c = table.c
                if table.name == "customers":
                    where = c.id == self.b.id
                elif "customer_id" in c:
                    where = c.customer_id == self.b.id
                elif "document_id" in c:
                    where = c.document_id.in_(documents)
                elif "plan_id" in c:
                    where = c.plan_id.in_(plans)
                elif "payment_id" in c:
                    where = c.payment_id.in_(payments)
                else:
                    continue
                rows[table.name] = sorted(repr(tuple(r)) for r in db.session.execute(select(table).where(where)))
            return rows


@pytest.fixture(autouse=True)
def _quiet(app, monkeypatch):
    """No mail queue (rows just wait in the outbox) and no rate limit in the way of the sweep."""
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setitem(app.config, "DOSSIER_LIMIT_PER_IP", "100000 per minute")
    monkeypatch.setitem(app.config, "LOGIN_LIMIT_PER_IP", "100000 per minute")
    monkeypatch.setitem(app.config, "LOGIN_LIMIT_PER_ACCOUNT", "100000 per minute")


@pytest.fixture
def world(app, owner, employee):
    return World(app, owner, employee)


# --- the checks -----------------------------------------------------------------------------------


class Sweep:
    """Sends each request and collects every problem, so one run names all the holes."""

    def __init__(self, world: World, actor: str):
        self.world, self.actor = world, actor
        self.problems: list[str] = []
        self.checked = 0

    def send(self, client, route: Route, url: str, token: str, body: dict | None = None, headers: dict | None = None):
        self.checked += 1
        if route.method == "GET":
            return client.get(url, headers=headers)
        if route.method == "PUT":
            return client.put(url, data=b"%PDF-1.4", headers={**(headers or {}), "Content-Type": "application/pdf"})
        return client.post(url, data={**(body if body is not None else self.world.body(route)), "csrf_token": token},
                           headers=headers)

    def problem(self, route: Route, url: str, response, what: str) -> None:
        self.problems.append(f"{self.actor}: {route.method} {url} → {response.status_code} "
                             f"{response.headers.get('Location', '')}: {what}")

    def shows_no_trace(self, route, url, response) -> None:
        text = response.get_data(as_text=True)
        text = re.sub(r"hx-headers='[^']*'", "", text)
        text = re.sub(r'name="csrf_token"[^>]*>', "", text)
        shown = [t for t in self.world.b_traces() if t in text]
        if shown:
            self.problem(route, url, response, f"shows customer B: {shown}")
        if response.status_code >= 500:
            self.problem(route, url, response, "a server error")

    def refused(self, client, route: Route, url: str, token: str, expect: int, *, location: str | None = None,
                body: dict | None = None):
        """The request is refused with `expect` (and a redirect to `location`), changing nothing.
        A 403 or 404 is also asked for as an HTMX request (the inline rows' path): the same answer."""
        before = snapshot(self.world.app)
        for headers in ({}, {"HX-Request": "true"}) if expect in (403, 404) else ({},):
            response = self.send(client, route, url, token, body, headers)
            if response.status_code != expect:
                self.problem(route, url, response, f"expected {expect}" + (" for HTMX" if headers else ""))
            elif location is not None and not response.headers.get("Location", "").startswith(location):
                self.problem(route, url, response, f"expected a redirect to {location}")
            self.shows_no_trace(route, url, response)
        if snapshot(self.world.app) != before:
            self.problem(route, url, response, "a refused request changed the database")
        return response

    def served(self, client, route: Route, url: str, token: str, *, body: dict | None = None):
        """A request the actor may make: it must show and change nothing of customer B."""
        before = self.world.b_rows()
        response = self.send(client, route, url, token, body)
        self.shows_no_trace(route, url, response)
        if self.world.b_rows() != before:
            self.problem(route, url, response, "changed customer B's rows")
        return response

    def not_signed_in(self, client, route: Route, url: str, token: str):
        """What a visitor without a staff or portal session gets (dossier routes: a forged token)."""
        if route.kind == API:
            return self.refused(client, route, url, token, 401)
        if route.kind in STAFF_KINDS:
            return self.refused(client, route, url, token, 302, location="/admin/login?next=")
        if route.kind == PORTAL_ACCOUNT:
            return self.refused(client, route, url, token, 302, location="/portal/login")
        if route.kind == DOSSIER:
            return self.refused(client, route, url, token, 404)
        if route.kind == STAFF_LOGIN:
            return self.refused(client, route, url, token, 200 if route.method == "GET" else 422)
        return self.served(client, route, url, token)

    def done(self) -> None:
        assert not self.problems, f"{len(self.problems)} hole(s) out of {self.checked} requests:\n" + "\n".join(self.problems)


def staff_session(app, user):
    client = login(app.test_client(), user)
    return client, csrf_token(client, "/admin/account")


def portal_session(app, email: str):
    client = logged_in(app.test_client(), email, PORTAL_PASSWORD)
    return client, session_token(client)


# --- anonymous --------------------------------------------------------------------------------------


def test_anonymous_visitors_get_no_staff_portal_or_dossier_data(app, world):
    sweep = Sweep(world, "anonymous")
    client = app.test_client()
    token = csrf_token(client, "/admin/login")  # a valid token: the session is what is missing
    for route in all_routes(app):
        sweep.not_signed_in(client, route, world.url(route, world.values(world.b)), token)
    sweep.done()


# --- staff on a customer they may not see -------------------------------------------------------------


def test_an_employee_gets_nothing_of_an_unassigned_customer(app, world):
    sweep = Sweep(world, "employee on B")
    client, token = staff_session(app, world.employee)
    for route in all_routes(app):
        url = world.url(route, world.values(world.b))
        if route.kind == STAFF_CUSTOMER:
            sweep.refused(client, route, url, token, 404)
        elif route.kind in (STAFF_MANAGER, STAFF_OWNER):
            sweep.refused(client, route, url, token, 403)
        elif route.kind == API:  # a staff session is no API key
            sweep.refused(client, route, url, token, 401)
        elif route.kind == STAFF:
            sweep.served(client, route, url, token)
        elif route.kind == PORTAL_ACCOUNT:  # a staff session is no portal login
            sweep.refused(client, route, url, token, 302, location="/portal/login")
        elif route.kind == DOSSIER:
            sweep.refused(client, route, url, token, 404)
        else:
            sweep.served(client, route, url, token)
    sweep.done()


@pytest.mark.parametrize("who", ["employee", "owner"])
def test_a_visible_customers_url_with_another_customers_record_is_not_found(app, world, who):
    """A's customer id (which the user may see) with B's contact or e-mail id: 404, even for the owner."""
    sweep = Sweep(world, f"{who}, A's URL with B's record")
    client, token = staff_session(app, world.employee if who == "employee" else world.owner)
    b = world.values(world.b)
    mixed = [route for route in all_routes(app) if route.kind == STAFF_CUSTOMER and "customer_id" in route.rule.arguments
             and route.rule.arguments & {"contact_id", "email_id"}]
    assert {r.endpoint for r in mixed} >= {"admin.contacts_show", "admin.customer_email_resend"}
    for route in mixed:
        values = world.values(world.a, contact_id=b["contact_id"], email_id=b["email_id"])
        sweep.refused(client, route, world.url(route, values), token, 404)
    sweep.done()


# --- a portal login of customer A -------------------------------------------------------------------------


def test_a_portal_login_of_a_never_reaches_customer_b(app, world):
    sweep = Sweep(world, "portal login of A on B")
    client, token = portal_session(app, "alpha.login@example.com")
    b_query = f"?customer_id={world.b.id}&customer={world.b.id}"
    for route in all_routes(app):
        url = world.url(route, world.values(world.b), b_query)
        body = world.body(route, world.b) if route.method == "POST" else None
        if route.kind in STAFF_KINDS:  # a portal login is no staff session
            sweep.refused(client, route, url, token, 302, location="/admin/login?next=", body=body)
        elif route.kind == API:  # nor an API key
            sweep.refused(client, route, url, token, 401, body=body)
        elif route.kind == PORTAL_ACCOUNT and ("contact_id" in route.rule.arguments
                                               or (route.endpoint == "portal.accounts" and route.method == "POST")):
            sweep.refused(client, route, url, token, 404, body=body)
        elif route.kind == PORTAL_ACCOUNT and (route.rule.arguments & RECORD_IDS or route.endpoint in PAY_ROUTES):
            sweep.refused(client, route, url, token, 404, body=body)  # B's document, payment or invoice to pay
        elif route.kind == DOSSIER:
            sweep.refused(client, route, url, token, 404, body=body)
        elif route.kind == STAFF_LOGIN:
            sweep.refused(client, route, url, token, 200 if route.method == "GET" else 422, body=body)
        else:
            sweep.served(client, route, url, token, body=body)
    sweep.done()


# --- the dossier link of customer A ---------------------------------------------------------------------------


def dossier_session_token(client, live: str) -> str:
    """The session's CSRF token after opening the live dossier link: from a form on the page, or,
    as a dossier page without a form carries none (it sets no cookie), from a page outside it."""
    field = soup_of(client.get(f"/d/{live}")).find("input", attrs={"name": "csrf_token"})
    return field["value"] if field is not None else csrf_token(client, "/portal/login")


def test_the_dossier_link_of_a_never_reaches_bs_invoices_or_payments(app, world):
    sweep = Sweep(world, "dossier link of A on B")
    client = app.test_client()
    live = world.tokens[world.a.id]
    token = dossier_session_token(client, live)
    dossier_routes = [route for route in all_routes(app) if route.kind == DOSSIER]
    for route in all_routes(app):
        if route.kind != DOSSIER:  # a dossier visit signs nobody in
            sweep.not_signed_in(client, route, world.url(route, world.values(world.b)), token)
    with_ids = [route for route in dossier_routes if route.rule.arguments & RECORD_IDS]
    assert {r.endpoint for r in with_ids} >= {"portal.dossier_invoice", "portal.dossier_document",
                                              "portal.dossier_document_pdf", "portal.dossier_ask", "portal.dossier_pay_return",
                                              "portal.dossier_test_checkout", "portal.dossier_test_checkout_outcome",
                                              "portal.dossier_document_ask", "portal.dossier_quote_decision"}
    for route in dossier_routes:
        url = world.url(route, world.values(world.b, token=live))
        body = world.body(route, world.b) if route.method == "POST" else None
        if route in with_ids or route.endpoint in PAY_ROUTES:  # B's id in the URL, or the Pay form
            sweep.refused(client, route, url, token, 404, body=body)
        else:
            sweep.served(client, route, url, token, body=body)
    # The same requests with A's own ids are served: the 404s above were about B's ids.
    for route in with_ids:
        url = world.url(route, world.values(world.a, token=live))
        response = sweep.send(client, route, url, token, world.body(route, world.a) if route.method == "POST" else None)
        if response.status_code == 404 or response.status_code >= 500:
            sweep.problem(route, url, response, "A's own record is not served with A's link")
    sweep.done()


@pytest.mark.parametrize("dead", ["revoked", "rotated"])
def test_a_revoked_or_rotated_link_reaches_nothing(app, world, dead):
    sweep = Sweep(world, f"{dead} link of A")
    client = app.test_client()
    live = world.tokens[world.a.id]
    token = dossier_session_token(client, live)  # the session once had the live link open
    old = world.revoked if dead == "revoked" else world.rotated
    for route in all_routes(app):
        if route.kind != DOSSIER:
            sweep.not_signed_in(client, route, world.url(route, world.values(world.b)), token)
            continue
        url = world.url(route, world.values(world.a, token=old))
        response = sweep.refused(client, route, url, token, 404, body=world.body(route, world.a) if route.method == "POST" else None)
        if "Alpha Trading" in response.get_data(as_text=True):
            sweep.problem(route, url, response, "a dead link names its customer")
    # The live link with the very same ids is served.
    for route in all_routes(app):
        if route.kind == DOSSIER and route.method == "GET":
            url = world.url(route, world.values(world.a, token=live))
            response = sweep.send(client, route, url, token)
            if response.status_code == 404:
                sweep.problem(route, url, response, "the live link is not served")
    sweep.done()


# --- a session cookie replayed after logout -------------------------------------------------------------------


def _replayed(app, client, logout_url: str, token: str):
    """The session cookie as it was before logout, sent again from another client."""
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name)
    assert cookie is not None
    response = client.post(logout_url, data={"csrf_token": token})
    assert response.status_code == 302
    attacker = app.test_client()
    attacker.set_cookie(name, cookie.value, domain=cookie.domain, path=cookie.path)
    return attacker


def test_a_staff_cookie_replayed_after_logout_is_refused(app, world):
    sweep = Sweep(world, "owner's cookie after logout")
    client, token = staff_session(app, world.owner)
    assert client.get(f"/admin/customers/{world.b.id}/info").status_code == 200  # it did see everything
    attacker = _replayed(app, client, "/admin/logout", token)
    for route in all_routes(app):
        # The token still matches the replayed session: the refusal is the login check.
        sweep.not_signed_in(attacker, route, world.url(route, world.values(world.b)), token)
    sweep.done()


def test_a_portal_cookie_replayed_after_logout_is_refused(app, world):
    sweep = Sweep(world, "portal cookie of A after logout")
    client, token = portal_session(app, "alpha.login@example.com")
    own = [route for route in all_routes(app) if route.kind == PORTAL_ACCOUNT and route.method == "GET"]
    for route in own:  # served while logged in (back from a checkout: on to the overview)
        response = client.get(world.url(route, world.values(world.a)))
        assert response.status_code == (303 if route.endpoint == "portal.pay_return" else 200), (
            str(route), response.status_code)
    attacker = _replayed(app, client, "/portal/logout", token)
    for route in all_routes(app):
        values = world.values(world.a if route.kind == PORTAL_ACCOUNT else world.b)
        sweep.not_signed_in(attacker, route, world.url(route, values), token)
    sweep.done()
