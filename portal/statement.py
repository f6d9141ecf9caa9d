"""…/statement, from the dossier link and from the login: the customer's account statement
as a table (models.services.statement, the one definition staff's tab, CSV and PDF use),
per currency with the opening balance, by default over the last twelve months.

Only the documents the customer may open are linked; every entry is listed (the balance
is the balance). A bad date in the query string is said at its field with a 422, and the
default period is shown.
"""

from __future__ import annotations

from datetime import timedelta

from flask import request
from flask_babel import lazy_gettext as _l
from wtforms import DateField, SubmitField
from wtforms.validators import Optional

from models import clock
from models.services import dossier, statement
from portal.place import CustomerPlace, route
from web.forms import AppForm

DEFAULT_PERIOD = timedelta(days=365)


class PeriodForm(AppForm):
    """A GET form: no CSRF token (it changes nothing)."""

    class Meta:
        csrf = False

    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("Until"), validators=[Optional()])
    submit = SubmitField(_l("Show"))


@route("/statement", "statement")
def account_statement(place: CustomerPlace):
    today = clock.today()
    form = PeriodForm(request.args)
    valid = not request.args or form.validate()
    if valid and form.date_from.data and form.date_to.data and form.date_from.data > form.date_to.data:
        form.date_to.errors = [*form.date_to.errors, _l("Choose a date after the start date.")]
        valid = False
    if valid and (form.date_from.data or form.date_to.data):
        date_from, date_to = form.date_from.data, form.date_to.data
    else:
        date_from, date_to = today - DEFAULT_PERIOD, None
        if valid:
            form.date_from.data = date_from  # the period shown, in its field
    result = statement.statement(place.customer, date_from, date_to)
    ids = sorted({doc_id for row in result.rows for doc_id, _number in row.documents})
    linked = set(dossier.released_ids(place.customer, ids, place.settings))
    return place.render("portal/statement.html", status=200 if valid else 422, form=form, statement=result,
                        linked=linked, date_from=date_from, date_to=date_to, today=today)
