"""The schedule's settings page: saved by managers, refused at the field when wrong."""

from __future__ import annotations

from decimal import Decimal

from models.db import db
from models.services import dunning_schedule
from models.services.settings import get_settings
from tests.conftest import field_error

VALID = {"enabled": "y", "days_1": "5", "days_2": "19", "days_3": "40", "fee_1": "", "fee_2": "7.50",
         "interest_2": "", "interest_3": "8.125", "mail_text_1_nl": "Beste {customer_name}, zie {document_url}.",
         "letter_text_3_de": "Letzte Mahnung {document_number}."}


def test_defaults_are_shown_before_anything_is_saved(owner_client):
    soup = owner_client.soup("/admin/settings/reminders")
    assert soup.find("input", attrs={"name": "days_1"})["value"] == "7"
    assert soup.find("input", attrs={"name": "days_2"})["value"] == "21"
    assert soup.find("input", attrs={"name": "days_3"})["value"] == "35"
    assert soup.find("label", string="Final notice: letter text (Deutsch)") is not None
    assert owner_client.soup("/admin/settings").find("a", string="Automatic reminders")["href"] == "/admin/settings/reminders"


def test_saving_the_schedule(app, owner_client):
    response = owner_client.post("/admin/settings/reminders", data=VALID)
    assert response.status_code == 302
    with app.app_context():
        levels = dunning_schedule.levels()
        assert get_settings().dunning_enabled
        assert [levels[n].days_after_due for n in (1, 2, 3)] == [5, 19, 40]
        assert (levels[2].fee, levels[3].interest_rate) == (Decimal("7.50"), Decimal("8.125"))
        assert levels[1].text("mail", "nl") == "Beste {customer_name}, zie {document_url}."
        assert levels[3].text("letter", "de") == "Letzte Mahnung {document_number}."
        assert levels[1].text("mail", "de") is None
    soup = owner_client.soup("/admin/settings/reminders")
    assert soup.find("textarea", attrs={"name": "mail_text_1_nl"}).get_text() .strip() == VALID["mail_text_1_nl"]


def test_wrong_values_are_refused_at_their_field(app, owner_client):
    cases = [
        ({"days_2": "5"}, "2nd reminder: days after the due date",
         "Each level comes later than the one before"),
        ({"days_1": "-1"}, "1st reminder: days after the due date", "Number must be between 0 and 365."),
        ({"fee_1": "abc"}, "1st reminder: fee", "Enter a number such as 1250.50 or 1250,50, without thousands separators."),
        ({"interest_3": "101"}, "Final notice: interest (% a year)", "Number must be between 0 and 100."),
        ({"interest_3": "1.2345"}, "Final notice: interest (% a year)", "at most three decimals"),
        ({"mail_text_2_en": "Hi {name}"}, "2nd reminder: e-mail text (English)", "Unknown placeholder {name}"),
    ]
    for change, label, message in cases:
        response = owner_client.post("/admin/settings/reminders", data={**VALID, **change})
        assert response.status_code == 422, change
        from tests.conftest import soup_of

        error = field_error(soup_of(response), label)
        assert error and message in error, (change, error)
    with app.app_context():
        assert not get_settings().dunning_enabled  # nothing was saved


def test_employees_may_not_change_the_schedule(employee_client):
    assert employee_client.post("/admin/settings/reminders", data=VALID).status_code == 403
