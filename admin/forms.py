"""Staff forms: parsing and field-level validation. Business rules stay in models.services."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    StopValidation,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, HiddenInput, ListWidget

from models.customers import CustomFieldDefinition, CustomFieldKind, CustomerKind
from models.documents import KIND_PLURALS, DocumentKind
from models.services.passwords import MIN_LENGTH
from models.settings import CURRENCIES
from models.staff import StaffRole
from web.forms import (  # noqa: F401 (ActionForm re-exported)
    EMAIL,
    ActionForm,
    AppForm,
    NumberField,
    RejectNulMeta,
    WholeNumberField,
    country_choices,
    options,
    strip,
)
from web.i18n import LANGUAGE_NAMES

LANGUAGE_CHOICES = [(code, name) for code, name in LANGUAGE_NAMES.items()]
# models.customers.EINVOICE_MAIL_FORMATS, as staff read them.
EINVOICE_MAIL_CHOICES = [("none", _l("None")), ("facturx", _l("Factur-X PDF")), ("xrechnung-ubl", _l("XRechnung (UBL)"))]


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def validate_iban(form, field) -> None:
    if field.data:
        try:
            field.data = IBAN(field.data).compact
        except SchwiftyException:
            raise ValidationError(_l("This is not a valid IBAN."))


def validate_bic(form, field) -> None:
    if field.data:
        try:
            field.data = str(BIC(field.data))
        except SchwiftyException:
            raise ValidationError(_l("This is not a valid BIC."))


def validate_tags(form, field) -> None:
    tags = [t.strip() for t in (field.data or "").split(",") if t.strip()]
    if len(tags) > 10:
        raise ValidationError(_l("Use at most 10 tags."))
    if any(len(t.lower()) > 40 for t in tags):  # stored lower-cased, which can be longer ("İ")
        raise ValidationError(_l("A tag has at most 40 characters."))


def finite_number(form, field) -> None:
    """"NaN" and "Infinity" parse as Decimals but are no amounts (and crash NumberRange)."""
    if field.data is not None and not field.data.is_finite():
        raise StopValidation(_l("Enter a number."))


class LineList(FieldList):
    """A FieldList whose index parsing survives names like "lines-²-x" ("²".isdigit(), int() fails)
    and "lines-<5,000 digits>-x" (int() refuses more than 4,300 digits)."""

    def _extract_indices(self, prefix, formdata):
        offset = len(prefix) + 1
        for key in formdata:
            if key.startswith(prefix):
                index = key[offset:].split(self._field_separator, 1)[0]
                if index.isascii() and index.isdigit() and len(index) <= 6:
                    yield int(index)


class EInvoiceUploadForm(AppForm):
    file = FileField(_l("E-invoice file"), description=_l("UBL or CII XML (XRechnung), or a Factur-X / ZUGFeRD PDF."))
    submit = SubmitField(_l("Import"))


class EInvoiceConfirmForm(AppForm):
    """The new customer an upload proposes, confirmed: the validated XML travels back
    (base64) and is read and validated again."""

    xml = StringField(widget=HiddenInput(), validators=[DataRequired(), Length(max=6_000_000)])
    submit = SubmitField(_l("Create the customer and the document"))


class LoginForm(AppForm):
    email = StringField(_l("E-mail address"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    submit = SubmitField(_l("Log in"))


class CustomerForm(AppForm):
    kind = RadioField(
        _l("Kind"),
        choices=options([(CustomerKind.individual.value, _l("Individual")), (CustomerKind.company.value, _l("Company"))]),
        default=CustomerKind.individual.value,
        validators=[InputRequired()],
    )
    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Enter a name.")), Length(max=200)])
    company_name = StringField(_l("Company name"), validators=[Optional(), Length(max=200)])
    number = StringField(
        _l("Customer number"),
        description=_l("Leave empty to assign the next free number."),
        validators=[Optional(), Length(max=30), Regexp(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$", message=_l("Use letters, digits, dots, dashes or slashes."))],
    )
    email = StringField(_l("Primary e-mail address"), filters=[strip], validators=EMAIL)
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=40), Regexp(r"^[0-9 +()./-]+$", message=_l("Use digits, spaces and + ( ) - only."))])
    street = StringField(_l("Street and number"), validators=[Optional(), Length(max=200)])
    postal_code = StringField(_l("Postal code"), validators=[Optional(), Length(max=20)])
    city = StringField(_l("City"), validators=[Optional(), Length(max=100)])
    country = SelectField(_l("Country"), default="NL")
    language = SelectField(_l("Language"), choices=options(LANGUAGE_CHOICES), default="nl")
    vat_id = StringField(_l("VAT ID"), validators=[Optional(), Length(max=30)])
    tax_number = StringField(_l("Tax number"), validators=[Optional(), Length(max=30)])
    iban = StringField(_l("IBAN"), validators=[Optional(), Length(max=42), validate_iban])
    bic = StringField(_l("BIC"), validators=[Optional(), Length(max=11), validate_bic])
    bank_holder = StringField(_l("Account holder"), validators=[Optional(), Length(max=200)])
    buyer_reference = StringField(
        _l("Buyer reference (Leitweg-ID)"),
        description=_l("Carried by every e-invoice to this customer; German authorities require their Leitweg-ID. "
                       "Empty: the customer number."),
        validators=[Optional(), Length(max=100)])
    einvoice_format = SelectField(_l("E-invoice in invoice e-mails"), choices=options(EINVOICE_MAIL_CHOICES),
                                  default="none")
    portal_access = BooleanField(_l("Portal access"), description=_l("Off: no portal login of this customer gets in."))
    tags = StringField(_l("Tags"), description=_l("Separate tags with commas."), validators=[Optional(), Length(max=500), validate_tags])
    assigned_staff_ids = MultiCheckboxField(_l("Assigned staff"), coerce=int)
    submit = SubmitField(_l("Save customer"))

    def __init__(self, *args, staff_choices=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.country.choices = country_choices()
        if staff_choices is None:
            del self.assigned_staff_ids
        else:
            self.assigned_staff_ids.choices = options(staff_choices)

    def custom_field_values(self, definitions: list[CustomFieldDefinition]) -> dict[int, str | None]:
        values = {}
        for definition in definitions:
            data = self[f"cf_{definition.id}"].data
            values[definition.id] = data.isoformat() if hasattr(data, "isoformat") else (None if data is None else str(data))
        return values

    def service_data(self, definitions: list[CustomFieldDefinition]) -> dict:
        data = {name: field.data for name, field in self._fields.items() if name not in ("csrf_token", "submit") and not name.startswith("cf_")}
        data["tags"] = [t for t in (self.tags.data or "").split(",")]
        data["custom_fields"] = self.custom_field_values(definitions)
        return data


def customer_form_class(definitions: list[CustomFieldDefinition]) -> type[CustomerForm]:
    """CustomerForm plus one field per custom field the admin has defined."""
    fields = {}
    for d in definitions:
        if d.kind == CustomFieldKind.number:
            fields[f"cf_{d.id}"] = DecimalField(d.label, places=None, validators=[Optional(), finite_number, NumberRange(min=Decimal("-1e12"), max=Decimal("1e12"))])
        elif d.kind == CustomFieldKind.date:
            fields[f"cf_{d.id}"] = DateField(d.label, validators=[Optional()])
        else:
            fields[f"cf_{d.id}"] = StringField(d.label, validators=[Optional(), Length(max=500)])
    return type("CustomerFormWithFields", (CustomerForm,), fields)


def custom_field_initial(definitions: list[CustomFieldDefinition], values: dict[int, str]) -> dict:
    """Stored custom field strings turned back into what each field type displays."""
    initial = {}
    for d in definitions:
        raw = values.get(d.id)
        if raw is None:
            continue
        try:
            if d.kind == CustomFieldKind.number:
                initial[f"cf_{d.id}"] = Decimal(raw)
            elif d.kind == CustomFieldKind.date:
                initial[f"cf_{d.id}"] = date.fromisoformat(raw)
            else:
                initial[f"cf_{d.id}"] = raw
        except (ArithmeticError, ValueError):
            initial[f"cf_{d.id}"] = None
    return initial


class NoteForm(AppForm):
    body = TextAreaField(_l("Note"), validators=[DataRequired(message=_l("Write something before saving the note.")), Length(max=5000)])
    submit = SubmitField(_l("Add note"))


class ArchiveForm(AppForm):
    submit = SubmitField(_l("Archive customer"))


class InvoiceLineForm(Form):
    class Meta(RejectNulMeta):
        pass

    description = StringField(_l("Description"), validators=[DataRequired(message=_l("Describe the line.")), Length(max=300)])
    quantity = NumberField(_l("Quantity"), default=Decimal("1"), places=None, validators=[InputRequired(), finite_number, NumberRange(min=Decimal("0.001"), max=Decimal("1000000"))])
    unit_price = NumberField(_l("Unit price"), places=None, validators=[InputRequired(), finite_number, NumberRange(min=Decimal("-1000000000"), max=Decimal("1000000000"))])
    vat_rate = NumberField(_l("VAT rate (%)"), default=Decimal("21"), places=None, validators=[InputRequired(), finite_number, NumberRange(min=Decimal("0"), max=Decimal("100"))])

    def validate_quantity(self, field):
        if field.data is not None and field.data.as_tuple().exponent < -3:
            raise ValidationError(_l("Use at most three decimals."))

    def validate_unit_price(self, field):
        if field.data is not None and field.data.as_tuple().exponent < -2:
            raise ValidationError(_l("Use at most two decimals."))

    def validate_vat_rate(self, field):
        if field.data is not None and field.data.as_tuple().exponent < -2:
            raise ValidationError(_l("Use at most two decimals."))


class SettingsForm(AppForm):
    business_name = StringField(_l("Business name"), validators=[DataRequired(), Length(max=200)])
    address = TextAreaField(_l("Address"), validators=[Optional(), Length(max=1000)])
    sender_name = StringField(_l("Sender name"), description=_l("Shown as the sender of every e-mail."), validators=[Optional(), Length(max=200)])
    sender_email = StringField(_l("Sender e-mail address"), validators=EMAIL)
    default_currency = SelectField(_l("Default currency"), choices=options((c, c) for c in CURRENCIES))
    logo = FileField(_l("Logo"), description=_l("PNG, JPEG, WebP or GIF, at most 512 KB."))
    remove_logo = BooleanField(_l("Remove the current logo"))
    portal_access_default = BooleanField(_l("New customers get portal access"))
    # The online dossier (/d/<token>)
    dossier_check = SelectField(_l("Before documents are shown, ask for"), default="none", choices=options([
        ("none", _l("Nothing: the link is enough")),
        ("postal_code", _l("The postal code")),
        ("customer_number", _l("The customer number")),
    ]))
    allow_payments = BooleanField(_l("Debtors can pay online"), default=True)
    payment_provider = SelectField(_l("Payment provider"), default="test", choices=options([
        ("test", _l("Test provider (no real money)")), ("mollie", "Mollie"), ("stripe", "Stripe"),
    ]), description=_l("API keys are set in the environment (see the README)."))
    allow_questions = BooleanField(_l("Debtors can ask questions about an invoice"), default=True)
    allow_instalments = BooleanField(_l("Debtors can ask for an instalment plan"), default=True)
    instalment_max_count = WholeNumberField(_l("Maximum number of instalments"), validators=[Optional(), NumberRange(min=2, max=24)])
    instalment_min_amount = NumberField(_l("Minimum instalment amount"), places=2, validators=[Optional(), finite_number, NumberRange(min=Decimal("1"), max=Decimal("1000000"))])
    instalment_auto_approve_up_to = NumberField(
        _l("Approve plans automatically up to"), places=2,
        description=_l("Larger plans wait for a staff member to approve or decline them."),
        validators=[Optional(), finite_number, NumberRange(min=Decimal("0"), max=Decimal("1000000000"))],
    )
    letter_invoice_asks_email = BooleanField(_l("Invoice letters ask for an e-mail address when none is known"), default=True)
    letter_reminder_asks_email = BooleanField(_l("Reminder letters ask for an e-mail address when none is known"), default=True)
    # Documents: what customers see and may do in their dossier; numbers and e-mail texts
    # per kind (the fields per kind are added below the class: DOCUMENT_KIND_FIELDS).
    released = MultiCheckboxField(_l("Documents customers see in their dossier"), choices=options(
        (kind.value, KIND_PLURALS[kind]) for kind in DocumentKind), validate_choice=False)
    allow_quote_decisions = BooleanField(_l("Customers can accept or reject quotes"), default=True)
    allow_pdf_download = BooleanField(_l("Customers can download documents as PDF"), default=True)
    apply_credit_automatically = BooleanField(
        _l("Apply customer credit to new invoices automatically"), default=True,
        description=_l("Otherwise staff apply it on the invoice page."))
    # Master data customers change themselves (portal and dossier link), per group.
    customer_edits_contact = BooleanField(_l("Contact details (e-mail address, phone, language)"), default=True)
    customer_edits_address = BooleanField(_l("Postal address"), default=True)
    customer_edits_bank = BooleanField(
        _l("Bank details (IBAN, BIC, account holder)"), default=True,
        description=_l("Only with a code sent to their e-mail address; staff confirm the new details."))
    customer_edits_tax = BooleanField(_l("Tax details (VAT id, tax number)"), default=True)
    submit = SubmitField(_l("Save settings"))

    def kind_fields(self, kind: str) -> tuple:
        """A kind's prefix, next number (and the next number as shown) and e-mail text."""
        return tuple(self[f"{name}_{kind}"] for name in ("prefix", "next_number", "next_shown", "mail_intro"))


# Per document kind: the number prefix, the next number of this year and the e-mail text.
DOCUMENT_KIND_FIELDS = {
    "invoice": (_l("Invoice number prefix"), _l("Next invoice number"), _l("Invoice e-mail text")),
    "reminder": (_l("Reminder number prefix"), _l("Next reminder number"), _l("Reminder e-mail text")),
    "quote": (_l("Quote number prefix"), _l("Next quote number"), _l("Quote e-mail text")),
    "credit_note": (_l("Credit note number prefix"), _l("Next credit note number"), _l("Credit note e-mail text")),
    "delivery_note": (_l("Delivery note number prefix"), _l("Next delivery note number"),
                      _l("Delivery note e-mail text")),
    "order_confirmation": (_l("Order confirmation number prefix"), _l("Next order confirmation number"),
                           _l("Order confirmation e-mail text")),
}
MAIL_TEXT_HINT = _l("Instead of the standard opening sentence. Placeholders: {customer_name}, {document_number}, "
                    "{document_url}, {dossier_url}. Leave empty for the standard text.")
for _kind, (_prefix_label, _next_label, _text_label) in DOCUMENT_KIND_FIELDS.items():
    setattr(SettingsForm, f"prefix_{_kind}", StringField(  # checked by models.services.settings
        _prefix_label, description=_l("Letters, digits and - _ / . (at most 10), before the year.")))
    setattr(SettingsForm, f"next_number_{_kind}", WholeNumberField(
        _next_label, validators=[Optional(), NumberRange(min=1, max=99_999_999)]))
    # The next number as the page showed it: left as it was, it is no change (a document
    # numbered meanwhile does not make saving the other settings fail).
    setattr(SettingsForm, f"next_shown_{_kind}", IntegerField(widget=HiddenInput(), validators=[Optional()]))
    setattr(SettingsForm, f"mail_intro_{_kind}", TextAreaField(
        _text_label, description=MAIL_TEXT_HINT, validators=[Optional(), Length(max=2000)]))


ROLE_CHOICES = [(StaffRole.owner.value, _l("Owner")), (StaffRole.admin.value, _l("Admin")), (StaffRole.employee.value, _l("Employee"))]


class StaffCreateForm(AppForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    email = StringField(_l("E-mail address"), validators=[DataRequired(), *EMAIL[1:]])
    role = SelectField(_l("Role"), choices=options(ROLE_CHOICES), default=StaffRole.employee.value)
    view_all_customers = BooleanField(_l("May see all customers"), description=_l("Employees otherwise see only the customers assigned to them."))
    language = SelectField(_l("Language"), choices=options(LANGUAGE_CHOICES), default="en")
    password = PasswordField(_l("Initial password"), description=_l("At least %(n)s characters. Share it in person; they can change it.", n=MIN_LENGTH), validators=[DataRequired(), Length(max=1024)])
    submit = SubmitField(_l("Add staff member"))


class StaffEditForm(AppForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    role = SelectField(_l("Role"), choices=options(ROLE_CHOICES))
    view_all_customers = BooleanField(_l("May see all customers"))
    active = BooleanField(_l("Active"), description=_l("Deactivating ends all of their sessions at once."))
    submit = SubmitField(_l("Save staff member"))


class LanguageForm(AppForm):
    language = SelectField(_l("Language"), choices=options(LANGUAGE_CHOICES))
    submit = SubmitField(_l("Save language"))


class PasswordChangeForm(AppForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=1024)])
    new_password = PasswordField(_l("New password"), description=_l("At least 12 characters; common passwords are refused."), validators=[DataRequired(), Length(max=1024)])
    confirm_password = PasswordField(_l("Repeat the new password"), validators=[DataRequired(), EqualTo("new_password", message=_l("The two passwords differ."))])
    submit = SubmitField(_l("Change password"))


class CustomFieldForm(AppForm):
    label = StringField(_l("Label"), validators=[DataRequired(), Length(max=60)])
    kind = SelectField(_l("Type"), choices=options([("text", _l("Text")), ("number", _l("Number")), ("date", _l("Date"))]))
    submit = SubmitField(_l("Add field"))


class DeleteForm(AppForm):
    submit = SubmitField(_l("Remove"))


class AccountNoticeForm(AppForm):
    notice = SelectField(
        _l("Notice"),
        choices=options([
            ("order_confirmed", _l("Order confirmed")),
            ("shipped", _l("Order shipped")),
            ("subscription_changed", _l("Subscription changed")),
        ]),
    )
    message = TextAreaField(_l("Message (optional)"), validators=[Optional(), Length(max=2000)])
    submit = SubmitField(_l("Send notice"))


class PortalLoginForm(AppForm):
    """Add a login address, or change the address of a login not yet accepted."""

    email = StringField(_l("Login e-mail address"), filters=[strip], validators=[DataRequired(), *EMAIL[1:]])
    submit = SubmitField(_l("Add login and send invitation"))


class PortalNotifyForm(AppForm):
    notify = BooleanField(_l("Notify"))
    notify_invoice = BooleanField(_l("Invoice e-mails"))
    notify_account = BooleanField(_l("Account e-mails"))
    submit = SubmitField(_l("Save notifications"))


class PortalApplyForm(AppForm):
    enabled = SelectField(_l("Portal access for all existing customers"),
                          choices=options([("on", _l("On")), ("off", _l("Off"))]))
    confirm = BooleanField(_l("Yes, change all these customers"),
                           validators=[DataRequired(message=_l("Tick this box to confirm."))])
    submit = SubmitField(_l("Apply to all customers"))




class DunningScheduleForm(AppForm):
    """Automatic reminders: the fields per level are added below the class (DUNNING_LEVEL_LABELS)."""

    enabled = BooleanField(_l("Send reminders automatically"),
                           description=_l("Once a day the worker sends the reminders that are due."))
    submit = SubmitField(_l("Save reminder schedule"))

    def level_fields(self, level: int) -> tuple:
        return tuple(self[f"{name}_{level}"] for name in ("days", "fee", "interest"))

    def text_fields(self, level: int, language: str) -> tuple:
        return tuple(self[f"{kind}_text_{level}_{language}"] for kind in ("mail", "letter"))


DUNNING_LEVEL_LABELS = {1: _l("1st reminder"), 2: _l("2nd reminder"), 3: _l("Final notice")}
DUNNING_TEXT_HINT = _l("Placeholders: {customer_name}, {document_number}, {document_url}, {dossier_url}. "
                       "Leave empty for the standard text.")
for _level, _name in DUNNING_LEVEL_LABELS.items():
    setattr(DunningScheduleForm, f"days_{_level}", WholeNumberField(
        _l("%(level)s: days after the due date", level=_name),
        validators=[InputRequired(_l("Enter a number of days.")), NumberRange(min=0, max=365)]))
    setattr(DunningScheduleForm, f"fee_{_level}", NumberField(
        _l("%(level)s: fee", level=_name), places=2,
        validators=[Optional(), finite_number, NumberRange(min=Decimal("0"), max=Decimal("1000000"))]))
    setattr(DunningScheduleForm, f"interest_{_level}", NumberField(
        _l("%(level)s: interest (%% a year)", level=_name), places=3,
        description=_l("On what is outstanding, for the days since the due date."),
        validators=[Optional(), finite_number, NumberRange(min=Decimal("0"), max=Decimal("100"))]))
    for _language, _language_name in LANGUAGE_CHOICES:
        setattr(DunningScheduleForm, f"mail_text_{_level}_{_language}", TextAreaField(
            _l("%(level)s: e-mail text (%(language)s)", level=_name, language=_language_name),
            description=DUNNING_TEXT_HINT, validators=[Optional(), Length(max=2000)]))
        setattr(DunningScheduleForm, f"letter_text_{_level}_{_language}", TextAreaField(
            _l("%(level)s: letter text (%(language)s)", level=_name, language=_language_name),
            description=DUNNING_TEXT_HINT, validators=[Optional(), Length(max=2000)]))


class FlagForm(AppForm):
    """A yes/no switch posted by one button (hold reminders, dispute an invoice)."""

    value = SelectField(choices=options([("1", _l("On")), ("0", _l("Off"))]))


class LettersPrintedForm(AppForm):
    """The letter list's notices staff printed (ids checked against what they may see)."""

    notices = StringField(validators=[DataRequired(), Regexp(r"^\d{1,12}(,\d{1,12}){0,999}$")])
    submit = SubmitField(_l("Mark as printed"))
