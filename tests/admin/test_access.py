"""Authorisation on the server: who may see and change which customer, and what every route refuses.

The routes are read from the app's URL map, so a new route is covered (or the suite fails
and says what to add) without anyone remembering to extend this file.
"""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, select, update

from models.bank_statements import BankStatement, BankStatementEntry, EntryStatus
from models.contacts import ContactPerson
from models.customers import Customer, CustomFieldDefinition
from models.db import db
from models.documents import Document, DocumentStatus
from models.instalments import Instalment, InstalmentPlan, PlanStatus
from models.outbox import MailCategory, OutboundEmail
from models.portal_access import PortalAccess
from models.staff import StaffUser
from models.webhooks import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from models.services import credits, outbox, recorded_payments
from models.services.csv_import import runner as csv_runner
from models.services.settings import get_settings
from models.services import portal_access as portal_access_service
from models.mailbox import SyncedEmail, SyncedEmailLink
from tests.mail_sync.records import synced_email as synced_record
from tests import factories
from tests.conftest import TEST_CONFIG, StaffClient, csrf_token, login, soup_of
from wsgi import create_app
from models import clock

# --- the routes, read from the URL map at collection time -------------------------------

_MAP_APP = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
_ADMIN_RULES = sorted(
    (r for r in _MAP_APP.url_map.iter_rules() if r.endpoint.startswith("admin.")),
    key=lambda r: (r.rule, r.endpoint),
)
# Payment providers post webhooks without a session: no CSRF token, authenticated by
# Stripe's signature or by fetching the payment from Mollie (tests/payments covers them).
# Mail providers post RFC 8058 one-click unsubscribes the same way, authenticated by the
# signed token (tests/mailers/test_contact_preferences.py).
CSRF_EXEMPT = {"portal.payment_webhook", "portal.contact_unsubscribe"}
# The REST API (api.*) takes a bearer key, never a cookie: exempt from CSRF (tests/api).
_POST_RULES = sorted(
    (r for r in _MAP_APP.url_map.iter_rules() if "POST" in r.methods and r.endpoint not in CSRF_EXEMPT
     and not r.endpoint.startswith("api.")),
    key=lambda r: (r.rule, r.endpoint),
)


def _methods(rule) -> list[str]:
    return [m for m in ("GET", "POST") if m in rule.methods]


# URL arguments that name a customer's record: a route taking one is customer-scoped.
CUSTOMER_RECORD_IDS = {"customer_id", "invoice_id", "document_id", "email_id", "contact_id", "plan_id", "payment_id",
                       "synced_id", "attachment_id", "instalment_id"}


def _customer_scoped(rule) -> bool:
    return bool(rule.arguments & CUSTOMER_RECORD_IDS)


CUSTOMER_SCOPED = [
    pytest.param(rule.endpoint, method, id=f"{method} {rule.rule}")
    for rule in _ADMIN_RULES if _customer_scoped(rule) for method in _methods(rule)
]
ADMIN_ROUTES = [
    pytest.param(rule.endpoint, method, id=f"{method} {rule.rule}")
    for rule in _ADMIN_RULES if rule.endpoint != "admin.login" for method in _methods(rule)
]
POST_ROUTES = [pytest.param(rule.endpoint, id=rule.rule) for rule in _POST_RULES]

MANAGER_PAGES = [
    ("admin.settings", "GET"), ("admin.settings", "POST"),
    ("admin.custom_fields", "GET"), ("admin.custom_fields", "POST"),
    ("admin.business_details", "GET"), ("admin.business_details", "POST"),
    ("admin.bank_statements", "GET"), ("admin.bank_statements", "POST"),
    ("admin.bank_statement_assign", "POST"),
    ("admin.custom_field_delete", "POST"),
    ("admin.mailbox_settings", "GET"), ("admin.mailbox_settings", "POST"),
    ("admin.dunning_settings", "GET"), ("admin.dunning_settings", "POST"),
    ("admin.mailbox_unmatched", "GET"), ("admin.mailbox_assign", "POST"),
    ("admin.portal_access_apply", "POST"),
    ("admin.staff_list", "GET"),
    ("admin.staff_new", "GET"), ("admin.staff_new", "POST"),
    ("admin.staff_edit", "GET"), ("admin.staff_edit", "POST"),
    ("admin.webhook_endpoints", "GET"), ("admin.webhook_endpoints", "POST"), ("admin.webhook_endpoint", "GET"),
    ("admin.webhook_endpoint_active", "POST"), ("admin.webhook_endpoint_rotate", "POST"),
    ("admin.webhook_endpoint_delete", "POST"),
    ("admin.webhook_endpoint_test", "POST"), ("admin.webhook_delivery_resend", "POST"),
    ("admin.import_start", "GET"), ("admin.import_start", "POST"),
    ("admin.import_mapping", "GET"), ("admin.import_mapping", "POST"),
    ("admin.import_run", "POST"), ("admin.import_status", "GET"), ("admin.import_failed_rows", "GET"),
    ("admin.export_customers", "GET"), ("admin.export_documents", "GET"),
]


def webhook_records() -> tuple[int, int]:
    """A webhook endpoint and a failed delivery to it (something to resend), in the caller's
    app context: their ids."""
    endpoint = WebhookEndpoint(url="https://hooks.example.com/dossier", secret="whsec_test", event_types=[],
                               active=True)
    db.session.add(endpoint)
    db.session.flush()
    delivery = WebhookDelivery(endpoint_id=endpoint.id, event_type="webhook.test", body="{}",
                               status=DeliveryStatus.failed, attempts=1, last_error="HTTP 500")
    db.session.add(delivery)
    db.session.commit()
    return endpoint.id, delivery.id


def _all_invoice_ids(w) -> list[str]:
    """The invoices of every customer of this test's World (test_access's or the sweep's)."""
    invoices = [*getattr(w, "invoice", {}).values()]
    invoices += [getattr(w, name) for name in ("mine_invoice", "theirs_invoice", "nobodys_invoice") if hasattr(w, name)]
    return [str(invoice.id) for invoice in invoices]


# The document a route's URL names, where an open invoice is not one it acts on.
DOCUMENT_FOR = {"admin.document_edit": "draft", "admin.document_issue": "draft", "admin.document_delete": "draft",
                "admin.quote_decision": "quote", "admin.quote_convert": "accepted_quote",
                "admin.document_cancel": "unpaid"}


def _valid_invoice() -> dict:
    today = clock.today()
    return {
        "action": "save", "issue_date": today.isoformat(), "due_date": (today + timedelta(days=14)).isoformat(),
        "currency": "EUR", "lines-0-description": "Consulting", "lines-0-quantity": "2",
        "lines-0-unit_price": "50.00", "lines-0-vat_rate": "21",
    }


MASTER_DATA_POSTS = {
    "contact": {"contact-email": "posted.primary@example.com", "contact-phone": "+31 20 123 4567",
                "contact-language": "en"},
    "address": {"address-street": "Poststraat 1", "address-postal_code": "3511 AB", "address-city": "Utrecht",
                "address-country": "NL"},
    "tax": {"tax-vat_id": "NL004495445B01", "tax-tax_number": "12345"},
    "bank": {"bank-iban": "NL91ABNA0417164300", "bank-bank_holder": "Posted Holder"},
    "bank_confirm": {"code-code": "000000"},
}


MINIMAL_CAMT053 = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt><Id>S1</Id>
<Acct><Id><IBAN>NL91ABNA0417164300</IBAN></Id></Acct>
<Ntry><Amt Ccy="EUR">12.34</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-01-02</Dt></BookgDt>
<AcctSvcrRef>ACCESS-1</AcctSvcrRef></Ntry></Stmt></BkToCstmrStmt></Document>"""


# A POST body each route accepts (for a visible record): the refusals below are then
# refusals of the actor or the token, never of the payload. Keyed by endpoint; a new POST
# route fails test_every_post_route_has_a_valid_payload until it gets an entry.
IMPORT_CSV = b"number,name\r\nK-90,Posted Import\r\n"
VALID_POST = {
    # CSV import (admin/imports.py): an upload, the mapping (which queues the dry run), the import.
    "admin.import_start": lambda w: {"kind": "customers", "file": (io.BytesIO(IMPORT_CSV), "customers.csv")},
    "admin.import_mapping": lambda w: {"column_0": "number", "column_1": "name", "decimal": "point"},
    "admin.import_run": lambda w: {"dry_run": "1"},
    "admin.api_keys_page": lambda w: {"name": "Posted key", "scopes": "write"},
    "admin.api_key_revoke": lambda w: {},
    # The REST API: form posts without a key are refused (401) before the body is read.
    "api.customer_upsert": lambda w: {"name": "Posted by API"},
    "api.document_upsert": lambda w: {"kind": "invoice"},
    "api.payment_record": lambda w: {"amount": "1.00"},
    "api.documents_batch": lambda w: {"documents": "[]"},
    "api.customers_batch": lambda w: {"customers": "[]"},
    "api.einvoice_import": lambda w: {"file": "<Invoice/>"},
    "admin.login": lambda w: {"email": w.owner.email, "password": factories.PASSWORD},
    "admin.logout": lambda w: {},
    "admin.account": lambda w: {"lang-language": "de", "lang-submit": "Save language"},
    "admin.customer_new": lambda w: {"kind": "individual", "name": "Posted Person", "country": "NL", "language": "nl"},
    "admin.customer_edit": lambda w: {
        "kind": "individual", "name": "Renamed By Post", "country": "DE", "language": "de",
    },
    "admin.customer_archive": lambda w: {"confirm": "1"},  # the "Yes, archive" button (tests/admin/test_confirmations.py)
    "admin.customer_notes": lambda w: {"body": "Posted note"},
    "admin.document_new": lambda w: _valid_invoice(),
    # No file / no XML: refused with 422 (tests/einvoice/test_incoming.py uploads real ones).
    "admin.einvoice_upload": lambda w: {},
    "admin.einvoice_confirm": lambda w: {"xml": ""},
    # World.url gives these the customer's draft invoice, pending or accepted quote, recorded payment.
    "admin.document_edit": lambda w: _valid_invoice(),
    "admin.document_issue": lambda w: {},
    "admin.document_delete": lambda w: {"confirm": "1"},
    "admin.document_cancel": lambda w: {"confirm": "1"},
    "admin.document_write_off": lambda w: {"confirm": "1"},
    "admin.document_apply_credit": lambda w: {},
    "admin.document_release": lambda w: {"released": "0"},
    "admin.credit_note_new": lambda w: {**_valid_invoice(), "lines-0-unit_price": "10.00", "lines-0-vat_rate": "0"},
    # Every customer's invoice is ticked: only those of the customer in the URL are found.
    "admin.reminder_new": lambda w: {"invoices": _all_invoice_ids(w), "level": "1",
                                     "issue_date": clock.today().isoformat(), "fee": "5.00"},
    "admin.payment_record": lambda w: {"amount": "10.00", "received_on": clock.today().isoformat(),
                                       "method": "bank_transfer"},
    "admin.payment_undo": lambda w: {"confirm": "1"},
    "admin.quote_decision": lambda w: {"decision": "accept", "name": "Posted Name"},
    "admin.quote_convert": lambda w: {"into": "invoice"},
    "admin.invoice_send": lambda w: {},
    "admin.invoice_letter_printed": lambda w: {"kind": "invoice"},  # an audit event (tests/letters)
    "admin.instalment_letter_printed": lambda w: {},  # an audit event (tests/letters/test_instalment_letter.py)
    "admin.customer_notice": lambda w: {"notice": "shipped", "message": "Posted notice"},
    "admin.customer_email_resend": lambda w: {},  # the row is failed: resending queues it again
    "admin.customer_dossier_link": lambda w: {"confirm": "1"},
    "admin.customer_provided_email": lambda w: {"action": "dismiss"},
    # Adding a login: an access row, an invitation in the outbox and an audit event.
    "admin.customer_portal_logins": lambda w: {"action": "add", "add-email": "posted.login@example.com"},
    "admin.settings": lambda w: {"business_name": "Posted Business", "default_currency": "USD"},
    # Contact persons (web.contact_views): a new one, an edit of the customer's own, a removal.
    "admin.contacts_create": lambda w: {"new-name": "Posted Contact", "new-email": "posted.contact@example.com",
                                        "new-role": "billing", "new-invoice_emails": "y"},
    # The form fields carry the contact's id; the URL decides which one counts.
    "admin.contacts_update": lambda w: {
        key: value
        for cid in w.contact_ids.values()
        for key, value in {f"c{cid}-name": "Renamed Contact", f"c{cid}-email": f"renamed.{cid}@example.com",
                           f"c{cid}-role": "manager"}.items()
    },
    "admin.contacts_remove": lambda w: {},
    "portal.contacts_create": lambda w: {"new-name": "Posted Contact", "new-email": "posted.contact@example.com"},
    "portal.contacts_update": lambda w: {},
    "portal.contacts_remove": lambda w: {},
    "admin.custom_fields": lambda w: {"label": "Posted field", "kind": "text"},
    # A CAMT.053 statement with one transfer nobody's invoice matches (tests/bank covers the rest).
    "admin.bank_statements": lambda w: {"statement": (io.BytesIO(MINIMAL_CAMT053), "statement.xml")},
    # Booking World's waiting transfer on the employee's customer's invoice (tests/bank covers the rest).
    "admin.bank_statement_assign": lambda w: {
        "entry_id": str(getattr(w, "bank_entry_id", 0)),
        f"e{getattr(w, 'bank_entry_id', 0)}-invoice_number": w.mine_invoice.number if hasattr(w, "mine_invoice") else "",
    },
    "admin.business_details": lambda w: {"country": "NL", "iban": "NL91ABNA0417164300", "vat_id": "NL004495445B01"},
    "admin.custom_field_delete": lambda w: {},
    # Mail sync off, so no password (nor MAILBOX_KEY) is needed: saved and audited.
    "admin.mailbox_settings": lambda w: {"host": "imap.example.com", "port": "993", "security": "ssl",
                                         "username": "billing@example.com", "folders": "INBOX", "save": "Save"},
    # Webhooks: a new endpoint (shown with its secret), and actions on World's endpoint.
    "admin.webhook_endpoints": lambda w: {"url": "https://posted.example.com/hooks", "description": "Posted"},
    "admin.webhook_endpoint_active": lambda w: {"active": "off"},
    "admin.webhook_endpoint_delete": lambda w: {},
    "admin.webhook_endpoint_rotate": lambda w: {},
    "admin.webhook_endpoint_test": lambda w: {},
    "admin.webhook_delivery_resend": lambda w: {},  # the delivery failed: resending queues it again
    # Automatic reminders: the schedule (switched on, a fee and interest), a customer's hold,
    # an invoice's dispute, and the letter list's "printed" (nothing listed: it changes nothing).
    "admin.dunning_settings": lambda w: {"enabled": "y", "days_1": "7", "days_2": "21", "days_3": "35",
                                         "fee_2": "5.00", "interest_3": "8"},
    "admin.customer_dunning_hold": lambda w: {"value": "1"},
    "admin.document_dispute": lambda w: {"value": "1"},
    "admin.dunning_letters_printed": lambda w: {"notices": "1"},
    # Synced mail (issue 21): World gives every customer one synced e-mail, and one unmatched.
    "admin.mailbox_assign": lambda w: {"customer_number": w.mine.number},
    "admin.synced_email_reply": lambda w: {"subject": "Re: Synced message", "message": "Thank you."},
    "admin.synced_email_delete": lambda w: {"confirm": "1"},
    "admin.synced_emails_read": lambda w: {},
    "admin.customer_email_sync": lambda w: {},  # every SYNC switch off: the customer's address changes
    # Every customer starts with portal access on: "off" changes them all.
    "admin.portal_access_apply": lambda w: {"enabled": "off", "confirm": "y"},
    "admin.staff_new": lambda w: {
        "name": "Posted Staff", "email": "posted@example.org", "role": "employee", "language": "en",
        "password": "a long enough password",
    },
    "admin.staff_edit": lambda w: {"name": "Renamed Staff", "role": "admin", "view_all_customers": "y", "active": "y"},
    # The customer portal: only the CSRF refusals below use these (tests/portal covers the rest).
    "portal.login": lambda w: {"email": "login@example.test", "password": "a long enough password"},
    "portal.logout": lambda w: {},
    "portal.forgot": lambda w: {"email": "login@example.test"},
    "portal.reset": lambda w: {"password": "a long enough password", "confirm": "a long enough password"},
    "portal.accept": lambda w: {"password": "a long enough password", "confirm": "a long enough password"},
    "portal.accounts": lambda w: {"customer_id": str(w.mine.id)},
    "portal.preferences": lambda w: {"notify": "y", "notify_invoice": "y"},
    # The login's own password as tests/portal/conftest.py sets it; the new one passes the policy.
    "portal.password": lambda w: {"current_password": "plum tractor velvet 42", "new_password": "copper lantern meadow 93",
                                  "confirm_password": "copper lantern meadow 93"},
    "portal.account_bar_dismiss": lambda w: {"next": "/portal/"},
    # The dossier link (tests/dossier covers what they do).
    "portal.dossier_check": lambda w: {"answer": "1234 AB"},
    "portal.dossier_email": lambda w: {"email": "provided@example.com"},
    "portal.dossier_pay": lambda w: {"invoice": "all"},
    "portal.dossier_test_checkout_outcome": lambda w: {"outcome": "success"},
    # Questions and instalment plans (tests/questions, tests/instalments cover what they do).
    "admin.invoice_answer": lambda w: {"body": "Posted answer"},
    "admin.instalment_plan_approve": lambda w: {},  # each customer's plan is pending (World)
    "admin.instalment_plan_decline": lambda w: {"confirm": "1"},
    "admin.instalment_plan_cancel": lambda w: {},
    "portal.dossier_ask": lambda w: {"body": "Posted question"},
    "portal.dossier_instalments_preview": lambda w: {"currency": "EUR", "count": "2",
                                                     "start_date": clock.today().isoformat()},
    "portal.dossier_instalments_confirm": lambda w: {"currency": "EUR", "count": "2",
                                                     "start_date": clock.today().isoformat(), "total": "121.00"},
    # The same pages from a login (/portal/…), and the questions and quote decisions of any
    # document (tests/portal/test_customer_place.py covers what they do).
    "portal.provide_email": lambda w: {"email": "provided@example.com"},
    "portal.pay": lambda w: {"invoice": "all"},
    "portal.test_checkout_outcome": lambda w: {"outcome": "success"},
    "portal.document_ask": lambda w: {"body": "Posted question"},
    "portal.dossier_document_ask": lambda w: {"body": "Posted question"},
    "portal.quote_decision": lambda w: {"decision": "accept", "name": "Posted Name"},
    "portal.dossier_quote_decision": lambda w: {"decision": "accept", "name": "Posted Name"},
    # Paying a due instalment (tests/instalments/test_pay_instalment.py): World's plans are pending.
    "portal.instalments_pay": lambda w: {"instalment": "1"},
    "portal.dossier_instalments_pay": lambda w: {"instalment": "1"},
    "portal.instalments_preview": lambda w: {"currency": "EUR", "count": "2", "start_date": clock.today().isoformat()},
    "portal.instalments_confirm": lambda w: {"currency": "EUR", "count": "2",
                                             "start_date": clock.today().isoformat(), "total": "121.00"},
    # The customer's own details, from the login and the link (tests/master_data covers them).
    **{f"portal.{prefix}details_{group}": (lambda body: lambda w: body)(body) for prefix in ("", "dossier_")
       for group, body in MASTER_DATA_POSTS.items()},
    "portal.dossier_verify": lambda w: {"code": "000000"},
    "portal.dossier_verify_send": lambda w: {},
    "portal.dossier_contacts_create": lambda w: {"new-name": "Posted Contact", "new-email": "posted.contact@example.com"},
    "portal.dossier_contacts_update": lambda w: {},
    "portal.dossier_contacts_remove": lambda w: {},
    "portal.confirm_email": lambda w: {},
    "portal.contact_preferences_page": lambda w: {"invoice_emails": "y"},
    "portal.contact_unsubscribe": lambda w: {"List-Unsubscribe": "One-Click"},
    # Confirms what the customer changed (an audit event even when nothing was waiting).
    "admin.customer_changes_confirm": lambda w: {},
}


# --- test data -----------------------------------------------------------------------------


class World:
    """Two employees, each with their own customer and invoice; nobody else's is visible."""

    def __init__(self, owner, employee):
        self.owner, self.employee = owner, employee
        self.other = factories.staff(role="employee", name="Otto Other", email="other@example.test")
        # Each has an address left on its dossier page, which staff may adopt or dismiss.
        self.mine = factories.customer(assigned_to=[employee], name="Mina Mine", email="mina@example.test",
                                       provided_email="mina.new@example.com")
        self.mine_too = factories.customer(assigned_to=[employee, self.other], name="Shared Sam")
        self.theirs = factories.customer(assigned_to=[self.other], name="Theo Theirs", email="theo@example.test",
                                         provided_email="theo.new@example.com")
        self.nobodys = factories.customer(name="Nora Nobody", provided_email="nora@example.com")
        self.mine_invoice = factories.invoice(self.mine, amount="100.00")
        self.theirs_invoice = factories.invoice(self.theirs, amount="200.00")
        self.nobodys_invoice = factories.invoice(self.nobodys, amount="300.00")
        with factories._app.app_context():
            field = CustomFieldDefinition(label="Contract", kind="text", position=1)
            db.session.add(field)
            db.session.commit()
            self.field_id = field.id
            # One failed e-mail per customer, so that a resend has something to change.
            self.email_ids = {}
            for customer in (self.mine, self.theirs, self.nobodys):
                email = outbox.queue_customer_email(
                    db.session.get(Customer, customer.id), MailCategory.account, "account_notice",
                    context={"notice": "shipped", "message": ""},
                )
                outbox.mark_failed(email, "550 mailbox unavailable")
                db.session.commit()
                self.email_ids[customer.id] = email.id
            # One contact person per customer.
            self.contact_ids = {}
            for customer in (self.mine, self.theirs, self.nobodys):
                contact = ContactPerson(customer_id=customer.id, name=f"Contact of {customer.name}",
                                        email=f"contact.{customer.number.lower()}@example.com")
                db.session.add(contact)
                db.session.commit()
                self.contact_ids[customer.id] = contact.id
            # One invited portal login per customer (its invitation queued in the outbox).
            self.access_ids = {}
            for customer in (self.mine, self.theirs, self.nobodys):
                access = portal_access_service.add_login(
                    None, db.session.get(Customer, customer.id), f"login.{customer.number.lower()}@example.com"
                )
                db.session.commit()
                self.access_ids[customer.id] = access.id
            # One pending instalment plan per customer (covering no invoice: reminders stay allowed).
            self.plan_ids = {}
            for customer in (self.mine, self.theirs, self.nobodys):
                plan = InstalmentPlan(customer_id=customer.id, status=PlanStatus.pending, total=Decimal("100.00"),
                                      currency="EUR", count=2, start_date=clock.today())
                db.session.add(plan)
                db.session.commit()
                self.plan_ids[customer.id] = plan.id
            # One bank transfer waiting for staff to assign it (tests/bank covers assigning).
            statement = BankStatement(file_sha256="0" * 64, entries=[BankStatementEntry(
                dedupe_key="access-world", booking_date=clock.today(), amount=Decimal("10.00"), currency="EUR",
                status=EntryStatus.unmatched)])
            db.session.add(statement)
            db.session.commit()
            self.bank_entry_id = statement.entries[0].id
            # One synced e-mail per customer (issue 21), and one nobody's yet (to assign).
            self.synced_ids, self.attachment_ids = {}, {}
            for customer in (self.mine, self.theirs, self.nobodys):
                self.synced_ids[customer.id], self.attachment_ids[customer.id] = synced_record(customer.id)
            self.unmatched_id = synced_record(self.nobodys.id, sender="stranger@example.net")[0]
            db.session.execute(delete(SyncedEmailLink).where(SyncedEmailLink.synced_email_id == self.unmatched_id))
            db.session.execute(update(SyncedEmail).where(SyncedEmail.id == self.unmatched_id).values(matched=False))
            db.session.commit()
        # An active plan each, over an overdue invoice of its own, with an instalment due
        # yesterday: its reminder letter can be printed (tests/letters/test_instalment_letter.py).
        self.instalment_ids = {}
        for customer in (self.mine, self.theirs, self.nobodys):
            planned = factories.invoice(customer, amount="60.00", due_in_days=-20)
            with factories._app.app_context():
                plan = InstalmentPlan(customer_id=customer.id, status=PlanStatus.active, total=Decimal("72.60"),
                                      currency="EUR", count=2, start_date=clock.today() - timedelta(days=1))
                plan.instalments = [Instalment(position=1, due_date=clock.today() - timedelta(days=1),
                                               amount=Decimal("36.30")),
                                    Instalment(position=2, due_date=clock.today() + timedelta(days=30),
                                               amount=Decimal("36.30"))]
                plan.documents = [db.session.get(Document, planned.id)]
                db.session.add(plan)
                db.session.commit()
                self.instalment_ids[customer.id] = plan.instalments[0].id
        # A draft invoice each (its edit page is a GET every viewer may open); for the
        # employee's own customer also quotes, a recorded payment and customer credit.
        self.documents = {customer.id: {"draft": factories.document(customer, "invoice", draft=True)}
                          for customer in (self.mine, self.theirs, self.nobodys)}
        self.documents[self.mine.id]["quote"] = factories.document(self.mine, "quote")
        self.documents[self.mine.id]["unpaid"] = factories.document(self.mine, "invoice")  # nothing paid: cancellable
        self.documents[self.mine.id]["accepted_quote"] = factories.document(
            self.mine, "quote", status=DocumentStatus.accepted)
        with factories._app.app_context():
            invoice = db.session.get(Document, self.mine_invoice.id)
            actor = db.session.get(StaffUser, owner.id)
            self.payment_id = recorded_payments.record_payment(
                actor, invoice, amount=Decimal("10.00"), received_on=clock.today(), method="cash",
                today=clock.today()).id
            credits.add(self.mine.id, Decimal("5.00"), "EUR", credits.OVERPAYMENT)
            get_settings(for_update=True).vat_id = "NL123456789B01"  # e-invoices need one
            db.session.commit()
            self.endpoint_id, self.delivery_id = webhook_records()
            # An uploaded CSV import, waiting for its mapping.
            self.import_id = csv_runner.create_job(actor, "customers", "customers.csv", io.BytesIO(IMPORT_CSV),
                                                   1024 * 1024).id
            db.session.commit()

    def url(self, endpoint: str, *, visible: bool, customer=None, **override) -> str:
        """The URL of `endpoint` for a customer the employee may (not) see."""
        customer = customer or (self.mine if visible else self.theirs)
        invoice = {self.mine.id: self.mine_invoice, self.theirs.id: self.theirs_invoice,
                   self.nobodys.id: self.nobodys_invoice}[customer.id]
        document = self.documents[customer.id].get(DOCUMENT_FOR.get(endpoint), invoice)
        values = {"customer_id": customer.id, "invoice_id": invoice.id, "document_id": document.id,
                  "field_id": self.field_id,
                  "user_id": self.employee.id, "email_id": self.email_ids[customer.id],
                  "contact_id": self.contact_ids[customer.id], "plan_id": self.plan_ids[customer.id],
                  "instalment_id": self.instalment_ids[customer.id], "token": "not-a-real-token", "payment_id": self.payment_id,
                  "endpoint_id": self.endpoint_id, "delivery_id": self.delivery_id, "import_id": self.import_id,
                  "fmt": "xrechnung-ubl", "key_id": 999999,
                  "synced_id": self.synced_ids[customer.id], "unmatched_id": self.unmatched_id,
                  "attachment_id": self.attachment_ids[customer.id], **override}
        rule = next(r for r in _MAP_APP.url_map.iter_rules() if r.endpoint == endpoint)
        missing = rule.arguments - values.keys()
        assert not missing, f"{rule.rule}: add a test value for {sorted(missing)} in World.url"
        with _MAP_APP.test_request_context():
            from flask import url_for

            return url_for(endpoint, **{k: values[k] for k in rule.arguments})


@pytest.fixture(autouse=True)
def _redis_unreachable(app, monkeypatch):
    """Enqueueing after a commit is best-effort: with Redis down the rows just stay queued."""
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")


@pytest.fixture
def world(owner, employee):
    return World(owner, employee)


def snapshot(app) -> dict[str, list[str]]:
    """Every row of every table: 'nothing changed' means this is equal before and after."""
    with app.app_context():
        return {
            table.name: sorted(repr(tuple(row)) for row in db.session.execute(select(table)))
            for table in db.metadata.sorted_tables
        }


def _staff_client(app, user) -> StaffClient:
    return StaffClient(login(app.test_client(), user), user)


def _table_names(soup, column: str = "Name") -> list[str]:
    """The texts of one column of the results table, by its header."""
    table = soup.find("table")
    if table is None:
        return []
    headers = [th.get_text(strip=True) for th in table.find("thead").find_all("th")]
    index = headers.index(column)
    return [row.find_all("td")[index].find("a").get_text(strip=True) for row in table.find("tbody").find_all("tr")]


# --- the route lists are complete ----------------------------------------------------------


# URL arguments that do not name a customer's record: custom field definitions and staff
# members, both behind manager_required (see MANAGER_PAGES).
# fmt: an e-invoice format (admin.document_einvoice); unmatched_id: unmatched mail is nobody's
# yet (managers only).
NOT_CUSTOMER_IDS = {"field_id", "user_id", "endpoint_id", "delivery_id", "import_id", "fmt", "key_id", "unmatched_id"}


def test_customer_routes_are_found_in_the_url_map():
    scoped = {p.values[0] for p in CUSTOMER_SCOPED}
    assert {"admin.customer_edit", "admin.customer_overview", "admin.customer_info", "admin.customer_archive",
            "admin.customer_notes", "admin.document_detail", "admin.document_new", "admin.invoice_send",
            "admin.customer_notice", "admin.customer_emails", "admin.customer_email_resend",
            "admin.customer_dossier_link", "admin.customer_portal_logins"} <= scoped


def test_every_id_in_an_admin_url_is_classified():
    """A route taking some other id (`<int:note_id>`, `<int:id>`) would escape the 404 tests:
    decide whether it belongs to a customer (CUSTOMER_RECORD_IDS) or not (NOT_CUSTOMER_IDS)."""
    for rule in _ADMIN_RULES:
        unknown = rule.arguments - CUSTOMER_RECORD_IDS - NOT_CUSTOMER_IDS
        assert not unknown, f"{rule.rule}: is {sorted(unknown)} a customer's record?"


def test_every_post_route_has_a_valid_payload():
    missing = {p.values[0] for p in POST_ROUTES} - VALID_POST.keys()
    assert not missing, f"add a valid POST body for {sorted(missing)} to VALID_POST"


# --- employees see their own customers only ------------------------------------------------


@pytest.mark.parametrize("endpoint,method", CUSTOMER_SCOPED)
def test_employee_gets_404_for_an_unassigned_customer(app, world, employee_client, endpoint, method):
    assert endpoint in VALID_POST or method == "GET", f"{endpoint}: add a valid POST body to VALID_POST"
    before = snapshot(app)
    hidden = [world.url(endpoint, visible=False), world.url(endpoint, visible=False, customer=world.nobodys)]
    for url in hidden:
        if method == "GET":
            response = employee_client.get(url)
        else:
            response = employee_client.post(url, data=VALID_POST[endpoint](world))
        assert response.status_code == 404, (url, response.status_code)
        assert "This page does not exist, or you do not have access to it." in soup_of(response).h1.get_text()
        assert world.theirs.name not in response.get_data(as_text=True)
    assert snapshot(app) == before, "a refused request changed the database"


@pytest.mark.parametrize("endpoint,method", CUSTOMER_SCOPED)
def test_employee_is_served_for_an_assigned_customer(app, world, employee_client, endpoint, method):
    url = world.url(endpoint, visible=True)
    if method == "GET":
        response = employee_client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return
    before = snapshot(app)
    response = employee_client.post(url, data=VALID_POST[endpoint](world))
    # The same body that was refused above is accepted here and changes something.
    assert response.status_code == 302, (url, response.status_code, response.data[:800])
    assert snapshot(app) != before


def test_reminder_for_an_unassigned_customers_invoice_is_refused(app, world, employee_client):
    """The other action of the send route: a reminder is refused the same way."""
    before = snapshot(app)
    for invoice in (world.theirs_invoice, world.nobodys_invoice):
        response = employee_client.post(f"/admin/invoices/{invoice.id}/send", data={"reminder": "1", "confirm": "1"})
        assert response.status_code == 404, (invoice.number, response.status_code)
    assert snapshot(app) == before
    response = employee_client.post(f"/admin/invoices/{world.mine_invoice.id}/send",
                                    data={"reminder": "1", "confirm": "1"})  # not due yet: confirmed
    assert response.status_code == 302
    assert snapshot(app) != before


@pytest.mark.parametrize("who", ["employee", "owner"])
def test_an_email_id_of_another_customer_is_not_found(app, world, who):
    """An id in a URL is never proof of access: the e-mail must belong to the customer in the URL,
    even for a customer the user may see, and even for the owner who may see both."""
    client = _staff_client(app, world.owner if who == "owner" else world.employee)
    others = [world.email_ids[world.theirs.id], world.email_ids[world.nobodys.id], 10**6]
    before = snapshot(app)
    for email_id in others:
        url = world.url("admin.customer_email_resend", visible=True, email_id=email_id)
        response = client.post(url, data=VALID_POST["admin.customer_email_resend"](world))
        assert response.status_code == 404, (url, response.status_code)
        assert "This page does not exist, or you do not have access to it." in soup_of(response).h1.get_text()
    assert snapshot(app) == before, "a refused resend changed the database"
    # The customer's own e-mail is resent by the same request.
    response = client.post(world.url("admin.customer_email_resend", visible=True), data={})
    assert response.status_code == 302
    assert snapshot(app) != before


# Every action of the portal-logins route that names a row by `access_id`.
ROW_ACTIONS = {
    "login_on": {},
    "login_off": {"confirm": "1"},
    "resend": {},
    "change_email": {"e{id}-email": "hijacked@example.com"},
    "notifications": {"n{id}-notify": "y"},
}


@pytest.mark.parametrize("who", ["employee", "owner"])
@pytest.mark.parametrize("action", sorted(ROW_ACTIONS))
def test_an_access_id_of_another_customer_is_not_found(app, world, who, action):
    """The login row must belong to the customer in the URL, even for a customer the user may
    see, and even for the owner who may see both: no action reaches another customer's login."""
    client = _staff_client(app, world.owner if who == "owner" else world.employee)
    url = world.url("admin.customer_portal_logins", visible=True)
    others = [world.access_ids[world.theirs.id], world.access_ids[world.nobodys.id], 10**6, "abc", ""]
    before = snapshot(app)
    for access_id in others:
        fields = {k.format(id=access_id): v for k, v in ROW_ACTIONS[action].items()}
        for headers in ({}, {"HX-Request": "true"}):
            response = client.post(url, data={"action": action, "access_id": access_id, **fields}, headers=headers)
            assert response.status_code == 404, (access_id, headers, response.status_code)
            assert "This page does not exist, or you do not have access to it." in soup_of(response).h1.get_text()
            assert "login.%s@" % world.theirs.number.lower() not in response.get_data(as_text=True)
    assert snapshot(app) == before, "a refused row action changed the database"
    # The same action on the customer's own login goes through.
    own = world.access_ids[world.mine.id]
    fields = {k.format(id=own): v for k, v in ROW_ACTIONS[action].items()}
    response = client.post(url, data={"action": action, "access_id": own, **fields})
    assert response.status_code == 302, response.data[:800]
    assert snapshot(app) != before


def test_portal_login_actions_leave_other_customers_alone(app, world, employee_client):
    """Turning portal access off, or adding a login, touches the customer in the URL only."""
    url = world.url("admin.customer_portal_logins", visible=True)
    for data in ({"action": "portal_off", "confirm": "1"}, {"action": "add", "add-email": "login.other@example.com"}):
        assert employee_client.post(url, data=data).status_code == 302
    with app.app_context():
        assert db.session.get(Customer, world.mine.id).portal_access is False
        assert db.session.get(Customer, world.theirs.id).portal_access is True
        assert db.session.get(Customer, world.nobodys.id).portal_access is True
        added = db.session.scalars(select(PortalAccess).where(PortalAccess.customer_id != world.mine.id)).all()
        assert sorted(a.id for a in added) == sorted([world.access_ids[world.theirs.id],
                                                      world.access_ids[world.nobodys.id]])
        invitations = db.session.scalars(
            select(OutboundEmail.to_address).where(OutboundEmail.template == "portal_invitation")
        ).all()
        assert invitations.count("login.other@example.com") == 1


def test_refused_edit_of_an_unassigned_customer_leaves_it_untouched(app, world, employee_client):
    response = employee_client.post(
        f"/admin/customers/{world.theirs.id}/edit",
        data={"kind": "individual", "name": "Hijacked", "country": "NL", "language": "nl"},
    )
    assert response.status_code == 404
    owner = _staff_client(app, world.owner)
    info = owner.soup(f"/admin/customers/{world.theirs.id}/info")
    assert info.h1.get_text(strip=True) == "Theo Theirs"


@pytest.mark.parametrize("who", ["employee_with_view_all", "admin", "owner"])
def test_view_all_employees_admins_and_owners_see_every_customer(app, world, who):
    if who == "owner":
        user = world.owner
    else:
        user = factories.staff(role="employee" if who == "employee_with_view_all" else "admin", view_all=True)
    client = _staff_client(app, user)
    for rule in _ADMIN_RULES:
        if _customer_scoped(rule) and "GET" in rule.methods:
            for customer in (world.mine, world.theirs, world.nobodys):
                url = world.url(rule.endpoint, visible=False, customer=customer)
                assert client.get(url).status_code == 200, url
    names = _table_names(client.soup("/admin/customers"))
    assert sorted(names) == ["Mina Mine", "Nora Nobody", "Shared Sam", "Theo Theirs"]
    invoice_customers = _table_names(client.soup("/admin/invoices"), "Customer")
    assert sorted(set(invoice_customers)) == ["Mina Mine", "Nora Nobody", "Theo Theirs"]


# --- lists and search ----------------------------------------------------------------------


def test_customer_list_of_an_employee_holds_only_assigned_customers(world, employee_client):
    soup = employee_client.soup("/admin/customers")
    assert sorted(_table_names(soup)) == ["Mina Mine", "Shared Sam"]
    assert soup.find("p", class_="count").get_text(strip=True) == "2 customers"
    # Archived ones included: still only the assigned ones.
    assert sorted(_table_names(employee_client.soup("/admin/customers?archived=1"))) == ["Mina Mine", "Shared Sam"]
    # The HTMX fragment of the same list filters the same way.
    fragment = soup_of(employee_client.get("/admin/customers", headers={"HX-Request": "true"}))
    assert fragment.find("html") is None
    assert sorted(_table_names(fragment)) == ["Mina Mine", "Shared Sam"]


def test_search_never_returns_an_unassigned_customer(world, employee_client):
    for query in ("theo", "THEIRS", "theo@example", "example.test", "Customer", "T0", "o", world.theirs.number):
        soup = employee_client.soup(f"/admin/customers?q={query}&archived=1")
        names = _table_names(soup)
        assert set(names) <= {"Mina Mine", "Shared Sam"}, (query, names)
        for hidden in ("Theo Theirs", "Nora Nobody", world.theirs.number, world.nobodys.number):
            assert hidden not in soup.get_text(), (query, hidden)


def test_search_by_an_unassigned_customer_number_finds_nothing(app, world, employee_client):
    soup = employee_client.soup(f"/admin/customers?q={world.theirs.number}")
    assert _table_names(soup) == []
    assert soup.find(class_="empty").get_text(strip=True) == "No customers match your search."
    # The owner's identical search does find it: the query itself is right.
    owner = _staff_client(app, world.owner)
    assert _table_names(owner.soup(f"/admin/customers?q={world.theirs.number}")) == ["Theo Theirs"]


def test_search_by_tag_is_filtered_too(app, world, employee_client):
    owner = _staff_client(app, world.owner)
    for customer in (world.mine, world.theirs):
        response = owner.post(f"/admin/customers/{customer.id}/edit", data={
            "kind": "individual", "name": customer.name, "number": customer.number, "country": "NL",
            "language": "nl", "tags": "vip", "assigned_staff_ids": [s.id for s in (
                [world.employee] if customer is world.mine else [world.other])],
        })
        assert response.status_code == 302, response.data[:800]
    assert sorted(_table_names(owner.soup("/admin/customers?tag=vip"))) == ["Mina Mine", "Theo Theirs"]
    assert _table_names(employee_client.soup("/admin/customers?tag=vip")) == ["Mina Mine"]


def test_invoice_list_of_an_employee_holds_only_assigned_customers(app, world, employee_client):
    """The document list (every kind; /admin/invoices is its former address)."""
    hidden_numbers = {world.theirs_invoice.number, world.nobodys_invoice.number}
    for filters in ("", "?status=open", "?status=overdue", "?attention=no_email", "?q=-", "?page=2",
                    "?kind=invoice", "?sort=customer&dir=desc"):
        for address in ("/admin/documents", "/admin/invoices"):
            soup = employee_client.soup(f"{address}{filters}")
            customers = _table_names(soup, "Customer")
            assert set(customers) <= {"Mina Mine"}, (filters, customers)
            for hidden in ("Theo Theirs", "Nora Nobody"):
                assert hidden not in soup.get_text(), (filters, hidden)
            assert not set(_table_names(soup, "Number")) & hidden_numbers, filters
    from models.documents import Document, DocumentKind

    with app.app_context():
        mine = db.session.scalars(select(Document.number).where(
            Document.customer_id == world.mine.id, Document.kind == DocumentKind.invoice)).all()
    soup = employee_client.soup("/admin/documents?kind=invoice&sort=number")
    assert _table_names(soup, "Number") == sorted(n for n in mine if n) + ["Draft"] * mine.count(None)  # drafts last
    assert world.mine_invoice.number in mine
    assert soup.find("p", class_="count").get_text(strip=True) == f"{len(mine)} document{'s' if len(mine) != 1 else ''}"


# --- manager-only pages ----------------------------------------------------------------------


@pytest.mark.parametrize("endpoint,method", MANAGER_PAGES)
def test_manager_pages_answer_403_to_employees_and_serve_admins(app, world, endpoint, method):
    url = world.url(endpoint, visible=True)
    send = (lambda c: c.get(url)) if method == "GET" else (lambda c: c.post(url, data=VALID_POST[endpoint](world)))
    employees = [_staff_client(app, u) for u in (world.employee, factories.staff(role="employee", view_all=True))]
    before = snapshot(app)
    for client in employees:
        response = send(client)
        assert response.status_code == 403, (client.user.email, url, response.status_code)
        assert soup_of(response).h1.get_text(strip=True) == "You do not have access to this page."
    assert snapshot(app) == before
    # The same request by an admin is served: the 403 is about the role, not the request.
    response = send(_staff_client(app, factories.staff(role="admin")))
    assert response.status_code == (200 if method == "GET" else 302), (url, response.status_code)


# --- CSRF ------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", POST_ROUTES)
def test_post_without_csrf_token_is_refused(app, world, owner_client, endpoint):
    url = world.url(endpoint, visible=False)
    before = snapshot(app)
    response = owner_client.client.post(url, data=VALID_POST[endpoint](world))  # no csrf_token
    assert response.status_code == 400, (url, response.status_code)
    assert "Your form expired or was sent from elsewhere." in soup_of(response).h1.get_text()
    assert snapshot(app) == before
    # Still logged in (a refused logout must not log out), and the page itself works.
    assert owner_client.get("/admin/customers").status_code == 200


@pytest.mark.parametrize("endpoint", POST_ROUTES)
def test_htmx_post_with_a_wrong_csrf_header_is_refused(app, world, owner_client, endpoint):
    url = world.url(endpoint, visible=False)
    stranger = login(app.test_client(), factories.staff(role="owner"))
    foreign = csrf_token(stranger, "/admin/account")
    before = snapshot(app)
    wrong = owner_client.token[:-4] + ("AAAA" if not owner_client.token.endswith("AAAA") else "BBBB")
    for headers in ({"X-CSRFToken": wrong, "HX-Request": "true"}, {"X-CSRFToken": "", "HX-Request": "true"}):
        response = owner_client.client.post(url, data=VALID_POST[endpoint](world), headers=headers)
        assert response.status_code == 400, (url, headers, response.status_code)
    # A token from another session is wrong too.
    response = owner_client.client.post(url, data=VALID_POST[endpoint](world),
                                        headers={"X-CSRFToken": foreign, "HX-Request": "true"})
    assert response.status_code == 400
    assert snapshot(app) == before


def test_htmx_post_with_the_right_csrf_header_is_accepted(world, owner_client):
    """The header path really is checked: the same request with the right token goes through."""
    response = owner_client.client.post(
        f"/admin/customers/{world.theirs.id}/notes", data={"body": "Via htmx"},
        headers={"X-CSRFToken": owner_client.token, "HX-Request": "true"},
    )
    assert response.status_code == 302
    notes = owner_client.soup(f"/admin/customers/{world.theirs.id}/notes")
    assert [p.get_text() for p in notes.select("article.note p")] == ["Via htmx"]


# --- anonymous -------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint,method", ADMIN_ROUTES)
def test_anonymous_requests_are_sent_to_login(app, world, client, endpoint, method):
    url = world.url(endpoint, visible=False)
    before = snapshot(app)
    if method == "GET":
        response = client.get(url)
    else:
        token = csrf_token(client, "/admin/login")  # a valid token: the session is what is missing
        response = client.post(url, data={**VALID_POST[endpoint](world), "csrf_token": token})
    assert response.status_code == 302, (url, response.status_code)
    assert response.headers["Location"].startswith("/admin/login?next=")
    assert snapshot(app) == before


def test_login_page_is_the_only_public_admin_page(client):
    assert client.get("/admin/login").status_code == 200
    public = [r.rule for r in _ADMIN_RULES if "GET" in r.methods and "<" not in r.rule
              and client.get(r.rule).status_code == 200]
    assert public == ["/admin/login"]
