"""A sending thread per worker: the SMTP dialogue of one message overlaps building the next.

Why: a message's SMTP dialogue is six request/response round trips to the server, and
the worker used to sit idle through them; building is pure CPU. The worker's main thread
builds and submits; this thread owns the SMTP connection (mailers.smtp) while a batch
runs and hands back each message's outcome. At most `depth` messages wait, so a worker
killed mid-batch has only those few accepted but unrecorded.

While a thread waits for the GIL after a server's answer, CPython makes it wait up to
the switch interval (5 ms by default) if the builder is busy; the worker shortens it
(`FAST_SWITCH_SECONDS`) so an answer is acted on at once.
"""

from __future__ import annotations

import queue
import sys
import threading
from dataclasses import dataclass
from typing import Any

from flask import Flask

from mailers import smtp

FAST_SWITCH_SECONDS = 0.0005


def use_fast_switching() -> None:
    """For the worker process only (called by `flask worker`)."""
    sys.setswitchinterval(min(sys.getswitchinterval(), FAST_SWITCH_SECONDS))


@dataclass
class Outcome:
    item: Any  # what the caller submitted with the message
    sent: smtp.Sent | None = None
    error: Exception | None = None  # smtp.TemporaryFailure / PermanentFailure / Unreachable


class Sender:
    """Use as a context manager around one batch; `submit` blocks while `depth` wait."""

    def __init__(self, app: Flask, depth: int = 2):
        self.app = app
        self.todo: queue.Queue = queue.Queue(maxsize=depth)
        self.done: queue.Queue = queue.Queue()
        self.unreachable: smtp.Unreachable | None = None
        self.thread = threading.Thread(target=self._run, name="smtp-sender", daemon=True)

    def __enter__(self) -> "Sender":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.todo.put(None)
        self.thread.join()

    def submit(self, item: Any, envelope_from: str, recipients: list[str], data: bytes) -> None:
        self.todo.put((item, envelope_from, recipients, data))

    def outcomes(self, wait: bool = False) -> list[Outcome]:
        """What has been sent (or refused) so far; with `wait`, everything submitted."""
        if wait:
            self.todo.join()
        results = []
        while True:
            try:
                results.append(self.done.get_nowait())
            except queue.Empty:
                return results

    def _run(self) -> None:
        with self.app.app_context():  # smtp reads the mail settings from the app's config
            while (job := self.todo.get()) is not None:
                item, envelope_from, recipients, data = job
                try:
                    if self.unreachable is not None:  # don't wait for a timeout per message
                        raise self.unreachable
                    outcome = Outcome(item, sent=smtp.send(envelope_from, recipients, data))
                except smtp.Unreachable as error:
                    self.unreachable = error
                    outcome = Outcome(item, error=error)
                except (smtp.TemporaryFailure, smtp.PermanentFailure) as error:
                    outcome = Outcome(item, error=error)
                except Exception as error:  # noqa: BLE001 - handed to the caller, which fails the row
                    outcome = Outcome(item, error=error)
                self.done.put(outcome)
                self.todo.task_done()
            self.todo.task_done()
