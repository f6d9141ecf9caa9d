"""Forms of the mailbox pages (issue 21): the connection settings, replies, assignment."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, IntegerField, PasswordField, RadioField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from web.forms import AppForm, options


class MailboxForm(AppForm):
    enabled = BooleanField(_l("Sync e-mail from this mailbox"))
    host = StringField(_l("IMAP server"), validators=[Optional(), Length(max=253)],
                       description=_l("For example imap.example.com."))
    port = IntegerField(_l("Port"), default=993,
                        validators=[DataRequired(message=_l("Enter a port between 1 and 65535.")),
                                    NumberRange(1, 65535, message=_l("Enter a port between 1 and 65535."))])
    security = RadioField(_l("Encryption"), default="ssl", choices=options([
        ("ssl", _l("IMAPS (TLS from the start, usually port 993)")),
        ("starttls", _l("STARTTLS (usually port 143)")),
    ]))
    username = StringField(_l("User name"), validators=[Optional(), Length(max=254)])
    password = PasswordField(_l("Password or app password"), validators=[Optional(), Length(max=500)])
    folders = TextAreaField(_l("Folders to read"), default="INBOX", validators=[Length(max=500)],
                            description=_l("One per line, for example INBOX and Sent."))
    save = SubmitField(_l("Save"))
    test = SubmitField(_l("Test connection"))


class ReplyForm(AppForm):
    subject = StringField(_l("Subject"), validators=[DataRequired(message=_l("Enter a subject.")), Length(max=300)])
    message = TextAreaField(_l("Message"), validators=[DataRequired(message=_l("Enter a message.")),
                                                        Length(max=20000)])
    submit = SubmitField(_l("Send reply"))


class AssignForm(AppForm):
    customer_number = StringField(_l("Customer number"), validators=[
        DataRequired(message=_l("Enter a customer number.")), Length(max=30)])
    add_contact = BooleanField(_l("Also add the sender as a contact person"))
    submit = SubmitField(_l("Assign"))
