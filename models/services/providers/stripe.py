"""Stripe Checkout through the `stripe` library.

A checkout is a Checkout Session with one line (the invoices' sum); its create call
carries our idempotency key. Stripe signs its webhooks: `state_from_event` only reads an
event whose signature `stripe.Webhook.construct_event` verified. STRIPE_API_BASE points
the client elsewhere (the tests run a local server speaking the same API).
"""

from __future__ import annotations

from models.payments import PaymentStatus
from models.services.providers.base import (
    Checkout,
    CheckoutRequest,
    ProviderError,
    ProviderState,
    cents,
    from_cents,
)

# Events about a Checkout Session that change what we book.
SESSION_EVENTS = frozenset({
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
})
_LOCALES = {"nl", "de", "en"}


class InvalidSignature(Exception):
    """The webhook was not signed with our secret (or not signed at all)."""


class StripeProvider:
    name = "stripe"
    external = True

    def __init__(self, secret_key: str, webhook_secret: str, api_base: str = ""):
        # Imported when Stripe is configured and used: the library is some 6 MiB in every
        # process, and portal/dossier_payments.py imports this module for InvalidSignature.
        import stripe as stripe_lib

        self.lib = stripe_lib
        self.webhook_secret = webhook_secret
        self.client = stripe_lib.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=2,  # safe: every create carries an idempotency key
            # A debtor waits on this call: seconds, not the library's default 80.
            http_client=stripe_lib.RequestsClient(timeout=(3, 10)),
        )

    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        params = {
            "mode": "payment",
            "line_items": [{
                "quantity": 1,
                "price_data": {
                    "currency": request.currency.lower(),
                    "unit_amount": cents(request.amount),
                    "product_data": {"name": request.description[:250]},
                },
            }],
            "success_url": request.redirect_url,
            "cancel_url": request.redirect_url,
            "metadata": request.metadata,
        }
        if request.metadata.get("payment_id"):
            params["client_reference_id"] = request.metadata["payment_id"]
        if request.locale in _LOCALES:
            params["locale"] = request.locale
        try:
            session = self.client.v1.checkout.sessions.create(
                params=params, options={"idempotency_key": request.idempotency_key}
            )
        except self.lib.StripeError as error:
            raise ProviderError(f"Stripe: {error}") from error
        if not session.id or not session.url:
            raise ProviderError("Stripe answered without a session id or checkout URL")
        return Checkout(reference=session.id, url=session.url)

    def fetch(self, reference: str) -> ProviderState | None:
        if not reference.startswith("cs_"):
            return None
        try:
            session = self.client.v1.checkout.sessions.retrieve(reference)
        except self.lib.InvalidRequestError as error:
            if error.http_status == 404:
                return None
            raise ProviderError(f"Stripe: {error}") from error
        except self.lib.StripeError as error:
            raise ProviderError(f"Stripe: {error}") from error
        return session_state(session.to_dict())

    def verified_event(self, payload: bytes, signature: str | None) -> dict:
        """The event (as a plain dict), if Stripe signed it with our webhook secret; else
        InvalidSignature. A signed but malformed body raises ValueError."""
        try:
            event = self.lib.Webhook.construct_event(payload, signature, self.webhook_secret)
        except self.lib.SignatureVerificationError as error:
            raise InvalidSignature(str(error)) from error
        except (TypeError, AttributeError, KeyError) as error:
            raise ValueError(str(error)) from error
        return event.to_dict()


def session_state(session: dict, event_type: str | None = None) -> ProviderState:
    """A Checkout Session's state. A completed session whose (bank transfer, SEPA) payment is
    still underway stays open; only the async_payment_failed event says it failed."""
    status = session.get("status")
    payment_status = session.get("payment_status")
    if status == "complete" and payment_status in ("paid", "no_payment_required"):
        state = PaymentStatus.paid
    elif event_type == "checkout.session.async_payment_failed":
        state = PaymentStatus.failed
    elif status == "expired":
        state = PaymentStatus.expired
    else:
        state = PaymentStatus.open
    amount_total = session.get("amount_total")
    currency = session.get("currency")
    return ProviderState(
        reference=str(session.get("id") or ""),
        status=state,
        amount=from_cents(amount_total) if isinstance(amount_total, int) and not isinstance(amount_total, bool) else None,
        currency=currency.upper() if isinstance(currency, str) else None,
    )
