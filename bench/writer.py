"""Writes between the reads: a background loop that changes customers while wrk measures.

Real pages are read from a database that changes under them (a contact edited, a note
added, an invoice created), and each of those writes takes locks, dirties pages and, in
an app with caches, would drop them. The loop runs at a fixed, low rate through the
app's own forms over HTTP, as a second staff member (admin@dossier.test), on random
customers, during every measured run (the static file's too: both bear the same load).
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from datetime import date, timedelta

from bench import client, pages

KINDS = ("contact save", "note", "invoice")


class Writer(threading.Thread):
    def __init__(self, session: client.Session, customers: list[dict], per_second: float):
        super().__init__(name="bench-writer", daemon=True)
        self.session, self.customers, self.interval = session, customers, 1.0 / per_second
        self.rng = random.Random()
        self.stopping = threading.Event()
        self.done: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.failures: list[str] = []  # the first few, for the report

    def run(self) -> None:
        next_at = time.monotonic()
        for n in itertools.count():
            if self.stopping.wait(max(0.0, next_at - time.monotonic())):
                return
            next_at += self.interval
            kind = KINDS[n % len(KINDS)]
            try:
                status, location = self._write(kind, self.rng.choice(self.customers))
                ok = status == 200 or (status == 302 and "/login" not in location)
            except OSError as error:  # the server is busy or going away: count it, go on
                status, location, ok = 0, str(error), False
            if ok:
                self.done[kind] += 1
            else:
                self.failed[kind] += 1
                if len(self.failures) < 5:
                    self.failures.append(f"{kind}: {status} {location}".strip())

    def _write(self, kind: str, c: dict) -> tuple[int, str]:
        s, base = self.session, f"/admin/customers/{c['id']}"
        if kind == "contact save":
            status, headers, _ = s.request(
                f"{base}/contacts/{c['contact_id']}", method="POST",
                form=pages.contact_form(c, pages.random_phone(self.rng)),
                headers={"HX-Request": "true", "X-CSRFToken": s.csrf_token})
        elif kind == "note":
            status, headers, _ = s.request(f"{base}/notes", method="POST", form={
                "csrf_token": s.csrf_token, "body": f"Called about the open invoices ({time.strftime('%H:%M:%S')}).",
                "back": "overview"})
        else:
            today = date.today()
            status, headers, _ = s.request(f"{base}/invoices/new", method="POST", form={
                "csrf_token": s.csrf_token, "action": "save", "currency": "EUR",
                "issue_date": today.isoformat(), "due_date": (today + timedelta(days=14)).isoformat(),
                "lines-0-description": "Maintenance contract", "lines-0-quantity": "1",
                "lines-0-unit_price": f"{self.rng.randrange(50, 2000)}.00", "lines-0-vat_rate": "21"})
        return status, headers.get("Location", "")

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)

    def summary(self) -> dict:
        return {"per_second": round(1 / self.interval, 2), "done": dict(self.done),
                "failed": dict(self.failed), "first_failures": self.failures}

