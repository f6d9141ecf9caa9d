"""CSV import jobs: the uploaded file, its mapping, and how far the import got.

The file is kept in the database in chunks of CHUNK_BYTES (any web process or worker can
read it, none has to hold it whole). A job runs twice at most: a dry run (every batch
rolled back) and the import (every batch committed with its progress), each as an RQ job.
`position` is the last spreadsheet row whose batch is committed: a worker that dies is
replaced by one that starts after it, and a batch that fails leaves the job saying where.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.db import UTCDateTime, db, now_utc

CHUNK_BYTES = 1024 * 1024


class ImportStatus(str, enum.Enum):
    uploaded = "uploaded"  # waiting for its mapping and a run
    queued = "queued"  # a run is on (or waiting to get onto) the queue
    running = "running"
    done = "done"
    failed = "failed"  # a batch failed: earlier batches are kept (import) and `error` says where


class ImportJob(db.Model):
    __tablename__ = "import_jobs"
    __table_args__ = (Index("ix_import_jobs_status", "status", "heartbeat_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # customers | documents
    filename: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer, default=0)
    encoding: Mapped[str] = mapped_column(String(20))
    delimiter: Mapped[str] = mapped_column(String(1))
    header: Mapped[list] = mapped_column(JSON, default=list)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    # {column index (as text): field key}, and "comma" or "point" for amounts.
    mapping: Mapped[dict | None] = mapped_column(JSON)
    decimal: Mapped[str] = mapped_column(String(5), default="point")
    status: Mapped[ImportStatus] = mapped_column(
        Enum(ImportStatus, native_enum=False, length=20, validate_strings=True), default=ImportStatus.uploaded)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)  # the current or last run
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer, default=1)  # last committed row (1 = the header)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    created_by_label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Renewed by the worker after every batch: a stale one means the worker died.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def finished(self) -> bool:
        return self.status in (ImportStatus.done, ImportStatus.failed)

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 100 if self.finished else 0
        return min(100, self.rows_done * 100 // self.total_rows)


class ImportChunk(db.Model):
    __tablename__ = "import_chunks"

    job_id: Mapped[int] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ImportFailure(db.Model):
    """A record (customer, or document with its rows) the run could not import."""

    __tablename__ = "import_failures"
    __table_args__ = (Index("ix_import_failures_job_row", "job_id", "row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"))
    row: Mapped[int] = mapped_column(Integer)
    column: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    cells: Mapped[list] = mapped_column(JSON, default=list)  # the record's rows, as read
