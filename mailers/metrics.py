"""The worker's Prometheus counters: outbox rows and webhook deliveries handled, and RQ jobs
that failed.

Counted where it happens (mailers.jobs, the worker's exception handler). With
PROMETHEUS_MULTIPROC_DIR set (web/metrics.py), each process writes its own file there and a
web server's /metrics adds them up, so the counts of workers on the same machine show too.
"""

from __future__ import annotations

import os

from prometheus_client import Counter
from rq.exceptions import DeserializationError

from mailers.queue import JOB_FUNCTION, WEBHOOKS

# What a row's delivery came to (mailers.jobs): retry = a temporary failure, tried again
# later; failed = for good (refused, no address known, no longer needed, an internal error).
OUTCOMES = {"sent": "sent", "retry": "retry", "failed": "failed", "no-address": "failed", "not-needed": "failed"}
KNOWN_JOBS = {JOB_FUNCTION, WEBHOOKS.job_function}
WEBHOOK_OUTCOMES = ("delivered", "retry", "failed")

# Multiprocess mode writes a file per process there as soon as a metric exists (just below).
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

MAIL_DELIVERIES = Counter(
    "dossier_mail_deliveries", "E-mails the worker handled, by outcome (sent, retry, failed).", ["outcome"]
)
# Not dossier_webhook_deliveries: web.metrics counts the payment providers' incoming ones so.
OUTBOUND_WEBHOOKS = Counter(
    "dossier_outbound_webhook_attempts", "Webhook deliveries the worker handled, by outcome (delivered, retry, failed).",
    ["outcome"],
)
JOB_FAILURES = Counter("dossier_job_failures", "Worker jobs that raised instead of finishing.", ["job"])

for _outcome in set(OUTCOMES.values()):
    MAIL_DELIVERIES.labels(_outcome)  # every series exists from the start, at 0
for _outcome in WEBHOOK_OUTCOMES:
    OUTBOUND_WEBHOOKS.labels(_outcome)
for _job in KNOWN_JOBS:
    JOB_FAILURES.labels(_job)


def delivered(outcome: str) -> None:
    MAIL_DELIVERIES.labels(OUTCOMES.get(outcome, "failed")).inc()


def webhook_delivered(outcome: str) -> None:
    OUTBOUND_WEBHOOKS.labels(outcome if outcome in WEBHOOK_OUTCOMES else "failed").inc()


def count_job_failure(job, *_exc_info) -> bool:
    """An RQ exception handler: counts the failure, then lets RQ's own handling go on."""
    try:
        name = job.func_name
    except DeserializationError:
        name = "other"
    JOB_FAILURES.labels(name if name in KNOWN_JOBS else "other").inc()
    return True
