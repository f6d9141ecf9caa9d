"""Building a message for an outbox row: subject and .txt/.html bodies in the customer's
language, the business as sender, one deterministic Message-ID per row."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from email import policy as email_policy
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from flask_mail import Message

from mailers.routing import Recipients
from models.customers import Customer
from models.db import db
from models.documents import Document
from models.outbox import MailCategory, OutboundEmail
from models.portal_access import PortalAccess, PortalUser
from models.services import dossier, portal_access
from models.services.settings import get_settings

SUBJECTS = {
    "invoice_issued": _l("Invoice %(number)s from %(business)s"),
    "invoice_reminder": _l("Reminder: invoice %(number)s from %(business)s"),
    "account_notice": _l("%(notice)s — %(business)s"),
    "portal_invitation": _l("Your login for %(business)s"),
    "portal_password_reset": _l("Choose a new password for %(business)s"),
}
NOTICES = {
    "order_confirmed": _l("Your order is confirmed"),
    "shipped": _l("Your order has been shipped"),
    "subscription_changed": _l("Your subscription has changed"),
}
_LINE_BREAKS = re.compile(r"[\r\n\x00]+")
# Flask-Mail writes the sender as RFC 2047 encoded-words (folded by email.header). Its policy
# then re-folds any line over 78 characters, and Python's refolding (before the gh-121284 and
# gh-80222 fixes; 3.11.7 has neither) decodes those words and drops the quoting: a long name
# with a comma became two From addresses, one with a colon an address group. Keep the
# headers as Flask-Mail encoded them.
_NO_REFOLD = email_policy.SMTP.clone(refold_source="none")


class _Message(Message):
    def _message(self):
        msg = super()._message()
        msg.policy = _NO_REFOLD
        return msg


def one_line(value: str | None) -> str:
    """Header values never carry CR, LF or NUL: that is how header injection works."""
    return _LINE_BREAKS.sub(" ", value or "").strip()


def message_id(email_id: int) -> str:
    """The same on every attempt, so a rare duplicate is recognisable as one."""
    key = current_app.config["SECRET_KEY"].encode()
    tag = hmac.new(key, f"outbox:{email_id}".encode(), hashlib.sha256).hexdigest()[:16]
    domain = urlsplit(current_app.config["BASE_URL"]).hostname or "localhost"
    return f"<outbox.{email_id}.{tag}@{domain}>"


@dataclass
class Built:
    message: Message
    subject: str
    envelope_from: str


class NotNeeded(Exception):
    """The message lost its purpose before it was sent (e.g. the invitation was replaced)."""


def _portal_links(email: OutboundEmail, customer: Customer | None, recipients: Recipients) -> dict:
    """Secret links are minted now, at sending: no table or outbox row holds a usable token."""
    base = current_app.config["BASE_URL"]
    if email.template == "portal_invitation":
        access = db.session.get(PortalAccess, email.context.get("access_id"))
        if (
            access is None or access.accepted_at or access.revoked_at
            or access.user.email != email.to_address
        ):
            raise NotNeeded("the invitation was replaced, accepted or revoked before it was sent")
        return {"invitation_url": f"{base}/portal/invite/{portal_access.mint_invitation(access)}"}
    if email.template == "portal_password_reset":
        user = db.session.get(PortalUser, email.context.get("portal_user_id"))
        if user is None or user.email != email.to_address:
            raise NotNeeded("the login no longer exists")
        return {"reset_url": f"{base}/portal/reset/{portal_access.mint_reset(user)}"}
    if customer is not None and email.category != MailCategory.system:
        # A login invited but not yet accepted gets an activation banner with a fresh link.
        pending = portal_access.pending_invitation(customer, recipients.to)
        if pending is not None:
            return {"activation_url": f"{base}/portal/invite/{portal_access.mint_invitation(pending)}"}
    return {}


def build(email: OutboundEmail, customer: Customer | None, recipients: Recipients) -> Built:
    settings = get_settings()
    document = db.session.get(Document, email.document_id) if email.document_id else None
    language = customer.language if customer else email.context.get("language", "en")
    context = {
        **email.context,
        "business": settings,
        "customer": customer,
        "document": document,
        "dossier_url": (
            current_app.config["BASE_URL"] + "/d/" + dossier.current_token(customer)
            if customer else None
        ),
        "notice_label": NOTICES.get(email.context.get("notice", "")),
        **_portal_links(email, customer, recipients),
    }
    with force_locale(language):
        subject = one_line(
            str(
                SUBJECTS[email.template]
                % {
                    "business": settings.business_name,
                    "number": document.number if document else "",
                    "notice": str(context["notice_label"] or ""),
                }
            )
        )
        text = render_template(f"mail/{email.template}.txt", **context)
        html = render_template(f"mail/{email.template}.html", **context)
    sender_address = settings.sender_email or current_app.config["MAIL_DEFAULT_SENDER"]
    message = _Message(
        subject=subject,
        recipients=[one_line(a) for a in recipients.to],
        cc=[one_line(a) for a in recipients.cc],
        body=text,
        html=html,
        sender=one_line(sender_address),
    )
    # The (name, address) pair is set after construction: Message() would join it unquoted
    # ("Acme: Billing <…>" parses as a group), and a formataddr() string has its encoded name
    # encoded again ("Müller GmbH" arrived as "=?utf-8?q?M=C3=BCller_GmbH?="). Set here, the
    # name is encoded once, by sanitize_address, when the message is built.
    message.sender = (one_line(settings.sender_name or settings.business_name), one_line(sender_address))
    message.msgId = message_id(email.id)
    return Built(message=message, subject=subject, envelope_from=one_line(sender_address))
