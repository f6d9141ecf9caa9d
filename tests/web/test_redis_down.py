"""No request fails because Redis is down: rate limits fall back to each process's memory
(logged), and mail waits in the outbox. Redis here is a port where nothing listens.

The app with the dead Redis runs in a process of its own (tests/web/redis_down_client.py)
on the suite's database: the rate limiter is one object per process, and this one must
not leave the suite's limiter pointing at a dead server.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from models.db import db
from models.outbox import MailStatus, OutboundEmail
from models.services import dossier
from tests import factories
from tests.portal.conftest import active_login, invite

CLIENT = Path(__file__).with_name("redis_down_client.py")


def _port_where_nothing_listens() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again: nothing listens there


def _run(database_url: str, requests: list) -> dict:
    dead = f"redis://127.0.0.1:{_port_where_nothing_listens()}/0"
    done = subprocess.run(
        [sys.executable, str(CLIENT), database_url, dead, json.dumps(requests)],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return {"statuses": json.loads(done.stdout.strip().splitlines()[-1]), "log": done.stderr}


def test_rate_limited_pages_answer_while_redis_is_down(app, database_url):
    customer = factories.customer(email="debtor@example.com")
    staff = factories.staff(role="owner", email="owner@example.com")
    _, invitation = invite(app, customer, "login@example.com")
    with app.app_context():
        token = dossier.current_token(customer.id)
        db.session.commit()
    requests = [["GET", path, None] for path in (
        "/admin/login", "/portal/login", "/portal/forgot", f"/portal/invite/{invitation}",
        "/portal/reset/not-a-real-token", f"/d/{token}")]
    requests += [
        ["POST", "/admin/login", {"email": staff.email, "password": "wrong password here"}],
        ["POST", "/portal/login", {"email": "login@example.com", "password": "wrong password here"}],
        ["POST", "/portal/forgot", {"email": "login@example.com"}],
    ]
    ran = _run(database_url, requests)
    # An unknown reset link says so at once (404); every page answers, none fails.
    assert ran["statuses"] == [200] * 4 + [404, 200] + [422, 422, 302], ran["log"][-2000:]
    assert "rate limit" in ran["log"].lower() or "storage" in ran["log"].lower(), ran["log"][-2000:]


def test_mail_waits_in_the_outbox_while_redis_is_down(app, database_url):
    customer = factories.customer(email="debtor@example.com")
    active_login(app, customer, "login@example.com")  # its invitation was queued too
    ran = _run(database_url, [["POST", "/portal/forgot", {"email": "login@example.com"}]])
    assert ran["statuses"] == [302], ran["log"][-2000:]
    with app.app_context():
        rows = db.session.execute(select(OutboundEmail.template, OutboundEmail.status)).all()
    assert sorted(rows) == [("portal_invitation", MailStatus.queued), ("portal_password_reset", MailStatus.queued),
                            ("portal_security_notice", MailStatus.queued)]  # the login was activated
