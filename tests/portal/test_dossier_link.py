"""The dossier link: staff copy it from the Info tab, the debtor opens it without a login.

Everything a stranger can try (a guessed, revoked, forged or foreign token, a token made
from a copy of the database) ends on the same 404 page, and trying is rate limited.
"""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, select

from models import clock
from models.audit import AuditEvent
from models.db import db
from models.documents import DocumentStatus
from models.dossier import DossierLink
from models.services import dossier
from tests import factories
from tests.conftest import TEST_CONFIG, input_value, soup_of
from wsgi import create_app

BASE_URL = TEST_CONFIG["BASE_URL"]
ENGLISH = {"Accept-Language": "en"}


# --- reading pages like a person -------------------------------------------------------------


def dossier_url(staff, customer) -> str:
    """The link as the Info tab shows it, in its read-only input labelled "Dossier link"."""
    soup = staff.soup(f"/admin/customers/{customer.id}/info")
    control = soup.find(id=soup.find("label", string="Dossier link")["for"])
    assert control.name == "input" and control.has_attr("readonly")
    return input_value(soup, "Dossier link")


def path_of(url: str) -> str:
    assert url.startswith(BASE_URL + "/d/"), url
    return url[len(BASE_URL):]


def token_of(url: str) -> str:
    return path_of(url)[len("/d/"):]


def invoice_rows(soup, section: str = "Open invoices") -> list[dict[str, str]]:
    table = soup.find("h2", string=section).find_parent("section").find("table")
    if table is None:
        return []
    headers = [th.get_text(strip=True) for th in table.thead.find_all("th")]
    return [dict(zip(headers, (td.get_text(" ", strip=True) for td in tr.find_all("td"))))
            for tr in table.tbody.find_all("tr")]


def total_outstanding(soup) -> str:
    return soup.find("p", class_="total").get_text(" ", strip=True)


def page_body(response) -> str:
    """The page as a stranger sees it, without the per-session CSRF token in <body hx-headers>."""
    return re.sub(r'hx-headers=\'[^\']*\'', "", response.get_data(as_text=True))


def history(soup) -> list[str]:
    section = soup.find(id="history-h").find_parent("section")
    table = section.find("table")
    return [tr.find_all("td")[2].get_text(strip=True) for tr in table.tbody.find_all("tr")] if table else []


def b64_bytes(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@pytest.fixture
def customers(app, owner):
    """Two customers with invoices in every invoice status; the debtor reads English."""
    mine = factories.customer(name="Dora Debtor", language="en", email="dora@example.test")
    other = factories.customer(name="Stan Stranger", language="en", email="stan@example.test")
    invoices = {
        "open": factories.invoice(mine, amount="100.00"),  # 121.00
        "partial": factories.invoice(mine, amount="200.00", status=DocumentStatus.partially_paid,
                                     amount_paid="42.00"),  # 242.00 - 42.00 = 200.00
        "overdue": factories.invoice(mine, amount="10.00", vat="0", due_in_days=-5),  # 10.00
        "paid": factories.invoice(mine, amount="50.00", status=DocumentStatus.paid, amount_paid="60.50"),
        "cancelled": factories.invoice(mine, amount="70.00", status=DocumentStatus.cancelled),
        "other": factories.invoice(other, amount="999.00"),
    }
    return mine, other, invoices


# --- the link on the Info tab opens the customer's open invoices ------------------------------


def test_info_tab_shows_a_link_that_opens_the_customers_open_invoices(owner_client, client, customers):
    mine, other, invoices = customers
    url = dossier_url(owner_client, mine)
    assert re.fullmatch(re.escape(BASE_URL) + r"/d/[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}", url), url

    response = client.get(path_of(url), headers=ENGLISH)
    assert response.status_code == 200
    soup = soup_of(response)
    assert soup.h1.get_text(strip=True) == "Your dossier"
    assert "Dora Debtor" in soup.find(class_="sub").get_text()
    rows = invoice_rows(soup)
    assert sorted(r["Invoice"] for r in rows) == sorted(
        invoices[k].number for k in ("open", "partial", "overdue"))
    by_number = {r["Invoice"]: r for r in rows}
    assert by_number[invoices["partial"].number]["Amount"] == "€242.00"
    assert by_number[invoices["partial"].number]["Outstanding"] == "€200.00"
    assert by_number[invoices["open"].number]["Outstanding"] == "€121.00"
    assert total_outstanding(soup) == "Total outstanding: €331.00"

    text = soup.get_text(" ")
    for hidden in (invoices["cancelled"].number, invoices["other"].number,
                   other.name, other.number, other.email, "€999", "1,208.79"):
        assert hidden not in text, hidden
    # The paid invoice is history, not open.
    paid_section = soup.find("h2", string="Paid invoices").find_parent("section")
    assert invoices["paid"].number in paid_section.get_text()
    assert invoices["paid"].number not in soup.find("h2", string="Open invoices").find_parent("section").get_text()


def test_open_invoices_oldest_due_first_and_the_latest_paid_ones(owner_client, client):
    debtor = factories.customer(language="en")
    later = factories.invoice(debtor, amount="10.00", due_in_days=30)
    overdue = factories.invoice(debtor, amount="10.00", due_in_days=-3)
    sooner = factories.invoice(debtor, amount="10.00", due_in_days=5)
    paid = [factories.invoice(debtor, amount="1.00", status=DocumentStatus.paid, amount_paid="1.21",
                              issue_date=clock.today() - timedelta(days=days)) for days in (3, 0, 60, 1)]
    paid += [factories.invoice(debtor, amount="1.00", status=DocumentStatus.paid, amount_paid="1.21",
                               issue_date=clock.today() - timedelta(days=100 + days)) for days in range(48)]
    soup = soup_of(client.get(path_of(dossier_url(owner_client, debtor)), headers=ENGLISH))

    assert [r["Invoice"] for r in invoice_rows(soup)] == [overdue.number, sooner.number, later.number]
    history = soup.find("h2", string="Paid invoices").find_parent("section").find("tbody").find_all("tr")
    newest_first = sorted(paid, key=lambda invoice: (invoice.issue_date, invoice.id), reverse=True)
    assert [row.a.get_text(strip=True) for row in history] == [invoice.number for invoice in newest_first[:50]]
    assert newest_first[-1].number not in soup.get_text()  # the 52nd, the oldest, is left out


def test_the_other_customers_link_shows_only_their_invoice(owner_client, client, customers):
    mine, other, invoices = customers
    soup = soup_of(client.get(path_of(dossier_url(owner_client, other)), headers=ENGLISH))
    assert [r["Invoice"] for r in invoice_rows(soup)] == [invoices["other"].number]
    assert total_outstanding(soup) == "Total outstanding: €1,208.79"
    assert mine.name not in soup.get_text() and invoices["open"].number not in soup.get_text()


def test_a_customer_without_open_invoices_sees_nothing_outstanding(owner_client, client):
    paid_up = factories.customer(language="en")
    factories.invoice(paid_up, amount="10.00", status=DocumentStatus.paid, amount_paid="12.10")
    soup = soup_of(client.get(path_of(dossier_url(owner_client, paid_up)), headers=ENGLISH))
    assert invoice_rows(soup) == []
    assert soup.find(class_="empty").get_text(strip=True) == "You have no open invoices."
    assert total_outstanding(soup) == "Total outstanding: €0.00"


def test_the_link_is_created_once_and_kept(app, owner_client, employee_client, employee):
    customer = factories.customer(assigned_to=[employee])
    first = dossier_url(owner_client, customer)
    assert dossier_url(owner_client, customer) == first
    assert dossier_url(employee_client, customer) == first  # every staff member sees the same link
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DossierLink)) == 1


def test_each_part_of_the_token_carries_128_bits(app, owner_client):
    """The public id is 16 random bytes, the signature 16 bytes of an HMAC: neither can be guessed."""
    customer = factories.customer()
    tokens = [token_of(dossier_url(owner_client, customer))]
    for _ in range(40):
        assert owner_client.post(f"/admin/customers/{customer.id}/dossier-link", data={"confirm": "1"}).status_code == 302
        tokens.append(token_of(dossier_url(owner_client, customer)))
    parts = [t.split(".") for t in tokens]
    assert all(len(p) == 2 for p in parts)
    public_ids = [b64_bytes(p[0]) for p in parts]
    signatures = [b64_bytes(p[1]) for p in parts]
    assert all(len(b) >= 16 for b in public_ids + signatures)
    assert len(set(public_ids)) == len(set(signatures)) == len(tokens)  # all different
    # Not a counter or a timestamp: every one of the 128 bits takes both values across 41 draws
    # (a random bit stays the same 41 times with probability 2^-40).
    for values in (public_ids, signatures):
        numbers = [int.from_bytes(v[:16], "big") for v in values]
        set_in_all, set_in_any = (1 << 128) - 1, 0
        for n in numbers:
            set_in_all &= n
            set_in_any |= n
        assert set_in_all == 0 and set_in_any == (1 << 128) - 1


# --- everything else is the same 404 ---------------------------------------------------------


def _foreign_key_token(public_id: str) -> str:
    """The token the app would make under another SECRET_KEY: what a copy of the database alone yields."""
    thief = create_app({**TEST_CONFIG, "SECRET_KEY": "a-different-secret-key-also-long-enough",
                        "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with thief.app_context():
        return dossier.token_for(DossierLink(public_id=public_id))


def test_unknown_revoked_forged_and_foreign_tokens_get_the_same_404(app, owner_client, client, customers):
    mine, other, _ = customers
    old_url = dossier_url(owner_client, mine)
    response = owner_client.post(f"/admin/customers/{mine.id}/dossier-link", data={"confirm": "1"})
    assert response.status_code == 302
    current = token_of(dossier_url(owner_client, mine))
    assert current != token_of(old_url)
    public_id, signature = current.split(".")
    other_public_id, other_signature = token_of(dossier_url(owner_client, other)).split(".")

    with app.app_context():  # the simulation is faithful: under the real key it makes the real token
        assert dossier.token_for(DossierLink(public_id=public_id)) == current
    flipped = signature[:-2] + ("AA" if not signature.endswith("AA") else "BA")
    attempts = {
        "unknown": "AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA",
        "garbage": "not-a-token",
        "revoked": token_of(old_url),
        "forged signature": f"{public_id}.{flipped}",
        "another customer's id with this signature": f"{other_public_id}.{signature}",
        "this id with another customer's signature": f"{public_id}.{other_signature}",
        "signed with another SECRET_KEY": _foreign_key_token(public_id),
        "public id alone": public_id,
        "public id and a dot": public_id + ".",
    }
    assert attempts["signed with another SECRET_KEY"] != current
    bodies = {}
    for name, token in attempts.items():
        response = client.get(f"/d/{token}", headers=ENGLISH)
        assert response.status_code == 404, (name, response.status_code)
        bodies[name] = page_body(response)
    reference = bodies.pop("unknown")
    assert BeautifulSoup(reference, "html.parser").h1.get_text(strip=True) == "This page does not exist, or you do not have access to it."
    for name, body in bodies.items():
        assert body == reference, name
    # The current link still works: nothing above was refused for being a dossier link as such.
    assert client.get(f"/d/{current}").status_code == 200


def test_archived_customer_link_gets_the_same_404(owner_client, client, customers):
    """The debtor reads Dutch: the 404 must not be in their language, or it would tell that the link is real."""
    mine = factories.customer(name="Nina Nederlands", language="nl")
    factories.invoice(mine)
    path = path_of(dossier_url(owner_client, mine))
    assert client.get(path, headers=ENGLISH).status_code == 200
    unknown = client.get("/d/AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA", headers=ENGLISH)

    assert owner_client.post(f"/admin/customers/{mine.id}/archive", data={"confirm": "1"}).status_code == 302
    response = client.get(path, headers=ENGLISH)
    assert response.status_code == 404
    assert page_body(response) == page_body(unknown)
    assert "Nina" not in response.get_data(as_text=True)


# --- rate limit, headers, language -----------------------------------------------------------


def test_the_61st_request_from_one_ip_within_a_minute_is_refused(app, owner_client, client, customers):
    mine, _, _ = customers
    path = path_of(dossier_url(owner_client, mine))
    assert app.config["DOSSIER_LIMIT_PER_IP"] == "60 per minute"
    guesser = {"REMOTE_ADDR": "203.0.113.7"}
    # Guesses count: 59 wrong tokens and the right one are the 60 allowed requests...
    for n in range(59):
        assert client.get(f"/d/{n:022d}.{n:022d}", environ_base=guesser).status_code == 404
    assert client.get(path, environ_base=guesser).status_code == 200
    # ... and the 61st is refused, the right token included.
    response = client.get(path, environ_base=guesser)
    assert response.status_code == 429
    assert "Too many attempts" in soup_of(response).h1.get_text()
    assert client.get("/d/AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA", environ_base=guesser).status_code == 429
    # Per IP: another visitor is still served.
    assert client.get(path, environ_base={"REMOTE_ADDR": "198.51.100.9"}).status_code == 200


def test_dossier_page_headers(owner_client, client, customers):
    mine, _, _ = customers
    response = client.get(path_of(dossier_url(owner_client, mine)))
    assert response.status_code == 200
    headers = response.headers
    assert headers["Referrer-Policy"] == "no-referrer"  # the token never leaves in a Referer
    assert "noindex" in headers["X-Robots-Tag"]
    assert headers["Cache-Control"] == "no-store"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert soup_of(response).find("meta", attrs={"name": "robots"})["content"].startswith("noindex")


@pytest.mark.parametrize("language", ["nl", "de", "en"])
def test_the_page_speaks_the_customers_language(owner_client, client, language):
    customer = factories.customer(language=language)
    factories.invoice(customer)
    path = path_of(dossier_url(owner_client, customer))
    for browser in ("en", "de", "nl"):  # whatever the browser asks for
        soup = soup_of(client.get(path, headers={"Accept-Language": browser}))
        assert soup.html["lang"] == language, browser


# --- rotating ----------------------------------------------------------------------------------


def test_issuing_a_new_link_through_the_info_tab(app, owner_client, client, customers, owner):
    mine, _, _ = customers
    info = f"/admin/customers/{mine.id}/info"
    old_url = dossier_url(owner_client, mine)
    soup = owner_client.soup(info)
    button = soup.find("button", string=lambda s: s and s.strip() == "Issue new dossier link")
    assert button is not None
    form = button.find_parent("form")
    assert form["method"] == "post"

    # The button asks first, in words (tests/admin/test_confirmations.py), then the "Yes" button acts.
    asked = soup_of(owner_client.post(form["action"]))
    yes = asked.find("button", string=lambda s: s and s.strip() == "Yes, issue a new dossier link")
    assert yes is not None and input_value(owner_client.soup(info), "Dossier link") == old_url
    confirm = yes.find_parent("form")
    fields = {i["name"]: i["value"] for i in confirm.find_all("input", type="hidden")}
    response = owner_client.post(confirm["action"], data=fields, follow_redirects=True)
    assert response.status_code == 200
    soup = soup_of(response)
    assert "A new dossier link was issued; the old link no longer works." in soup.get_text()
    new_url = input_value(soup, "Dossier link")
    assert new_url != old_url

    assert client.get(path_of(old_url)).status_code == 404
    assert client.get(path_of(new_url)).status_code == 200
    assert dossier_url(owner_client, mine) == new_url  # kept from now on

    # The History of the Info tab tells who did it.
    assert history(owner_client.soup(info)) == ["New dossier link issued"]
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "dossier_link.rotated"))
        assert (event.customer_id, event.actor_staff_id) == (mine.id, owner.id)
        links = db.session.scalars(select(DossierLink).where(DossierLink.customer_id == mine.id)
                                   .order_by(DossierLink.id)).all()
        assert [link.revoked_at is not None for link in links] == [True, False]
