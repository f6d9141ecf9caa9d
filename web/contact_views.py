"""Inline contact-person editing, mounted on both blueprints with the same templates.

The admin mounts it under /admin/customers/<customer_id>/contacts, the portal under
/portal/contacts; each passes a `load` that says whose contacts the request may touch
(a contacts.Scope carrying its own authorisation) and who the actor is. Every route
answers an HTMX fragment or, without JavaScript, a full page / redirect, and the rules
live in models.services.contacts. The CSRF token of every
POST is checked app-wide by CSRFProtect (web.extensions) before a view here runs; the
forms below are built with `csrf: False` so it is not checked a second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from flask import Blueprint, abort, redirect, request, url_for

from web.forms import ActionForm, ContactForm
from models.contacts import MAX_CONTACTS_PER_CUSTOMER, ContactRole
from models.services import contacts as contact_service
from web.rendering import is_fragment_request, render
from web.transaction import commit_change

FRAGMENTS = "contacts/fragments.html"


@dataclass
class ContactUrls:
    endpoint: str  # e.g. "admin.contacts"
    args: dict

    def _url(self, name: str, **extra) -> str:
        return url_for(f"{self.endpoint}_{name}", **self.args, **extra)

    def list(self): return self._url("list")
    def new(self): return self._url("new")
    def create(self): return self._url("create")
    def show(self, c): return self._url("show", contact_id=c.id)
    def edit(self, c): return self._url("edit", contact_id=c.id)
    def update(self, c): return self._url("update", contact_id=c.id)
    def remove(self, c): return self._url("remove", contact_id=c.id)


def section_context(owner, urls: ContactUrls, *, adding=None, editing=None) -> dict:
    """Everything the contacts section needs; `adding`/`editing` hold an open form."""
    contacts = contact_service.contacts_of(owner)
    return {
        "contacts": contacts,
        "contact_count": len(contacts),
        "contact_max": MAX_CONTACTS_PER_CUSTOMER,
        "contact_urls": urls,
        "adding": adding,
        "editing": editing or {},
        "action_form": ActionForm(),
    }


def _input(form: ContactForm) -> contact_service.ContactInput:
    return contact_service.ContactInput(
        name=form.name.data or "", email=form.email.data or "", phone=form.phone.data,
        role=ContactRole(form.role.data) if form.role.data in ContactRole._value2member_map_ else ContactRole.general,
        invoice_emails=bool(form.invoice_emails.data), account_emails=bool(form.account_emails.data),
    )


def mount(
    bp: Blueprint,
    rule: str,
    endpoint: str,
    *,
    load: Callable[..., tuple],  # view kwargs -> (contacts.Scope, actor, url args)
    page: Callable[..., object],  # (owner, context, status) -> full-page response (no JS)
    decorators: tuple = (),
) -> None:
    """Register the contact routes under `rule` with endpoint names `<endpoint>_<name>`."""

    def route(path, name, methods=("GET",)):
        def register(view):
            for decorate in reversed(decorators):
                view = decorate(view)
            bp.add_url_rule(rule + path, f"{endpoint}_{name}", view, methods=list(methods))
            return view
        return register

    def urls_for(args) -> ContactUrls:
        return ContactUrls(f"{bp.name}.{endpoint}", args)

    def answer(owner, urls, block, status=200, **extra):
        if is_fragment_request():  # only what the block needs: a row, maybe the counter
            context = {"contact_urls": urls, "contact_max": MAX_CONTACTS_PER_CUSTOMER,
                       "adding": None, "editing": {}, **extra}
            if block in ("saved_row", "removed"):
                context["contact_count"] = contact_service.count(owner)
            return render(FRAGMENTS, block=block, status=status, **context)
        if request.method == "GET" or status >= 400:
            # the whole page, with any open form
            return page(owner, {**section_context(owner, urls), **extra}, status)
        return redirect(urls.list())  # a change without JavaScript: post, redirect, get

    def _owner(scope):
        owner = contact_service.owner(scope)
        if owner is None:
            abort(404)
        return owner

    def _contact(scope, contact_id):
        """The contact and its owner in one statement, or 404 if the request may not see it."""
        found = contact_service.find(scope, contact_id)
        if found is None:
            abort(404)
        return found

    @route("", "list")
    def list_(**kwargs):
        scope, actor, args = load(**kwargs)
        owner, urls = _owner(scope), urls_for(args)
        return page(owner, section_context(owner, urls), 200)

    @route("/new", "new")
    def new(**kwargs):
        scope, actor, args = load(**kwargs)
        owner, urls = _owner(scope), urls_for(args)
        if request.args.get("cancel") and is_fragment_request():
            return ""  # the open "new" row is swapped for nothing
        form = ContactForm(prefix="new", formdata=None, meta={"csrf": False})
        return answer(owner, urls, "form_row", adding=form)

    @route("", "create", methods=("POST",))
    def create(**kwargs):
        scope, actor, args = load(**kwargs)
        owner, urls = _owner(scope), urls_for(args)
        form = ContactForm(prefix="new", meta={"csrf": False})
        if form.validate():
            added = commit_change(lambda: contact_service.add_contact(actor, owner, _input(form)), form)
            if added:
                return answer(owner, urls, "saved_row", contact=added.value, focus=True)
        return answer(owner, urls, "form_row", status=422, adding=form)

    @route("/<int:contact_id>", "show")
    def show(contact_id, **kwargs):
        scope, actor, args = load(**kwargs)
        contact, owner = _contact(scope, contact_id)
        return answer(owner, urls_for(args), "row", contact=contact, focus=True)

    @route("/<int:contact_id>/edit", "edit")
    def edit(contact_id, **kwargs):
        scope, actor, args = load(**kwargs)
        contact, owner = _contact(scope, contact_id)
        form = ContactForm(prefix=f"c{contact.id}", formdata=None, obj=contact, meta={"csrf": False})
        form.role.data = contact.role.value
        return answer(owner, urls_for(args), "form_row", contact=contact, editing={contact.id: form})

    @route("/<int:contact_id>", "update", methods=("POST",))
    def update(contact_id, **kwargs):
        scope, actor, args = load(**kwargs)
        contact, owner = _contact(scope, contact_id)
        urls = urls_for(args)
        form = ContactForm(prefix=f"c{contact.id}", meta={"csrf": False})
        if form.validate():
            if commit_change(lambda: contact_service.update_contact(actor, owner, contact, _input(form)), form):
                return answer(owner, urls, "row", contact=contact, focus=True)
            contact, owner = _contact(scope, contact_id)  # as stored, after the rollback
        return answer(owner, urls, "form_row", status=422, contact=contact, editing={contact.id: form})

    @route("/<int:contact_id>/remove", "remove", methods=("GET", "POST"))
    def remove(contact_id, **kwargs):
        scope, actor, args = load(**kwargs)
        contact, owner = _contact(scope, contact_id)
        urls = urls_for(args)
        if request.method == "GET":  # without JavaScript: a confirmation page
            return page(owner, {**section_context(owner, urls), "confirm_remove": contact}, 200)
        commit_change(lambda: contact_service.remove_contact(actor, contact))
        return answer(owner, urls, "removed")
