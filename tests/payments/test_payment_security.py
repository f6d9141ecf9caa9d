"""What a stranger can try: another customer's invoice or payment ids behind one's own
token, posts without the CSRF token, the test checkout on an installation that has it
off, and random input in every pay form (hypothesis): 404s and 4xx, never a 5xx."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from models.payments import Payment
from tests.conftest import soup_of
from tests.payments.conftest import (
    ENGLISH,
    count,
    invoice_state,
    open_page,
    page_token,
    pay,
    payments_of,
)


def started_test_payment(client, debtor, invoice="all") -> tuple[int, str]:
    response = pay(client, debtor, invoice)
    assert response.status_code == 303
    location = response.headers["Location"]
    return int(location.rsplit("/", 1)[1]), location


def test_a_token_never_pays_another_customers_invoice(app, client, debtor, stranger):
    response = pay(client, debtor, stranger.invoices["open"].id)
    assert response.status_code == 404
    for value in ("99999999", "2147483648", "9999999999"):  # beyond any id and PostgreSQL's integer
        assert pay(client, debtor, value).status_code == 404
    assert count(app, Payment) == 0
    assert invoice_state(app, stranger.invoices["open"].id)[0] == "open"


def test_a_token_never_reaches_another_customers_payment(app, client, debtor, stranger):
    theirs, _ = started_test_payment(client, stranger)
    token = page_token(open_page(client, debtor))
    for url in (f"{debtor.url}/pay/test/{theirs}", f"{debtor.url}/pay/return/{theirs}"):
        assert client.get(url, headers=ENGLISH).status_code == 404
    posted = client.post(f"{debtor.url}/pay/test/{theirs}", data={"csrf_token": token, "outcome": "success"})
    assert posted.status_code == 404
    assert client.get(f"{debtor.url}/pay/test/99999999999", headers=ENGLISH).status_code == 404
    assert invoice_state(app, stranger.invoices["open"].id)[0] == "open"
    # A bad token gets the same 404 as everything else.
    assert client.get(f"/d/not-a-token/pay/test/{theirs}").status_code == 404
    assert client.post("/d/not-a-token/pay", data={"csrf_token": token, "invoice": "all"}).status_code == 404


def test_every_post_needs_the_csrf_token(app, client, debtor):
    open_page(client, debtor)
    assert client.post(f"{debtor.url}/pay", data={"invoice": "all"}).status_code == 400
    assert client.post(f"{debtor.url}/pay", data={"invoice": "all", "csrf_token": "forged"}).status_code == 400
    payment_id, checkout_url = started_test_payment(client, debtor)
    assert client.post(checkout_url, data={"outcome": "success"}).status_code == 400
    assert invoice_state(app, debtor.invoices["open"].id)[0] == "open"
    # The header HTMX sends works as well as the form field.
    token = page_token(open_page(client, debtor))
    assert client.post(checkout_url, data={"outcome": "success"}, headers={"X-CSRFToken": token}).status_code == 303
    assert invoice_state(app, debtor.invoices["open"].id)[0] == "paid"


def test_the_test_checkout_is_off_unless_enabled(app, client, debtor, monkeypatch):
    payment_id, checkout_url = started_test_payment(client, debtor)
    token = page_token(client.get(checkout_url, headers=ENGLISH))  # the checkout was open when it went off
    monkeypatch.setitem(app.config, "PAYMENTS_TEST_PROVIDER", False)
    assert client.get(checkout_url).status_code == 404
    assert client.post(checkout_url, data={"csrf_token": token, "outcome": "success"}).status_code == 404
    assert pay(client, debtor, "all").status_code == 409
    assert invoice_state(app, debtor.invoices["open"].id)[0] == "open"


def test_dossier_payment_pages_are_private(app, client, debtor):
    payment_id, checkout_url = started_test_payment(client, debtor)
    for response in (client.get(checkout_url, headers=ENGLISH), pay(client, debtor, "nonsense")):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "noindex" in response.headers["X-Robots-Tag"]


def test_the_dossier_page_makes_no_third_party_requests(app, client, debtor):
    soup = soup_of(open_page(client, debtor))
    for tag, attr in (("script", "src"), ("link", "href"), ("img", "src"), ("form", "action"), ("iframe", "src")):
        for node in soup.find_all(tag):
            value = node.get(attr) or ""
            assert not value.startswith(("http:", "https:", "//")), (tag, value)


TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["all", "ALL", "0", "-1", "1e3", " 1", "1 ", "01", "%00", "\x00", "EUR", "eur", "XXX",
                     "2147483647", "2147483648", "99999999999999999999", "../1", "1;DROP TABLE payments"]),
    st.integers(min_value=-(2**40), max_value=2**40).map(str),
)


@pytest.fixture
def fuzz_debtor(app, debtor, monkeypatch):
    """The per-IP limit would turn most examples into 429s: lifted here (tested elsewhere)."""
    monkeypatch.setitem(app.config, "DOSSIER_LIMIT_PER_IP", "100000 per minute")
    # Webhooks with keys configured, so they verify (and refuse) rather than answer 404.
    monkeypatch.setitem(app.config, "MOLLIE_API_KEY", "test_fuzzKey")
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", "sk_test_fuzz")
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", "whsec_fuzz")
    return debtor


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(invoice=TEXT, currency=st.one_of(st.none(), TEXT), outcome=TEXT, extra=st.dictionaries(TEXT, TEXT, max_size=2))
def test_fuzz_pay_forms_never_5xx(app, client, fuzz_debtor, invoice, currency, outcome, extra):
    debtor = fuzz_debtor
    token = page_token(open_page(client, debtor))  # the Pay form's hidden csrf_token
    data = {**extra, "csrf_token": token, "invoice": invoice}
    if currency is not None:
        data["currency"] = currency
    response = client.post(f"{debtor.url}/pay", data=data)
    assert response.status_code < 500, (data, response.status_code)
    assert response.status_code != 429
    event(f"pay: {response.status_code}")
    if response.status_code == 303 and "/pay/test/" in response.headers["Location"]:
        checkout_url = response.headers["Location"]
        response = client.post(checkout_url, data={"csrf_token": token, "outcome": outcome, **extra})
        assert response.status_code < 500, (outcome, response.status_code)
    for path in (f"{debtor.url}/pay/test/{invoice}", f"{debtor.url}/pay/return/{invoice}"):
        if "\x00" not in path:
            assert client.get(path).status_code < 500
    hook = client.post("/webhooks/mollie", data={"id": invoice})
    assert hook.status_code < 500
    hook = client.post("/webhooks/stripe", data=invoice.encode("utf-8", "surrogatepass"),
                       headers={"Stripe-Signature": "".join(c for c in outcome if 32 <= ord(c) < 127)})
    assert hook.status_code < 500
    assert all(p.amount > 0 for p in payments_of(app, debtor.customer.id))
