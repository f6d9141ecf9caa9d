"""The staff dashboard at /admin/: outstanding and overdue money, its ageing, payments of the
last weeks and what needs attention, for the customers the staff member may see."""

from __future__ import annotations

from flask_login import current_user

from admin import bp
from models import clock
from models.services import dashboard as dashboard_service
from web.rendering import render


@bp.get("/")
def dashboard():
    return render("admin/dashboard.html", dashboard=dashboard_service.summary(current_user, clock.today()))
