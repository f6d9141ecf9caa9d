"""GET /metrics in Prometheus's text format (prometheus-client).

- `dossier_http_request_duration_seconds`: a histogram per Flask endpoint name (never the
  raw path: /d/<token> is one series), method and status class (2xx, 4xx, ...).
- `dossier_outbox_emails`: outbox rows per status, counted at scrape time (one GROUP BY).
- `dossier_outbound_webhooks`: outbound webhook deliveries per status, the same way; the
  worker's `dossier_outbound_webhook_attempts_total` counts what each attempt came to.
- `dossier_webhook_deliveries_total`: payment-provider webhooks received, by provider and status.
- `dossier_mail_deliveries_total`, `dossier_job_failures_total`: the worker's (mailers.metrics).

Off unless METRICS_TOKEN is set (404 without it); a scraper sends
`Authorization: Bearer <METRICS_TOKEN>`. gunicorn runs several worker processes and RQ
workers are processes of their own: with PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py sets
one up), every process writes its metrics to files there and a scrape adds them all up.
"""

from __future__ import annotations

import hmac
import logging
import os
import time

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

import mailers.metrics  # noqa: F401  (the worker's counters, exported by this process too)
from models.services import outbox, webhooks

bp = Blueprint("metrics", __name__)
log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
WEBHOOK_ENDPOINT = "portal.payment_webhook"
WEBHOOK_PROVIDERS = frozenset({"mollie", "stripe"})

REQUEST_DURATION = Histogram(
    "dossier_http_request_duration_seconds",
    "Time to answer a request, by Flask endpoint, method and status class.",
    ["endpoint", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WEBHOOK_DELIVERIES = Counter(
    "dossier_webhook_deliveries", "Payment-provider webhooks received, by provider and answer.", ["provider", "status"]
)


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _observe(response):
    started = g.pop("metrics_started", None)
    if started is None:
        return response
    # A URL that matched no route (404) or a method the route lacks (405) has no endpoint:
    # one series for all of them, whatever the path.
    endpoint = request.url_rule.endpoint if request.url_rule is not None else "unmatched"
    method = request.method if request.method in METHODS else "other"
    status = response.status_code
    try:
        REQUEST_DURATION.labels(endpoint, method, f"{status // 100}xx").observe(time.perf_counter() - started)
        if endpoint == WEBHOOK_ENDPOINT:
            provider = (request.view_args or {}).get("provider")
            WEBHOOK_DELIVERIES.labels(provider if provider in WEBHOOK_PROVIDERS else "other", str(status)).inc()
    except OSError:  # the multiprocess directory went away: the metric is lost, not the request
        log.warning("metrics: could not record the request", exc_info=True)
    return response


class _OutboxCollector:
    """The outbox counts of this scrape, as a gauge per status (and the webhook deliveries')."""

    def __init__(self, counts, webhook_counts=None):
        self.counts, self.webhook_counts = counts, webhook_counts

    def collect(self):
        gauge = GaugeMetricFamily("dossier_outbox_emails", "E-mails in the outbox, by status.", labels=["status"])
        for status, count in self.counts.items():
            gauge.add_metric([status.value], count)
        yield gauge
        if self.webhook_counts is not None:
            hooks = GaugeMetricFamily("dossier_outbound_webhooks", "Outbound webhook deliveries, by status.",
                                      labels=["status"])
            for status, count in self.webhook_counts.items():
                hooks.add_metric([status.value], count)
            yield hooks


def exposition(counts, webhook_counts=None) -> bytes:
    """Every process's metrics (or this process's, without a multiprocess directory), then
    the outbox gauge."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_OutboxCollector(counts, webhook_counts))
    return text + generate_latest(scrape)


def _authorised() -> bool:
    expected = current_app.config["METRICS_TOKEN"]
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())


@bp.get("/metrics")
def metrics():
    if not current_app.config["METRICS_TOKEN"]:
        abort(404)  # off unless configured
    if not _authorised():
        return Response(status=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    body = exposition(outbox.counts_by_status(), webhooks.counts_by_status())
    return Response(body, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def register(app: Flask) -> None:
    """Time every request (first in, last out), and serve /metrics."""
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_observe)
    app.register_blueprint(bp)
