"""The built-in test provider: no keys, no network. Its checkout is a page of the app
(/d/<token>/pay/test/<id>) with Success / Failure / Cancel buttons, so the whole payment
flow — booking, mail, audit — can be tried on a laptop. Its state lives in the payment row
itself; the page's button is the "provider update" (models.services.payments.test_outcome)."""

from __future__ import annotations

import secrets

from models.services.providers.base import Checkout, CheckoutRequest, ProviderState


class TestProvider:
    name = "test"
    external = False
    __test__ = False  # not a pytest class

    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        return Checkout(reference="test_" + secrets.token_urlsafe(18), url=None)

    def fetch(self, reference: str) -> ProviderState | None:
        """Nothing happens at a test provider behind the app's back: there is nothing to fetch."""
        return None
