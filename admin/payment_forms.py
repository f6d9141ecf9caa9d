"""Staff forms of getting paid: the business's seller details and bank statements.

Parsing only: IBAN, BIC and VAT id are checked by models.services.business_details (the
same checks as the customers' own), the statement by models.services.bank_statements.
"""

from __future__ import annotations


from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional

from web.forms import AppForm, country_choices, strip


class BusinessDetailsForm(AppForm):
    street = StringField(_l("Street and number"), filters=[strip], validators=[Optional(), Length(max=200)])
    postal_code = StringField(_l("Postal code"), filters=[strip], validators=[Optional(), Length(max=20)])
    city = StringField(_l("City"), filters=[strip], validators=[Optional(), Length(max=100)])
    country = SelectField(_l("Country"), default="NL")
    vat_id = StringField(_l("VAT ID"), filters=[strip], description=_l("With its country code, e.g. NL123456789B01."),
                         validators=[Optional(), Length(max=30)])
    tax_number = StringField(_l("Tax number"), filters=[strip], validators=[Optional(), Length(max=30)])
    registration_number = StringField(
        _l("Registration number"), filters=[strip], description=_l("Chamber of commerce or commercial register."),
        validators=[Optional(), Length(max=40)])
    iban = StringField(_l("IBAN"), filters=[strip], description=_l("The account debtors pay into; the payment QR code on "
                                                                     "every open invoice carries it."),
                       validators=[Optional(), Length(max=42)])
    bic = StringField(_l("BIC"), filters=[strip], validators=[Optional(), Length(max=11)])
    account_holder = StringField(_l("Account holder"), filters=[strip],
                                 description=_l("Leave empty to use the business name."),
                                 validators=[Optional(), Length(max=200)])
    submit = SubmitField(_l("Save details"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.country.choices = country_choices()


class StatementUploadForm(AppForm):
    statement = FileField(_l("Bank statement"), description=_l("A CAMT.053 file (XML) or an MT940 file as your bank exports it."))
    submit = SubmitField(_l("Import statement"))


class AssignEntryForm(AppForm):
    invoice_number = StringField(_l("Invoice number"), filters=[strip],
                                 validators=[DataRequired(message=_l("Enter the number of an open invoice.")),
                                             Length(max=40)])
    confirm_credit = BooleanField(_l("More than is outstanding: the rest becomes customer credit"))
    submit = SubmitField(_l("Book on this invoice"))


