"""How an open invoice asks to be paid by bank transfer: the RF creditor reference and the
EPC QR code ("GiroCode", EPC069-12).

The RF reference (ISO 11649) is derived from the invoice number alone -- RF, two check
digits, the number's letters and digits -- so it needs no column, is the same on the PDF,
the letter and the dossier, and a bank statement's reference leads back to the invoice
(`reference_body`, used by models.services.bank_statements).

The QR code carries the business's IBAN (and BIC), the payee name, the outstanding amount
and the RF reference; a banking app that scans it fills in the transfer. The EPC standard
knows euros only: an invoice in another currency gets no code but a note saying why. No
IBAN in the settings: no code either (the settings page warns about it).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from models.documents import UNPAID_STATUSES, Document, DocumentKind
from models.settings import BusinessSettings

# ISO 11649: at most 25 characters, "RF" and 2 check digits leaving 21 for the body.
RF_BODY_MAX = 21
NAME_MAX = 70  # EPC069-12's beneficiary name
EPC_CURRENCY = "EUR"
EPC_MAX_AMOUNT = Decimal("999999999.99")


def _compact(number: str) -> str:
    return "".join(c for c in number.upper() if c.isascii() and c.isalnum())


def rf_reference(number: str | None) -> str | None:
    """`RF<check digits><letters and digits of the number>`, e.g. 2026-00042 → RF89202600042;
    None for a number without letters or digits (or longer than the RF body allows)."""
    from stdnum import iso11649
    from stdnum.iso7064 import mod_97_10

    body = _compact(number or "")
    if not body or len(body) > RF_BODY_MAX:
        return None
    # ISO 11649 checks "<body>RF<check>" with ISO 7064 MOD 97-10.
    return iso11649.compact(f"RF{mod_97_10.calc_check_digits(body + 'RF')}{body}")


def reference_body(reference: str | None) -> str | None:
    """The invoice number's letters and digits from an RF reference on a bank statement,
    when it is a valid one (wrong check digits: None)."""
    from stdnum import iso11649

    if not reference or not iso11649.is_valid(reference):
        return None
    return iso11649.compact(reference)[4:]


def number_key(number: str) -> str:
    """What an invoice number and the body of its RF reference have in common."""
    return _compact(number)


def grouped(reference: str) -> str:
    """The reference in groups of four, as it is printed for typing it over."""
    return " ".join(reference[i:i + 4] for i in range(0, len(reference), 4))


@dataclass(frozen=True)
class PaymentCode:
    """What an open invoice shows about paying it by transfer: the account and reference,
    and the QR code -- or the note why there is none."""

    iban: str | None
    bic: str | None
    holder: str
    amount: Decimal
    currency: str
    reference: str | None
    svg: Markup | None = None
    note: str | None = None  # why there is no code (shown with the bank details)

    @property
    def reference_grouped(self) -> str | None:
        return grouped(self.reference) if self.reference else None

    @property
    def iban_grouped(self) -> str | None:
        return grouped(self.iban) if self.iban else None


def payee_name(settings: BusinessSettings) -> str:
    return (settings.account_holder or settings.business_name or "").strip()[:NAME_MAX]


def payment_code(document: Document, settings: BusinessSettings) -> PaymentCode | None:
    """The transfer details of an issued invoice that is open or partially paid; None for
    anything else (nothing to pay) and when the business has no IBAN (nothing to pay into:
    the settings warn instead)."""
    if document.kind != DocumentKind.invoice or document.status not in UNPAID_STATUSES:
        return None
    return transfer_code(settings, amount=document.outstanding, currency=document.currency, number=document.number,
                         not_euros=_l("No payment QR code: banking apps read it only for amounts in euros, and this "
                                      "invoice is in %(currency)s. Please transfer the amount to the account above.",
                                      currency=document.currency))


def transfer_code(settings: BusinessSettings, *, amount: Decimal, currency: str, number: str | None,
                  not_euros: str) -> PaymentCode | None:
    """How to transfer `amount` towards the invoice numbered `number`: the business's account,
    the invoice's RF reference and the EPC QR code -- or, for another currency than euros,
    the `not_euros` note instead of the code. None when there is nothing to pay or no IBAN.

    An invoice asks for what it still owes; an instalment of a plan for its own amount,
    referring to the plan's invoice it pays first (so a bank statement leads back to it)."""
    if amount <= 0 or not settings.iban:
        return None
    details = dict(iban=settings.iban, bic=settings.bic, holder=payee_name(settings),
                   amount=amount, currency=currency, reference=rf_reference(number))
    if currency != EPC_CURRENCY:
        return PaymentCode(**details, note=not_euros)
    if amount > EPC_MAX_AMOUNT or not details["holder"]:
        return PaymentCode(**details, note=_l("No payment QR code for this amount."))
    svg = _epc_qr(details, text=None if details["reference"] else f"{number or ''}"[:140] or None)
    return PaymentCode(**details, svg=svg)


def _epc_qr(details: dict, text: str | None) -> Markup:
    """The EPC069-12 code (version 002, UTF-8, SEPA credit transfer) through segno's helper,
    which checks the standard's field lengths and QR version limit (error level M, at most
    version 13); as inline SVG like the letters' dossier code. The structured reference, or
    (a number without one) the invoice number as the unstructured text."""
    from segno import helpers

    code = helpers.make_epc_qr(name=details["holder"], iban=details["iban"], amount=details["amount"],
                               bic=details["bic"] or None, reference=details["reference"], text=text,
                               encoding="utf-8")
    return Markup(code.svg_inline(scale=1, border=4, omitsize=True, svgclass="epc-qr-code", lineclass=None))
