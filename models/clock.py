"""The business's calendar: "today" is the date in the business TIMEZONE.

Due dates, overdue badges, issue dates and instalment windows are days of the business's
calendar, whatever zone the server's clock runs in: at 00:30 in Amsterdam a UTC server
(or `date.today()`) still says yesterday. The zone is config BABEL_DEFAULT_TIMEZONE (env
TIMEZONE), the one Flask-Babel shows times in; without an app, Europe/Amsterdam.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

DEFAULT_TIMEZONE = "Europe/Amsterdam"


def business_timezone() -> ZoneInfo:
    name = current_app.config.get("BABEL_DEFAULT_TIMEZONE") if has_app_context() else None
    return ZoneInfo(name or DEFAULT_TIMEZONE)  # ZoneInfo keeps each zone it loaded


def today(now: datetime | None = None) -> date:
    """The business's date now, or at `now` (an aware moment; a naive one is UTC)."""
    moment = now or datetime.now(timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(business_timezone()).date()
