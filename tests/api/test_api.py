"""The REST API: keys, problem+json for every bad input, upserts, paging, idempotency."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from models.api_keys import ApiKey
from models.db import db, now_utc
from models.documents import Document
from models.services import events
from models.customers import Customer
from tests.api.conftest import ApiClient, make_key

CUSTOMER = {"external_id": "EXT-1", "number": "K100", "name": "Ann Smith", "email": "ann@smith.example",
            "contact_persons": [{"name": "Bob", "email": "bob@smith.example", "role": "billing"}], "tags": ["vip"]}
INVOICE = {"kind": "invoice", "external_id": "INV-1", "number": "2026-0001", "customer_external_id": "EXT-1",
           "issue_date": "2026-11-01", "due_date": "2026-12-01", "currency": "EUR",
           "lines": [{"description": "Consulting", "quantity": "2.5", "unit_price": "100.00", "vat_rate": "21"}]}


def problem(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.data[:400])
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["status"] == status and body["title"]
    if field is not None:
        assert body.get("field") == field, body
    return body


def test_missing_wrong_and_revoked_keys_get_401(app, client, key_owner):
    problem(client.get("/api/v1/customers"), 401)
    assert client.get("/api/v1/customers").headers["WWW-Authenticate"].startswith("Bearer")
    problem(ApiClient(client, "dsk_nope").get("/api/v1/customers"), 401)
    secret = make_key(app, key_owner)
    assert ApiClient(client, secret).get("/api/v1/customers").status_code == 200
    with app.app_context():
        key = db.session.scalar(select(ApiKey))
        assert key.last_used_at is not None
        key.revoked_at = now_utc()
        db.session.commit()
    problem(ApiClient(client, secret).get("/api/v1/customers"), 401)
    problem(ApiClient(client, secret).post("/api/v1/customers", json=CUSTOMER), 401)


def test_read_only_key_cannot_write(read_api, app):
    assert read_api.get("/api/v1/customers").status_code == 200
    problem(read_api.post("/api/v1/customers", json=CUSTOMER), 403)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Customer)) == 0


def test_upsert_customer_twice_answers_the_same(api):
    first = api.post("/api/v1/customers", json=CUSTOMER)
    assert first.status_code == 201, first.data
    assert first.get_json()["outcome"] == "created"
    data = first.get_json()["data"]
    assert data["contact_persons"][0]["email"] == "bob@smith.example" and data["tags"] == ["vip"]
    second = api.post("/api/v1/customers", json=CUSTOMER)
    assert second.status_code == 200 and second.get_json()["outcome"] == "unchanged"
    assert second.get_json()["data"] == data
    assert api.get(f"/api/v1/customers/{data['id']}").get_json() == data


def test_upsert_document_and_read_it(api):
    api.post("/api/v1/customers", json=CUSTOMER)
    created = api.post("/api/v1/documents", json=INVOICE)
    assert created.status_code == 201, created.data
    body = created.get_json()["data"]
    assert (body["number"], body["gross_total"], body["status"]) == ("2026-0001", "302.50", "open")
    assert body["lines"][0]["quantity"] == "2.500"
    assert api.post("/api/v1/documents", json=INVOICE).get_json()["outcome"] == "unchanged"
    paid = api.post("/api/v1/documents", json={**INVOICE, "status": "paid"})
    assert paid.get_json()["outcome"] == "updated" and paid.get_json()["data"]["outstanding"] == "0.00"


@pytest.mark.parametrize("body, status, field", [
    ({**INVOICE, "lines": [{"description": "A", "quantity": 1, "unit_price": "1.005", "vat_rate": 21}]}, 422,
     "lines[0].unit_price"),
    ({**INVOICE, "currency": "XYZ"}, 422, "currency"),
    ({**INVOICE, "customer_external_id": "nobody"}, 422, "customer_external_id"),
    ({**INVOICE, "colour": "red"}, 422, "colour"),
    ({**INVOICE, "lines": "many"}, 422, "lines"),
    ({**INVOICE, "released_to_portal": "yes"}, 422, "released_to_portal"),
    ({**INVOICE, "issue_date": "yesterday"}, 422, "issue_date"),
    ({**INVOICE, "totals": {"net": "1.00", "tax": "0.00", "gross": "2.00"}}, 422, "totals.gross"),
])
def test_bad_document_input_is_a_problem_with_the_field(api, app, body, status, field):
    api.post("/api/v1/customers", json=CUSTOMER)
    problem(api.post("/api/v1/documents", json=body), status, field)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Document)) == 0


def test_malformed_json_wrong_type_and_too_large(api):
    problem(api.post("/api/v1/customers", data=b'{"name": ', headers={"Content-Type": "application/json"}), 400)
    problem(api.post("/api/v1/customers", data=b"name=x", headers={"Content-Type": "application/x-www-form-urlencoded"}),
            415)
    problem(api.post("/api/v1/customers", json=[1, 2]), 422)
    problem(api.post("/api/v1/customers", json={"name": 5}), 422, "name")
    big = b'{"name": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    problem(api.post("/api/v1/customers", data=big, headers={"Content-Type": "application/json"}), 413)


def test_unknown_urls_and_methods_are_problems(api):
    problem(api.get("/api/v1/nothing-here"), 404)
    problem(api.get("/api/v1/customers/999999"), 404)
    problem(api._call("DELETE", "/api/v1/customers"), 405)
    problem(api.get("/api/v1/customers?limit=0"), 422, "limit")
    problem(api.get("/api/v1/customers?cursor=abc"), 422, "cursor")


def test_cursor_paging_and_updated_since(api, app):
    for i in range(5):
        assert api.post("/api/v1/customers", json={"external_id": f"E{i}", "name": f"C{i}"}).status_code == 201
    seen, cursor = [], None
    while True:
        page = api.get("/api/v1/customers?limit=2" + (f"&cursor={cursor}" if cursor else "")).get_json()
        seen += [c["external_id"] for c in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"E{i}" for i in range(5)]
    later = api.get("/api/v1/customers").get_json()["data"][-1]["updated_at"]
    api.post("/api/v1/customers", json={"external_id": "E1", "name": "C1 renamed"})
    changed = api.get("/api/v1/customers", query_string={"updated_since": later}).get_json()["data"]
    assert "E1" in [c["external_id"] for c in changed] and "E0" not in [c["external_id"] for c in changed]


def test_idempotency_key(api, app):
    api.post("/api/v1/customers", json=CUSTOMER)
    api.post("/api/v1/documents", json=INVOICE)
    payment = {"document_external_id": "INV-1", "amount": "100.00", "received_on": "2026-11-10"}
    headers = {"Idempotency-Key": "pay-1"}
    first = api.post("/api/v1/payments", json=payment, headers=headers)
    assert first.status_code == 201, first.data
    again = api.post("/api/v1/payments", json=payment, headers=headers)
    assert (again.status_code, again.data) == (201, first.data)
    assert again.headers["Idempotent-Replayed"] == "true"
    problem(api.post("/api/v1/payments", json={**payment, "amount": "5.00"}, headers=headers), 422, "Idempotency-Key")
    payments = api.get("/api/v1/payments").get_json()["data"]
    assert len(payments) == 1 and payments[0]["amount"] == "100.00"
    assert api.get(f"/api/v1/documents/{first.get_json()['data']['items'][0]['document_id']}").get_json()[
        "outstanding"] == "202.50"


def test_events_after_a_cursor(api, app):
    api.post("/api/v1/customers", json=CUSTOMER)  # its contact persons are an event already
    start = api.get("/api/v1/events").get_json()["next_cursor"] or 0
    with app.app_context():
        customer = db.session.scalar(select(Customer))
        for _ in range(3):
            events.record("email.provided", customer=customer, data={"email": "x@example.test"})
        db.session.commit()
    page = api.get(f"/api/v1/events?limit=2&after={start}").get_json()
    assert [e["type"] for e in page["data"]] == ["email.provided"] * 2
    rest = api.get(f"/api/v1/events?after={page['next_cursor']}").get_json()
    assert len(rest["data"]) == 1 and rest["data"][0]["data"]["customer"]["external_id"] == "EXT-1"


def test_original_pdf(api):
    api.post("/api/v1/customers", json=CUSTOMER)
    document_id = api.post("/api/v1/documents", json=INVOICE).get_json()["data"]["id"]
    problem(api.put(f"/api/v1/documents/{document_id}/original", data=b"hello",
                    headers={"Content-Type": "application/pdf"}), 422)
    problem(api.put(f"/api/v1/documents/{document_id}/original", data=b"%PDF-1.4",
                    headers={"Content-Type": "text/plain"}), 415)
    stored = api.put(f"/api/v1/documents/{document_id}/original", data=b"%PDF-1.4 test",
                     headers={"Content-Type": "application/pdf"})
    assert stored.status_code == 200 and stored.get_json()["has_original"] is True
    got = api.get(f"/api/v1/documents/{document_id}/original")
    assert (got.status_code, got.mimetype, got.data) == (200, "application/pdf", b"%PDF-1.4 test")


def test_openapi_document_and_reference_page(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert {"/api/v1/customers", "/api/v1/documents", "/api/v1/payments", "/api/v1/events"} <= set(doc["paths"])
    assert not any(p.startswith("/admin") for p in doc["paths"])
    page = client.get("/api/v1/reference")
    assert page.status_code == 200 and b"POST /api/v1/documents" in page.data
    assert b"cdn" not in page.data.lower()
    text = " ".join(page.get_data(as_text=True).split())
    assert "At most 100 items." in text and "One of individual, company." in text
    german = " ".join(client.get("/api/v1/reference", headers={"Accept-Language": "de"}).get_data(as_text=True).split())
    assert "Höchstens 100 Einträge." in german and "Einer von individual, company." in german


def test_rate_limit_per_key(app, key_owner, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "3 per minute")
    one = ApiClient(app.test_client(), make_key(app, key_owner, name="one"))
    two = ApiClient(app.test_client(), make_key(app, key_owner, name="two"))
    for _ in range(3):
        assert one.get("/api/v1/events").status_code == 200
    problem(one.get("/api/v1/events"), 429)
    assert two.get("/api/v1/events").status_code == 200


def test_batch_is_all_or_nothing_and_names_the_record(api, app):
    api.post("/api/v1/customers", json=CUSTOMER)
    second = {**INVOICE, "external_id": "INV-2", "number": "2026-0002"}
    bad = {**INVOICE, "external_id": "INV-3", "number": "2026-0003", "currency": "XYZ"}
    problem(api.post("/api/v1/documents/batch", json={"documents": [INVOICE, second, bad]}), 422,
            "documents[2].currency")
    nobody = {**INVOICE, "external_id": "INV-3", "number": "2026-0003", "customer_external_id": "nobody"}
    problem(api.post("/api/v1/documents/batch", json={"documents": [INVOICE, second, nobody]}), 422,
            "documents[2].customer_external_id")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Document)) == 0
    done = api.post("/api/v1/documents/batch", json={"documents": [INVOICE, second]})
    assert done.status_code == 200, done.data
    assert [r["outcome"] for r in done.get_json()["results"]] == ["created", "created"]
    again = api.post("/api/v1/documents/batch", json={"documents": [INVOICE, second]})
    assert [r["outcome"] for r in again.get_json()["results"]] == ["unchanged", "unchanged"]
    # The same record twice in one batch, and one changed then sent as before: in order.
    third = {**INVOICE, "external_id": "INV-3", "number": "2026-0003"}
    paid = {**INVOICE, "status": "paid"}
    repeat = api.post("/api/v1/documents/batch", json={"documents": [third, third, paid, INVOICE]})
    assert [r["outcome"] for r in repeat.get_json()["results"]] == ["created", "unchanged", "updated", "unchanged"]
    renumbered = {**second, "number": "2026-0099"}
    moved = api.post("/api/v1/documents/batch", json={"documents": [renumbered, second]})
    assert [r["outcome"] for r in moved.get_json()["results"]] == ["updated", "updated"]
    assert api.get(f"/api/v1/documents/{done.get_json()['results'][1]['id']}").get_json()["number"] == "2026-0002"
    problem(api.post("/api/v1/documents/batch", json={"documents": [INVOICE] * 101}), 422, "documents")
    customers = api.post("/api/v1/customers/batch", json={"customers": [CUSTOMER, {"external_id": "E2", "name": "Two"}]})
    assert [r["outcome"] for r in customers.get_json()["results"]] == ["unchanged", "created"]


def test_the_original_is_what_staff_and_the_customer_download(app, api, owner_client):
    from models.services.settings import get_settings
    from models.services import dossier

    api.post("/api/v1/customers", json=CUSTOMER)
    document_id = api.post("/api/v1/documents", json=INVOICE).get_json()["data"]["id"]
    original = b"%PDF-1.4 the package's own invoice"
    api.put(f"/api/v1/documents/{document_id}/original", data=original, headers={"Content-Type": "application/pdf"})
    staff = owner_client.get(f"/admin/documents/{document_id}/pdf")
    assert (staff.status_code, staff.data) == (200, original)
    with app.app_context():
        get_settings(for_update=True).allow_pdf_download = True
        token = dossier.current_token(db.session.scalar(select(Customer)).id)
        db.session.commit()
    customer = app.test_client().get(f"/d/{token}/documents/{document_id}/pdf")
    assert (customer.status_code, customer.data) == (200, original)
    assert customer.headers["Content-Disposition"] == 'attachment; filename="2026-0001.pdf"'


def test_a_cursor_beyond_any_id_reads_an_empty_page(api):
    for path in ("customers", "documents", "payments"):
        page = api.get(f"/api/v1/{path}?cursor=9999999999")
        assert page.status_code == 200 and page.get_json() == {"data": [], "next_cursor": None}


def test_json_nested_too_deeply_is_a_400_not_a_500(api):
    """Python's json module gives up (RecursionError) on a body nested some thousand deep."""
    deep = b'{"tags": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    body = problem(api.post("/api/v1/customers", data=deep, headers={"Content-Type": "application/json"}), 400)
    assert "nested" in body["detail"]
    assert api.post("/api/v1/customers", json={"external_id": "E1", "name": "Still fine"}).status_code == 201


@pytest.mark.parametrize("since", ["2026-12-01", "2026-12-01T10:00:00"])
def test_updated_since_without_a_time_zone_names_the_field(api, since):
    api.post("/api/v1/customers", json=CUSTOMER)
    for path in ("customers", "documents"):
        body = problem(api.get(f"/api/v1/{path}", query_string={"updated_since": since}), 422, "updated_since")
        assert "time zone" in body["detail"].lower() or "timezone" in body["detail"].lower()
