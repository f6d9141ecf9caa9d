"""Bank statements (managers): import a CAMT.053 or MT940 file, see what was booked, assign the rest.

Managers only: a statement holds every customer's transfers, and assigning one books it on
any invoice. Booking itself is models.services.bank_statements (through recorded_payments).
"""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from admin import bp, manager_required
from admin.payment_forms import AssignEntryForm, StatementUploadForm
from models import clock
from models.services import bank_statements as statements
from web.rendering import render
from web.transaction import commit_change


def _assign_forms(entries, posted: AssignEntryForm | None = None, posted_id: int | None = None) -> dict:
    """One form per waiting transfer (its own prefix, so every field id is unique)."""
    return {entry.id: posted if entry.id == posted_id and posted is not None
            else AssignEntryForm(formdata=None, prefix=f"e{entry.id}") for entry in entries}


def _page(form: StatementUploadForm, *, status: int = 200, posted: AssignEntryForm | None = None,
          posted_id: int | None = None):
    shown_id = request.args.get("statement", type=int)
    unmatched = statements.unmatched_entries()
    return render(
        "admin/bank_statements.html", form=form, unmatched=unmatched,
        assign_forms=_assign_forms(unmatched, posted, posted_id), recent=statements.recent_statements(),
        shown=statements.statement_with_entries(shown_id) if shown_id else None, status=status)


@bp.route("/bank-statements", methods=["GET", "POST"])
@manager_required
def bank_statements():
    if request.method == "GET":
        return _page(StatementUploadForm(formdata=None))
    form = StatementUploadForm()
    status = 422
    if form.validate_on_submit():
        upload = form.statement.data
        has_file = upload is not None and bool(getattr(upload, "filename", ""))
        data = upload.read(statements.MAX_BYTES + 1) if has_file else b""
        outcome = commit_change(lambda: statements.import_statement(
            current_user, data, upload.filename if has_file else None, clock.today()), form)
        if outcome:
            result = outcome.value
            flash(" ".join([
                ngettext("%(num)s transfer booked.", "%(num)s transfers booked.", result.booked),
                ngettext("%(num)s transfer waits for you to assign it.", "%(num)s transfers wait for you to assign them.",
                         result.unmatched),
                ngettext("%(num)s transfer was imported before and was skipped.",
                         "%(num)s transfers were imported before and were skipped.", result.duplicates)
                if result.duplicates else "",
            ]).strip(), "success")
            return redirect(url_for("admin.bank_statements", statement=result.statement.id))
        if isinstance(outcome.error, statements.AlreadyImported):
            status = 409
    return _page(form, status=status)


@bp.post("/bank-statements/assign")
@manager_required
def bank_statement_assign():
    entry_id = request.form.get("entry_id", type=int)
    if entry_id is None:
        abort(404)
    form = AssignEntryForm(prefix=f"e{entry_id}")
    if form.validate_on_submit():
        outcome = commit_change(lambda: statements.assign_entry(
            current_user, entry_id, form.invoice_number.data, clock.today(),
            confirm_credit=form.confirm_credit.data), form)
        if outcome:
            flash(_("The transfer was booked on invoice %(number)s.", number=form.invoice_number.data), "success")
            return redirect(url_for("admin.bank_statements"))
    return _page(StatementUploadForm(formdata=None), status=422, posted=form, posted_id=entry_id)
