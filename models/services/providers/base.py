"""What every payment provider offers the booking code: open a checkout, say what a
payment's state is. Amounts cross this boundary as exact Decimals and upper-case ISO
currency codes, whatever the provider's own wire format (strings, integer cents)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from models.payments import PaymentStatus


class ProviderError(Exception):
    """The provider could not be reached or refused the request; nothing was booked."""


class ProviderUnavailable(Exception):
    """The provider is not configured (no keys) on this installation."""


@dataclass(frozen=True)
class CheckoutRequest:
    amount: Decimal
    currency: str
    description: str
    redirect_url: str  # where the debtor comes back to
    webhook_url: str  # where the provider reports (Mollie per payment; Stripe per account)
    idempotency_key: str  # a retried create never makes a second checkout
    locale: str = "en"
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Checkout:
    reference: str  # the provider's id: tr_…, cs_…, test_…
    url: str | None  # where to send the debtor; None: the app's own test checkout


@dataclass(frozen=True)
class ProviderState:
    """A payment as the provider reports it; only this is ever booked."""

    reference: str
    status: PaymentStatus
    amount: Decimal | None
    currency: str | None
    paid_at: datetime | None = None


class PaymentProvider(Protocol):
    name: str
    external: bool  # False only for the built-in test provider

    def create_checkout(self, request: CheckoutRequest) -> Checkout: ...

    def fetch(self, reference: str) -> ProviderState | None:
        """The payment's current state at the provider; None when the provider does not know it."""
        ...


def cents(amount: Decimal) -> int:
    """Exact minor units for a two-decimal currency (every currency in settings.CURRENCIES)."""
    scaled = amount.scaleb(2)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than two decimal places")
    return int(scaled)


def from_cents(value: int) -> Decimal:
    return Decimal(int(value)).scaleb(-2)
