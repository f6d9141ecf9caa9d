"""Staff actions that send e-mail, the e-mail log per customer, and the dossier link."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from admin import bp, confirmations
from admin.forms import AccountNoticeForm, ActionForm
from admin.webhooks import EVENT_LABELS, STATUS_LABELS
from models.formatting import format_date
from models.outbox import MailStatus
from models.services import dossier, notifications, outbox, provided_email, synced_mail, webhooks
from models.services import documents as document_service
from models.services.access import get_customer
from web.rendering import render
from web.transaction import commit_change


def _queued_message(customer) -> str:
    if not customer.email:
        return _("No e-mail address is known for this customer: the e-mail cannot be delivered.")
    return _("The e-mail is on its way.")


@bp.post("/invoices/<int:invoice_id>/send")
def invoice_send(invoice_id: int):
    invoice = document_service.get_document(current_user, invoice_id)  # any kind; "invoice" for the reminder
    reminder = request.form.get("reminder") == "1"
    action = notifications.send_reminder if reminder else notifications.send_document
    if not ActionForm().validate_on_submit():
        return redirect(url_for("admin.document_detail", document_id=invoice.id))
    if reminder and notifications.reminder_is_early(invoice) and not confirmations.confirmed():
        return confirmations.ask(
            title=_("Send a reminder for invoice %(number)s before it is due?", number=invoice.number),
            consequences=[
                _("Invoice %(number)s is due on %(date)s and is not overdue yet.",
                  number=invoice.number, date=format_date(invoice.due_date)),
                _("A reminder now tells %(name)s that the invoice is unpaid before they had to pay it.",
                  name=invoice.customer.display_name),
            ],
            yes=_("Yes, send the reminder now"),
            action=url_for("admin.invoice_send", invoice_id=invoice.id),
            cancel=url_for("admin.document_detail", document_id=invoice.id),
            fields={"reminder": "1"},
        )
    if commit_change(lambda: action(current_user, invoice), flash_error=True):
        flash(_queued_message(invoice.customer), "success" if invoice.customer.email else "error")
    return redirect(url_for("admin.document_detail", document_id=invoice.id))


@bp.route("/customers/<int:customer_id>/notice", methods=["GET", "POST"])
def customer_notice(customer_id: int):
    customer = get_customer(current_user, customer_id)
    form = AccountNoticeForm()
    if form.validate_on_submit() and commit_change(
            lambda: notifications.send_account_notice(current_user, customer, form.notice.data, form.message.data), form):
        flash(_queued_message(customer), "success" if customer.email else "error")
        return redirect(url_for("admin.customer_emails", customer_id=customer.id))
    return render("admin/customers/notice.html", customer=customer, form=form,
                  status=422 if request.method == "POST" else 200)


@bp.get("/customers/<int:customer_id>/emails")
def customer_emails(customer_id: int):
    customer = get_customer(current_user, customer_id)
    return render("admin/customers/emails.html", customer=customer,
                  emails=outbox.for_customer(customer, limit=200), action_form=ActionForm(),
                  deliveries=webhooks.deliveries_for_customer(customer.id, WEBHOOKS_SHOWN),
                  event_labels=EVENT_LABELS, status_labels=STATUS_LABELS,
                  conversations=synced_mail.conversations(customer))


WEBHOOKS_SHOWN = 10


@bp.post("/customers/<int:customer_id>/emails/<int:email_id>/resend")
def customer_email_resend(customer_id: int, email_id: int):
    customer = get_customer(current_user, customer_id)
    email = outbox.of_customer(customer, email_id)
    if email is None:
        abort(404)
    if ActionForm().validate_on_submit():
        if email.status != MailStatus.failed:  # e.g. a second click: it was queued again already
            flash(_("Only an e-mail that failed can be sent again."), "error")
        else:
            commit_change(lambda: outbox.resend(current_user, email))
            flash(_("The e-mail was queued again."), "success")
    return redirect(url_for("admin.customer_emails", customer_id=customer.id))


@bp.post("/customers/<int:customer_id>/dossier-link")
def customer_dossier_link(customer_id: int):
    customer = get_customer(current_user, customer_id)
    if ActionForm().validate_on_submit():
        if not confirmations.confirmed():
            return confirmations.ask(
                title=_("Issue a new dossier link for %(name)s?", name=customer.display_name),
                consequences=[
                    _("The current link stops working at once: the link on every letter already printed "
                      "and in every e-mail already sent no longer opens the dossier."),
                    _("%(name)s can only open their dossier again with the new link, so send it to them.",
                      name=customer.display_name),
                ],
                yes=_("Yes, issue a new dossier link"),
                action=url_for("admin.customer_dossier_link", customer_id=customer.id),
                cancel=url_for("admin.customer_info", customer_id=customer.id, _anchor="dossier-h"),
            )
        commit_change(lambda: dossier.rotate(current_user, customer))
        flash(_("A new dossier link was issued; the old link no longer works."), "success")
    return redirect(url_for("admin.customer_info", customer_id=customer.id))


@bp.post("/customers/<int:customer_id>/provided-email")
def customer_provided_email(customer_id: int):
    """Adopt (it becomes the primary address) or dismiss what the debtor left on the dossier."""
    customer = get_customer(current_user, customer_id)
    if ActionForm().validate_on_submit():
        adopt = request.form.get("action") == "adopt"
        if commit_change(lambda: (provided_email.adopt if adopt else provided_email.dismiss)(current_user, customer),
                         flash_error=True):
            flash(_("The address is now the primary e-mail address.") if adopt
                  else _("The provided address was dismissed."), "success")
    return redirect(url_for("admin.customer_info", customer_id=customer.id, _anchor="dossier-h"))
