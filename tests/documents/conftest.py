"""Fixtures the document tests share: the business's today and a customer to bill (a test
module that needs another customer defines its own `customer`)."""

from __future__ import annotations

import pytest

from models import clock
from tests import factories


@pytest.fixture
def today(app):
    with app.app_context():
        return clock.today()


@pytest.fixture
def customer(app):
    return factories.customer(name="Wagner GmbH", email="wagner@example.test", language="en")
