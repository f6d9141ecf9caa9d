"""The pages `make bench` measures and the request lists that make the traffic cold.

Each page comes with a list of requests, one line per request, every line a different
customer (or a different search); wrk walks the list (cold.lua), so no request repeats a
page another one just rendered, as with real traffic: a debtor opens their own dossier
link, staff open one customer after another. The lists are shuffled anew every run.
The dashboard is the exception: one page, the same URL every time, kept cold by the
background writer changing the documents its aggregates scan (`Page.note` says so in the
results).
"""

from __future__ import annotations

import random
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

STATIC_PATH = "/static/css/app.css"  # the baseline: Flask's static route, same app and server

Line = tuple[str, str, str]  # method, path, form body ("" for a GET)


@dataclass
class Page:
    name: str
    lines: list[Line]
    staff: bool = True  # sent with the staff owner's session cookie (else anonymous)
    htmx: bool = False  # sent as HTMX sends it (HX-Request and the X-CSRFToken header)
    expect: str = ""  # a text the verified response must contain (not an empty page or a prompt)
    target_ratio: float | None = None  # the target: req/s >= ratio x static file
    floor_ratio: float | None = None  # the "no slower than before" figure
    target_p95_ms: float | None = 50.0
    note: str = ""  # written with the page's figures (bench/results.json)
    repeats: bool = False  # one URL by nature: sending a line again is no warm-up to warn about
    list_file: Path = field(default=Path())

    def write(self, directory: Path) -> None:
        self.list_file = directory / (self.name.replace(" ", "_").replace("/", "") + ".txt")
        self.list_file.write_text("".join(f"{m}\t{p}\t{b}\n" for m, p, b in self.lines))


def static_page() -> Page:
    return Page("static file", [("GET", STATIC_PATH, "")], staff=False, expect="}", target_p95_ms=None)


def dossier_tokens(app, customer_ids: list[int]) -> list[str]:
    """Each customer's dossier link token, through the app's own service (created on first
    use, as the Info tab does). The tokens are signed with the app's SECRET_KEY, so `app`
    must be configured with the key gunicorn gets."""
    from models.db import db
    from models.services import dossier

    with app.app_context():
        with db.session.no_autoflush:  # new links are inserted in one flush, at the commit
            tokens = [dossier.token_for(dossier.current_link(cid)) for cid in customer_ids]
        db.session.commit()
        db.session.remove()
    return tokens


def dossier_page(tokens: list[str]) -> Page:
    return Page("dossier /d/<token>", [("GET", f"/d/{t}", "") for t in tokens], staff=False,
                expect='id="open-h"', target_ratio=0.25, floor_ratio=0.17)


def overview_page(customers: list[dict]) -> Page:
    return Page("customer Overview", [("GET", f"/admin/customers/{c['id']}", "") for c in customers],
                expect='id="since"', target_ratio=0.20, floor_ratio=0.165)


def documents_tab_page(customers: list[dict]) -> Page:
    """A customer's Documents tab as staff open it: every kind, the first page (sorted by
    date), and the account statement of all time (issue 16)."""
    return Page("customer Documents tab", [("GET", f"/admin/customers/{c['id']}/documents", "") for c in customers],
                expect='id="statement-h"', target_ratio=0.15, target_p95_ms=80.0)


def dashboard_page() -> Page:
    """The staff dashboard /admin/ (issue 16): one URL, read while the writer creates
    invoices (and saves contacts, adds notes), so its sums are never over unchanged data."""
    return Page("dashboard /admin/", [("GET", "/admin/", "")], expect='id="ageing-h"', target_ratio=0.15,
                target_p95_ms=80.0, repeats=True,
                note="one page (the same URL every request), kept cold only by the writer's changes; "
                     "its aggregates scan the documents table (every unpaid receivable) and the "
                     "payments of the last 12 weeks on each request")


def search_queries(customers: list[dict], rng: random.Random, n: int = 5000) -> list[str]:
    """What staff type into the search box: a surname, a first name, a word of a company
    name, a customer number (whole or all but its last digit), part of an e-mail address,
    three or four letters of a name. Many match one customer, some hundreds."""
    def candidates(c: dict) -> list[str]:
        words = (c["name"] or "").split()
        company = [w for w in (c["company_name"] or "").split() if len(w) > 2]
        name = (c["name"] or "").lower()
        start = rng.randrange(max(len(name) - 3, 1))
        return [
            words[-1] if words else "", words[0] if words else "", rng.choice(company) if company else "",
            c["number"], c["number"][:-1], (c["email"] or "").partition("@")[0],
            name[start:start + rng.choice((3, 4))],
        ]

    queries: set[str] = set()
    for _ in range(n * 4):
        if len(queries) >= n:
            break
        query = rng.choice(candidates(rng.choice(customers))).strip()
        if len(query) >= 2:
            queries.add(query)
    result = sorted(queries)
    rng.shuffle(result)
    return result


def search_page(queries: list[str]) -> Page:
    return Page("customer list ?q=", [("GET", "/admin/customers?" + urllib.parse.urlencode({"q": q}), "")
                                      for q in queries], expect='id="results"')


def contact_form(c: dict, phone: str) -> dict[str, str]:
    """The inline row's form as HTMX posts it: fields prefixed `c<id>-`, an unticked box left out."""
    prefix = f"c{c['contact_id']}-"
    return {prefix + k: v for k, v in {
        "name": c["contact_name"], "email": c["contact_email"], "phone": phone,
        "role": "billing", "invoice_emails": "y"}.items()}


def random_phone(rng: random.Random) -> str:
    return f"+31 6 {rng.randrange(10**7, 10**8)}"


def contact_save_page(customers: list[dict], rng: random.Random) -> Page:
    """A contact row saved with a new phone number (so every save writes), answered with
    the display row fragment."""
    return Page("contact save (HTMX)", [
        ("POST", f"/admin/customers/{c['id']}/contacts/{c['contact_id']}",
         urllib.parse.urlencode(contact_form(c, random_phone(rng))))
        for c in customers], htmx=True, expect='<tr id="contact-')
