"""Random input into the instalment forms (preview, confirm with its hidden fields, the
staff decisions): a message or a redirect, never a server error, and never a plan that
breaks the rules."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from models.db import db
from models.instalments import InstalmentPlan
from tests import factories
from tests.master_data.conftest import with_step_up
from tests.questions.helpers import dossier_path, get, page_token
from models import clock

HYPOTHESIS = settings(max_examples=40, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TODAY = clock.today()
SPECIAL = ["", " ", "\x00", "NaN", "-1", "0", "1", "2", "6", "7", "9" * 40, "9" * 5000, "1e3", "2.5", "0x10",
           "2024-02-30", "0001-01-01", "9999-12-31", TODAY.isoformat(), (TODAY + timedelta(days=30)).isoformat(),
           (TODAY + timedelta(days=31)).isoformat(), "EUR", "USD", "eur", "XXX", "<b>", "181.50", "٣"]
garbage = st.one_of(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40), st.sampled_from(SPECIAL),
                    st.integers(min_value=-(10**30), max_value=10**30).map(str), st.dates().map(date.isoformat))
FIELDS = ["currency", "count", "start_date", "total", "submit"]


@pytest.fixture
def debtor(app, monkeypatch):
    monkeypatch.setitem(app.config, "DOSSIER_LIMIT_PER_IP", "100000 per minute")
    customer = factories.customer(language="en")
    factories.invoice(customer, amount="100.00")
    factories.invoice(customer, amount="80.00", vat="0", currency="USD")
    return customer


def _plans(app) -> list[InstalmentPlan]:
    with app.app_context():
        plans = list(db.session.scalars(select(InstalmentPlan)))
        for plan in plans:
            _ = plan.instalments
            db.session.expunge(plan)
        return plans


@HYPOTHESIS
@given(values=st.dictionaries(st.sampled_from(FIELDS), garbage, max_size=len(FIELDS)),
       step=st.sampled_from(["preview", "confirm"]))
def test_the_instalment_forms_never_fail_nor_break_the_rules(app, client, debtor, values, step):
    path = dossier_path(app, debtor)
    with_step_up(client, path)  # past the code (tests/master_data): the forms themselves are fuzzed
    token = page_token(get(client, f"{path}/instalments"))
    response = client.post(f"{path}/instalments/{step}", data={**values, "csrf_token": token})
    event(f"{step}: {response.status_code}")
    assert response.status_code in (200, 302, 422), response.status_code
    for plan in _plans(app):  # whatever got through obeys the rules
        assert 2 <= plan.count <= 6 and TODAY <= plan.start_date <= TODAY + timedelta(days=30)
        assert sum((i.amount for i in plan.instalments), Decimal("0")) == plan.total
        assert min(i.amount for i in plan.instalments) >= Decimal("25.00")


@HYPOTHESIS
@given(decision=st.sampled_from(["approve", "decline", "cancel"]), plan_id=st.integers(min_value=0, max_value=2**70),
       more=st.dictionaries(st.sampled_from(["reason", "status"]), garbage, max_size=2))
def test_the_staff_decisions_never_fail(app, owner_client, decision, plan_id, more):
    response = owner_client.post(f"/admin/instalment-plans/{plan_id}/{decision}", more)
    assert response.status_code in (302, 404), response.status_code
