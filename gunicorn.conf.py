"""gunicorn settings, read from the working directory (Procfile, README, `make bench`).

Garbage collection: a worker holds some 150,000 long-lived objects (modules, SQLAlchemy
mappings, compiled templates and statements). A full collection walks all of them, about
100 ms here, and every request queued behind it waits that long; these objects live as
long as the worker, so they are moved out of the collector's sight (gc.freeze) once the
app is loaded and again when the first requests have filled the caches.
"""

import gc
import os
import shutil
import tempfile

# gunicorn's own lines as JSON, like the app's (web/logs.py).
logger_class = "web.logs.GunicornLogger"

# Prometheus multiprocess mode (web/metrics.py): every worker writes its metrics to files in
# one directory and /metrics, whichever worker answers it, adds them all up. prometheus-client
# reads PROMETHEUS_MULTIPROC_DIR when it is first imported, so it is set here, before any
# worker loads the app. Set it yourself to share one directory with the RQ workers on this
# machine (empty it before starting them all); otherwise each gunicorn run gets a fresh
# temporary one, removed when gunicorn exits.
_OWN_METRICS_DIR = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _OWN_METRICS_DIR = tempfile.mkdtemp(prefix="dossier-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _OWN_METRICS_DIR
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

# The app is loaded once, in the master, and the workers are forked from it: their memory
# pages stay shared until one of them writes to a page (`make run` idle: 280 -> 216 MiB PSS
# in all). The master serves no request and opens no database connection; each worker still
# starts with an empty pool (post_fork). A HUP restarts the workers from the code the master
# loaded, so a deploy restarts gunicorn itself (or sends USR2, gunicorn's binary upgrade).
preload_app = True

WARM_AFTER_REQUESTS = 200
_served = 0


_warmed = False


def _warm_up() -> None:
    """What every worker would otherwise build for itself on its first requests, built once
    in the master so the workers share it: the mapper configuration, every template compiled,
    Babel's data of the app's languages."""
    from babel import Locale
    from sqlalchemy.orm import configure_mappers

    from wsgi import app

    configure_mappers()
    for name in app.jinja_env.list_templates(filter_func=lambda n: n.endswith((".html", ".txt"))):
        app.jinja_env.get_template(name)
    for language in app.config["LANGUAGES"]:
        Locale.parse(language).currency_formats  # noqa: B018 - loads the locale's data


def pre_fork(server, worker):
    """Before each worker is forked: what the master built (the app, modules, compiled
    templates) leaves the collector's sight, so the child's collections do not write to
    (and so copy) those shared pages."""
    global _warmed
    if server.cfg.preload_app:
        if not _warmed:
            _warm_up()
            _warmed = True
        gc.collect()
        gc.freeze()


def post_fork(server, worker):
    """No database connection crosses the fork: each worker's pool starts empty."""
    if server.cfg.preload_app:
        from models.db import db
        from wsgi import app

        with app.app_context():
            db.engine.dispose(close=False)


def post_worker_init(worker):
    gc.collect()
    gc.freeze()


def post_request(worker, req, environ, resp):
    global _served
    _served += 1
    if _served == WARM_AFTER_REQUESTS:
        gc.collect()
        gc.freeze()


def child_exit(server, worker):
    """A worker ended (restart, crash): its live gauges leave the sums (prometheus-client's
    bookkeeping; its counters and histograms stay, so totals never go down)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    # After a binary upgrade (USR2) the new master inherited the directory: leave it to it.
    if _OWN_METRICS_DIR and not getattr(server, "reexec_pid", 0):
        shutil.rmtree(_OWN_METRICS_DIR, ignore_errors=True)
