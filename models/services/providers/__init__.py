"""Payment providers: the built-in test provider, Mollie and Stripe Checkout.

`get(name)` builds the provider from the app's configuration (its keys come from the
environment) or raises ProviderUnavailable; `offered(settings)` is what the dossier asks
before it shows a Pay button. A provider without its keys is never offered.
"""

from __future__ import annotations

import re

from flask import current_app

from models.services.providers.base import (
    Checkout,
    CheckoutRequest,
    PaymentProvider,
    ProviderError,
    ProviderState,
    ProviderUnavailable,
)
from models.settings import BusinessSettings

__all__ = [
    "Checkout", "CheckoutRequest", "PaymentProvider", "ProviderError", "ProviderState",
    "ProviderUnavailable", "configured", "get", "offered",
]


def configured(name: str) -> bool:
    config = current_app.config
    if name == "test":
        return bool(config.get("PAYMENTS_TEST_PROVIDER"))
    if name == "mollie":  # the client itself refuses any other form of key
        return bool(re.fullmatch(r"(live|test)_\w+", config.get("MOLLIE_API_KEY") or ""))
    if name == "stripe":
        # Without the webhook secret no payment could be booked on time: not offered.
        return bool(config.get("STRIPE_SECRET_KEY") and config.get("STRIPE_WEBHOOK_SECRET"))
    return False


def get(name: str) -> PaymentProvider:
    if not configured(name):
        raise ProviderUnavailable(name)
    config = current_app.config
    if name == "test":
        from models.services.providers.test_provider import TestProvider

        return TestProvider()
    if name == "mollie":
        from models.services.providers.mollie import MollieProvider

        return MollieProvider(config["MOLLIE_API_KEY"], config.get("MOLLIE_API_ENDPOINT", ""))
    from models.services.providers.stripe import StripeProvider

    return StripeProvider(config["STRIPE_SECRET_KEY"], config["STRIPE_WEBHOOK_SECRET"], config.get("STRIPE_API_BASE", ""))


def offered(settings: BusinessSettings) -> bool:
    """Does the dossier show Pay buttons: payments allowed and the chosen provider configured."""
    return bool(settings.allow_payments) and configured(settings.payment_provider)
