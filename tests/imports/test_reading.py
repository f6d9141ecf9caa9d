"""Reading real exports: each encoding and dialect, decimal commas, day-first dates, broken
quotes; read in small chunks so a multi-byte character or a quoted line break can fall on a
chunk boundary."""

from __future__ import annotations

import codecs
from datetime import date
from decimal import Decimal

import pytest

from models.services.csv_import import fields, reading, values
from models.services.errors import DomainError
from tests.imports.conftest import encode

CUSTOMERS_NL = """Klantnummer;Naam;Bedrijfsnaam;E-mail;Plaats;Contactpersoon 1 naam;Contactpersoon 1 e-mail
K-1;Jan Müller;;jan@example.nl;Den Haag;Piet Ĳsselmeer;piet@example.nl
K-2;Mies;"Mies; Zonen B.V.";mies@example.nl;"Utrecht
(centrum)";;
"""
CUSTOMERS_DE = """Kundennummer,Name,Firmenname,E-Mail-Adresse,Ort,Ansprechpartner 1 Name,Ansprechpartner 1 E-Mail
K-1,Jan Müller,,jan@example.nl,Den Haag,Piet Isselmeer,piet@example.nl
K-2,Mies,"Mies, Söhne GmbH",mies@example.nl,"Utrecht
(centrum)",,
"""


def chunked(data: bytes, size: int = 7):
    return lambda: iter([data[i:i + size] for i in range(0, len(data), size)])


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "cp1252"])
@pytest.mark.parametrize("text,delimiter", [(CUSTOMERS_NL, ";"), (CUSTOMERS_DE, ","),
                                            (CUSTOMERS_DE.replace(",", "\t"), "\t")])
def test_each_encoding_and_delimiter_reads_the_same_rows(app, encoding, text, delimiter):
    if encoding == "cp1252":
        text = text.replace("Ĳ", "IJ")  # not in Windows-1252
    data = encode(text, encoding)
    with app.test_request_context():
        fmt = reading.inspect(chunked(data))
        assert fmt.delimiter == delimiter
        assert fmt.encoding == ("cp1252" if encoding == "cp1252" else "utf-8-sig")
        assert fmt.rows == 2
        rows = list(reading.rows(chunked(data), fmt))
    assert [number for number, _ in rows] == [2, 3]
    assert rows[0][1][0] == "K-1" and rows[0][1][1] == "Jan Müller"  # no BOM glued to the first cell
    assert fmt.header[0] in ("Klantnummer", "Kundennummer")
    assert rows[1][1][2] in ("Mies; Zonen B.V.", "Mies, Söhne GmbH", "Mies\t Söhne GmbH")  # the delimiter inside quotes
    assert rows[1][1][4] == "Utrecht\r\n(centrum)"  # a line break inside quotes stays in its cell
    mapping = fields.guess_mapping("customers", fmt.header)
    assert sorted(mapping.values()) == sorted(["number", "name", "company_name", "email", "city",
                                               "contact1_name", "contact1_email"])


def test_windows_1252_euro_sign_and_accents(app):
    data = encode("Klantnummer;Naam;Notitie\nK-1;Françoise Élan;€ 5\n", "cp1252")
    assert b"\x80" in data  # the euro sign is 0x80 in Windows-1252, invalid as UTF-8
    with app.test_request_context():
        fmt = reading.inspect(chunked(data))
        assert fmt.encoding == "cp1252"
        assert list(reading.rows(chunked(data), fmt))[0][1] == ["K-1", "Françoise Élan", "€ 5"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_excels_unicode_text_utf_16_with_tabs(app, encoding):
    """Excel's "Unicode Text" export: UTF-16 with a byte order mark, tab-separated. It was
    read as Windows-1252 (a NUL after every letter) and no column was recognised."""
    text = CUSTOMERS_DE.replace(",", "\t").replace("Mies\t Söhne", "Mies, Söhne")
    data = (codecs.BOM_UTF16_BE if encoding == "utf-16-be" else b"") + encode(text, encoding)
    assert data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    with app.test_request_context():
        fmt = reading.inspect(chunked(data, 1))
        assert (fmt.delimiter, fmt.rows) == ("\t", 2)
        rows = list(reading.rows(chunked(data), fmt))
    assert rows[0][1][:2] == ["K-1", "Jan Müller"] and rows[1][1][2] == "Mies, Söhne GmbH"
    assert fields.guess_mapping("customers", fmt.header)[0] == "number"


@pytest.mark.parametrize("text,decimal,expected", [
    ("1.234,56", values.COMMA, "1234.56"), ("-12,5", values.COMMA, "-12.5"), ("1234,5", values.COMMA, "1234.5"),
    ("1,234.56", values.POINT, "1234.56"), ("-0.75", values.POINT, "-0.75"), ("€ 10,00", values.COMMA, "10.00"),
])
def test_decimal_comma_or_point(app, text, decimal, expected):
    assert values.parse_decimal(text, decimal) == Decimal(expected)


@pytest.mark.parametrize("text,decimal", [
    ("12.5", values.COMMA), ("2,5", values.POINT), ("1.23,45", values.COMMA), ("1,2345.00", values.POINT),
    ("1.2.3", values.COMMA), ("1,2,3", values.POINT), ("1,234,5", values.COMMA), ("1.5.", values.COMMA),
])
def test_a_separator_that_cannot_group_thousands_is_refused(app, text, decimal):
    """Under the file's decimal comma, "12.5" was read as 125 (the point dropped as a thousands
    separator); under a decimal point "2,5" as 25: a price ten times too high, silently."""
    with app.test_request_context(), pytest.raises(values.BadValue, match="is not a number"):
        values.parse_decimal(text, decimal)


@pytest.mark.parametrize("text,decimal,expected", [
    ("1.234.567,89", values.COMMA, "1234567.89"), ("1 234,50", values.COMMA, "1234.50"), ("1234", values.COMMA, "1234"),
    ("1,234,567.89", values.POINT, "1234567.89"), ("+5", values.POINT, "5"), ("12.50 €", values.POINT, "12.50"),
])
def test_thousands_separators_in_groups_of_three(app, text, decimal, expected):
    assert values.parse_decimal(text, decimal) == Decimal(expected)


def test_the_decimal_convention_is_guessed_from_the_amounts():
    assert values.guess_decimal(["125,50", "1.234,56", "21"]) == values.COMMA
    assert values.guess_decimal(["125.50", "1,234.56", "21"]) == values.POINT


@pytest.mark.parametrize("text", ["31-12-2026", "31.12.2026", "31/12/2026", "2026-12-31", "31-12-26"])
def test_dates_day_first_or_iso(app, text):
    assert values.parse_date(text) == date(2026, 12, 31)


@pytest.mark.parametrize("text", ["12/31/2026", "2026-02-30", "morgen", "31-12"])
def test_a_month_first_or_impossible_date_is_refused(app, text):
    with app.test_request_context(), pytest.raises(values.BadValue):
        values.parse_date(text)


def test_a_quote_never_closed_is_a_clear_whole_file_error_with_its_line(app):
    data = encode('number,name\nK-1,Jan\nK-2,"Mies\nK-3,Kees\n', "utf-8")
    with app.test_request_context(), pytest.raises(DomainError) as caught:
        reading.inspect(chunked(data))
    assert caught.value.field == "file"
    assert str(caught.value.message).startswith("Line 3: the file cannot be read as CSV")
    assert "quote" in str(caught.value.message)


def test_a_quote_that_swallows_a_huge_part_of_the_file_is_stopped(app):
    body = "".join(f"K-{i},Name {i}\n" for i in range(20_000))
    data = encode('number,name\nK-0,"Open\n' + body + 'x",y\n', "utf-8")
    with app.test_request_context(), pytest.raises(DomainError) as caught:
        reading.inspect(chunked(data, 4096))
    assert str(caught.value.message).startswith("Line 2: the file cannot be read as CSV")


def test_text_after_a_closing_quote_is_reported_and_a_quote_inside_plain_text_is_text(app):
    data = encode('number,name\nK-1,Jan\nK-2,"Jan" de Vries\n', "utf-8")
    with app.test_request_context(), pytest.raises(DomainError) as caught:
        reading.inspect(chunked(data))
    assert str(caught.value.message).startswith("Line 3:")
    data = encode('number,name\nK-1,Jan "de" Vries\n', "utf-8")
    with app.test_request_context():
        fmt = reading.inspect(chunked(data))
        assert list(reading.rows(chunked(data), fmt))[0][1] == ["K-1", 'Jan "de" Vries']


def test_a_row_with_more_cells_than_the_header_is_a_row_error(app):
    data = encode("number,name\nK-1,Jan\nK-2,Mies,extra\n", "utf-8")
    with app.test_request_context():
        fmt = reading.inspect(chunked(data))
        converter = fields.Converter("customers", fmt.header, {0: "number", 1: "name"}, values.POINT)
        records = list(converter.records(reading.rows(chunked(data), fmt)))
    assert records[0].error is None and records[0].data == {"number": "K-1", "name": "Jan"}
    assert records[1].error.row == 3 and "3 cells where the header names 2 columns" in records[1].error.message


def test_empty_and_headerless_files_are_refused(app):
    with app.test_request_context():
        for data in (b"", b"\r\n\r\n", "\ufeff".encode()):
            with pytest.raises(DomainError, match="empty"):
                reading.inspect(chunked(data))


def test_blank_lines_are_skipped_and_row_numbers_stay_those_of_a_spreadsheet(app):
    data = encode("number,name\nK-1,Jan\n\nK-2,Mies\n", "utf-8")
    with app.test_request_context():
        fmt = reading.inspect(chunked(data))
        assert fmt.rows == 2
        assert [n for n, _ in reading.rows(chunked(data), fmt)] == [2, 4]
        assert [n for n, _ in reading.rows(chunked(data), fmt, start_after=2)] == [4]


def test_documents_group_consecutive_rows_into_lines(app):
    data = encode("Soort;Factuurnummer;Klantnummer;Factuurdatum;Omschrijving;Aantal;Prijs;BTW %\n"
                  "factuur;F-1;K-1;01.11.2026;Consult;2;125,50;21\n"
                  "factuur;F-1;K-1;01.11.2026;Reis;1;1.234,56;9\n"
                  "creditnota;F-1;K-1;02.11.2026;Retour;1;10;21\n"
                  "factuur;F-2;K-1;31-13-2026;X;1;1;21\n"
                  "factuur;F-2;K-1;01.11.2026;Y;1;1;21\n", "utf-8")
    with app.test_request_context():
        fmt = reading.inspect(chunked(data))
        mapping = fields.guess_mapping("documents", fmt.header)
        converter = fields.Converter("documents", fmt.header, mapping, values.COMMA)
        records = list(converter.records(reading.rows(chunked(data), fmt)))
    assert [r.rows for r in records] == [[2, 3], [4], [5, 6]]
    first = records[0].data
    assert first["kind"] == "invoice" and first["number"] == "F-1" and first["customer_number"] == "K-1"
    assert first["issue_date"] == date(2026, 11, 1)
    assert first["lines"] == [
        {"description": "Consult", "quantity": Decimal("2"), "unit_price": Decimal("125.50"), "vat_rate": Decimal("21")},
        {"description": "Reis", "quantity": Decimal("1"), "unit_price": Decimal("1234.56"), "vat_rate": Decimal("9")},
    ]
    assert records[1].data["kind"] == "credit_note"  # same number, another kind: another document
    assert records[2].error.row == 5 and records[2].error.column == "Factuurdatum"  # one bad row fails its document


@pytest.mark.parametrize("cell,expected", [
    ("=HYPERLINK(\"http://evil.example\",\"klik\")", "'=HYPERLINK(\"http://evil.example\",\"klik\")"),
    ("+31 6 1234", "'+31 6 1234"), ("-cmd", "'-cmd"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("-12.50", "-12.50"), ("Jan", "Jan"), (None, ""),
])
def test_export_cells_never_start_a_formula(cell, expected):
    assert values.safe_cell(cell) == expected
    if cell:
        assert values.unescape(values.safe_cell(cell)) == cell  # the import reads back what was exported
