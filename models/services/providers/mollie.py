"""Mollie (iDEAL, cards, Bancontact, …) through mollie-api-python.

Mollie's webhook only carries `id=tr_…`; it is not signed, so the body is never trusted:
the payment is fetched from Mollie by id and booked from that. MOLLIE_API_ENDPOINT points
the client elsewhere (the tests run a local server speaking the same API).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from mollie.api.client import Client
from mollie.api.error import Error as MollieError
from mollie.api.error import IdentifierError, NotFoundError

from models.payments import PaymentStatus
from models.services.providers.base import Checkout, CheckoutRequest, ProviderError, ProviderState

_STATUSES = {
    "open": PaymentStatus.open,
    "pending": PaymentStatus.open,
    "authorized": PaymentStatus.open,
    "paid": PaymentStatus.paid,
    "failed": PaymentStatus.failed,
    "canceled": PaymentStatus.canceled,
    "expired": PaymentStatus.expired,
}
_LOCALES = {"nl": "nl_NL", "de": "de_DE", "en": "en_US"}


class MollieProvider:
    name = "mollie"
    external = True

    def __init__(self, api_key: str, endpoint: str = "", timeout: tuple[int, int] = (3, 10)):
        self.client = Client(api_endpoint=endpoint, timeout=timeout)
        self.client.set_api_key(api_key)

    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        data = {
            "amount": {"currency": request.currency, "value": f"{request.amount:.2f}"},
            "description": request.description[:255],
            "redirectUrl": request.redirect_url,
            "webhookUrl": request.webhook_url,
            "metadata": request.metadata,
        }
        if request.locale in _LOCALES:
            data["locale"] = _LOCALES[request.locale]
        try:
            payment = self.client.payments.create(data, idempotency_key=request.idempotency_key)
        except MollieError as error:
            raise ProviderError(f"Mollie: {error}") from error
        if not payment.id or not payment.checkout_url:
            raise ProviderError("Mollie answered without a payment id or checkout URL")
        return Checkout(reference=payment.id, url=payment.checkout_url)

    def fetch(self, reference: str) -> ProviderState | None:
        try:
            payment = self.client.payments.get(reference)
        except (IdentifierError, NotFoundError):
            return None
        except MollieError as error:
            raise ProviderError(f"Mollie: {error}") from error
        amount = payment.amount or {}
        try:
            value = Decimal(str(amount.get("value")))
        except (InvalidOperation, TypeError):
            value = None
        return ProviderState(
            reference=payment.id,
            status=_STATUSES.get(payment.status, PaymentStatus.open),
            amount=value if value is not None and value.is_finite() else None,
            currency=str(amount.get("currency") or "").upper() or None,
            paid_at=_timestamp(payment.paid_at),
        )


def _timestamp(value) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None
