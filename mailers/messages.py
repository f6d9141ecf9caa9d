"""Building a message for an outbox row: subject and .txt/.html bodies in the customer's
language, the business as sender, one deterministic Message-ID per row.

Messages are stdlib `email.message.EmailMessage`, not Flask-Mail's `Message`, which falls
short for us (Flask-Mail 0.10): it writes UTF-8 bodies as unencoded 8bit, so a long line
(a tracking code, a long URL) goes out over SMTP's 998-octet limit; it joins a (name,
address) sender into "name <address>" and parses that again, so a business name with a
comma or colon ("Acme, Utrecht B.V.") becomes the wrong From address; and it puts To and
Cc through a set. EmailMessage quotes or encodes names, keeps the order and switches to
quoted-printable for long lines.

`build` reads what it needs itself; a worker delivering a batch passes what it loaded for
the whole batch (settings, document, dossier link, pending logins) so a row costs no
queries. A secret link (invitation, password reset) is minted only for a message to that
one person (a system mail, never with CC); building it writes the link's hash, so the
worker commits it only together with that row's delivery (`mints_a_link`). Customer
e-mails, which contact persons may receive in CC, carry no secret: a login still waiting
to be activated gets a banner that sends its owner to ask for their own link.

A contact person's copy (`contact=`) is a message of its own, To that contact alone: it
carries that contact's own preferences link and a one-click `List-Unsubscribe` (RFC 8058),
secrets of theirs that the customer and the other contacts must not receive. It has its
own Message-ID (the row's, with the contact's id), the same on every attempt.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from jinja2 import Template
from sqlalchemy import select

from mailers.routing import ContactCopy, Recipients
from models import formatting
from models.customers import Customer
from models.db import db
from models.documents import Document
from models.outbox import MailCategory, OutboundEmail
from models.portal_access import PortalAccess, PortalUser
from models.services import contact_preferences, dossier, dunning_schedule, einvoice, one_time_codes, portal_access
from models.services import settings as settings_service
from models.services.errors import DomainError
from models.services.notifications import DOCUMENT_TEMPLATES
from models.services.settings import get_settings
from models.settings import BusinessSettings

SUBJECTS = {
    "invoice_issued": _l("Invoice %(number)s from %(business)s"),
    "invoice_reminder": _l("Reminder: invoice %(number)s from %(business)s"),
    "payment_received": _l("Payment received — %(business)s"),
    "account_notice": _l("%(notice)s — %(business)s"),
    "portal_invitation": _l("Your login for %(business)s"),
    "portal_password_reset": _l("Choose a new password for %(business)s"),
    "portal_security_notice": _l("Your login for %(business)s was changed"),
    "question_answered": _l("Answer to your question about invoice %(number)s"),
    "document_question_answered": _l("Answer to your question about document %(number)s"),
    "instalment_confirmed": _l("Your instalment plan with %(business)s is confirmed"),
    "instalment_requested": _l("We received your instalment plan request — %(business)s"),
    "instalment_approved": _l("Your instalment plan with %(business)s is approved"),
    "instalment_declined": _l("Your instalment plan request — %(business)s"),
    "instalment_cancelled": _l("Your instalment plan with %(business)s was cancelled"),
    # Issuing a document of each kind (models.services.notifications.DOCUMENT_MAIL).
    "document_quote": _l("Quote %(number)s from %(business)s"),
    "document_credit_note": _l("Credit note %(number)s from %(business)s"),
    "document_reminder": _l("Reminder %(number)s from %(business)s"),
    # An automatic reminder of an instalment of a plan (models.services.dunning).
    "instalment_reminder": _l("Reminder: your instalment to %(business)s"),
    "document_delivery_note": _l("Delivery note %(number)s from %(business)s"),
    "document_order_confirmation": _l("Order confirmation %(number)s from %(business)s"),
    # To staff: a customer decided on a quote (system mail; the number is in its context).
    "document_quote_accepted": _l("Quote %(number)s was accepted"),
    "document_quote_rejected": _l("Quote %(number)s was rejected"),
    # Master data self-service: the one-time code and the new address's link (minted at
    # sending, to that one address), the notice to the customer, the staff notice.
    "customer_code": _l("Your code for %(business)s"),
    "customer_email_confirm": _l("Confirm your new e-mail address for %(business)s"),
    "customer_details_notice": _l("Your details at %(business)s were changed"),
    "customer_details_changed": _l("Customer %(number)s changed their details"),
}
NOTICES = {
    "order_confirmed": _l("Your order is confirmed"),
    "shipped": _l("Your order has been shipped"),
    "subscription_changed": _l("Your subscription has changed"),
}
# The mails that issue an invoice or credit note attach the e-invoice the customer chose.
EINVOICE_TEMPLATES = frozenset({"invoice_issued", "document_credit_note"})
SECRET_LINK_TEMPLATES = frozenset({"portal_invitation", "portal_password_reset", *one_time_codes.MINTED_TEMPLATES})
_LINE_BREAKS = re.compile(r"[\r\n\x00]+")
# A staff member's reply to a synced e-mail (issue 21): their own subject, in the thread.
STAFF_WRITTEN = frozenset({"mail_reply"})
_MESSAGE_IDS = re.compile(r"<[^<>\s]{1,298}>")
_LOAD: Any = object()  # "not given: read it now"


def one_line(value: str | None) -> str:
    """Header values never carry CR, LF or NUL: that is how header injection works."""
    return _LINE_BREAKS.sub(" ", value or "").strip()


def message_id(email_id: int, contact_id: int | None = None) -> str:
    """The same on every attempt, so a rare duplicate is recognisable as one. A contact
    person's own copy has one of its own."""
    key = current_app.config["SECRET_KEY"].encode()
    name = f"{email_id}" if contact_id is None else f"{email_id}.c{contact_id}"
    tag = hmac.new(key, f"outbox:{name}".encode(), hashlib.sha256).hexdigest()[:16]
    domain = urlsplit(current_app.config["BASE_URL"]).hostname or "localhost"
    return f"<outbox.{name}.{tag}@{domain}>"


def contact_links(email: OutboundEmail, contact: ContactCopy) -> dict[str, str]:
    """A contact person's own links: their preferences page and one-click unsubscribe from
    this message's category."""
    base = current_app.config["BASE_URL"]
    return {
        "preferences_url": f"{base}/portal/contact/"
                           + contact_preferences.preferences_token(contact.contact_id, contact.address),
        "unsubscribe_url": f"{base}/portal/unsubscribe/"
                           + contact_preferences.unsubscribe_token(contact.contact_id, contact.address, email.category),
    }


class Message(EmailMessage):
    """An EmailMessage that also answers to Flask-Mail's names for what callers and tests
    read: `body` (the text part), `html` and `msgId`."""

    @property
    def body(self) -> str:
        return self.get_body(("plain",)).get_content()

    @property
    def html(self) -> str:
        return self.get_body(("html",)).get_content()

    @property
    def msgId(self) -> str:  # noqa: N802 - Flask-Mail's name
        return str(self["Message-ID"])


def _message(subject: str, sender: Address, to: list[str], cc: list[str], text: str, html: str,
             msg_id: str, unsubscribe_url: str | None = None) -> Message:
    """text/plain + text/html as multipart/alternative, with CRLF line ends for SMTP. Header
    values must already be on one line (one_line): that is what stops header injection."""
    message = Message(policy=policy.SMTP)
    message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = msg_id
    if unsubscribe_url:  # RFC 8058 one-click: the mail provider POSTs List-Unsubscribe=One-Click
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def einvoice_attachment(email: OutboundEmail, customer: Customer | None, document: Document | None,
                       settings: BusinessSettings) -> einvoice.Rendered | None:
    """The e-invoice (customer.einvoice_format) an invoice's or credit note's mail carries.
    One that cannot be made (the settings lack the VAT id, no WeasyPrint for a Factur-X
    PDF) is logged and left out: the mail itself still goes."""
    if (customer is None or document is None or email.template not in EINVOICE_TEMPLATES
            or customer.einvoice_format not in einvoice.FORMATS):
        return None
    try:
        return einvoice.render(document, customer.einvoice_format, settings)
    except (DomainError, einvoice.PdfUnavailable) as error:
        current_app.logger.warning("outbox %s: no %s e-invoice attached: %s", email.id, customer.einvoice_format,
                                   getattr(error, "message", None) or type(error).__name__)
        return None


def _thread_headers(message: Message, context: dict) -> None:
    """In-Reply-To and References from the row's context (a reply to a synced e-mail), so
    the customer's mail program shows it in the same conversation. Only well-formed
    Message-IDs pass: nothing else can reach the header."""
    in_reply_to = _MESSAGE_IDS.findall(context.get("in_reply_to") or "")
    references = _MESSAGE_IDS.findall(context.get("references") or "")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to[0]
    if references:
        message["References"] = " ".join(references[-20:])


@dataclass
class Built:
    message: Message
    subject: str
    envelope_from: str


class NotNeeded(Exception):
    """The message lost its purpose before it was sent (e.g. the invitation was replaced)."""


def pending_invitations(customer_ids: Iterable[int]) -> dict[int, set[str]]:
    """Per customer, the (lower-case) addresses of logins invited but not accepted yet:
    mail to them carries an activation link, minted when it is built."""
    ids = sorted(set(customer_ids))
    pending: dict[int, set[str]] = {}
    if not ids:
        return pending
    rows = db.session.execute(
        select(PortalAccess.customer_id, PortalUser.email)
        .join(PortalUser, PortalUser.id == PortalAccess.portal_user_id)
        .where(
            PortalAccess.customer_id.in_(ids),
            PortalAccess.invited_at.is_not(None),
            PortalAccess.accepted_at.is_(None),
            PortalAccess.revoked_at.is_(None),
        )
    )
    for cid, address in rows:
        pending.setdefault(cid, set()).add(address.strip().lower())
    return pending


def mints_a_link(email: OutboundEmail) -> bool:
    """Building this row writes a secret link's hash (to be kept only if it is sent)."""
    return email.template in SECRET_LINK_TEMPLATES


def portal_links(email: OutboundEmail, recipients: Recipients, pending: set[str]) -> dict:
    """The links a message's portal parts need. Secret links are minted now, at sending (no
    table or outbox row holds a usable token), and only for system mail to one person.
    `pending`: the lower-case addresses of the customer's logins not activated yet."""
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
    if email.template in one_time_codes.MINTED_TEMPLATES:
        try:
            if email.template == one_time_codes.CODE_TEMPLATE:
                return {"code": one_time_codes.mint_code(email.context.get("code_id"), email.to_address)}
            token = one_time_codes.mint_link_token(email.context.get("code_id"), email.to_address)
            return {"confirm_url": f"{base}/portal/confirm-email/{token}"}
        except one_time_codes.NotMintable as error:
            raise NotNeeded(str(error)) from None
    if email.category != MailCategory.system and any(a.strip().lower() in pending for a in recipients.to):
        # A banner without a secret: its owner asks for their own link (sent to them alone).
        return {"activation_url": f"{base}/portal/forgot"}
    return {}


class Renderer:
    """Renders mail templates like flask.render_template, with what that looks up per call
    (context processors, the template) looked up once per batch. Inside
    `force_locale(language)` the templates speak that language: their `_`/`gettext`/
    `ngettext` are bound for each message (formatting.template_translations), as a page's
    are for its render, since a batch's messages are in several languages."""

    def __init__(self) -> None:
        app = current_app._get_current_object()
        self.env = app.jinja_env
        self.base: dict[str, Any] = {}
        app.update_template_context(self.base)
        self.templates: dict[str, Template] = {}

    def render(self, name: str, context: dict[str, Any]) -> str:
        """Inside force_locale(language): the template in that language."""
        template = self.templates.get(name)
        if template is None:
            template = self.templates[name] = self.env.get_template(name)
        return template.render({**self.base, **formatting.template_translations(), **context})


def _dunning_intro(context: dict, language: str, values: dict) -> list[tuple[str, str | None]]:
    """An automatic reminder opens with its level's text in the customer's language: the
    business's own (fixed in the row's context when it was queued) or the standard one."""
    level = int(context["dunning_level"])
    with force_locale(language):
        text = (context.get("dunning_texts") or {}).get(language) or str(dunning_schedule.DEFAULT_TEXTS.get(
            level, dunning_schedule.DEFAULT_TEXTS[1]))
    return settings_service.fill_placeholders(text, values)


def dossier_url(token: str) -> str:
    return current_app.config["BASE_URL"] + "/d/" + token


def build(
    email: OutboundEmail,
    customer: Customer | None,
    recipients: Recipients,
    *,
    settings: BusinessSettings | None = None,
    document: Document | None = _LOAD,
    dossier_link: str | None = _LOAD,
    links: dict[str, str] | None = None,
    renderer: Renderer | None = None,
    contact: ContactCopy | None = None,
) -> Built:
    """The message for one row: the customer's (To only; contact persons are not in it), or
    with `contact` that contact person's own copy. Keyword arguments left out are read (or
    minted) now."""
    settings = settings or get_settings()
    renderer = renderer or Renderer()
    if document is _LOAD:
        document = db.session.get(Document, email.document_id) if email.document_id else None
    if email.category == MailCategory.system:
        # Invitations and resets are for one person, not the customer's mail: no dossier
        # link (a mistyped address must not keep it after the address is corrected).
        dossier_link = None
    elif dossier_link is _LOAD:
        dossier_link = dossier_url(dossier.current_token(customer)) if customer else None
    language = customer.language if customer else email.context.get("language", "en")
    document_link = intro = None
    if document is not None and dossier_link and email.category != MailCategory.system:
        if dossier.hidden_because(document, settings, customer) is None:
            document_link = dossier.document_url_in(dossier_link, document.id)
        if email.template in DOCUMENT_TEMPLATES:
            values = {
                "customer_name": customer.display_name if customer else "",
                "document_number": document.number or "",
                "document_url": document_link or dossier_link,
                "dossier_url": dossier_link,
            }
            intro = (_dunning_intro(email.context, language, values) if email.context.get("dunning_level")
                     else settings_service.mail_intro(settings, document.kind.value, values))
    context = {
        **email.context,
        "business": settings,
        "customer": customer,
        "document": document,
        "dossier_url": dossier_link,
        # The document's own page in the dossier, when the customer can open it.
        "document_url": document_link,
        # The business's own opening text for this kind (settings), as (text, link) parts.
        "intro": intro,
        "notice_label": NOTICES.get(email.context.get("notice", "")),
        "forgot_url": current_app.config["BASE_URL"] + "/portal/forgot",
    }
    if email.template == "instalment_reminder" and email.context.get("due_date"):
        context["due_date"] = date.fromisoformat(email.context["due_date"])  # JSON keeps it as text
    if contact is not None:
        # No login banner (it is the customer's): the contact's own links instead.
        context.update(contact_links(email, contact), contact_name=contact.name)
    else:
        context.update(links if links is not None else portal_links(
            email, recipients, pending_invitations([customer.id]).get(customer.id, set()) if customer else set()))
    with force_locale(language):
        subject = one_line(email.context.get("subject")) if email.template in STAFF_WRITTEN else one_line(
            str(
                SUBJECTS[email.template]
                % {
                    "business": settings.business_name,
                    "number": document.number if document else email.context.get("number") or "",
                    "notice": str(context["notice_label"] or ""),
                }
            )
        )
        text = renderer.render(f"mail/{email.template}.txt", context)
        html = renderer.render(f"mail/{email.template}.html", context)
    sender_address = one_line(settings.sender_email or current_app.config["MAIL_DEFAULT_SENDER"])
    message = _message(
        subject,
        Address(one_line(settings.sender_name or settings.business_name), addr_spec=sender_address),
        [one_line(contact.address)] if contact else [one_line(a) for a in recipients.to],
        [],
        text,
        html,
        message_id(email.id, contact.contact_id if contact else None),
        unsubscribe_url=context["unsubscribe_url"] if contact else None,
    )
    attachment = einvoice_attachment(email, customer, document, settings)
    if attachment is not None:
        maintype, _slash, subtype = attachment.mimetype.partition("/")
        message.add_attachment(attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename)
    _thread_headers(message, email.context)
    return Built(message=message, subject=subject, envelope_from=sender_address)
