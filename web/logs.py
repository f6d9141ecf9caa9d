"""Logging for the web processes and the worker: one JSON object per line on stderr.

Each line has time (UTC), level, logger and message; `request_id` inside a web request,
`job_id` inside an RQ job, `exception` (the traceback) when there is one, and any
`extra=` fields. Every request writes one access line (logger `dossier.access`).

The request id is the caller's `X-Request-ID` when it looks like an id (a proxy or load
balancer sets one), else a new one; it is kept on `g` and sent back in `X-Request-ID`.

`configure(app)` runs in create_app, so gunicorn's workers and `flask --app wsgi worker`
are set up alike; RQ adds no handlers of its own once the root logger has one, so its
lines come out here too. gunicorn's own lines (start, worker timeouts) use the same
format through `logger_class` in gunicorn.conf.py. LOG_LEVEL (INFO) sets the level;
WARNING drops the access lines.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid

from flask import Flask, g, has_request_context, request
from flask.logging import default_handler
from gunicorn.glogging import Logger as _GunicornLogger
from rq import get_current_job

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
# LogRecord's own attributes; anything else on a record came in through `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
access_log = logging.getLogger("dossier.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update((k, v) for k, v in vars(record).items()
                     if k not in _RECORD_ATTRIBUTES and k not in entry and not k.startswith("_"))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


class ContextFilter(logging.Filter):
    """Adds the request id (inside a request) and the RQ job id (inside a job)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context() and not hasattr(record, "request_id"):
            record.request_id = request_id()
        job = get_current_job()
        if job is not None and not hasattr(record, "job_id"):
            record.job_id = job.id
        return True


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (pytest swaps it per test)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def handler() -> logging.Handler:
    h = _StderrHandler()
    h.setFormatter(JsonFormatter())
    h.addFilter(ContextFilter())
    h._dossier = True  # noqa: SLF001 - marks ours, so a second create_app replaces it
    return h


def request_id() -> str:
    if "request_id" not in g:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    return g.request_id


def _start_request() -> None:
    g.request_started = time.perf_counter()
    request_id()


def _finish_request(response):
    response.headers[REQUEST_ID_HEADER] = request_id()
    if access_log.isEnabledFor(logging.INFO):
        path = request.path
        token = (request.view_args or {}).get("token")
        if token:  # dossier links, invitations and resets carry their secret in the path
            path = path.replace(token, "<token>")
        started = g.get("request_started")
        access_log.info(
            "%s %s %s", request.method, path, response.status_code,
            extra={"method": request.method, "path": path, "status": response.status_code,
                   "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None},
        )
    return response


def configure(app: Flask) -> None:
    """JSON lines on stderr from the root logger at LOG_LEVEL, and the request id."""
    level = app.config.get("LOG_LEVEL", "INFO")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_dossier", False)]:
        root.removeHandler(old)
    new = handler()
    new.setLevel(level)  # also for loggers with a level of their own (RQ sets INFO on rq.worker)
    root.addHandler(new)
    root.setLevel(level)
    app.logger.removeHandler(default_handler)  # its lines reach the root handler instead
    # Registered first: the request id exists before any other hook logs, and the access
    # line is written after every other after_request hook has shaped the response.
    if _start_request not in app.before_request_funcs.setdefault(None, []):
        app.before_request_funcs[None].insert(0, _start_request)
        app.after_request_funcs.setdefault(None, []).insert(0, _finish_request)


class GunicornLogger(_GunicornLogger):
    """gunicorn's own lines (start, worker boot and timeouts, its access log if enabled)
    in the same JSON format (gunicorn.conf.py: `logger_class`)."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for h in log.handlers:
                if getattr(h, "_gunicorn", False):
                    h.setFormatter(JsonFormatter())
