"""Customer-facing forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from web.forms import ActionForm  # noqa: F401 (the portal's buttons use the shared one)


class LoginForm(FlaskForm):
    email = StringField(_l("E-mail address"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    submit = SubmitField(_l("Log in"))


class ForgotForm(FlaskForm):
    email = StringField(_l("E-mail address"), validators=[DataRequired(), Length(max=254)])
    submit = SubmitField(_l("Send reset link"))


class NewPasswordForm(FlaskForm):
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


class AcceptForm(FlaskForm):
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


class NotificationForm(FlaskForm):
    notify = BooleanField(_l("Send me e-mails about this account"))
    notify_invoice = BooleanField(_l("Invoice e-mails (invoices, payments, reminders)"))
    notify_account = BooleanField(_l("Account e-mails (orders, deliveries, subscription changes)"))
    submit = SubmitField(_l("Save preferences"))
