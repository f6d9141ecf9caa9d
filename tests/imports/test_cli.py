"""`flask import customers|documents FILE` and `flask export customers|documents FILE`."""

from __future__ import annotations

import csv

from sqlalchemy import func, select

from models.customers import Customer
from models.db import db
from tests import factories
from tests.imports.conftest import encode

FILE = """Debitor;Name;E-Mail;Ort
K-1;Jan Müller;jan@example.de;Köln
K-2;Mies;mies@example.de;Bonn
K-3;Kees;kees@example;Bonn
"""


def _count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Customer))


def test_import_customers_with_progress_and_failed_rows(app, tmp_path):
    path = tmp_path / "kunden.csv"
    path.write_bytes(encode(FILE, "cp1252"))
    failed = tmp_path / "failed.csv"
    runner = app.test_cli_runner()
    result = runner.invoke(args=["import", "customers", str(path), "--failed-rows", str(failed)])
    assert result.exit_code == 1, result.output  # some rows failed
    assert "3 rows, cp1252, delimiter ';'" in result.output
    assert "'Debitor'" in result.output and "-> number" in result.output
    assert "2 created, 0 updated, 0 unchanged, 1 failed." in result.output
    assert "row 4, E-Mail: Enter a valid e-mail address." in result.output
    rows = list(csv.reader(failed.open(encoding="utf-8-sig")))
    assert rows[1][:4] == ["4", "E-Mail", "Enter a valid e-mail address.", "K-3"]
    assert _count(app) == 2
    again = runner.invoke(args=["import", "customers", str(path)])
    assert "0 created, 0 updated, 2 unchanged, 1 failed." in again.output


def test_dry_run_and_map_overrides(app, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("Code,Wie\nK-1,Jan\n", encoding="utf-8")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["import", "customers", str(path)])
    assert result.exit_code == 1 and "Choose the column with the customer number" in result.output
    result = runner.invoke(args=["import", "customers", str(path), "--map", "Code=number", "--map", "2=name",
                                 "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "Dry run, nothing saved: 1 created" in result.output
    assert _count(app) == 0
    result = runner.invoke(args=["import", "customers", str(path), "--map", "Code=numbr"])
    assert result.exit_code == 2 and "'numbr' is not a field" in result.output


def test_broken_file_is_a_clear_error(app, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('number,name\nK-1,"Jan\n', encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["import", "customers", str(path)])
    assert result.exit_code == 1 and "Line 2: the file cannot be read as CSV" in result.output


def test_export_then_import_is_all_unchanged(app, tmp_path):
    customer = factories.customer(number="K-7", name="=cmd|' /C calc'!A0", email="x@example.nl")
    factories.invoice(customer, amount="42.00")
    runner = app.test_cli_runner()
    for kind in ("customers", "documents"):
        path = tmp_path / f"{kind}.csv"
        result = runner.invoke(args=["export", kind, str(path)])
        assert result.exit_code == 0, result.output
        if kind == "customers":
            assert "'=cmd|' /C calc'!A0" in path.read_text(encoding="utf-8-sig")
        result = runner.invoke(args=["import", kind, str(path)])
        assert result.exit_code == 0, result.output
        assert "0 created, 0 updated, 1 unchanged, 0 failed." in result.output


DOCUMENTS = """Soort;Nummer;Klantnummer;Factuurdatum;Vervaldatum;Omschrijving;Aantal;Prijs;BTW
factuur;F-1;K-1;01-12-2026;31-12-2026;Advies;1;10,00;21
factuur;F-2;K-1;01-12-2026;31-12-2026;Werk;1;20,00;21
factuur;F-1;K-1;01-12-2026;31-12-2026;Reiskosten;1;5,00;21
factuur;F-3;K-1;01-12-2026;31-12-2026;Werk;1;30,00;21
factuur;F-3;K-2;01-12-2026;31-12-2026;Werk;1;40,00;21
"""


def _lines_of(app, number: str) -> list[str]:
    from models.documents import Document

    with app.app_context():
        document = db.session.scalar(select(Document).where(Document.number == number))
        return [line.description for line in document.lines] if document else []


def test_a_documents_rows_apart_or_naming_another_customer_fail_with_their_row(app, tmp_path):
    """Rows of one document further down the file used to replace its lines silently (F-1 kept
    only "Reiskosten"), and a line row naming another customer was put on the first row's."""
    factories.customer(number="K-1", name="Jan")
    factories.customer(number="K-2", name="Mies")
    path = tmp_path / "facturen.csv"
    path.write_bytes(encode(DOCUMENTS, "utf-8-sig"))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["import", "documents", str(path)])
    assert result.exit_code == 1, result.output
    assert "2 created, 0 updated, 0 unchanged, 2 failed." in result.output
    assert "row 4: The rows of document F-1 must follow each other (its first row is row 2)." in result.output
    assert "row 6, Klantnummer: This row's value differs from row 5, the document's first row." in result.output
    assert _lines_of(app, "F-1") == ["Advies"]
    assert _lines_of(app, "F-2") == ["Werk"]
    assert _lines_of(app, "F-3") == []
    again = runner.invoke(args=["import", "documents", str(path)])
    assert "0 created, 0 updated, 2 unchanged, 2 failed." in again.output
