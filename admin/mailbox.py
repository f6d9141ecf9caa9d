"""The mailbox pages (issue 21): connection settings with a Test button (managers), the
unmatched messages, one synced message, reply and delete."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from admin import bp, manager_required
from admin.mailbox_forms import MailboxForm
from mailers import imap
from models.services import mailbox as mailbox_service
from models.services.errors import DomainError
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
