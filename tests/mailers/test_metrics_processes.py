"""The worker's counters (mails sent / retried / failed, jobs that raised), and multiprocess
mode: real gunicorn with two worker processes and a real `flask worker` writing to one
PROMETHEUS_MULTIPROC_DIR, so that any web process's /metrics adds every process up."""

from __future__ import annotations

import os
import secrets
import signal
from concurrent.futures import ThreadPoolExecutor

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from mailers import queue as mail_queue
from models.db import db
from models.documents import Document
from models.services import notifications
from tests import factories
from tests.mailers.conftest import subprocess_env, wait_for
from tests.processes import Gunicorn

TOKEN = "metrics-" + secrets.token_urlsafe(24)
JOB = mail_queue.JOB_FUNCTION


def queue_invoices(app, customers) -> list[int]:
    invoices = [factories.invoice(c) for c in customers]
    with app.app_context():
        rows = [notifications.send_invoice(None, db.session.get(Document, inv.id)) for inv in invoices]
        db.session.commit()
        return [r.id for r in rows]


def deliveries(outcome: str) -> float:
    return REGISTRY.get_sample_value("dossier_mail_deliveries_total", {"outcome": outcome}) or 0.0


def test_each_delivery_outcome_is_counted(mail_app, sink, run_worker):
    customers = [factories.customer(email=f"c{n}@example.test") for n in range(4)]
    sink.refuse["c1@example.test"] = "550 5.1.1 No such user (test)"
    sink.refuse["c2@example.test"] = "451 4.7.1 Greylisted (test)"
    before = {outcome: deliveries(outcome) for outcome in ("sent", "retry", "failed")}
    queue_invoices(mail_app, customers)
    run_worker()
    after = {outcome: deliveries(outcome) for outcome in ("sent", "retry", "failed")}
    assert {o: after[o] - before[o] for o in after} == {"sent": 2, "retry": 1, "failed": 1}


# --------------------------------------------------------------------------- real processes


def scrape(server: Gunicorn) -> dict[tuple[str, tuple], float]:
    status, text = server.get("/metrics", TOKEN)
    assert status == 200, text[:500]
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def load_until_every_worker_served(server: Gunicorn, path: str, metrics_dir) -> int:
    """Concurrent requests (sync workers take one at a time, so both get some) until every
    worker has written its histogram file; returns how many were sent, all answered 200."""
    sent = 0

    def served() -> set[int]:
        return {int(p.stem.split("_")[-1]) for p in metrics_dir.glob("histogram_*.db")}

    with ThreadPoolExecutor(max_workers=8) as pool:
        while not server.worker_pids() <= served():
            assert sent < 2000, (server.worker_pids(), served())
            assert set(pool.map(lambda _: server.get(path)[0], range(20))) == {200}
            sent += 20
    return sent


def count(samples, endpoint: str, method: str = "GET", status: str = "2xx") -> float:
    return samples.get(("dossier_http_request_duration_seconds_count",
                        (("endpoint", endpoint), ("method", method), ("status", status))), 0.0)


def test_one_scrape_adds_up_every_web_and_mail_process(mail_app, sink, worker_processes, tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = subprocess_env(mail_app, METRICS_TOKEN=TOKEN, PROMETHEUS_MULTIPROC_DIR=metrics_dir)

    # The mail worker: two e-mails sent, one job that raises (a job without its ids).
    queue_invoices(mail_app, [factories.customer(email=f"c{n}@example.test") for n in range(2)])
    with mail_app.app_context():
        mail_queue.mail_queue().enqueue(JOB)
    worker = worker_processes.start("--burst", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    assert worker.wait(timeout=60) == 0, worker_processes.logs()
    assert sink.count() == 2

    server = Gunicorn(env, tmp_path / "gunicorn.log")
    try:
        pids = server.worker_pids()
        sent = load_until_every_worker_served(server, "/admin/login", metrics_dir)
        for _ in range(4):  # whichever worker answers the scrape, it reports them all
            samples = scrape(server)
            assert count(samples, "admin.login") == sent
        assert samples[("dossier_mail_deliveries_total", (("outcome", "sent"),))] == 2
        assert samples[("dossier_job_failures_total", (("job", JOB),))] == 1
        assert samples[("dossier_outbox_emails", (("status", "sent"),))] == 2

        # A worker that dies is replaced; its counts stay in the totals (child_exit).
        victim = sorted(pids)[0]
        os.kill(victim, signal.SIGKILL)  # a worker of the gunicorn this test started
        wait_for(lambda: len(server.worker_pids()) == 2 and victim not in server.worker_pids(), 30,
                 message="gunicorn to replace the worker")
        assert count(scrape(server), "admin.login") == sent
    finally:
        server.stop()
    assert "Traceback" not in server.log.read_text(), server.log.read_text()[-3000:]


def test_gunicorn_makes_its_own_directory_and_removes_it(mail_app, tmp_path):
    """Without PROMETHEUS_MULTIPROC_DIR, gunicorn.conf.py makes a temporary one for this run."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = subprocess_env(mail_app, METRICS_TOKEN=TOKEN, TMPDIR=temp)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = Gunicorn(env, tmp_path / "gunicorn.log")
    try:
        made = list(temp.glob("dossier-metrics-*"))
        assert len(made) == 1, made
        sent = load_until_every_worker_served(server, "/admin/login", made[0])
        for _ in range(3):
            assert count(scrape(server), "admin.login") == sent
    finally:
        server.stop()
    assert server.process.returncode == 0, server.log.read_text()[-3000:]
    assert not list(temp.glob("dossier-metrics-*"))
