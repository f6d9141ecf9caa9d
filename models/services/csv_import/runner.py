"""Running an import: records in batches through models.services.intake.

One transaction per batch: the batch's upserts, its failed rows and the job's progress are
committed together, so after a crash or a failing batch the job's `position` is exactly the
last row whose batch is in the database. A record intake refuses (a DomainError: a per-row
error) leaves the rest of its batch alone: customers go through intake's batch door
(upsert_customers), documents through upsert_documents and, when it refuses one, one at a
time, each inside a savepoint.
A dry run does the same work and rolls every batch back, keeping only the counts and the
failed rows.

Both the RQ job (mailers.imports) and the CLI (web.csv_cli) run batches through
`run_batches`; the job reads the file from its stored chunks, the CLI from disk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, update

from models.db import db, now_utc
from models.imports import CHUNK_BYTES, ImportChunk, ImportFailure, ImportJob, ImportStatus
from models.services import bulk
from models.services.csv_import import fields as csv_fields
from models.services.csv_import import reading, values
from models.services.errors import DomainError
from models.staff import StaffUser

log = logging.getLogger(__name__)

BATCH_ROWS = 500
MAX_FILENAME = 200
# A running job whose worker has not reported for this long is taken over (the worker died).
STALE_AFTER = timedelta(minutes=10)
RESULTS = ("created", "updated", "unchanged")


@dataclass(slots=True)
class Failure:
    row: int
    column: str | None
    message: str
    cells: list[list[str]]


@dataclass(slots=True)
class Batch:
    """What one batch did: counts, failures, and the last row it covered."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failures: list[Failure] = field(default_factory=list)
    rows: int = 0
    last_row: int = 0


def _batches(records: Iterable[csv_fields.Record], batch_rows: int) -> Iterator[list[csv_fields.Record]]:
    batch: list[csv_fields.Record] = []
    rows = 0
    for record in records:
        batch.append(record)
        rows += len(record.rows)
        if rows >= batch_rows:
            yield batch
            batch, rows = [], 0
    if batch:
        yield batch


def _one_by_one(converter: csv_fields.Converter, records: list[csv_fields.Record], actor_label: str) -> Batch:
    """Documents one at a time, each in a savepoint: a refused one leaves the others alone."""
    from models.services import intake

    outcomes: dict[int, tuple] = {}
    for record in records:
        if record.error is None:
            try:
                with db.session.begin_nested():
                    outcomes[id(record)] = intake.upsert_document(record.data, actor_label=actor_label)
            except DomainError as error:
                outcomes[id(record)] = (None, error)
    return _counted(converter, records, outcomes)


def _counted(converter: csv_fields.Converter, records: list[csv_fields.Record], outcomes: dict[int, tuple]) -> Batch:
    """The batch's figures and failed rows: a record's own error (read from the file), or
    intake's outcome of it ("created" … or the DomainError that refused it)."""
    result = Batch()
    for record in records:
        result.rows += len(record.rows)
        result.last_row = record.rows[-1]
        if record.error is not None:
            result.failures.append(Failure(record.error.row, record.error.column, record.error.message, record.cells))
            continue
        _entity, outcome = outcomes[id(record)]
        if isinstance(outcome, DomainError):
            result.failures.append(Failure(record.row_of(outcome.field), converter.column(outcome.field),
                                           str(outcome.message), record.cells))
            continue
        setattr(result, outcome, getattr(result, outcome) + 1)
    return result


def _open_transaction() -> None:
    """SQLite's Python driver sends BEGIN only before a write: a SAVEPOINT outside a
    transaction would start one of its own, and releasing it would commit the batch (a
    dry run's too). A write that matches no row opens the transaction first."""
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.connection().exec_driver_sql("UPDATE import_jobs SET id = id WHERE 0 = 1")


def apply_batch(converter: csv_fields.Converter, records: list[csv_fields.Record], actor_label: str) -> Batch:
    """Upsert the batch's records; nothing is committed here.

    Customers go through intake.upsert_customers at once (a record it refuses leaves
    nothing behind). Documents: first all through intake.upsert_documents in one
    savepoint (their new documents written together); if intake refuses a record, that
    savepoint is rolled back and the batch runs again one record at a time, each in a
    savepoint, so the refused ones leave the others alone."""
    from models.services import intake

    ready = [record for record in records if record.error is None]
    data = [record.data for record in ready]
    if converter.kind == csv_fields.CUSTOMERS:
        return _counted(converter, records, dict(zip(map(id, ready), intake.upsert_customers(
            data, actor_label=actor_label))))
    _open_transaction()
    try:
        with db.session.begin_nested():
            intake.prefetch_documents(data)
            outcomes = dict(zip(map(id, ready), intake.upsert_documents(data, actor_label=actor_label)))
    except DomainError:
        return _one_by_one(converter, records, actor_label)
    return _counted(converter, records, outcomes)


def run_batches(converter: csv_fields.Converter, rows: Iterable[tuple[int, list[str]]], *, actor_label: str,
                dry_run: bool, batch_rows: int = BATCH_ROWS, after_batch: Callable[[Batch], None]) -> None:
    """Every batch applied, then `after_batch(batch)` (which records progress and commits);
    a dry run's batch is rolled back first. An exception other than a per-row error
    propagates with the failing batch rolled back (the caller says where it stopped)."""
    for records in _batches(converter.records(rows), batch_rows):
        try:
            batch = apply_batch(converter, records, actor_label)
        except BaseException:
            db.session.rollback()
            raise
        if dry_run:
            db.session.rollback()
        after_batch(batch)


# --------------------------------------------------------------------------- the stored file


def file_chunks(job_id: int) -> reading.Chunks:
    """The job's stored file, a chunk (one query) at a time."""

    def chunks() -> Iterator[bytes]:
        seq = 0
        while True:
            data = db.session.execute(
                select(ImportChunk.data).where(ImportChunk.job_id == job_id, ImportChunk.seq == seq)
            ).scalar()
            if data is None:
                return
            yield bytes(data)
            seq += 1

    return chunks


def path_chunks(path: str) -> reading.Chunks:
    def chunks() -> Iterator[bytes]:
        with open(path, "rb") as handle:
            while data := handle.read(CHUNK_BYTES):
                yield data

    return chunks


def create_job(actor: StaffUser | None, kind: str, filename: str, stream, max_bytes: int) -> ImportJob:
    """Store an upload in chunks, read its format and guess its mapping. DomainError
    (field "file") for a file that is too large, empty, not text or has a broken quote."""
    if kind not in csv_fields.KINDS:
        raise DomainError(str(_l("Choose what the file holds.")), field="kind")
    job = ImportJob(kind=kind, filename=(filename or "import.csv")[-MAX_FILENAME:], encoding="", delimiter=",",
                    created_by_id=actor.id if actor else None,
                    created_by_label=(f"{actor.name} <{actor.email}>" if actor else "command line")[:200])
    db.session.add(job)
    db.session.flush()
    size = seq = 0
    while data := stream.read(CHUNK_BYTES):
        size += len(data)
        if size > max_bytes:
            raise DomainError(str(_l("The file is larger than %(mb)s MB. Split it into smaller files.",
                                     mb=max_bytes // (1024 * 1024))), field="file")
        chunk = ImportChunk(job_id=job.id, seq=seq, data=data)
        db.session.add(chunk)
        db.session.flush()
        db.session.expunge(chunk)  # one chunk in memory at a time
        seq += 1
    fmt = reading.inspect(file_chunks(job.id))
    job.size, job.encoding, job.delimiter, job.header, job.total_rows = (
        size, fmt.encoding, fmt.delimiter, fmt.header, fmt.rows)
    mapping = csv_fields.guess_mapping(kind, fmt.header, csv_fields.custom_labels())
    job.mapping = {str(i): key for i, key in mapping.items()}
    sample = reading.preview(file_chunks(job.id), fmt, limit=50)
    job.decimal = values.guess_decimal(csv_fields.decimal_samples(kind, mapping, sample))
    return job


def file_format(job: ImportJob) -> reading.FileFormat:
    return reading.FileFormat(encoding=job.encoding, delimiter=job.delimiter, header=list(job.header),
                              rows=job.total_rows)


def job_mapping(job: ImportJob) -> dict[int, str]:
    return {int(i): key for i, key in (job.mapping or {}).items() if key}


def set_mapping(job: ImportJob, mapping: dict[int, str], decimal: str) -> None:
    """Save the staff member's mapping; DomainError (field "mapping") when it lacks what an
    import needs."""
    if job.status in (ImportStatus.queued, ImportStatus.running):
        raise DomainError(str(_l("This import is running; its mapping cannot change now.")), field="mapping")
    fields = {f.key for f in csv_fields.fields_for(job.kind, csv_fields.custom_labels())}
    mapping = {i: key for i, key in mapping.items() if key and key in fields and 0 <= i < len(job.header)}
    problems = csv_fields.check_mapping(job.kind, mapping)
    if problems:
        raise DomainError(" ".join(problems), field="mapping")
    job.mapping = {str(i): key for i, key in mapping.items()}
    job.decimal = values.COMMA if decimal == values.COMMA else values.POINT


def queue_run(job: ImportJob, dry_run: bool) -> None:
    """Mark the job queued for a dry run or the import; counts and failures start afresh.
    The caller commits and then enqueues (mailers.imports)."""
    if job.status in (ImportStatus.queued, ImportStatus.running):
        raise DomainError(str(_l("This import is already running.")))
    if not dry_run and job.status == ImportStatus.done and not job.dry_run:
        raise DomainError(str(_l("This file has been imported. Upload it again to import it once more.")))
    problems = csv_fields.check_mapping(job.kind, job_mapping(job))
    if problems:
        raise DomainError(" ".join(problems), field="mapping")
    db.session.execute(delete(ImportFailure).where(ImportFailure.job_id == job.id))
    job.status, job.dry_run = ImportStatus.queued, dry_run
    job.created = job.updated = job.unchanged = job.failed = job.rows_done = 0
    job.position, job.error = 1, None
    job.queued_at, job.started_at, job.finished_at, job.heartbeat_at = now_utc(), None, None, None


def claim(job_id: int) -> bool:
    """Take a queued job (or one whose worker died) for this worker; False if another
    worker runs it or it is finished. Committed at once."""
    now = now_utc()
    claimed = db.session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id)
        .where((ImportJob.status == ImportStatus.queued)
               | ((ImportJob.status == ImportStatus.running) & (ImportJob.heartbeat_at < now - STALE_AFTER)))
        .values(status=ImportStatus.running, heartbeat_at=now,
                started_at=func.coalesce(ImportJob.started_at, now))
    ).rowcount
    db.session.commit()
    return bool(claimed)


def run_job(job_id: int, batch_rows: int = BATCH_ROWS) -> ImportJob | None:
    """Run (or resume after `position`) a claimed job to the end, a batch per
    transaction. Returns the job, finished."""
    job = db.session.get(ImportJob, job_id)
    if job is None:
        return None
    converter = csv_fields.Converter(job.kind, list(job.header), job_mapping(job), job.decimal,
                                     csv_fields.custom_labels())
    fmt, dry_run, label = file_format(job), job.dry_run, job.created_by_label or "import"
    if dry_run and job.position > 1:  # a dry run's batches were rolled back: nothing to resume from
        _reset_counts(job)
    state = {"position": job.position}

    def after_batch(batch: Batch) -> None:
        values_ = dict(
            created=ImportJob.created + batch.created, updated=ImportJob.updated + batch.updated,
            unchanged=ImportJob.unchanged + batch.unchanged, failed=ImportJob.failed + len(batch.failures),
            rows_done=ImportJob.rows_done + batch.rows, position=batch.last_row, heartbeat_at=now_utc(),
        )
        db.session.execute(update(ImportJob).where(ImportJob.id == job_id).values(**values_))
        if batch.failures:  # one statement however many (bulk: a JSON recordset on PostgreSQL)
            bulk.insert_rows(ImportFailure.__table__, [
                {"job_id": job_id, "row": f.row, "column": f.column, "message": f.message[:2000], "cells": f.cells}
                for f in batch.failures])
        db.session.commit()
        db.session.expunge_all()  # the batch's entities: memory stays flat however long the file
        state["position"] = batch.last_row

    try:
        run_batches(converter, reading.rows(file_chunks(job_id), fmt, start_after=job.position),
                    actor_label=label, dry_run=dry_run, batch_rows=batch_rows, after_batch=after_batch)
    except DomainError as error:  # the file itself (a broken quote further down)
        return _stop(job_id, str(error.message), state["position"], dry_run)
    except Exception as error:  # noqa: BLE001 - the job says where it stopped instead of vanishing
        log.exception("import %s stopped after row %s", job_id, state["position"])
        db.session.rollback()
        return _stop(job_id, str(_l("An unexpected error stopped the batch after row %(row)s: %(error)s",
                                    row=state["position"], error=type(error).__name__)), state["position"], dry_run)
    db.session.execute(update(ImportJob).where(ImportJob.id == job_id).values(
        status=ImportStatus.done, finished_at=now_utc()))
    db.session.commit()
    return db.session.get(ImportJob, job_id)


def _reset_counts(job: ImportJob) -> None:
    db.session.execute(delete(ImportFailure).where(ImportFailure.job_id == job.id))
    job.created = job.updated = job.unchanged = job.failed = job.rows_done = 0
    job.position = 1
    db.session.commit()


def stopped_message(message: str, position: int, dry_run: bool) -> str:
    if dry_run:
        return str(_l("The dry run stopped after row %(row)s: %(message)s", row=position, message=message))
    if position > 1:
        return str(_l("Stopped: %(message)s Rows up to %(row)s are imported; nothing after them.",
                      message=message, row=position))
    return str(_l("Stopped: %(message)s Nothing was imported.", message=message))


def _stop(job_id: int, message: str, position: int, dry_run: bool) -> ImportJob:
    db.session.rollback()
    db.session.execute(update(ImportJob).where(ImportJob.id == job_id).values(
        status=ImportStatus.failed, finished_at=now_utc(), error=stopped_message(message, position, dry_run)))
    db.session.commit()
    return db.session.get(ImportJob, job_id)


def due_job_ids() -> list[int]:
    """Jobs that should be on the queue: queued (Redis was down), or running on a worker
    that stopped reporting."""
    now = now_utc()
    return list(db.session.scalars(select(ImportJob.id).where(
        (ImportJob.status == ImportStatus.queued)
        | ((ImportJob.status == ImportStatus.running) & (ImportJob.heartbeat_at < now - STALE_AFTER))
    ).order_by(ImportJob.id)))


def _failures_stmt(job: ImportJob):
    return select(ImportFailure).where(ImportFailure.job_id == job.id).order_by(ImportFailure.row, ImportFailure.id)


def failures(job: ImportJob, limit: int | None = None) -> list[ImportFailure]:
    stmt = _failures_stmt(job)
    return list(db.session.scalars(stmt.limit(limit) if limit else stmt))


def each_failure(job: ImportJob) -> Iterator[ImportFailure]:
    """All of a job's failed rows, fetched 500 at a time (the download streams them)."""
    yield from db.session.scalars(_failures_stmt(job).execution_options(yield_per=500))


def recent_jobs(limit: int = 10) -> list[ImportJob]:
    return list(db.session.scalars(select(ImportJob).order_by(ImportJob.id.desc()).limit(limit)))
