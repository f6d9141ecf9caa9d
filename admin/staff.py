"""Staff management for owners and admins."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from admin import bp, manager_required
from admin.forms import StaffCreateForm, StaffEditForm
from models.db import db
from models.services import staff as staff_service
from models.staff import StaffRole, StaffUser
from web.rendering import render
from web.transaction import commit_change


@bp.get("/staff")
@manager_required
def staff_list():
    return render("admin/staff/list.html", staff=staff_service.all_staff())


@bp.route("/staff/new", methods=["GET", "POST"])
@manager_required
def staff_new():
    form = StaffCreateForm()
    if form.validate_on_submit():
        created = commit_change(lambda: staff_service.create_staff(
            current_user,
            email=form.email.data,
            name=form.name.data,
            role=StaffRole(form.role.data),
            password=form.password.data,
            view_all_customers=form.view_all_customers.data,
            language=form.language.data,
        ), form)
        if created:
            flash(_("%(name)s can now log in.", name=created.value.name), "success")
            return redirect(url_for("admin.staff_list"))
    return render("admin/staff/form.html", form=form, member=None, status=422 if request.method == "POST" else 200)


@bp.route("/staff/<int:user_id>", methods=["GET", "POST"])
@manager_required
def staff_edit(user_id: int):
    member = db.session.get(StaffUser, user_id)
    if member is None:
        abort(404)
    form = StaffEditForm(obj=member if request.method == "GET" else None)
    if request.method == "GET":
        form.role.data = member.role.value
    if form.validate_on_submit() and commit_change(lambda: staff_service.update_staff(
        current_user,
        member,
        name=form.name.data,
        role=StaffRole(form.role.data),
        view_all_customers=form.view_all_customers.data,
        active=form.active.data,
    ), form):
        flash(_("The changes were saved."), "success")
        return redirect(url_for("admin.staff_list"))
    return render("admin/staff/form.html", form=form, member=member, status=422 if request.method == "POST" else 200)
