"""E-invoices through the REST API: an invoice downloaded in each format, and a file from
the business's own system imported as a document (validated first; the buyer matched, or
created only when asked)."""

from __future__ import annotations

import pytest
from lxml import etree
from sqlalchemy import func, select

from models.customers import Customer
from models.db import db
from models.documents import Document
from tests.api.conftest import ApiClient, make_key
from tests.einvoice.conftest import assert_valid, embedded_xml, make_document
from tests.einvoice.test_incoming import LINES, exported, forget, from_an_unknown_buyer
from tests.letters.conftest import require_pdf


@pytest.fixture
def api(app, owner):
    return ApiClient(app.test_client(), make_key(app, owner))


@pytest.mark.parametrize("fmt", ["xrechnung-ubl", "xrechnung-cii"])
def test_an_invoice_downloads_as_valid_xml(app, api, seller, buyer, fmt):
    invoice = make_document(buyer, LINES)
    response = api.get(f"/api/v1/documents/{invoice.id}/einvoice?format={fmt}")
    assert response.status_code == 200, response.data[:500]
    assert response.mimetype == "application/xml"
    assert f"{fmt}.xml" in response.headers["Content-Disposition"]
    assert_valid(response.data)


def test_a_factur_x_pdf_downloads_with_its_xml(app, api, seller, buyer):
    require_pdf(app)
    invoice = make_document(buyer, LINES)
    response = api.get(f"/api/v1/documents/{invoice.id}/einvoice?format=facturx")
    assert response.status_code == 200 and response.data.startswith(b"%PDF-")
    assert_valid(embedded_xml(response.data))


def test_what_is_no_e_invoice_is_refused_with_a_problem(app, api, seller, buyer):
    quote = make_document(buyer, LINES, kind="order_confirmation")
    refused = api.get(f"/api/v1/documents/{quote.id}/einvoice?format=xrechnung-ubl")
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    assert "Only invoices and credit notes" in refused.get_json()["detail"]
    unknown = api.get(f"/api/v1/documents/{quote.id}/einvoice?format=pdf")
    assert unknown.status_code == 422 and unknown.get_json()["field"] == "format"
    assert api.get("/api/v1/documents/999999/einvoice?format=xrechnung-ubl").status_code == 404
    assert ApiClient(app.test_client(), None).get(
        f"/api/v1/documents/{quote.id}/einvoice?format=xrechnung-ubl").status_code == 401


def post_file(api, content: bytes, mimetype: str = "application/xml", query: str = ""):
    return api.client.post(f"/api/v1/einvoices{query}", data=content, content_type=mimetype, headers=api.headers)


def test_an_e_invoice_comes_back_as_the_same_document_once(app, api, seller, buyer):
    invoice = make_document(buyer, LINES)
    content = exported(app, invoice, "xrechnung-cii")
    forget(app, invoice)

    created = post_file(api, content)
    assert created.status_code == 201, created.data[:800]
    body = created.get_json()
    assert body["outcome"] == "created"
    assert (body["data"]["number"], body["data"]["customer"]["id"], body["data"]["gross_total"]) == (
        invoice.number, buyer.id, f"{invoice.gross_total:.2f}")
    again = post_file(api, content)
    assert (again.status_code, again.get_json()["outcome"]) == (200, "unchanged")
    with app.app_context():
        assert db.session.scalar(select(func.count(Document.id))) == 1


def test_an_unknown_buyer_is_created_only_when_asked(app, api, seller):
    _invoice, content = from_an_unknown_buyer(app, "N-7", "Weißbier GmbH")

    refused = post_file(api, content)
    assert refused.status_code == 422 and refused.get_json()["field"] == "create_customer"
    with app.app_context():
        assert db.session.scalar(select(func.count(Customer.id))) == 0
    created = post_file(api, content, query="?create_customer=true")
    assert created.status_code == 201, created.data[:800]
    with app.app_context():
        customer = db.session.scalar(select(Customer))
        assert (customer.company_name, customer.number, customer.vat_id) == ("Weißbier GmbH", "N-7", "DE111222333")


def test_a_file_that_breaks_rules_names_them(app, api, seller, buyer):
    invoice = make_document(buyer, LINES)
    root = etree.fromstring(exported(app, invoice, "xrechnung-ubl"))
    ns = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
          "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}
    total = root.find("cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount", ns)
    total.text = "1.00"  # no longer net plus VAT
    forget(app, invoice)

    response = post_file(api, etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["field"] == "body"
    assert "BR-CO-15" in {error["rule"] for error in problem["errors"]}
    not_xml = post_file(api, b"number;amount\n1;2\n", mimetype="text/csv")
    assert not_xml.status_code == 422 and not_xml.get_json()["field"] == "body"
    with app.app_context():
        assert db.session.scalar(select(func.count(Document.id))) == 0


def test_a_read_only_key_cannot_import(app, owner, seller, buyer):
    reader = ApiClient(app.test_client(), make_key(app, owner, scopes=("read",), name="Reader"))
    assert post_file(reader, b"<x/>").status_code == 403


def test_an_idempotency_key_reused_for_another_file_is_refused(app, api, seller, buyer):
    """The view had read the body without keeping it, so the key's fingerprint saw an empty
    body: another file under the same key got the first file's answer, and was not imported."""
    first = make_document(buyer, LINES)
    second = make_document(buyer, [("Malz", "20", "3.10", "7")])
    files = [exported(app, document, "xrechnung-ubl") for document in (first, second)]
    forget(app, first)
    forget(app, second)
    key = {"Idempotency-Key": "import-1"}
    created = api.post("/api/v1/einvoices", data=files[0], headers={"Content-Type": "application/xml", **key})
    assert created.status_code == 201, created.data[:500]
    replayed = api.post("/api/v1/einvoices", data=files[0], headers={"Content-Type": "application/xml", **key})
    assert replayed.status_code == 201 and replayed.headers["Idempotent-Replayed"] == "true"
    other = api.post("/api/v1/einvoices", data=files[1], headers={"Content-Type": "application/xml", **key})
    assert other.status_code == 422 and other.get_json()["field"] == "Idempotency-Key"
