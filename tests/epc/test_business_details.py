"""The business details settings page: IBAN, BIC and VAT id checked, errors at the field."""

from __future__ import annotations

from models.audit import AuditEvent
from models.db import db
from models.services.settings import get_settings
from tests.conftest import field_error, input_value, soup_of

URL = "/admin/settings/business-details"
VALID = {"street": "Oudegracht 1", "postal_code": "3511 AB", "city": "Utrecht", "country": "NL",
         "vat_id": "nl 0044.95445.B01", "tax_number": "12345678", "registration_number": "30123456",
         "iban": "nl91 abna 0417 1643 00", "bic": "abnanl2a", "account_holder": "Bakkerij Brood B.V."}


def saved(app):
    with app.app_context():
        settings = get_settings()
        return {name: getattr(settings, name) for name in VALID}


def test_the_details_are_saved_normalised_and_audited(app, owner_client):
    response = owner_client.post(URL, data=VALID)
    assert response.status_code == 302
    assert saved(app) == {**VALID, "vat_id": "NL004495445B01", "iban": "NL91ABNA0417164300", "bic": "ABNANL2A"}
    soup = owner_client.soup(URL)
    assert input_value(soup, "IBAN") == "NL91ABNA0417164300"
    assert soup.find(id="iban-warning") is None
    with app.app_context():
        event = db.session.query(AuditEvent).filter_by(action="settings.updated").one()
        assert event.changes["iban"] == [None, "NL91ABNA0417164300"]


def test_bad_iban_bic_and_vat_id_are_refused_at_the_field_and_the_form_kept(app, owner_client):
    for name, value, label, message in (
        ("iban", "NL91ABNA0417164301", "IBAN", "This is not a valid IBAN."),
        ("bic", "NOTABIC", "BIC", "This is not a valid BIC."),
        ("vat_id", "NL123", "VAT ID", "This is not a valid VAT id."),
    ):
        response = owner_client.post(URL, data={**VALID, name: value})
        assert response.status_code == 422, name
        soup = soup_of(response)
        assert field_error(soup, label).startswith(message), name
        assert input_value(soup, label) == value and input_value(soup, "Street and number") == "Oudegracht 1"
    assert saved(app)["iban"] is None  # nothing was saved


def test_an_unknown_country_is_refused(app, owner_client):
    response = owner_client.post(URL, data={**VALID, "country": "XX"})
    assert response.status_code == 422
    assert field_error(soup_of(response), "Country")


def test_emptying_the_iban_brings_the_warning_back(app, owner_client):
    owner_client.post(URL, data=VALID)
    response = owner_client.post(URL, data={**VALID, "iban": "", "bic": ""})
    assert response.status_code == 302
    assert saved(app)["iban"] is None
    assert owner_client.soup("/admin/settings").find(id="iban-warning")


def test_employees_may_not(app, employee_client):
    assert employee_client.get(URL).status_code == 403
    assert employee_client.post(URL, data=VALID).status_code == 403
