"""What a CSV column can hold, the guess from header names, and rows to intake records.

A mapping is {column index: field key}. Field keys are also the export's header names, so
an exported file maps itself. Contact persons sit in repeated columns (`contact1_name`,
`contact1_email`, … up to the ten a customer may have); a document spans consecutive rows,
one per line, that share its kind and number.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l

from sqlalchemy import select

from models.contacts import MAX_CONTACTS_PER_CUSTOMER, ContactRole
from models.customers import CustomFieldDefinition
from models.db import db
from models.documents import DocumentKind
from models.services.csv_import import values
from models.services.csv_import.values import BadValue

CUSTOMERS, DOCUMENTS = "customers", "documents"
KINDS = (CUSTOMERS, DOCUMENTS)


@dataclass(frozen=True, slots=True)
class Field:
    key: str
    label: Any  # lazy string
    type: str = "text"  # text | decimal | date | list | kind
    synonyms: tuple[str, ...] = ()


CUSTOMER_FIELDS = (
    Field("number", _l("Customer number"), synonyms=(
        "klantnummer", "klantnr", "klant nr", "debiteurnummer", "debiteurnr", "relatienummer", "kundennummer",
        "kundennr", "kunden nr", "debitorennummer", "debitor", "customer number", "customer no", "customer nr",
        "customer id", "account number", "nummer", "nr", "no")),
    Field("external_id", _l("External id"), synonyms=("externe id", "extern id", "externe referentie", "externe nummer",
                                                      "guid", "uuid", "externe kennung", "fremd id")),
    Field("kind", _l("Individual or company"), "kind", synonyms=("soort", "soort klant", "type", "klanttype",
                                                                   "kundentyp", "kundenart", "art", "customer type")),
    Field("name", _l("Name"), synonyms=("naam", "volledige naam", "contactnaam", "name", "vollständiger name",
                                        "full name", "customer name", "klantnaam", "kundenname")),
    Field("company_name", _l("Company name"), synonyms=("bedrijfsnaam", "bedrijf", "firma", "firmenname",
                                                        "unternehmen", "company", "organisation", "organization")),
    Field("email", _l("E-mail address"), synonyms=("e mail", "email", "e mailadres", "emailadres", "mail",
                                                   "e mail adresse", "email address", "e mail address")),
    Field("phone", _l("Phone"), synonyms=("telefoon", "telefoonnummer", "tel", "telefon", "telefonnummer",
                                          "phone number", "mobile", "mobiel")),
    Field("street", _l("Street and number"), synonyms=("straat", "adres", "straat en huisnummer", "strasse",
                                                       "straße", "anschrift", "address", "street address")),
    Field("postal_code", _l("Postal code"), synonyms=("postcode", "plz", "postleitzahl", "zip", "zip code",
                                                      "postal code", "postcode plaats")),
    Field("city", _l("City"), synonyms=("plaats", "woonplaats", "stad", "ort", "stadt", "town")),
    Field("country", _l("Country"), synonyms=("land", "landcode", "country code")),
    Field("language", _l("Language"), synonyms=("taal", "sprache", "language code")),
    Field("vat_id", _l("VAT id"), synonyms=("btw nummer", "btw nr", "btw id", "btw identificatienummer",
                                            "ust id", "ust idnr", "ustidnr", "umsatzsteuer id", "vat number", "vat")),
    Field("tax_number", _l("Tax number"), synonyms=("fiscaal nummer", "steuernummer", "tax id")),
    Field("iban", _l("IBAN"), synonyms=("rekeningnummer", "bankrekening", "bankrekeningnummer", "kontonummer",
                                        "bank account", "account")),
    Field("bic", _l("BIC"), synonyms=("swift", "bic swift", "swift bic")),
    Field("bank_holder", _l("Account holder"), synonyms=("tenaamstelling", "rekeninghouder", "kontoinhaber",
                                                          "account holder", "bank holder")),
    Field("tags", _l("Tags (separated by commas)"), "list", synonyms=("labels", "label", "groepen", "schlagworte",
                                                                      "tag")),
    Field("portal_access", _l("Portal access (yes or no)"), "bool", synonyms=("portaal", "portaaltoegang",
                                                                             "portalzugang", "portal")),
)

CONTACT_PARTS = {
    "name": (_l("name"), ("name", "naam")),
    "email": (_l("e-mail address"), ("email", "e mail", "mail", "e mailadres", "emailadres")),
    "phone": (_l("phone"), ("phone", "telefoon", "telefon", "tel")),
    "role": (_l("role"), ("role", "rol", "rolle", "functie", "funktion")),
    "invoice_emails": (_l("gets invoice e-mails (yes or no)"), ("invoice emails", "facturen", "rechnungen")),
    "account_emails": (_l("gets account e-mails (yes or no)"), ("account emails", "account", "konto")),
}
CONTACT_BOOLS = ("invoice_emails", "account_emails")
_CONTACT_HEADER = re.compile(r"^(?:contact|contactpersoon|contact person|ansprechpartner|kontakt)\s*(\d+)\s*(.+)$")


def _contact_fields() -> tuple[Field, ...]:
    out = []
    for n in range(1, MAX_CONTACTS_PER_CUSTOMER + 1):
        for part, (label, _synonyms) in CONTACT_PARTS.items():
            out.append(Field(f"contact{n}_{part}", _l("Contact person %(n)s: %(part)s", n=n, part=label),
                             "bool" if part in CONTACT_BOOLS else "text"))
    return tuple(out)


CONTACT_FIELDS = _contact_fields()

DOCUMENT_FIELDS = (
    Field("kind", _l("Kind of document"), "kind", synonyms=("soort", "documentsoort", "type", "belegart", "art",
                                                            "dokumentart", "document type")),
    Field("number", _l("Document number"), synonyms=(
        "factuurnummer", "factuurnr", "documentnummer", "nummer", "nr", "rechnungsnummer", "rechnungsnr",
        "belegnummer", "invoice number", "invoice no", "document no", "no")),
    Field("external_id", _l("External id"), synonyms=("externe id", "extern id", "guid", "uuid")),
    Field("customer_number", _l("Customer number"), synonyms=(
        "klantnummer", "klantnr", "debiteurnummer", "debiteurnr", "relatienummer", "kundennummer", "kundennr",
        "debitorennummer", "debitor", "customer number", "customer no", "customer")),
    Field("customer_external_id", _l("Customer's external id"), synonyms=("klant externe id", "customer external id")),
    Field("status", _l("Status"), "status", synonyms=("staat", "zahlstatus", "betaalstatus")),
    Field("issue_date", _l("Issue date"), "date", synonyms=(
        "factuurdatum", "datum", "documentdatum", "rechnungsdatum", "belegdatum", "invoice date", "date")),
    Field("due_date", _l("Due date"), "date", synonyms=("vervaldatum", "uiterste betaaldatum", "fällig am",
                                                        "fälligkeitsdatum", "fällig", "faellig", "due")),
    Field("valid_until", _l("Valid until"), "date", synonyms=("geldig tot", "gültig bis", "expiry date")),
    Field("currency", _l("Currency"), synonyms=("valuta", "munteenheid", "währung", "waehrung")),
    Field("language", _l("Language"), synonyms=("taal", "sprache")),
    Field("net_total", _l("Net total"), "decimal", synonyms=("netto", "totaal netto", "nettobetrag", "net",
                                                             "subtotal", "subtotaal")),
    Field("tax_total", _l("VAT total"), "decimal", synonyms=("btw bedrag", "totaal btw", "mwst betrag",
                                                             "steuerbetrag", "tax", "vat amount")),
    Field("gross_total", _l("Total"), "decimal", synonyms=("totaal", "bedrag", "totaalbedrag", "brutto",
                                                           "bruttobetrag", "gesamtbetrag", "betrag", "gross", "amount")),
    Field("amount_paid", _l("Amount paid"), "decimal", synonyms=("betaald", "betaald bedrag", "bezahlt",
                                                                 "paid")),
    Field("related_number", _l("Related document number"), synonyms=("gerelateerd document", "bezug",
                                                                      "original invoice", "credited invoice")),
    Field("reminder_level", _l("Reminder level (1-3)"), "int", synonyms=("aanmaningsniveau", "mahnstufe",
                                                                          "level")),
    Field("fee", _l("Reminder fee"), "decimal", synonyms=("kosten", "aanmaningskosten", "mahngebühr")),
    Field("interest", _l("Interest"), "decimal", synonyms=("rente", "zinsen")),
    Field("invoice_numbers", _l("Invoices reminded of (separated by commas)"), "list",
          synonyms=("facturen", "rechnungen")),
    Field("released_to_portal", _l("Shown in the portal (yes or no)"), "bool", synonyms=("zichtbaar in portaal",
                                                                                          "im portal")),
    Field("notes", _l("Notes"), synonyms=("opmerking", "opmerkingen", "notitie", "bemerkung", "anmerkung", "note")),
    Field("line_description", _l("Line: description"), synonyms=(
        "omschrijving", "beschrijving", "artikel", "product", "bezeichnung", "beschreibung", "leistung",
        "description", "item")),
    Field("line_quantity", _l("Line: quantity"), "decimal", synonyms=("aantal", "hoeveelheid", "menge", "anzahl",
                                                                       "quantity", "qty")),
    Field("line_unit_price", _l("Line: unit price"), "decimal", synonyms=(
        "prijs", "stukprijs", "eenheidsprijs", "prijs per stuk", "einzelpreis", "preis", "stückpreis",
        "unit price", "price")),
    Field("line_vat_rate", _l("Line: VAT rate (%)"), "decimal", synonyms=(
        "btw", "btw %", "btw tarief", "btw percentage", "mwst", "mwst %", "ust", "ust %", "steuersatz",
        "vat", "vat %", "vat rate", "tax rate")),
)
LINE_PARTS = ("description", "quantity", "unit_price", "vat_rate")
TOTAL_PARTS = {"net_total": "net", "tax_total": "tax", "gross_total": "gross"}
# Fields that name a record or cannot be emptied: an empty cell leaves them out (the stored
# value stays, or the default applies) instead of clearing them.
OMIT_WHEN_EMPTY = frozenset({
    "number", "external_id", "kind", "country", "language", "portal_access", "currency", "status", "issue_date",
    "customer_number", "customer_external_id", "released_to_portal", "reminder_level",
})

DOCUMENT_COLUMNS = tuple(f.key for f in DOCUMENT_FIELDS)
CUSTOMER_COLUMNS = tuple(f.key for f in CUSTOMER_FIELDS)

CUSTOMER_KIND_VALUES = {
    "individual": "individual", "particulier": "individual", "privé": "individual", "prive": "individual",
    "privat": "individual", "privatperson": "individual", "person": "individual", "b2c": "individual",
    "company": "company", "bedrijf": "company", "zakelijk": "company", "organisatie": "company",
    "firma": "company", "unternehmen": "company", "geschäftskunde": "company", "business": "company", "b2b": "company",
}
DOCUMENT_KIND_VALUES = {
    **{k.value: k.value for k in DocumentKind},
    "factuur": "invoice", "rechnung": "invoice", "credit note": "credit_note", "creditnota": "credit_note",
    "creditfactuur": "credit_note", "gutschrift": "credit_note", "offerte": "quote", "angebot": "quote",
    "herinnering": "reminder", "aanmaning": "reminder", "mahnung": "reminder", "zahlungserinnerung": "reminder",
    "orderbevestiging": "order_confirmation", "auftragsbestätigung": "order_confirmation",
    "order confirmation": "order_confirmation", "pakbon": "delivery_note", "lieferschein": "delivery_note",
    "delivery note": "delivery_note",
}
STATUS_VALUES = {
    "concept": "draft", "entwurf": "draft", "openstaand": "open", "offen": "open", "deels betaald": "partially_paid",
    "gedeeltelijk betaald": "partially_paid", "teilweise bezahlt": "partially_paid", "teilbezahlt": "partially_paid",
    "betaald": "paid", "bezahlt": "paid", "geannuleerd": "cancelled", "storniert": "cancelled",
    "canceled": "cancelled", "geaccepteerd": "accepted", "angenommen": "accepted", "afgewezen": "rejected",
    "abgelehnt": "rejected", "verzonden": "issued", "ausgestellt": "issued", "partially paid": "partially_paid",
}
BOOL_VALUES = {"yes": True, "ja": True, "true": True, "1": True, "y": True, "j": True, "x": True,
               "no": False, "nee": False, "nein": False, "false": False, "0": False, "n": False}
CUSTOM_PREFIX = "custom:"


def custom_labels() -> list[str]:
    """The custom fields defined in the settings: each is a customer column of its own."""
    return list(db.session.scalars(select(CustomFieldDefinition.label).order_by(
        CustomFieldDefinition.position, CustomFieldDefinition.id)))


def fields_for(kind: str, custom: Iterable[str] = ()) -> tuple[Field, ...]:
    if kind != CUSTOMERS:
        return DOCUMENT_FIELDS
    return CUSTOMER_FIELDS + tuple(Field(CUSTOM_PREFIX + label, label) for label in custom) + CONTACT_FIELDS


def field_labels(kind: str, custom: Iterable[str] = ()) -> dict[str, Any]:
    return {f.key: f.label for f in fields_for(kind, custom)}


def normalise(header: str) -> str:
    """Lower case, accents kept (ß, ä matter in German), separators as single spaces."""
    text = unicodedata.normalize("NFC", header).strip().lower().lstrip("\ufeff")
    text = re.sub(r"[_\-./#:()\[\]]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _contact_key(norm: str) -> str | None:
    match = _CONTACT_HEADER.match(norm)
    if not match or not 1 <= int(match.group(1)) <= MAX_CONTACTS_PER_CUSTOMER:
        return None
    for part, (_label, synonyms) in CONTACT_PARTS.items():
        if match.group(2).strip() in synonyms:
            return f"contact{int(match.group(1))}_{part}"
    return None


def guess_mapping(kind: str, header: list[str], custom: Iterable[str] = ()) -> dict[int, str]:
    """Column index → field key, from the header's names: the field's key (an export), its
    English label, or a Dutch, German or English synonym. Each field at most once, the
    first column that names it winning."""
    names: dict[str, str] = {}
    for f in fields_for(kind, custom):
        for name in (f.key, str(f.label), *f.synonyms):
            names.setdefault(normalise(name), f.key)
    mapping: dict[int, str] = {}
    taken: set[str] = set()
    for index, column in enumerate(header):
        norm = normalise(column)
        key = names.get(norm) or (_contact_key(norm) if kind == CUSTOMERS else None)
        if key and key not in taken:
            mapping[index] = key
            taken.add(key)
    return mapping


def check_mapping(kind: str, mapping: dict[int, str]) -> list[str]:
    """What the mapping lacks: messages, empty when it can be imported."""
    keys = set(mapping.values())
    problems = []
    if len(keys) != len(mapping):
        problems.append(str(_l("Each field can be chosen for one column only.")))
    if kind == CUSTOMERS:
        if not keys & {"number", "external_id"}:
            problems.append(str(_l("Choose the column with the customer number or the external id: it is how "
                                   "a customer already here is found again.")))
        if not keys & {"name", "company_name"}:
            problems.append(str(_l("Choose the column with the name or the company name.")))
    else:
        if not keys & {"number", "external_id"}:
            problems.append(str(_l("Choose the column with the document number or the external id.")))
        if not keys & {"customer_number", "customer_external_id"}:
            problems.append(str(_l("Choose the column with the customer number or the customer's external id.")))
    return problems


def decimal_samples(kind: str, mapping: dict[int, str], rows: Iterable[list[str]]) -> list[str]:
    amounts = {f.key for f in DOCUMENT_FIELDS if f.type == "decimal"}
    columns = [i for i, key in mapping.items() if key in amounts]
    return [cells[i] for cells in rows for i in columns if i < len(cells) and cells[i].strip()]


# --------------------------------------------------------------------------- rows to records


class RowError(Exception):
    """A row that cannot be imported: its spreadsheet row number, the column, why."""

    def __init__(self, row: int, column: str | None, message: str):
        super().__init__(message)
        self.row, self.column, self.message = row, column, message


@dataclass(slots=True)
class Record:
    """One customer or document to upsert, with the rows it came from; `error` when its
    cells could not be read (nothing to upsert then)."""

    data: dict
    rows: list[int]
    cells: list[list[str]] = field(default_factory=list)
    error: RowError | None = None
    line_rows: list[int] = field(default_factory=list)  # the row of each line (documents)

    def row_of(self, error_field: str | None) -> int:
        """The row an intake error concerns: a line's own row, else the record's first."""
        if error_field and (match := re.match(r"^lines\[(\d+)\]", str(error_field))):
            index = int(match.group(1))
            if index < len(self.line_rows):
                return self.line_rows[index]
        return self.rows[0]


# A document's fields every one of its rows must agree on when they give them.
GROUP_CHECKED = ("customer_number", "customer_external_id", "currency")


class Converter:
    """Turns cells into intake records (models.services.intake's shape) under one mapping
    and decimal convention."""

    def __init__(self, kind: str, header: list[str], mapping: dict[int, str], decimal: str,
                 custom: Iterable[str] = ()):
        self.kind, self.header, self.decimal = kind, header, decimal
        self.mapping = {int(i): key for i, key in mapping.items() if key}
        self.column_of = {key: header[i] for i, key in self.mapping.items()}
        self.types = {f.key: f.type for f in fields_for(kind, custom)}
        self.contact_slots = sorted({int(m.group(1)) for key in self.mapping.values()
                                     if (m := re.match(r"^contact(\d+)_", key))})

    def column(self, key: str | None) -> str | None:
        """The CSV column an intake error's field came from ("contact_persons[0].email",
        "lines[2].unit_price", "totals.gross", "custom_fields.Label", …)."""
        if not key:
            return None
        key = str(key)
        if key in self.column_of:
            return self.column_of[key]
        if match := re.match(r"^contact_persons\[(\d+)\]\.?(\w*)", key):
            index, part = int(match.group(1)), match.group(2) or "email"
            slot = self.contact_slots[index] if index < len(self.contact_slots) else index + 1
            return self.column_of.get(f"contact{slot}_{part}")
        if match := re.match(r"^lines\[\d+\]\.(\w+)", key):
            return self.column_of.get(f"line_{match.group(1)}")
        if match := re.match(r"^totals\.(\w+)", key):
            return self.column_of.get(f"{match.group(1)}_total")
        if key.startswith("custom_fields."):
            return self.column_of.get(CUSTOM_PREFIX + key.split(".", 1)[1]) or key
        return key  # a field no column is mapped to (e.g. a quote's valid_until): named as intake names it

    def _values(self, number: int, cells: list[str]) -> dict[str, Any]:
        if len(cells) > len(self.header) and any(c.strip() for c in cells[len(self.header):]):
            raise RowError(number, None, str(_l(
                "This row has %(cells)s cells where the header names %(columns)s columns (a quote not closed, "
                "or a delimiter inside a cell without quotes?).", cells=len(cells), columns=len(self.header))))
        out: dict[str, Any] = {}
        for index, key in self.mapping.items():
            text = values.unescape(cells[index].strip())
            if not text:
                if key not in OMIT_WHEN_EMPTY:
                    out[key] = None
                continue
            kind = self.types.get(key, "text")
            try:
                out[key] = self._parse(kind, text)
            except BadValue as error:
                raise RowError(number, self.header[index], str(error)) from None
        return out

    def _parse(self, kind: str, text: str) -> Any:
        if kind == "decimal":
            return values.parse_decimal(text, self.decimal)
        if kind == "date":
            return values.parse_date(text)
        if kind == "int":
            try:
                return int(text)
            except ValueError:
                raise BadValue(str(_l("%(value)s is not a whole number", value=text))) from None
        if kind == "list":
            return [t.strip() for t in re.split(r"[,;|]", text) if t.strip()]
        if kind == "bool":
            if text.lower() not in BOOL_VALUES:
                raise BadValue(str(_l("%(value)s is neither yes nor no", value=text)))
            return BOOL_VALUES[text.lower()]
        if kind == "kind":
            table = CUSTOMER_KIND_VALUES if self.kind == CUSTOMERS else DOCUMENT_KIND_VALUES
            return table.get(text.lower(), text)
        if kind == "status":
            return STATUS_VALUES.get(text.lower(), text.lower())
        return text

    # ------------------------------------------------------------------ customers

    def customer(self, number: int, cells: list[str]) -> Record:
        found = self._values(number, cells)
        data: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        for key, value in found.items():
            if key.startswith(CUSTOM_PREFIX):
                custom[key[len(CUSTOM_PREFIX):]] = value
            elif not key.startswith("contact"):
                data[key] = value
        if "tags" in data and data["tags"] is None:
            data["tags"] = []
        if custom:
            data["custom_fields"] = custom
        if self.contact_slots:
            people = []
            for n in self.contact_slots:
                person = {part: found.get(f"contact{n}_{part}") for part in CONTACT_PARTS
                          if f"contact{n}_{part}" in found}
                if not any(v for k, v in person.items() if k not in CONTACT_BOOLS):
                    continue  # an empty slot
                if person.get("role"):
                    person["role"] = _role(person["role"])
                people.append({k: v for k, v in person.items() if v is not None})
            data["contact_persons"] = people
        return Record(data=data, rows=[number], cells=[cells])

    # ------------------------------------------------------------------ documents

    def document(self, group: list[tuple[int, list[str], dict[str, Any]]]) -> Record:
        """One document from its rows: the document's fields from the first row, a line
        from every row that has any line cell."""
        first = group[0][2]
        data = {k: v for k, v in first.items() if not k.startswith("line_") and k not in TOTAL_PARTS}
        data.setdefault("kind", "invoice")
        totals = {part: first.get(key) for key, part in TOTAL_PARTS.items() if key in first}
        if any(v is not None for v in totals.values()):
            data["totals"] = totals
        lines, line_rows = [], []
        for number, _cells, found in group:
            if any(found.get(f"line_{part}") is not None for part in LINE_PARTS):
                line = {part: found.get(f"line_{part}") for part in LINE_PARTS}
                lines.append({k: v for k, v in line.items() if v is not None})
                line_rows.append(number)
        if lines or any(k.startswith("line_") for k in self.mapping.values()) and "totals" not in data:
            data["lines"] = lines
        return Record(data=data, rows=[n for n, _c, _f in group], cells=[c for _n, c, _f in group],
                      line_rows=line_rows)

    def _group_key(self, cells: list[str]) -> tuple[str, str, str]:
        raw = {k: values.unescape(cells[i].strip()) for i, k in self.mapping.items()
               if k in ("kind", "number", "external_id")}
        kind = raw.get("kind") or "invoice"
        return DOCUMENT_KIND_VALUES.get(kind.lower(), kind), raw.get("number", ""), raw.get("external_id", "")

    def records(self, rows: Iterable[tuple[int, list[str]]]) -> Iterator[Record]:
        """Customers row by row; documents from consecutive rows with the same kind and
        number (one per line). A row that cannot be read fails its whole record."""
        if self.kind == CUSTOMERS:
            for number, cells in rows:
                try:
                    yield self.customer(number, cells)
                except RowError as error:
                    yield Record(data={}, rows=[number], cells=[cells], error=error)
            return
        group: list[tuple[int, list[str], dict[str, Any]]] = []
        key, error = None, None
        first_rows: dict[tuple[str, str, str], int] = {}  # each numbered document's first row
        for number, cells in rows:
            row_key = self._group_key(cells)
            try:
                found, row_error = self._values(number, cells), None
            except RowError as failed:
                found, row_error = {}, failed
            if group and row_key == key:
                group.append((number, cells, found))
                error = error or row_error or self._differs(group[0], number, found)
                continue
            if group:
                yield self._finish(group, error)
            group, key, error = [(number, cells, found)], row_key, row_error
            if row_key[1] or row_key[2]:
                if row_key in first_rows:
                    # Further down the file: importing these rows would replace the lines the
                    # first ones gave (a file is read as it streams, so they cannot be joined).
                    error = error or RowError(number, None, str(_l(
                        "The rows of document %(number)s must follow each other (its first row is row %(row)s).",
                        number=row_key[1] or row_key[2], row=first_rows[row_key])))
                else:
                    first_rows[row_key] = number
        if group:
            yield self._finish(group, error)

    def _differs(self, first: tuple[int, list[str], dict[str, Any]], number: int,
                 found: dict[str, Any]) -> RowError | None:
        """A line row that names another customer or currency than the document's first row:
        two documents under one number, not one to merge. (Other fields, such as notes, are
        taken from the first row, as before.)"""
        first_row, _cells, first_found = first
        for key in GROUP_CHECKED:
            value = found.get(key)
            if value is None or first_found.get(key) is None:
                continue
            if value != first_found[key]:
                return RowError(number, self.column_of.get(key), str(_l(
                    "This row's value differs from row %(row)s, the document's first row.", row=first_row)))
        return None

    def _finish(self, group, error: RowError | None) -> Record:
        if error is not None:
            return Record(data={}, rows=[n for n, _c, _f in group], cells=[c for _n, c, _f in group], error=error)
        return self.document(group)


def _role(text: str) -> str:
    value = text.strip().lower()
    names = {r.value: r.value for r in ContactRole} | {
        "algemeen": "general", "allgemein": "general", "facturatie": "billing", "boekhouding": "billing",
        "buchhaltung": "billing", "rechnungen": "billing", "accountant": "accountant", "steuerberater": "accountant",
        "technisch": "technical", "technik": "technical", "directie": "manager", "geschäftsführung": "manager",
        "leitung": "manager", "ondersteuning": "support",
    }
    return names.get(value, value)
