"""Random input into the question and answer forms: a message next to the field or a
redirect, never a server error."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.questions.helpers import dossier_path, get, page_token

HYPOTHESIS = settings(max_examples=40, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SPECIAL = ["", " ", "\x00", "\r\n", "<script>alert(1)</script>", "' OR '1'='1", "%(x)s", "{{ 7*7 }}", "😀" * 700,
           "x" * 2000, "x" * 2001, "İ" * 3000, "\u202e", "a\x00b"]
text = st.one_of(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=300), st.sampled_from(SPECIAL))
extra = st.dictionaries(st.sampled_from(["submit", "body2", "invoice_id", "customer_id", "author_kind"]), text, max_size=3)


@pytest.fixture
def no_rate_limit(app, monkeypatch):
    monkeypatch.setitem(app.config, "DOSSIER_LIMIT_PER_IP", "100000 per minute")


@HYPOTHESIS
@given(body=text, more=extra, invoice=st.one_of(st.just("mine"), st.integers(min_value=0, max_value=2**70)))
def test_the_question_form_never_fails(app, client, debtor, no_rate_limit, body, more, invoice):
    customer, own, _ = debtor
    path = dossier_path(app, customer)
    invoice_id = own.id if invoice == "mine" else invoice
    token = page_token(get(client, path))
    response = client.post(f"{path}/invoices/{invoice_id}/questions", data={**more, "body": body, "csrf_token": token})
    event(str(response.status_code))
    assert response.status_code in (302, 404, 422), response.status_code
    if response.status_code == 422:
        assert b'class="error"' in response.data


@HYPOTHESIS
@given(body=text, more=extra)
def test_the_answer_form_never_fails(app, owner_client, debtor, body, more):
    customer, invoice, _ = debtor
    response = owner_client.post(f"/admin/invoices/{invoice.id}/answer", {**more, "body": body})
    event(str(response.status_code))
    assert response.status_code in (302, 422), response.status_code
