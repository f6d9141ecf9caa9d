"""Staff forms for documents of every kind and for correcting them.

Parsing and field-level checks only; the rules (dates, totals, what a status allows) live
in models.services and come back as DomainErrors at the field they name.
"""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, StopValidation, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from admin.forms import InvoiceLineForm, LineList, finite_number
from models.documents import REMINDER_LEVEL_NAMES, REMINDER_LEVELS, DocumentKind
from models.payments import RECORDED_METHODS
from models.services.documents import LineInput
from models.settings import CURRENCIES
from web.forms import AppForm, NumberField, options, strip

# Whole sentences per kind: translations need the noun's gender and case.
NEW_TITLES = {
    DocumentKind.invoice: _l("New invoice for %(name)s"),
    DocumentKind.quote: _l("New quote for %(name)s"),
    DocumentKind.delivery_note: _l("New delivery note for %(name)s"),
    DocumentKind.order_confirmation: _l("New order confirmation for %(name)s"),
}
CREATE_LABELS = {
    DocumentKind.invoice: _l("Create invoice"),
    DocumentKind.quote: _l("Create quote"),
    DocumentKind.credit_note: _l("Create credit note"),
    DocumentKind.delivery_note: _l("Create delivery note"),
    DocumentKind.order_confirmation: _l("Create order confirmation"),
}
METHOD_LABELS = {"bank_transfer": _l("Bank transfer"), "cash": _l("Cash"), "other": _l("Other"),
                 "credit": _l("Customer credit")}


def cents(form, field) -> None:
    if field.data is not None and field.data.is_finite() and field.data.as_tuple().exponent < -2:
        raise ValidationError(_l("Use at most two decimals."))


def parsed(form, field) -> None:
    """Not a number at all: that message alone (not also the range's)."""
    if field.process_errors:
        raise StopValidation()


AMOUNT = [parsed, finite_number, cents, NumberRange(min=Decimal("0"), max=Decimal("1000000000"))]


class DocumentForm(AppForm):
    """A new document of any kind but reminders, a draft invoice's edit, and a credit note:
    which fields apply depends on the kind (the template shows only those)."""

    issue_date = DateField(_l("Issue date"), validators=[InputRequired(message=_l("Enter a date."))])
    due_date = DateField(_l("Due date"), validators=[Optional()])
    valid_until = DateField(_l("Valid until"), validators=[Optional()])
    currency = SelectField(_l("Currency"), choices=options((c, c) for c in CURRENCIES))
    number = StringField(_l("Number"), filters=[strip], validators=[Optional(), Length(max=40)],
                         description=_l("Only when it already has a number elsewhere; otherwise the next one is given."))
    notes = TextAreaField(_l("Notes"), filters=[strip], validators=[Optional(), Length(max=4000)])
    lines = LineList(FormField(InvoiceLineForm), min_entries=1, max_entries=100)
    key = HiddenField()  # random per form shown: the same form sent twice makes one document (documents.made_from_form)

    def __init__(self, *args, kind: DocumentKind = DocumentKind.invoice, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        # Optional for the form, required for its kind: an invoice's due date, a quote's end.
        required = {DocumentKind.invoice: self.due_date, DocumentKind.quote: self.valid_until}.get(self.kind)
        if required is not None and required.data is None and not required.errors:
            required.errors = [_l("Enter a date.")]
            valid = False
        return valid

    def line_inputs(self) -> list[LineInput]:
        return [LineInput(**entry.data) for entry in self.lines]


class PaymentForm(AppForm):
    amount = NumberField(_l("Amount"), places=None, validators=[InputRequired(message=_l("Enter the amount.")), *AMOUNT])
    received_on = DateField(_l("Received on"), validators=[InputRequired(message=_l("Enter a date."))])
    method = SelectField(_l("Method"), choices=options((m, METHOD_LABELS[m]) for m in RECORDED_METHODS))
    confirm_credit = BooleanField(_l("Yes, the part above what is outstanding becomes customer credit"))
    key = HiddenField()  # random per form shown: the same form sent twice books once (recorded_payments)
    submit = SubmitField(_l("Record payment"))


class QuoteDecisionForm(AppForm):
    decision = RadioField(_l("Decision"), choices=[("accept", _l("Accepted")), ("reject", _l("Rejected"))],
                          validators=[InputRequired(message=_l("Choose accepted or rejected."))])
    name = StringField(_l("Decided by"), filters=[strip], validators=[DataRequired(message=_l("Enter a name.")),
                                                                      Length(max=200)])
    comment = TextAreaField(_l("Comment"), filters=[strip], validators=[Optional(), Length(max=2000)])
    submit = SubmitField(_l("Record decision"))


class ConvertForm(AppForm):
    into = HiddenField(validators=[InputRequired()])


class ReleaseForm(AppForm):
    released = HiddenField()


class ReminderForm(AppForm):
    # Any ids: the service finds only the customer's own among them.
    invoices = SelectMultipleField(_l("Invoices"), coerce=int, validate_choice=False, widget=ListWidget(prefix_label=False),
                                   option_widget=CheckboxInput(),
                                   validators=[InputRequired(message=_l("Choose the invoices this reminder is about."))])
    level = SelectField(_l("Level"), coerce=int, choices=[(n, REMINDER_LEVEL_NAMES[n]) for n in REMINDER_LEVELS])
    issue_date = DateField(_l("Issue date"), validators=[InputRequired(message=_l("Enter a date."))])
    fee = NumberField(_l("Fee"), places=None, default=Decimal("0.00"), validators=[Optional(), *AMOUNT])
    interest = NumberField(_l("Interest"), places=None, default=Decimal("0.00"), validators=[Optional(), *AMOUNT])
    key = HiddenField()  # random per form shown: the same form sent twice makes one reminder (documents.made_from_form)
    submit = SubmitField(_l("Create reminder"))
