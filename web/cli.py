"""Operator commands: `flask --app wsgi create-user` and `flask --app wsgi seed-demo`."""

from __future__ import annotations

import click
from flask import Flask

from models.db import db
from models.services import staff as staff_service
from models.services.errors import DomainError
from models.staff import StaffRole


def register(app: Flask) -> None:
    @app.cli.command("create-user")
    @click.option("--email", required=True, help="Login address of the staff member.")
    @click.option("--role", type=click.Choice([r.value for r in StaffRole]), default="owner", show_default=True)
    @click.option("--name", default=None, help="Display name (defaults to the address).")
    @click.option("--view-all", is_flag=True, help="Employees only: may see all customers.")
    @click.password_option(help="Asked for when not given.")
    def create_user(email: str, role: str, name: str | None, view_all: bool, password: str) -> None:
        """Create a staff user."""
        try:
            user = staff_service.create_staff(
                None, email=email, name=name or email, role=StaffRole(role),
                password=password, view_all_customers=view_all,
            )
        except DomainError as error:
            raise click.ClickException(str(error.message))
        db.session.commit()
        click.echo(f"Created {user.role.value} {user.email}")

    @app.cli.command("seed-demo")
    @click.option("--if-empty", is_flag=True, help="Do nothing when staff users exist already.")
    @click.option("--customers", default=60, show_default=True)
    @click.option("--invoices", default=300, show_default=True)
    def seed_demo(if_empty: bool, customers: int, invoices: int) -> None:
        """Load the demo business, staff logins, customers and invoices."""
        from models.services import demo

        if if_empty and not demo.is_empty():
            click.echo("Database has data already; demo data not loaded.")
            return
        summary = demo.seed(customers=customers, invoices=invoices)
        db.session.commit()
        click.echo(summary)
