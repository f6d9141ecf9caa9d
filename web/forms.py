"""Form pieces both blueprints share: the base form, select options, e-mail fields, and
the contact-person form the admin and the portal edit inline (web.contact_views)."""

from __future__ import annotations

import functools
import re

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, IntegerField, SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional, Regexp, StopValidation, ValidationError

from models.customers import COUNTRY_CODES
from models.services import addresses
from web.i18n import current_locale_id


def options(pairs) -> list[SelectChoice]:
    """(value, label) pairs as WTForms 3.3+ wants select choices."""
    return [SelectChoice(value, label) for value, label in pairs]


def country_choices() -> list[SelectChoice]:
    """The countries an address may be in, by their names in the current language."""
    names = get_locale().territories
    return options(sorted(((c, names.get(c, c)) for c in COUNTRY_CODES), key=lambda pair: pair[1]))


class ValidEmail:
    """WTForms' Email check through models.services.addresses (the domain rules use the
    same cached check, so an address is parsed once per request)."""

    message = _l("Enter a valid e-mail address.")

    def __call__(self, form, field):
        if addresses.normalised(field.data or "") is None:
            raise ValidationError(self.message)


EMAIL = [Optional(), Length(max=254), ValidEmail()]


_DECIMAL_COMMA = re.compile(r"[+-]?[0-9]+,[0-9]{1,2}")


class NumberField(DecimalField):
    """A DecimalField for amounts as people type them: "12.50", and also "12,50" (the decimal
    comma of Dutch and German, which a phone's decimal keyboard offers). A comma is taken as
    the decimal sign only when one or two digits follow it and there is no point: "1,234" or
    "1.234,56" could be thousands and are refused, with a message that says how to write it.
    A value that is no number gets that message alone, not also the range's."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("invalid_value_message",
                          _l("Enter a number such as 1250.50 or 1250,50, without thousands separators."))
        super().__init__(*args, **kwargs)

    def process_formdata(self, valuelist):
        if valuelist and isinstance(valuelist[0], str) and _DECIMAL_COMMA.fullmatch(valuelist[0].strip()):
            valuelist = [valuelist[0].strip().replace(",", ".")]
        super().process_formdata(valuelist)

    def pre_validate(self, form):
        if self.process_errors and self.raw_data and self.raw_data[0].strip():
            raise StopValidation()


class WholeNumberField(IntegerField):
    """An IntegerField whose "not a whole number" message comes alone, not with the range's
    "Number must be between …" as well."""

    def pre_validate(self, form):
        if self.process_errors and self.raw_data and self.raw_data[0].strip():
            raise StopValidation()


def strip(value):
    """Pasted addresses often carry spaces around them."""
    return value.strip() if isinstance(value, str) else value


def reject_nul(value):
    """A filter: PostgreSQL cannot store NUL characters, so they are refused next to the field."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError(_l("This contains a character that cannot be saved."))
    return value


class RejectNulMeta:
    """Form Meta that puts `reject_nul` on every text input (StringField and its subclasses)."""

    def bind_field(self, form, unbound_field, options):
        if issubclass(unbound_field.field_class, StringField):
            filters = (*unbound_field.kwargs.get("filters", ()), reject_nul)
            return unbound_field.bind(form=form, filters=filters, **options)
        return super().bind_field(form, unbound_field, options)


class AppForm(FlaskForm):
    """The base of every staff form: CSRF (FlaskForm) plus the NUL check."""

    class Meta(RejectNulMeta):
        pass


class ActionForm(AppForm):
    """A button that changes state: only the CSRF token travels."""


class ContactForm(AppForm):
    """One contact person; used inline by the admin and the portal alike."""

    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Enter a name.")), Length(max=120)])
    email = StringField(_l("E-mail address"), filters=[strip], validators=[DataRequired(message=_l("Enter an e-mail address.")), *EMAIL[1:]])
    phone = StringField(_l("Phone (optional)"), validators=[Optional(), Length(max=40), Regexp(r"^[0-9 +()./-]+$", message=_l("Use digits, spaces and + ( ) - only."))])
    role = SelectField(_l("Role"), default="general")
    invoice_emails = BooleanField(_l("Invoice e-mails"), default=True)
    account_emails = BooleanField(_l("Account e-mails"))
    submit = SubmitField(_l("Save contact"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.role.choices = options(_role_choices(current_locale_id()))


@functools.lru_cache(maxsize=16)
def _role_choices(locale_id: str) -> tuple[tuple[str, str], ...]:
    """The roles with their descriptions, translated once per language (a form is built
    for every contact row that is opened or saved)."""
    from models.services.contacts import ROLE_DESCRIPTIONS, ROLE_LABELS

    return tuple((r.value, f"{ROLE_LABELS[r]} — {ROLE_DESCRIPTIONS[r]}") for r in ROLE_LABELS)
