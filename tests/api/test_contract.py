"""The API against its own OpenAPI document: schemathesis fuzzes every operation (valid and
invalid bodies, query strings, ids) and checks no answer is a 5xx, every status is one the
document names, and every body has the documented media type and matches its schema.

Schema-valid data the domain refuses (a document for a customer that does not exist) is a
4xx by design, so positive_data_acceptance is left out; negative_data_rejection holds.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests import factories
from tests.api.conftest import make_key

@schemathesis.serializer("application/pdf")
def _pdf(ctx, value) -> bytes:
    """The original's raw body: whatever was generated, as bytes (mostly not a PDF: a 422)."""
    return value if isinstance(value, bytes) else str(value).encode()


EXAMPLES = 40  # per operation
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]


@pytest.fixture
def secret(app):
    owner = factories.staff(role="owner", email="contract@example.test", name="Contract Owner")
    secret = make_key(app, owner)
    # A customer the generated documents and payments can name.
    from models.db import db
    from models.services.intake import upsert_customer

    with app.app_context():
        upsert_customer({"external_id": "C1", "number": "C1", "name": "Contract Customer"}, actor_label="test")
        db.session.commit()
    return secret


def test_every_operation_keeps_its_contract(app, secret, monkeypatch):
    """Each operation in turn (schemathesis's pytest plugin does not run on this pytest, so
    its strategies are driven by hypothesis here)."""
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "100000 per minute")
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    headers = {"Authorization": f"Bearer {secret}"}
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def keeps_contract(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        keeps_contract()
