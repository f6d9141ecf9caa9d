"""Mixed traffic for `bench.footprint` and `bench.soak`: simulated people, each with a session
of their own, reading and writing through the app's pages over plain HTTP.

- staff (the demo owner and admin logins): dashboard, customer search, a customer's Overview
  and Documents tab, the document list and a document page; writes: a note, a draft invoice,
  an e-mail notice to the customer (mail for the worker);
- portal customers (customer@dossier.test): the portal home, the preferences page, the
  contact list; writes: the notification preferences saved;
- debtors with a dossier link: the dossier page and an invoice in it; writes: a question on
  the invoice (rarely).

Every answer is checked: a GET must be 200, a POST a redirect that is not to a login page;
anything else, or a socket error, is an error. The server must run with generous login and
dossier rate limits (LIMITS below): the simulated people all come from 127.0.0.1.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta

from bench import client

PASSWORD = "dossier-demo"
STAFF_LOGINS = ("owner@dossier.test", "admin@dossier.test")  # both see every customer
PORTAL_LOGIN = "customer@dossier.test"
# Everyone here is 127.0.0.1: without these the limits (meant per person) would refuse them.
LIMITS = {
    "DOSSIER_LIMIT_PER_IP": "100000000 per minute",
    "LOGIN_LIMIT_PER_IP": "100000000 per minute",
    "LOGIN_LIMIT_PER_ACCOUNT": "100000000 per minute",
}


@dataclass
class Targets:
    """What the people open: customers (id, name), documents of the staff pages, and dossier
    links with the invoices they show."""
    customers: list[dict]
    documents: list[int]
    dossiers: list[tuple[str, list[int]]]


def targets(app, limit: int = 2000, seed: int = 7) -> Targets:
    """Read from the database through the app (its SECRET_KEY must be the server's: the
    dossier tokens are signed with it); missing dossier links are created, as the Info tab
    does."""
    from sqlalchemy import select

    from models.customers import Customer
    from models.db import db
    from models.documents import Document, DocumentKind, DocumentStatus
    from models.services import dossier

    shown = (DocumentStatus.open, DocumentStatus.partially_paid, DocumentStatus.paid)
    with app.app_context():
        people = db.session.execute(
            select(Customer.id, Customer.name).where(Customer.archived_at.is_(None)).order_by(Customer.id)
        ).all()
        rng = random.Random(seed)
        people = rng.sample(people, min(limit, len(people)))
        ids = [p.id for p in people]
        invoices: dict[int, list[int]] = {i: [] for i in ids}
        for customer_id, document_id in db.session.execute(
            select(Document.customer_id, Document.id).where(
                Document.customer_id.in_(ids), Document.kind == DocumentKind.invoice,
                Document.status.in_(shown), Document.released_to_portal.is_(True))
        ):
            invoices[customer_id].append(document_id)
        documents = [d for docs in invoices.values() for d in docs][:limit]
        with db.session.no_autoflush:
            dossiers = [(dossier.token_for(dossier.current_link(cid)), invoices[cid]) for cid in ids if invoices[cid]]
        db.session.commit()
        db.session.remove()
    return Targets([{"id": p.id, "name": p.name} for p in people], documents, dossiers)


@dataclass
class Outcome:
    label: str
    status: int
    seconds: float
    ok: bool
    detail: str = ""


@dataclass
class Recorder:
    """Every answer, from every person (thread-safe)."""
    outcomes: list[Outcome] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)

    def snapshot(self) -> list[Outcome]:
        with self.lock:
            return list(self.outcomes)


class Person:
    """One simulated person with a session of their own; `step()` makes one request."""

    label = "person"

    def __init__(self, base_url: str, targets: Targets, recorder: Recorder, rng: random.Random):
        self.session = client.Session(base_url)
        self.targets, self.recorder, self.rng = targets, recorder, rng

    def request(self, label: str, path: str, *, method: str = "GET", form: dict | None = None,
                headers: dict | None = None, expect: tuple[int, ...] | None = None) -> tuple[int, dict, str]:
        started = time.perf_counter()
        try:
            status, response_headers, html = self.session.request(path, method=method, form=form, headers=headers)
        except OSError as error:  # refused, reset, timed out: an error like any other
            self.recorder.add(Outcome(label, -1, time.perf_counter() - started, False, repr(error)))
            return -1, {}, ""
        seconds = time.perf_counter() - started
        location = response_headers.get("Location", "") or ""
        if expect is None:
            expect = (200,) if method == "GET" else (302, 303)
        ok = status in expect and "/login" not in location
        self.recorder.add(Outcome(label, status, seconds, ok, "" if ok else f"{method} {path} -> {status} {location}"))
        return status, response_headers, html

    def start(self) -> None:
        """Log in, or whatever this person does first."""

    def step(self) -> None:
        raise NotImplementedError

    def _pick(self, weighted: list[tuple[int, callable]]):
        total = sum(w for w, _ in weighted)
        n = self.rng.randrange(total)
        for weight, action in weighted:
            if n < weight:
                return action()
            n -= weight
        raise AssertionError("unreachable")


class Staff(Person):
    label = "staff"

    def start(self) -> None:
        email = self.rng.choice(STAFF_LOGINS)
        _, _, html = self.request("staff login page", "/admin/login")
        status, _, _ = self.request("staff login", "/admin/login", method="POST", form={
            "email": email, "password": PASSWORD, "csrf_token": client.csrf_from(html)})
        if status != 302:
            raise RuntimeError(f"staff login as {email} answered {status}")
        _, _, html = self.request("staff dashboard", "/admin/")
        self.session.csrf_token = client.csrf_from(html)

    def step(self) -> None:
        c = self.rng.choice(self.targets.customers)
        docs = self.targets.documents
        self._pick([
            (3, lambda: self.request("staff dashboard", "/admin/")),
            (4, lambda: self.request("staff search", "/admin/customers?q=" + c["name"].split()[0][:4])),
            (6, lambda: self.request("staff overview", f"/admin/customers/{c['id']}")),
            (3, lambda: self.request("staff documents tab", f"/admin/customers/{c['id']}/documents")),
            (2, lambda: self.request("staff document list", "/admin/documents")),
            (3, lambda: self.request("staff document page", f"/admin/documents/{self.rng.choice(docs)}") if docs
             else self.request("staff document list", "/admin/documents")),
            (2, lambda: self.note(c)),
            (1, lambda: self.draft_invoice(c)),
            (1, lambda: self.notice(c)),
        ])

    def notice(self, c: dict) -> None:
        """An e-mail to the customer: an outbox row, delivered by the mail worker."""
        self.request("staff e-mail notice (write)", f"/admin/customers/{c['id']}/notice", method="POST", form={
            "csrf_token": self.session.csrf_token, "notice": "shipped", "message": "Your order is on its way."})

    def note(self, c: dict) -> None:
        self.request("staff note (write)", f"/admin/customers/{c['id']}/notes", method="POST", form={
            "csrf_token": self.session.csrf_token, "back": "overview",
            "body": f"Called about the open invoices ({time.strftime('%H:%M:%S')})."})

    def draft_invoice(self, c: dict) -> None:
        today = date.today()
        self.request("staff draft invoice (write)", f"/admin/customers/{c['id']}/invoices/new", method="POST", form={
            "csrf_token": self.session.csrf_token, "action": "save", "currency": "EUR",
            "issue_date": today.isoformat(), "due_date": (today + timedelta(days=14)).isoformat(),
            "lines-0-description": "Maintenance contract", "lines-0-quantity": "1",
            "lines-0-unit_price": f"{self.rng.randrange(50, 2000)}.00", "lines-0-vat_rate": "21"})


class PortalCustomer(Person):
    label = "portal"

    def start(self) -> None:
        _, _, html = self.request("portal login page", "/portal/login")
        status, headers, _ = self.request("portal login", "/portal/login", method="POST", form={
            "email": PORTAL_LOGIN, "password": PASSWORD, "csrf_token": client.csrf_from(html)})
        if status != 302:
            raise RuntimeError(f"portal login answered {status}")
        if headers.get("Location", "").endswith("/portal/accounts"):  # a login with several accounts
            _, _, html = self.request("portal accounts", "/portal/accounts")
            choices = [part.split('"', 1)[0] for part in html.split('name="customer_id" value="')[1:]]
            self.request("portal account chosen", "/portal/accounts", method="POST", form={
                "csrf_token": client.csrf_from(html), "customer_id": self.rng.choice(choices)})
        _, _, html = self.request("portal home", "/portal/")
        self.session.csrf_token = client.csrf_from(html)

    def step(self) -> None:
        self._pick([
            (5, lambda: self.request("portal home", "/portal/")),
            (2, lambda: self.request("portal preferences", "/portal/preferences")),
            (2, lambda: self.request("portal contacts", "/portal/contacts")),
            (1, self.save_preferences),
        ])

    def save_preferences(self) -> None:
        form = {"csrf_token": self.session.csrf_token, "notify": "y", "notify_invoice": "y"}
        if self.rng.random() < 0.5:
            form["notify_account"] = "y"
        self.request("portal preferences (write)", "/portal/preferences", method="POST", form=form)


class Debtor(Person):
    label = "dossier"

    def start(self) -> None:
        self.token, self.invoices = self.rng.choice(self.targets.dossiers)

    def step(self) -> None:
        self._pick([
            (5, lambda: self.request("dossier page", f"/d/{self.token}")),
            (4, lambda: self.request("dossier invoice", f"/d/{self.token}/invoices/{self.rng.choice(self.invoices)}")),
            (1, self.ask),
        ])

    def ask(self) -> None:
        invoice = self.rng.choice(self.invoices)
        path = f"/d/{self.token}/invoices/{invoice}"
        status, _, html = self.request("dossier invoice", path)
        if status != 200 or 'name="csrf_token"' not in html and "X-CSRFToken" not in html:
            return
        self.request("dossier question (write)", f"{path}/questions", method="POST", form={
            "csrf_token": client.csrf_from(html), "body": "Could you send me a copy with our order number on it?"})


KINDS = {"staff": Staff, "portal": PortalCustomer, "dossier": Debtor}


def people(base_url: str, targets: Targets, recorder: Recorder, mix: dict[str, int], seed: int = 1) -> list[Person]:
    """`mix` maps a kind (staff, portal, dossier) to how many people of it."""
    rng = random.Random(seed)
    crowd = [KINDS[kind](base_url, targets, recorder, random.Random(rng.random()))
             for kind, n in mix.items() for _ in range(n)]
    rng.shuffle(crowd)
    return crowd


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def summary(outcomes: list[Outcome]) -> dict:
    """Counts and latencies (ms) in all and per label; the first few errors."""
    def stats(items: list[Outcome]) -> dict:
        ms = [o.seconds * 1000 for o in items]
        return {"requests": len(items), "errors": sum(not o.ok for o in items),
                "p50_ms": round(percentile(ms, 50), 1), "p95_ms": round(percentile(ms, 95), 1),
                "p99_ms": round(percentile(ms, 99), 1), "max_ms": round(max(ms, default=0.0), 1)}

    labels = sorted({o.label for o in outcomes})
    return {"all": stats(outcomes),
            "by_label": {label: stats([o for o in outcomes if o.label == label]) for label in labels},
            "first_errors": [o.detail for o in outcomes if not o.ok][:10]}
