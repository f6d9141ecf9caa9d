"""The mailbox pages (issue 21): connection settings with a Test button (managers), the
unmatched messages, one synced message, reply and delete."""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import escape

from admin import bp, confirmations, manager_required
from admin.helpers import page_arg
from admin.mailbox_forms import AssignForm, MailboxForm, ReplyForm
from mailers import imap
from models.db import db
from models.services import email_sync_addresses, mail_html, synced_mail
from models.services import mailbox as mailbox_service
from models.services.access import get_customer
from models.services.errors import DomainError
from web.forms import ActionForm
from web.rendering import render
from web.transaction import attach_error, commit_change


def _input(form: MailboxForm) -> mailbox_service.MailboxInput:
    return mailbox_service.MailboxInput(
        enabled=form.enabled.data, host=form.host.data, port=form.port.data, security=form.security.data,
        username=form.username.data, password=form.password.data, folders=form.folders.data or "")


def _test(form: MailboxForm, stored) -> tuple[bool, str]:
    """Connect with what the form says (the stored password if the field is blank)."""
    try:
        clean = mailbox_service.normalised(_input(form), stored)
        if not clean.host or not clean.username:
            raise DomainError(_("Enter the server's host name and the user name."), field="host")
        password = clean.password or (mailbox_service.decrypt(stored.password_encrypted)
                                      if stored.password_encrypted else None)
        if not password:
            raise DomainError(_("Enter the password."), field="password")
        folders = imap.check(imap.Connection(clean.host, clean.port, clean.security, clean.username, password),
                             clean.folders.splitlines())
    except DomainError as error:
        attach_error(form, error)
        return False, str(error.message)
    except imap.MailboxError as error:
        return False, error.message
    return True, _("Connected and logged in. %(folders)s",
                   folders="; ".join(_("%(folder)s: %(count)s messages", folder=f, count=n) for f, n in folders))


@bp.route("/settings/mailbox", methods=["GET", "POST"])
@manager_required
def mailbox_settings():
    stored = mailbox_service.get_mailbox()
    form = MailboxForm() if request.method == "POST" else MailboxForm(
        formdata=None, obj=stored, data={"password": ""})
    form.password.description = (_("A password is stored. Leave this blank to keep it.")
                                 if stored.password_encrypted else None)
    test_result, status = None, 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            if form.test.data:
                ok, message = _test(form, stored)
                test_result, status = {"ok": ok, "message": message}, 200 if ok else 422
            elif commit_change(lambda: mailbox_service.update_mailbox(current_user, _input(form)), form):
                flash(_("The mailbox settings were saved."), "success")
                return redirect(url_for("admin.mailbox_settings"))
    form.password.data = ""  # never sent back to the browser
    return render("admin/mailbox_settings.html", form=form, mailbox=stored, test_result=test_result,
                  status=status)


# --- synced mail on the customer (any staff member who may see the customer) --------------

def _synced(customer_id: int, synced_id: int):
    customer = get_customer(current_user, customer_id)
    found = synced_mail.of_customer(customer, synced_id)
    if found is None:
        abort(404)
    return customer, *found


@bp.get("/customers/<int:customer_id>/emails/synced/<int:synced_id>")
def synced_email(customer_id: int, synced_id: int):
    """One synced message; opening it marks it read for this customer."""
    customer, email, link = _synced(customer_id, synced_id)
    if synced_mail.mark_read(link):
        db.session.commit()
    form = ReplyForm(formdata=None, data={"subject": _reply_subject(email.subject)})
    return _message_page(customer, email, form)


def _reply_subject(subject: str | None) -> str:
    subject = (subject or "").strip()
    return subject if subject.lower().startswith("re:") else f"Re: {subject}".strip()


def _message_page(customer, email, form, status: int = 200):
    return render("admin/customers/synced_email.html", customer=customer, email=email, reply_form=form,
                  action_form=ActionForm(), remote_images=mail_html.remote_images(email.html_body),
                  status=status)


@bp.get("/customers/<int:customer_id>/emails/synced/<int:synced_id>/remote")
def synced_email_remote(customer_id: int, synced_id: int):
    """The message's HTML with its remote images, on a page of its own, only after staff
    clicked for it. Its own CSP: images from anywhere, nothing else (no script, no style
    sheet, no form), sandboxed, never framed."""
    _customer, email, _link = _synced(customer_id, synced_id)
    body = mail_html.with_remote_images(email.html_body or "")
    response = make_response(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"referrer\" content=\"no-referrer\">"
        f"<title>{escape(email.subject or '')}</title></head><body>{body}</body></html>")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; img-src https: http: data:; sandbox; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'")
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/customers/<int:customer_id>/emails/synced/<int:synced_id>/attachments/<int:attachment_id>")
def synced_email_attachment(customer_id: int, synced_id: int, attachment_id: int):
    _customer, email, _link = _synced(customer_id, synced_id)
    attachment = synced_mail.attachment_of(email, attachment_id)
    if attachment is None or attachment.content is None:
        abort(404)
    # Always a download, never shown inline: an HTML or SVG attachment cannot run in our origin.
    response = make_response(attachment.content)
    response.headers["Content-Type"] = "application/octet-stream"
    response.headers["Content-Disposition"] = _attachment_disposition(attachment.filename)
    return response


def _attachment_disposition(filename: str) -> str:
    from urllib.parse import quote

    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename) or "attachment"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


@bp.post("/customers/<int:customer_id>/emails/synced/<int:synced_id>/reply")
def synced_email_reply(customer_id: int, synced_id: int):
    customer, email, _link = _synced(customer_id, synced_id)
    form = ReplyForm()
    if form.validate_on_submit() and commit_change(
            lambda: synced_mail.reply(current_user, customer, email, form.subject.data, form.message.data), form):
        flash(_("The reply is on its way."), "success")
        return redirect(url_for("admin.customer_emails", customer_id=customer.id))
    return _message_page(customer, email, form, status=422)


@bp.post("/customers/<int:customer_id>/emails/synced/<int:synced_id>/delete")
def synced_email_delete(customer_id: int, synced_id: int):
    customer, email, _link = _synced(customer_id, synced_id)
    if ActionForm().validate_on_submit():
        if not confirmations.confirmed():
            return confirmations.ask(
                title=_("Delete the e-mail “%(subject)s”?", subject=email.subject or _("(no subject)")),
                consequences=[_("The e-mail and its attachments are deleted from Dossier for every customer it "
                                "was on. It stays in the mailbox itself."),
                              _("The customer's history records who deleted it and when.")],
                yes=_("Yes, delete the e-mail"),
                action=url_for("admin.synced_email_delete", customer_id=customer.id, synced_id=email.id),
                cancel=url_for("admin.synced_email", customer_id=customer.id, synced_id=email.id),
            )
        if commit_change(lambda: synced_mail.delete_message(current_user, customer, email), flash_error=True):
            flash(_("The e-mail was deleted."), "success")
    return redirect(url_for("admin.customer_emails", customer_id=customer.id))


@bp.post("/customers/<int:customer_id>/emails/read")
def synced_emails_read(customer_id: int):
    customer = get_customer(current_user, customer_id)
    if ActionForm().validate_on_submit():
        commit_change(lambda: synced_mail.mark_all_read(current_user, customer))
        flash(_("All e-mails of this customer are marked as read."), "success")
    return redirect(url_for("admin.customer_emails", customer_id=customer.id))


# --- unmatched mail (owners and admins: it may concern any customer) -----------------------

@bp.get("/mailbox/unmatched")
@manager_required
def mailbox_unmatched():
    page = page_arg()
    return render("admin/mailbox_unmatched.html", emails=synced_mail.unmatched(page), page=page,
                  page_size=synced_mail.UNMATCHED_PAGE, form=AssignForm(formdata=None), failed_id=None)


@bp.post("/mailbox/unmatched/<int:unmatched_id>/assign")
@manager_required
def mailbox_assign(unmatched_id: int):
    email = synced_mail.get_synced(unmatched_id)
    if email is None:  # no such message, or deleted meanwhile
        abort(404)
    if email.matched:
        flash(_("This e-mail was assigned in the meantime."), "error")
        return redirect(url_for("admin.mailbox_unmatched"))
    form = AssignForm()
    if form.validate_on_submit():
        customer = synced_mail.customer_by_number(form.customer_number.data)
        if customer is None:
            form.customer_number.errors = [_("No customer has this number.")]
        elif commit_change(lambda: synced_mail.assign(current_user, email, customer, form.add_contact.data), form):
            flash(_("The e-mail is now on %(name)s.", name=customer.display_name), "success")
            return redirect(url_for("admin.mailbox_unmatched"))
    return render("admin/mailbox_unmatched.html", emails=synced_mail.unmatched(1), page=1,
                  page_size=synced_mail.UNMATCHED_PAGE, form=form, failed_id=email.id, status=422)


# --- which of a customer's addresses sync (any staff member who may see the customer) -------

def _sync_changes(form) -> email_sync_addresses.Changes:
    """Checkboxes count only for rows the page showed (`…-shown`): a contact added meanwhile
    keeps its switch."""
    def switches(prefix: str) -> dict[int, bool]:
        return {int(key.split("-")[1]): form.get(f"{prefix}-{key.split('-')[1]}-sync") == "y"
                for key in form if key.startswith(f"{prefix}-") and key.endswith("-shown")
                and key.split("-")[1].isdigit()}

    return email_sync_addresses.Changes(
        customer_sync=form.get("customer-sync") == "y",
        contact_sync=switches("contact"), further_sync=switches("further"), login_sync=switches("login"),
        add={int(k.split("-")[1]): v[:254] for k, v in form.items() if k.startswith("add-") and k[4:].isdigit()},
        remove={int(k.split("-")[1]) for k in form if k.startswith("further-") and k.endswith("-remove")
                and k.split("-")[1].isdigit()},
    )


@bp.route("/customers/<int:customer_id>/email-sync", methods=["GET", "POST"])
def customer_email_sync(customer_id: int):
    customer = get_customer(current_user, customer_id)
    form, error, status = ActionForm(), None, 200
    if request.method == "POST" and form.validate_on_submit():
        outcome = commit_change(lambda: email_sync_addresses.save(current_user, customer, _sync_changes(request.form)))
        if outcome.error is None:
            flash(_("The e-mail sync settings were saved."), "success")
            return redirect(url_for("admin.customer_email_sync", customer_id=customer.id))
        error, status = outcome.error, 422
    elif request.method == "POST":
        status = 400
    return render("admin/customers/email_sync.html", customer=customer, form=form, error=error,
                  posted=request.form if status == 422 else {},
                  overview=email_sync_addresses.overview(customer), status=status)
