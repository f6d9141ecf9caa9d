"""Customer list, search, create / edit / archive, the customer page tabs and notes."""

from __future__ import annotations


from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from admin import bp, confirmations, customer_changes, portal_logins
from admin.forms import ArchiveForm, NoteForm, custom_field_initial, customer_form_class
from admin.helpers import page_arg
from models import clock
from models.db import db
from models.services import customers as customer_service
from models.services import contacts as contact_service
from models.services import audit, credits, dossier, dunning, instalments, outbox, portal_access, questions, synced_mail
from models.services.access import get_customer
from models.services.staff import all_staff
from web import contact_views
from web.rendering import external_url, render
from web.transaction import commit_change


@bp.get("/customers")
def customers():
    # NUL characters cannot reach PostgreSQL (a 500); nobody types them, so they are dropped.
    query = request.args.get("q", "")[:100].replace("\x00", "")
    tag = request.args.get("tag", "").replace("\x00", "") or None
    show_archived = request.args.get("archived") == "1"
    attention = request.args.getlist("attention")
    no_email = "no_email" in attention
    changed = "changed_by_customer" in attention
    replies = "replies_to_read" in attention
    page = customer_service.search_customers(
        current_user, query, tag=tag, page=page_arg(), include_archived=show_archived,
        no_email=no_email, changed_by_customer=changed, replies_to_read=replies,
    )
    return render(
        "admin/customers/list.html",
        block="results",
        page=page,
        query=query,
        tag=tag,
        show_archived=show_archived,
        no_email=no_email,
        changed_by_customer=changed,
        replies_to_read=replies,
        unread=synced_mail.unread_counts([c.id for c in page.items]),
        attention=[a for a in ("no_email", "changed_by_customer", "replies_to_read") if a in attention] or None,
        tags=customer_service.all_tags(),
    )


def _customer_form(customer=None):
    definitions = customer_service.custom_field_definitions()
    staff_choices = (
        [(s.id, f"{s.name} ({s.email})") for s in all_staff() if s.active]
        if current_user.is_manager
        else None
    )
    form_class = customer_form_class(definitions)
    if customer is None and request.method == "GET":
        return form_class(staff_choices=staff_choices,
                          data={"portal_access": customer_service.default_portal_access()}), definitions
    if customer is None or request.method == "POST":
        return form_class(staff_choices=staff_choices), definitions
    initial = {
        "kind": customer.kind.value,
        "tags": ", ".join(t.name for t in customer.tags),
        "assigned_staff_ids": [s.id for s in customer.assigned_staff],
        **custom_field_initial(definitions, customer_service.custom_field_values(customer)),
    }
    form = form_class(obj=customer, data=initial, staff_choices=staff_choices)
    # WTForms prefers `obj` over `data` when both have the name: Customer.kind is an enum
    # (no radio would be checked) and Customer.tags a list of Tag rows, not the text.
    form.kind.data, form.tags.data = initial["kind"], initial["tags"]
    return form, definitions


def _save(form, definitions, customer=None):
    """Validate, save, commit; on failure the form re-renders with its messages (422)."""
    if not form.validate_on_submit():
        return None
    data = form.service_data(definitions)
    return commit_change(lambda: customer_service.save_customer(current_user, data, customer=customer), form).value


@bp.route("/customers/new", methods=["GET", "POST"])
def customer_new():
    form, definitions = _customer_form()
    customer = _save(form, definitions)
    if customer:
        flash(_("Customer %(name)s was created.", name=customer.display_name), "success")
        return redirect(url_for("admin.customer_info", customer_id=customer.id))
    return render(
        "admin/customers/form.html", form=form, definitions=definitions, customer=None,
        status=422 if request.method == "POST" else 200,
    )


@bp.route("/customers/<int:customer_id>/edit", methods=["GET", "POST"])
def customer_edit(customer_id: int):
    customer = get_customer(current_user, customer_id)
    form, definitions = _customer_form(customer)
    if _save(form, definitions, customer):
        flash(_("The changes were saved."), "success")
        return redirect(url_for("admin.customer_info", customer_id=customer.id))
    return render(
        "admin/customers/form.html", form=form, definitions=definitions, customer=customer,
        status=422 if request.method == "POST" else 200,
    )


@bp.get("/customers/<int:customer_id>")
def customer_overview(customer_id: int):
    customer = get_customer(current_user, customer_id)
    invoices, outstanding = customer_service.open_invoices(customer)
    return render(
        "admin/customers/overview.html",
        customer=customer,
        today=clock.today(),
        invoices=invoices,
        outstanding=outstanding,
        credit=credits.balance(customer.id),
        notes=customer_service.latest_notes(customer),
        emails=outbox.for_customer(customer, limit=5),
        logins=portal_access.login_activity(customer),
        activity={"unanswered": questions.unanswered(customer), "plans": instalments.for_overview(customer)},
        reminder_events=dunning.overview(customer.id),
        note_form=NoteForm(),
    )


@bp.get("/customers/<int:customer_id>/info")
def customer_info(customer_id: int):
    return info_page(get_customer(current_user, customer_id))


def info_page(customer, contacts_context: dict | None = None, status: int = 200):
    """The Info tab; the contacts section may come with an open form (no-JS flows)."""
    link = dossier.current_link(customer)  # created on the first view, committed below
    token = dossier.token_for(link)
    history = audit.history(customer.id)
    sections = {
        **portal_logins.section_context(customer),
        **customer_changes.section_context(customer),
        **(contacts_context or contact_views.section_context(customer, _contact_urls(customer))),
    }
    response = render(
        "admin/customers/info.html",
        status=status,
        dossier_url=external_url(url_for("portal.dossier_page", token=token)),
        dossier_link=link,
        **sections,
        definitions=customer_service.custom_field_definitions(),
        values=customer_service.custom_field_values(customer),
        history=history,
        archive_form=ArchiveForm(),
    )
    db.session.commit()
    return response


def _contact_urls(customer):  # noqa: N802 - reads like the class it builds
    return contact_views.ContactUrls("admin.contacts", {"customer_id": customer.id})


def _contacts_load(customer_id: int):
    """Access is checked by the contact lookups themselves (one statement per HTMX row)."""
    staff = current_user._get_current_object()
    scope = contact_service.Scope(customer_id=customer_id, staff=staff)
    return scope, contact_service.Actor(staff=staff), {"customer_id": customer_id}


def _contacts_page(owner, context: dict, status: int):
    return info_page(get_customer(current_user, owner.id), context, status)


contact_views.mount(
    bp, "/customers/<int:customer_id>/contacts", "contacts", load=_contacts_load, page=_contacts_page,
)


@bp.post("/customers/<int:customer_id>/archive")
def customer_archive(customer_id: int):
    customer = get_customer(current_user, customer_id)
    form = ArchiveForm()
    if form.validate_on_submit():
        archive = request.form.get("restore") != "1"
        if archive and not customer.archived_at and not confirmations.confirmed():
            return confirmations.ask(
                title=_("Archive %(name)s?", name=customer.display_name),
                consequences=[
                    _("%(name)s disappears from the customer list and the search.", name=customer.display_name),
                    _("Their dossier link stops working and no portal login of theirs gets in any more. "
                      "You can restore the customer later."),
                ],
                yes=_("Yes, archive the customer"),
                action=url_for("admin.customer_archive", customer_id=customer.id),
                cancel=url_for("admin.customer_info", customer_id=customer.id),
            )
        commit_change(lambda: customer_service.set_archived(current_user, customer, archive))
        flash(_("The customer was archived.") if archive else _("The customer was restored."), "success")
    return redirect(url_for("admin.customer_info", customer_id=customer.id))


@bp.route("/customers/<int:customer_id>/notes", methods=["GET", "POST"])
def customer_notes(customer_id: int):
    customer = get_customer(current_user, customer_id)
    form = NoteForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit() and commit_change(
                lambda: customer_service.add_note(current_user, customer, form.body.data), form):
            flash(_("The note was added."), "success")
            back = "admin.customer_overview" if request.form.get("back") == "overview" else "admin.customer_notes"
            return redirect(url_for(back, customer_id=customer.id))
        status = 422
    return render(
        "admin/customers/notes.html",
        customer=customer,
        notes=customer_service.latest_notes(customer, limit=None),
        note_form=form,
        status=status,
    )
