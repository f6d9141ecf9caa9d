"""CSV import wizard and CSV export (owners and admins).

Import: 1 upload (stored in chunks, format read, mapping guessed), 2 mapping with a
preview, 3 dry run and 4 import, each an RQ job whose progress the status page polls,
5 the result with the failed rows as CSV. Export: customers and documents in the columns
the import reads.

Managers only: an import creates and changes customers whoever they are assigned to (an
employee sees only their own), and an export holds every customer's data.
"""

from __future__ import annotations

from flask import Response, abort, current_app, flash, redirect, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import RadioField, SelectField, SubmitField
from wtforms.validators import InputRequired
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField

from admin import bp, manager_required
from admin.forms import AppForm, options
from mailers import imports as import_queue
from models.db import db
from models.imports import ImportJob, ImportStatus
from models.services.csv_import import export, fields, reading, runner, values
from web.rendering import render
from web.transaction import commit_change

IGNORE = ""
PREVIEW_ROWS = 5
FAILURES_SHOWN = 50


@bp.url_value_preprocessor
def _upload_limit(endpoint, view_args):
    """The import's upload may be larger than any other form (MAX_CONTENT_LENGTH). Set
    before the CSRF check reads the body: URL value preprocessors run before every
    before_request function."""
    if endpoint == "admin.import_start" and request.method == "POST":
        request.max_content_length = current_app.config["IMPORT_MAX_BYTES"]


class UploadForm(AppForm):
    kind = RadioField(_l("The file holds"), choices=options([(fields.CUSTOMERS, _l("Customers (with contact persons)")),
                                                             (fields.DOCUMENTS, _l("Documents (one row per line)"))]),
                      default=fields.CUSTOMERS, validators=[InputRequired(_l("Choose what the file holds."))])
    file = FileField(_l("CSV file"), description=_l(
        "UTF-8 or Windows-1252, commas or semicolons; the first line names the columns."))
    submit = SubmitField(_l("Upload and map the columns"))


class RunForm(AppForm):
    pass


def _mapping_form(job: ImportJob, labels: dict, formdata=None):
    choices = options([(IGNORE, _("(do not import)"))] + [(key, str(label)) for key, label in labels.items()])

    class MappingForm(AppForm):
        decimal = RadioField(_l("Amounts are written with"), choices=options([
            (values.COMMA, _l("a decimal comma (1.234,56)")), (values.POINT, _l("a decimal point (1,234.56)"))]))
        submit = SubmitField(_l("Save the mapping and check the file"))

    for index, column in enumerate(job.header):
        setattr(MappingForm, f"column_{index}", SelectField(column or _("Column %(n)s", n=index + 1),
                                                             choices=choices, validate_choice=True))
    current = runner.job_mapping(job)
    data = {f"column_{i}": current.get(i, IGNORE) for i in range(len(job.header))} | {"decimal": job.decimal}
    return MappingForm(formdata=formdata, data=data) if formdata is not None else MappingForm(formdata=None, data=data)


def _job(import_id: int) -> ImportJob:
    job = db.session.get(ImportJob, import_id)
    if job is None:
        abort(404)
    return job


@bp.route("/import", methods=["GET", "POST"])
@manager_required
def import_start():
    form = UploadForm()
    if form.validate_on_submit():
        upload = form.file.data
        if not upload or not getattr(upload, "filename", ""):
            form.file.errors = [*form.file.errors, _("Choose a CSV file.")]
        else:
            outcome = commit_change(lambda: runner.create_job(
                current_user, form.kind.data, upload.filename, upload.stream,
                current_app.config["IMPORT_MAX_BYTES"]), form)
            if outcome:
                return redirect(url_for("admin.import_mapping", import_id=outcome.value.id))
    return render("admin/imports/start.html", form=form, jobs=runner.recent_jobs(),
                  status=422 if request.method == "POST" else 200)


@bp.route("/import/<int:import_id>/mapping", methods=["GET", "POST"])
@manager_required
def import_mapping(import_id: int):
    job = _job(import_id)
    labels = fields.field_labels(job.kind, fields.custom_labels())
    form = _mapping_form(job, labels, request.form if request.method == "POST" else None)
    if request.method == "POST" and form.validate_on_submit():
        mapping = {i: form[f"column_{i}"].data for i in range(len(job.header))}

        def save_and_queue():
            runner.set_mapping(job, mapping, form.decimal.data)
            runner.queue_run(job, dry_run=True)
            return job

        if commit_change(save_and_queue, form):
            _enqueue(job)
            return redirect(url_for("admin.import_status", import_id=job.id))
    preview = reading.preview(runner.file_chunks(job.id), runner.file_format(job), PREVIEW_ROWS)
    return render("admin/imports/mapping.html", job=job, form=form, preview=preview,
                  status=422 if request.method == "POST" else 200)


def _enqueue(job: ImportJob) -> None:
    if not import_queue.enqueue([job.id]):
        flash(_("The job queue cannot be reached right now. The import waits and starts by itself as soon as "
                "it is back."), "warning")


@bp.post("/import/<int:import_id>/run")
@manager_required
def import_run(import_id: int):
    job = _job(import_id)
    form = RunForm()
    if not form.validate_on_submit():
        abort(400)
    dry_run = request.form.get("dry_run") == "1"
    if commit_change(lambda: runner.queue_run(job, dry_run=dry_run), flash_error=True):
        _enqueue(job)
    return redirect(url_for("admin.import_status", import_id=job.id))


@bp.get("/import/<int:import_id>")
@manager_required
def import_status(import_id: int):
    job = _job(import_id)
    waiting = job.status == ImportStatus.queued
    queue_down = waiting and not import_queue.reachable()
    failures = runner.failures(job, FAILURES_SHOWN) if job.finished and job.failed else []
    return render("admin/imports/status.html", block="progress", job=job, failures=failures,
                  queue_down=queue_down, run_form=RunForm())


@bp.get("/import/<int:import_id>/failed.csv")
@manager_required
def import_failed_rows(import_id: int):
    job = _job(import_id)
    header = list(job.header)
    body = export.failed_rows_csv(header, runner.each_failure(job))
    return _csv_response(body, f"import-{job.id}-failed-rows.csv")


def _csv_response(body, filename: str) -> Response:
    response = Response(stream_with_context(body), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/export/customers.csv")
@manager_required
def export_customers():
    return _csv_response(export.customers_csv(), "customers.csv")


@bp.get("/export/documents.csv")
@manager_required
def export_documents():
    return _csv_response(export.documents_csv(), "documents.csv")
