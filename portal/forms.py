"""Customer-facing forms. Every one is an AppForm: CSRF plus the NUL check (PostgreSQL
refuses NUL in text, so it is refused next to the field instead of failing the request)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from web.forms import EMAIL, ActionForm, AppForm, strip  # noqa: F401 (ActionForm: the portal's buttons use the shared one)


class LoginForm(AppForm):
    email = StringField(_l("E-mail address"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    submit = SubmitField(_l("Log in"))


class ForgotForm(AppForm):
    email = StringField(_l("E-mail address"), validators=[DataRequired(), Length(max=254)])
    submit = SubmitField(_l("Send reset link"))


class NewPasswordForm(AppForm):
    password = PasswordField(
        _l("New password"),
        description=_l("At least 12 characters; common passwords are refused."),
        validators=[DataRequired(), Length(max=1024)],
    )
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two passwords differ."))],
    )
    submit = SubmitField(_l("Save password"))


class PasswordChangeForm(AppForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=1024)])
    new_password = PasswordField(
        _l("New password"),
        description=_l("At least 12 characters; common passwords are refused."),
        validators=[DataRequired(), Length(max=1024)],
    )
    confirm_password = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("new_password", message=_l("The two passwords differ."))],
    )
    submit = SubmitField(_l("Change password"))


class AcceptForm(AppForm):
    """The password fields appear only for a new login (see the view)."""

    password = PasswordField(
        _l("Choose a password"),
        description=_l("At least 12 characters; common passwords are refused."),
        validators=[Length(max=1024)],
    )
    confirm = PasswordField(
        _l("Repeat the password"), validators=[EqualTo("password", message=_l("The two passwords differ."))]
    )
    submit = SubmitField(_l("Activate my login"))


class NotificationForm(AppForm):
    notify = BooleanField(_l("Send me e-mails about this account"))
    notify_invoice = BooleanField(_l("Invoice e-mails (invoices, payments, reminders)"))
    notify_account = BooleanField(_l("Account e-mails (orders, deliveries, subscription changes)"))
    submit = SubmitField(_l("Save preferences"))


class DossierCheckForm(AppForm):
    """Asked before documents are shown when the business requires it; the label is set
    by the view (postal code or customer number)."""

    answer = StringField(_l("Postal code"), filters=[strip], validators=[DataRequired(), Length(max=40)])
    submit = SubmitField(_l("Show my documents"))


class ProvideEmailForm(AppForm):
    email = StringField(_l("Your e-mail address"), filters=[strip], validators=[DataRequired(), *EMAIL])
    submit = SubmitField(_l("Send my e-mail address"))
