""""Today" is the business's date, in its TIMEZONE, not the server's or UTC's."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from models import clock
from tests import factories


def test_late_evening_utc_is_already_tomorrow_in_amsterdam(app):
    late = datetime(2025, 3, 10, 23, 30, tzinfo=timezone.utc)  # 00:30 on the 11th in Amsterdam
    with app.app_context():
        assert app.config["BABEL_DEFAULT_TIMEZONE"] == "Europe/Amsterdam"
        assert clock.today(now=late) == date(2025, 3, 11)
    assert clock.today(now=late) == date(2025, 3, 11)  # no app: Amsterdam as well
    assert clock.today(now=late.replace(tzinfo=None)) == date(2025, 3, 11)  # naive is UTC
    summer = datetime(2025, 6, 30, 22, 30, tzinfo=timezone.utc)  # UTC+2: 00:30 on 1 July
    assert clock.today(now=summer) == date(2025, 7, 1)
    assert clock.today(now=datetime(2025, 6, 30, 21, 30, tzinfo=timezone.utc)) == date(2025, 6, 30)


def test_the_configured_zone_decides(app, monkeypatch):
    monkeypatch.setitem(app.config, "BABEL_DEFAULT_TIMEZONE", "America/New_York")
    with app.app_context():
        assert clock.today(now=datetime(2025, 3, 11, 3, 0, tzinfo=timezone.utc)) == date(2025, 3, 10)


# UTC-11 and UTC+14: at any moment at least one of them is on another date than UTC (and
# than a server clock in UTC or in Europe), so `date.today()` cannot pass both.
@pytest.mark.parametrize("zone", ["Pacific/Pago_Pago", "Pacific/Kiritimati"])
def test_a_new_invoice_is_dated_today_in_the_business_zone(app, owner_client, monkeypatch, zone):
    monkeypatch.setitem(app.config, "BABEL_DEFAULT_TIMEZONE", zone)
    customer = factories.customer(name="Zone Test BV")
    before = datetime.now(ZoneInfo(zone)).date()
    soup = owner_client.soup(f"/admin/customers/{customer.id}/invoices/new")
    after = datetime.now(ZoneInfo(zone)).date()
    assert soup.find("input", attrs={"name": "issue_date"})["value"] in {before.isoformat(), after.isoformat()}
