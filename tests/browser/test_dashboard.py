"""The dashboard on a 390 px wide screen: nothing scrolls sideways, the charts keep a
readable size, and the page passes axe-core's WCAG 2.2 A and AA rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models.instalments import PlanStatus
from models.outbox import MailStatus
from tests import factories
from tests.browser.conftest import log_in
from tests.browser.test_confirmations import PHONE, axe_violations
from tests.dashboard.helpers import emails, local_noon_utc, payment, plan, receivable, today

pytestmark = pytest.mark.browser


def test_dashboard_reads_well_on_a_phone(app, page, page_problems, owner):
    anna = factories.customer(name="Anna Archer", email=None, provided_email="anna@example.com")
    for days, amount in ((-5, "1250.00"), (12, "99999.99"), (45, "310.00"), (75, "80.00"), (200, "12.50")):
        receivable(app, anna, amount, days_overdue=days)
    receivable(app, anna, "4500.00", days_overdue=20, currency="USD")
    day = today(app)
    for weeks in range(12):
        payment(app, anna, f"{100 + 37 * weeks}.00", paid_at=local_noon_utc(app, day - timedelta(weeks=weeks)))
    payment(app, anna, "75.00", paid_at=local_noon_utc(app, day), currency="USD")
    plan(app, anna, status=PlanStatus.pending)
    emails(app, anna, MailStatus.failed, 2)

    page.set_viewport_size(PHONE)
    log_in(page, owner)
    page.goto("/admin/")

    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    charts = page.locator("svg[role=img]")
    assert charts.count() == 2
    for n in range(2):
        box = charts.nth(n).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
        # 14-unit labels in a 320-unit viewBox: at least 12 px on the phone's screen.
        assert box["width"] / 320 * 14 >= 12, box
    assert axe_violations(page) == []
    page_problems.assert_none()
