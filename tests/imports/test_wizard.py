"""The admin wizard, read by label text: upload, mapping with the guess and a preview, the
dry run and the import as RQ jobs run by a real worker (burst), the progress fragment the
page polls, the result and the failed rows as CSV; Redis down; the upload's errors."""

from __future__ import annotations

import csv
import io

from bs4 import BeautifulSoup
from sqlalchemy import func, select

from mailers import worker as mail_worker
from models.customers import Customer
from models.db import db
from models.imports import ImportJob, ImportStatus
from tests.conftest import field_error, input_value, soup_of
from tests.imports.conftest import DEAD_REDIS, encode, queued_import_ids

FILE = """Klantnummer;Naam;E-mail;Plaats;Contactpersoon 1 naam;Contactpersoon 1 e-mail;Omzet
K-1;Jan Jansen;jan@example.nl;Den Haag;Piet;piet@example.nl;1.234,50
K-2;Mies Bäcker;mies@example.nl;Utrecht;;;99,00
K-3;;kees@example.nl;Delft;;;0
"""


def _upload(client, data: bytes, kind: str = "customers", name: str = "klanten.csv"):
    return client.post("/admin/import", data={"kind": kind, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def _job(app) -> ImportJob:
    with app.app_context():
        return db.session.scalars(select(ImportJob).order_by(ImportJob.id.desc())).first()


def _mapping_form(soup: BeautifulSoup) -> dict:
    """What the browser would post: every select's selected option and the checked radio."""
    data = {}
    for select_ in soup.select("form select"):
        chosen = select_.find("option", selected=True)
        data[select_["name"]] = chosen["value"] if chosen else ""
    for radio in soup.select("form input[type=radio][checked]"):
        data[radio["name"]] = radio["value"]
    return data


def _count_customers(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Customer))


def test_the_whole_wizard_with_a_real_worker(import_app, owner_client, run_worker):
    app = import_app
    page = owner_client.soup("/admin/import")
    assert page.find("label", string=lambda s: s and s.strip() == "CSV file")
    assert page.find("button", string="Upload and map the columns") or page.find("input", value="Upload and map the columns")

    response = _upload(owner_client, encode(FILE, "cp1252"))
    assert response.status_code == 302
    mapping_url = response.headers["Location"]
    soup = owner_client.soup(mapping_url)
    assert "3 rows" in soup.get_text() and "Windows-1252" in soup.get_text() and "semicolon" in soup.get_text()
    # The guess, by the column names the file uses.
    assert input_value(soup, "Klantnummer") == "number"
    assert input_value(soup, "Naam") == "name"
    assert input_value(soup, "Contactpersoon 1 e-mail") == "contact1_email"
    assert input_value(soup, "Omzet") == ""  # not a customer field: not imported
    assert soup.find("input", {"name": "decimal", "value": "point"}).has_attr("checked")  # no amounts mapped
    preview = soup.find("table")
    assert [th.get_text() for th in preview.find_all("th")][:2] == ["Klantnummer", "Naam"]
    assert preview.find("td", string="Jan Jansen")

    # Saving the mapping queues the dry run; the page polls while it waits.
    response = owner_client.post(mapping_url, data=_mapping_form(soup))
    assert response.status_code == 302
    status_url = response.headers["Location"]
    job = _job(app)
    assert queued_import_ids(app) == [job.id]
    soup = owner_client.soup(status_url)
    progress = soup.find(id="import-progress")
    assert progress["hx-trigger"] == "every 1s" and progress["hx-get"] == status_url
    assert "Dry run waiting to start" in progress.get_text()
    # The same view answers the HTMX poll with the fragment only.
    fragment = owner_client.get(status_url, headers={"HX-Request": "true"})
    assert fragment.data.lstrip().startswith(b'<div id="import-progress"')

    run_worker()
    assert _count_customers(app) == 0  # a dry run
    soup = owner_client.soup(status_url)
    progress = soup.find(id="import-progress")
    assert not progress.has_attr("hx-trigger")  # finished: the polling stops
    assert "Dry run finished" in progress.get_text() and "This was a dry run: nothing was saved." in progress.get_text()
    facts = {dt.get_text(strip=True): dt.find_next("dd").get_text(strip=True) for dt in progress.find_all("dt")}
    assert facts == {"Would be created": "2", "Would be updated": "0", "Unchanged": "0", "Failed": "1"}
    row = progress.find("table").find("tbody").find("tr")
    assert [td.get_text(strip=True) for td in row.find_all("td")] == ["4", "Naam", "This field is required."]

    # Import now.
    form = progress.find("button", string="Import now").find_parent("form")
    response = owner_client.post(form["action"], data={"dry_run": "0"})
    assert response.status_code == 302
    run_worker()
    soup = owner_client.soup(status_url)
    progress = soup.find(id="import-progress")
    assert "Imported" in progress.find("h2").get_text()
    facts = {dt.get_text(strip=True): dt.find_next("dd").get_text(strip=True) for dt in progress.find_all("dt")}
    assert facts == {"Created": "2", "Updated": "0", "Unchanged": "0", "Failed": "1"}
    assert _count_customers(app) == 2

    # The failed rows as CSV, to fix and import again.
    link = progress.find("a", string="Download the failed rows as CSV")
    download = owner_client.get(link["href"])
    assert download.status_code == 200 and download.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(download.data.decode("utf-8-sig"))))
    assert rows[0][:4] == ["row", "error column", "error", "Klantnummer"]
    assert rows[1][:5] == ["4", "Naam", "This field is required.", "K-3", ""]

    # The same file again: nothing changes.
    response = _upload(owner_client, encode(FILE, "cp1252"))
    soup = owner_client.soup(response.headers["Location"])
    response = owner_client.post(response.headers["Location"], data=_mapping_form(soup))
    run_worker()
    job = _job(app)
    response = owner_client.post(f"/admin/import/{job.id}/run", data={"dry_run": "0"})
    run_worker()
    job = _job(app)
    assert (job.status, job.created, job.updated, job.unchanged, job.failed) == (ImportStatus.done, 0, 0, 2, 1)


def test_redis_down_the_import_waits_and_the_page_says_so(import_app, owner_client, run_worker):
    app = import_app
    working = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = DEAD_REDIS
    app.extensions.pop("dossier_redis", None)
    response = _upload(owner_client, encode(FILE, "utf-8"))
    mapping_url = response.headers["Location"]
    response = owner_client.post(mapping_url, data=_mapping_form(owner_client.soup(mapping_url)))
    assert response.status_code == 302  # no 5xx
    soup = owner_client.soup(response.headers["Location"])
    assert "The job queue cannot be reached right now." in soup.get_text()
    progress = soup.find(id="import-progress")
    assert "The job queue (Redis) cannot be reached." in progress.get_text()
    assert progress["hx-trigger"] == "every 1s"  # the page keeps asking
    job = _job(app)
    assert job.status == ImportStatus.queued
    # Redis is back: the worker's periodic flush puts the waiting job on the queue, and it runs.
    app.config["REDIS_URL"] = working
    app.extensions.pop("dossier_redis", None)
    with app.app_context():
        assert queued_import_ids(app) == []
        mail_worker.flush()
        assert queued_import_ids(app) == [job.id]
        mail_worker.flush()  # a second flush does not queue it twice
        assert queued_import_ids(app) == [job.id]
    run_worker()
    job = _job(app)
    assert (job.status, job.dry_run, job.created, job.failed) == (ImportStatus.done, True, 2, 1)


def test_upload_errors_are_shown_at_the_field(owner_client, app):
    response = owner_client.post("/admin/import", data={"kind": "customers"}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert field_error(soup_of(response), "CSV file") == "Choose a CSV file."
    response = _upload(owner_client, encode('number,name\nK-1,"Jan\n', "utf-8"))
    assert response.status_code == 422
    assert field_error(soup_of(response), "CSV file").startswith("Line 2: the file cannot be read as CSV")
    response = _upload(owner_client, b"")
    assert response.status_code == 422 and field_error(soup_of(response), "CSV file") == "The file is empty."
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ImportJob)) == 0  # nothing kept


def test_an_upload_over_the_limit_is_a_413_not_a_500(owner_client, app, monkeypatch):
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", 1024)
    response = _upload(owner_client, b"number,name\r\n" + b"K-1,Jan\r\n" * 500)
    assert response.status_code == 413
    assert "The upload is too large." in soup_of(response).get_text()
    # Bigger than any other form may be: 5 MB passes where MAX_CONTENT_LENGTH (4 MB) would refuse it.
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", 8 * 1024 * 1024)
    big = b"number,name\r\n" + b"".join(b"K-%07d,Name %07d\r\n" % (i, i) for i in range(230_000))
    assert len(big) > 4 * 1024 * 1024
    response = _upload(owner_client, big)
    assert response.status_code == 302


def test_a_mapping_without_the_customer_number_is_refused(owner_client, app):
    response = _upload(owner_client, encode(FILE, "utf-8"))
    mapping_url = response.headers["Location"]
    data = _mapping_form(owner_client.soup(mapping_url))
    data["column_0"] = ""
    response = owner_client.post(mapping_url, data=data)
    assert response.status_code == 422
    assert "Choose the column with the customer number or the external id" in soup_of(response).get_text()
    assert _job(app).status == ImportStatus.uploaded


def test_export_buttons_on_the_lists_for_managers_only(owner_client, employee_client):
    soup = owner_client.soup("/admin/customers")
    assert soup.find("a", string="Export customers as CSV")["href"] == "/admin/export/customers.csv"
    assert soup.find("a", string="Import from CSV")
    assert owner_client.soup("/admin/invoices").find("a", string="Export documents as CSV")
    assert employee_client.soup("/admin/customers").find("a", string="Export customers as CSV") is None
    assert employee_client.get("/admin/export/customers.csv").status_code == 403
    response = owner_client.get("/admin/export/customers.csv")
    assert response.status_code == 200 and response.headers["Content-Disposition"] == 'attachment; filename="customers.csv"'


def test_the_polled_page_issues_a_bounded_number_of_queries(import_app, owner_client, run_worker):
    """However many rows failed, the status page (and its one-second poll) reads the job and
    at most FAILURES_SHOWN failures: the same statements for 3 failed rows as for 300."""
    from tests.conftest import count_queries

    counts = []
    for bad in (3, 300):
        body = "number,name\n" + "".join(f"K-{i},\n" for i in range(bad)) + "K-ok,Fine\n"
        response = _upload(owner_client, body.encode())
        mapping_url = response.headers["Location"]
        response = owner_client.post(mapping_url, data=_mapping_form(owner_client.soup(mapping_url)))
        run_worker()
        status_url = response.headers["Location"]
        assert "Dry run finished" in owner_client.soup(status_url).get_text()
        with count_queries(import_app) as statements:
            page = owner_client.get(status_url, headers={"HX-Request": "true"})
        assert page.status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1] and counts[0] <= 8, counts


def test_the_worker_command_runs_imports(import_app, owner_client):
    """`flask --app wsgi worker --burst`, as deployed, listens to the imports queue too."""
    from tests.mailers.conftest import flask_cli

    response = _upload(owner_client, encode(FILE, "utf-8"))
    mapping_url = response.headers["Location"]
    owner_client.post(mapping_url, data=_mapping_form(owner_client.soup(mapping_url)))
    job = _job(import_app)
    assert queued_import_ids(import_app) == [job.id]
    result = flask_cli(import_app, "worker", "--burst", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    job = _job(import_app)
    assert (job.status, job.dry_run, job.created, job.failed) == (ImportStatus.done, True, 2, 1)
