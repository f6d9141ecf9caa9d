"""The mail sync benchmark (issue 21): 10,000 messages from a real Dovecot into Dossier.

Steps:
1. A Dovecot of its own (tests/mail_sync/dovecot.py: temporary config, own port, TLS with
   a self-signed certificate the app is told to trust). The N messages are written straight
   into its maildir (Dovecot indexes them on first SELECT); an IMAP APPEND each would only
   measure the filling.
2. A fresh database (SQLite in a temporary directory; BENCH_DATABASE_URL for PostgreSQL),
   migrated, with 2,000 customers each with an address and a contact person with a further
   address. The messages come from customers (60 %), contact persons' further addresses
   (20 %) and strangers (20 %, stored unmatched); every tenth is a reply to a Dossier mail
   id that does not exist; one in fifty has a 20 KiB attachment.
3. One sync run (`mailers.mail_sync.run`), as the worker's job does, timed; per batch the
   SQL statements and the process's resident memory are recorded.

Reported (JSON on stdout): messages/s, batches, statements per batch (min/max: the same
for every full batch whatever N is), RSS after the first tenth of the batches and at the
end (flat: the difference stays within a few MiB however many messages follow).

Environment: BENCH_MAIL_SYNC_MESSAGES (10000), MAIL_SYNC_BATCH (100), BENCH_DATABASE_URL.
Run: `.venv/bin/python -m bench.mail_sync` (needs Dovecot: apt-get install dovecot-imapd);
`make bench` runs it too unless BENCH_SKIP_MAIL_SYNC=1.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CUSTOMERS = 2000


def _rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _message(n: int, rng) -> bytes:
    msg = EmailMessage()
    kind = n % 10
    if kind < 6:
        sender = f"customer{n % CUSTOMERS}@debtors.example"
    elif kind < 8:
        sender = f"private{n % CUSTOMERS}@home.example"
    else:
        sender = f"stranger{n}@elsewhere.example"
    msg["From"] = sender
    msg["To"] = "billing@business.example"
    msg["Subject"] = f"Re: Invoice {n}"
    msg["Message-ID"] = f"<bench-{n}@debtors.example>"
    msg["Date"] = "Tue, 01 Dec 2026 10:00:00 +0000"
    if kind == 9:
        msg["In-Reply-To"] = f"<outbox.{n}.0000000000000000@dossier.example>"
    msg.set_content(f"Message {n}: I paid the invoice on Monday.\n" + "Kind regards,\nA debtor\n" * 5)
    msg.add_alternative(f"<p>Message {n}</p><img src='https://tracker.example/{n}.gif'><script>x()</script>",
                        subtype="html")
    if n % 50 == 0:
        msg.add_attachment(rng(20 * 1024), maintype="application", subtype="pdf", filename=f"remittance-{n}.pdf")
    return msg.as_bytes()


def _fill_maildir(server, count: int) -> None:
    import pwd

    maildir = server.directory / "mail" / "billing" / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (maildir / "new" / f"{1700000000 + n}.bench{n}.host").write_bytes(_message(n, os.urandom))
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        for path in [maildir.parent, maildir, *maildir.rglob("*")]:
            os.chown(path, nobody.pw_uid, nobody.pw_gid)


def run() -> dict:
    from sqlalchemy import event, insert

    from tests.mail_sync.dovecot import DOVECOT, PASSWORD, USER, Dovecot

    if DOVECOT is None:
        return {"skipped": "Dovecot is not installed (apt-get install dovecot-imapd)"}
    count = int(os.environ.get("BENCH_MAIL_SYNC_MESSAGES", "10000"))
    batch = int(os.environ.get("MAIL_SYNC_BATCH", "100"))
    workdir = Path(tempfile.mkdtemp(prefix="dossier-bench-sync-"))
    server = Dovecot()
    try:
        _fill_maildir(server, count)
        from flask_migrate import upgrade

        from mailers import mail_sync
        from models.contacts import ContactPerson
        from models.customers import Customer
        from models.db import db
        from models.mailbox import ContactEmail, MailboxSettings, SyncedAttachment, SyncedEmail
        from models.services import mailbox as mailbox_service
        from web.config import normalise_database_url
        from wsgi import create_app

        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{workdir / 'sync.sqlite3'}"
        app = create_app({"SQLALCHEMY_DATABASE_URI": normalise_database_url(url), "SECRET_KEY": secrets.token_hex(32),
                          "MAILBOX_KEY": secrets.token_hex(32), "MAILBOX_CA_FILE": str(server.cert),
                          "MAIL_SYNC_BATCH": batch, "TESTING": True})
        with app.app_context():
            upgrade()
            for table in ("synced_attachments", "synced_email_links", "synced_emails", "mail_folder_states",
                          "contact_emails", "contact_persons", "mailbox_settings"):
                db.session.execute(db.text(f"DELETE FROM {table}"))
            db.session.execute(db.text("DELETE FROM customers"))
            db.session.execute(insert(Customer), [
                {"number": f"B{n:05d}", "name": f"Bench Customer {n}", "sort_key": f"bench customer {n}",
                 "email": f"customer{n}@debtors.example"} for n in range(CUSTOMERS)])
            ids = dict(db.session.execute(db.select(Customer.email, Customer.id)).all())
            db.session.execute(insert(ContactPerson), [
                {"customer_id": ids[f"customer{n}@debtors.example"], "name": f"Contact {n}",
                 "email": f"contact{n}@debtors.example"} for n in range(CUSTOMERS)])
            contacts = dict(db.session.execute(db.select(ContactPerson.email, ContactPerson.id)).all())
            db.session.execute(insert(ContactEmail), [
                {"customer_id": ids[f"customer{n}@debtors.example"], "contact_id": contacts[f"contact{n}@debtors.example"],
                 "email": f"private{n}@home.example"} for n in range(CUSTOMERS)])
            db.session.add(MailboxSettings(enabled=True, host="127.0.0.1", port=server.imaps_port, security="ssl",
                                           username=USER, password_encrypted=mailbox_service.encrypt(PASSWORD),
                                           folders="INBOX", failures=0))
            db.session.commit()

            statements: list[str] = []
            event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
            batches: list[dict] = []
            store = mail_sync._store

            def measured(*args, **kwargs):
                before = len(statements)
                store(*args, **kwargs)
                batches.append({"messages": len(args[2]), "statements": len(statements) - before, "rss": _rss_mib()})

            mail_sync._store = measured
            rss_start = _rss_mib()
            started = time.perf_counter()
            report = mail_sync.run(force=True)
            elapsed = time.perf_counter() - started
            mail_sync._store = store
            stored = db.session.scalar(db.select(db.func.count()).select_from(SyncedEmail))
            attachments = db.session.scalar(db.select(db.func.count()).select_from(SyncedAttachment))
        full = [b for b in batches if b["messages"] == batch]
        tenth = batches[max(len(batches) // 10 - 1, 0)] if batches else {"rss": rss_start}
        return {
            "benchmark": "mail sync",
            "database": url.split(":")[0],
            "messages": count,
            "outcome": report.outcome,
            "error": report.error,
            "stored": stored,
            "unmatched": report.unmatched,
            "attachments": attachments,
            "seconds": round(elapsed, 2),
            "messages_per_s": round(count / elapsed, 1) if elapsed else None,
            "batch_size": batch,
            "batches": len(batches),
            "statements_per_full_batch": sorted({b["statements"] for b in full}),
            "rss_mib_start": round(rss_start, 1),
            "rss_mib_after_first_tenth": round(tenth["rss"], 1),
            "rss_mib_end": round(batches[-1]["rss"], 1) if batches else None,
            "rss_growth_after_first_tenth_mib": round(batches[-1]["rss"] - tenth["rss"], 1) if batches else None,
        }
    finally:
        server.remove()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    result = run()
    print(json.dumps(result, indent=2))
    if "skipped" in result:
        return 0
    ok = (result["outcome"] == "synced" and result["stored"] == result["messages"]
          and len(result["statements_per_full_batch"]) == 1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
