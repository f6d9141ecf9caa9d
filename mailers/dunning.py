"""The daily run of automatic reminders, and `flask --app wsgi reminders run`.

The worker runs it in a thread of its own (`daily`): once a day at DUNNING_AT (default
08:00) in the business's TIMEZONE, and once when it starts after that time (a worker that
was down at 08:00 catches up). Every worker does this; the run claims each reminder once
(models.services.dunning), so two workers -- or a worker and an operator's CLI run --
never send one twice. Only while the schedule is switched on in settings.
"""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime, time, timedelta

import click
from flask import Flask
from flask.cli import AppGroup

from models import clock
from models.db import db
from models.services import dunning
from models.services.settings import get_settings

log = logging.getLogger(__name__)


def run(today: date, *, dry_run: bool = False, batch_size: int = dunning.BATCH) -> dunning.RunResult:
    """One run, committed batch by batch (a dry run writes nothing and rolls back)."""
    try:
        return dunning.run(today, dry_run=dry_run, batch_size=batch_size, after_batch=db.session.commit)
    finally:
        db.session.rollback()


def scheduled_run() -> dunning.RunResult | None:
    """The daily run, when the schedule is on (None when it is off)."""
    if not get_settings().dunning_enabled:
        db.session.rollback()
        return None
    result = run(clock.today())
    log.info("automatic reminders: %d reminders, %d instalment reminders",
             len(result.reminders), len(result.instalments))
    return result


def seconds_until_next(now: datetime, at: str) -> float:
    """Seconds from `now` (aware) to the next `at` ("HH:MM") in the business's zone."""
    zone = clock.business_timezone()
    local = now.astimezone(zone)
    hour, minute = (int(part) for part in at.split(":"))
    target = datetime.combine(local.date(), time(hour, minute), tzinfo=zone)
    if target <= local:
        target = datetime.combine(local.date() + timedelta(days=1), time(hour, minute), tzinfo=zone)
    return (target - local).total_seconds()


def daily(app: Flask, stop: threading.Event) -> None:
    """The worker's thread: run at start when past today's time, then every day at it."""
    at = app.config["DUNNING_AT"]
    with app.app_context():
        now = datetime.now(clock.business_timezone())
    hour, minute = (int(part) for part in at.split(":"))
    wait = 0.0 if now.time() >= time(hour, minute) else seconds_until_next(now, at)
    while not stop.wait(wait):
        with app.app_context():
            try:
                scheduled_run()
            except Exception:  # noqa: BLE001 - the loop must survive a database hiccup
                log.exception("automatic reminders failed")
            finally:
                db.session.remove()
            wait = seconds_until_next(datetime.now(clock.business_timezone()), at)


def _print(result: dunning.RunResult) -> None:
    verb = "would go out" if result.dry_run else "went out"
    click.echo(f"Reminders on {result.today.isoformat()}: {len(result.reminders)} reminders and "
               f"{len(result.instalments)} instalment reminders {verb}.")
    for r in result.reminders:
        numbers = ", ".join(f"{number} ({outstanding} {r.currency}, due {due.isoformat()})"
                            for _id, number, outstanding, due in r.invoices)
        click.echo(f"{r.customer_number} {r.customer_name}: level {r.level} by {r.channel}"
                   f"{' as ' + r.reminder_number if r.reminder_number else ''}; invoices {numbers}; "
                   f"fee {r.fee} {r.currency}; interest {r.interest} {r.currency}")
    for i in result.instalments:
        click.echo(f"{i.customer_number} {i.customer_name}: instalment {i.position} of plan {i.plan_id} "
                   f"due {i.due_date.isoformat()}, {i.amount} {i.currency}, by {i.channel}")


def register(app: Flask) -> None:
    group = AppGroup("reminders", help="Automatic reminders (dunning).")
    app.cli.add_command(group)

    @group.command("run")
    @click.option("--dry-run", is_flag=True, help="Only show what would go out; write nothing.")
    @click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
                  help="The day to run for (YYYY-MM-DD; default: today in TIMEZONE).")
    def run_command(dry_run: bool, today: datetime | None) -> None:
        """Send the reminders that are due (or show them with --dry-run)."""
        if not dry_run and not get_settings().dunning_enabled:
            db.session.rollback()
            raise click.ClickException("Automatic reminders are off: switch them on at /admin/settings/reminders "
                                       "(or look with --dry-run).")
        _print(run(today.date() if today else clock.today(), dry_run=dry_run))
