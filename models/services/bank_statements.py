"""Importing a bank statement (CAMT.053 or MT940) and booking its incoming transfers.

The format is read from the content, not the file name: XML is CAMT.053, SWIFT tag lines
(`:20:`, `:25:`, `:60F:` …) are MT940 (parsed by the mt-940 library, its `:86:` details in
the German structured `?20` layout or the Dutch `/EREF/…/REMI/` one, else as plain text);
anything else is refused. Both become the same `Transfer` records, so matching, duplicates
and the list of transfers to assign work the same whatever the bank exported.

A transfer (a credit entry's transaction) is matched to an open invoice:
1. by the RF creditor reference in its structured remittance (or written in the text):
   models.services.epc derives it from the invoice number, so its body names the invoice;
   any amount is booked (less than outstanding: the invoice is partially paid);
2. failing that, by an invoice number in the remittance text, when the amount is exactly
   what that invoice still owes.
A match is booked through models.services.recorded_payments (method "bank_transfer"),
the one way payments staff receive are written. Everything else -- no match, more than
outstanding, a date before the invoice -- waits for staff to assign it (`assign_entry`).

CAMT.053 is parsed with defusedxml (no entity expansion, no DTDs, nothing fetched).
Each transfer is kept once (BankStatementEntry.dedupe_key is unique): importing the same
file, or a later statement that repeats a transfer, books nothing twice and says so.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from models.bank_statements import BankStatement, BankStatementEntry, EntryStatus
from models.db import db
from models.documents import UNPAID_STATUSES, Document, DocumentKind
from models.services import audit, epc, recorded_payments
from models.services.errors import DomainError, NotFound
from models.staff import StaffUser

MAX_BYTES = 10 * 1024 * 1024
CAMT053 = "urn:iso:std:iso:20022:tech:xsd:camt.053."
BANK_TRANSFER = "bank_transfer"
_RF_IN_TEXT = re.compile(r"\bRF\d{2}[A-Z0-9]{1,21}\b")
_TOKEN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_./-]*[A-Za-z0-9])?")


class AlreadyImported(DomainError):
    """The statement (or every transfer on it) was imported before: nothing booked."""


# --- reading the file --------------------------------------------------------------------


@dataclass(frozen=True)
class Transfer:
    """One incoming transfer as the statement describes it."""

    dedupe_key: str
    booking_date: date
    amount: Decimal
    currency: str
    debtor_name: str | None
    debtor_iban: str | None
    reference: str | None
    remittance: str | None
    bank_ref: str | None


@dataclass(frozen=True)
class ParsedStatement:
    statement_ref: str | None
    account_iban: str | None
    transfers: list[Transfer]
    debits: int  # outgoing entries: not ours to book


def _bad_file(message=None) -> DomainError:
    return DomainError(message or _l("This is not a bank statement Dossier can read: upload a CAMT.053 file (XML) "
                                     "or an MT940 file as your bank exports it."), field="statement")


def _not_a_number() -> DomainError:
    return _bad_file(_l("An amount on the statement is not a number: nothing was imported."))


def _dedupe_key(account: str, identity: list[str]) -> str:
    return hashlib.sha256("\x1f".join([account, *identity]).encode()).hexdigest()


def _transfer(key: str, booked: date, amount: Decimal, currency: str, *, debtor_name: str | None,
              debtor_iban: str | None, reference: str | None, remittance: str | None,
              bank_ref: str | None) -> Transfer:
    """A Transfer with every text cut to what its column holds."""
    return Transfer(
        dedupe_key=key, booking_date=booked, amount=amount, currency=currency,
        debtor_name=(debtor_name or "")[:140] or None, debtor_iban=(debtor_iban or "")[:34] or None,
        reference=(reference or "")[:35] or None, remittance=remittance or None,
        bank_ref=(bank_ref or "")[:100] or None)


def parse_statement(data: bytes) -> ParsedStatement:
    """The statement's incoming transfers, in the format its content shows (CAMT.053 or
    MT940); anything else is refused."""
    if _looks_like_xml(data):
        return parse_camt053(data)
    text = _mt940_text(data)
    if text is not None:
        return parse_mt940(text)
    raise _bad_file()


def _looks_like_xml(data: bytes) -> bool:
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<")


class _Xml:
    """Namespace-aware lookups in one CAMT.053 version (001.02 … 001.13 differ only slightly)."""

    def __init__(self, namespace: str):
        self.ns = namespace

    def path(self, steps: str) -> str:
        return "/".join(f"{{{self.ns}}}{step}" for step in steps.split("/"))

    def find(self, element, steps: str):
        return element.find(self.path(steps)) if element is not None else None

    def text(self, element, *alternatives: str) -> str | None:
        for steps in alternatives:
            found = self.find(element, steps)
            if found is not None and (found.text or "").strip():
                return found.text.strip()
        return None

    def all(self, element, steps: str) -> list:
        return element.findall(self.path(steps)) if element is not None else []


def _amount(x: _Xml, element) -> tuple[Decimal, str] | None:
    if element is None:
        return None
    try:
        value = Decimal((element.text or "").strip())
    except InvalidOperation:
        raise _not_a_number() from None
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")):
        raise _not_a_number()
    return value, (element.get("Ccy") or "").upper()


def _date(x: _Xml, entry) -> date:
    value = x.text(entry, "BookgDt/Dt", "BookgDt/DtTm", "ValDt/Dt", "ValDt/DtTm")
    try:
        return date.fromisoformat((value or "")[:10])
    except ValueError:
        raise _bad_file(_l("A booking on the statement has no valid date: nothing was imported.")) from None


def parse_camt053(data: bytes) -> ParsedStatement:
    """The statement's incoming transfers; anything that is not a CAMT.053 file is refused."""
    from defusedxml import DefusedXmlException
    from defusedxml import ElementTree as SafeTree

    try:
        root = SafeTree.fromstring(data)
    except (SafeTree.ParseError, DefusedXmlException, ValueError):
        raise _bad_file() from None
    namespace = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    if not namespace.startswith(CAMT053) or root.tag != f"{{{namespace}}}Document":
        raise _bad_file()
    x = _Xml(namespace)
    statements = x.all(root, "BkToCstmrStmt/Stmt")
    if not statements:
        raise _bad_file()
    transfers: list[Transfer] = []
    debits = 0
    statement_ref = account = None
    for statement in statements:
        statement_ref = statement_ref or x.text(statement, "Id")
        account = x.text(statement, "Acct/Id/IBAN") or x.text(statement, "Acct/Id/Othr/Id")
        account = account or ""
        for entry in x.all(statement, "Ntry"):
            if x.text(entry, "CdtDbtInd") != "CRDT":
                debits += 1
                continue
            status = x.text(entry, "Sts/Cd", "Sts")
            if status and status != "BOOK":
                continue  # pending or informational: booked when a statement says it was
            transfers.extend(_transfers(x, entry, account))
    return ParsedStatement(statement_ref, account or None, transfers, debits)


def _transfers(x: _Xml, entry, account: str) -> list[Transfer]:
    entry_amount = _amount(x, x.find(entry, "Amt"))
    if entry_amount is None:
        raise _bad_file(_l("A booking on the statement has no amount: nothing was imported."))
    booked = _date(x, entry)
    entry_ref = x.text(entry, "AcctSvcrRef", "NtryRef")
    details = [tx for block in x.all(entry, "NtryDtls") for tx in x.all(block, "TxDtls")] or [None]
    transfers = []
    for index, tx in enumerate(details):
        own = _amount(x, x.find(tx, "Amt")) or _amount(x, x.find(tx, "AmtDtls/TxAmt/Amt"))
        if own is None and len(details) > 1:
            raise _bad_file(_l("A booking on the statement has no amount: nothing was imported."))
        amount, currency = own or entry_amount
        reference = x.text(tx, "RmtInf/Strd/CdtrRefInf/Ref")
        texts = [node.text.strip() for node in x.all(tx, "RmtInf/Ustrd") if (node.text or "").strip()]
        remittance = " ".join(texts) or x.text(entry, "AddtlNtryInf")
        tx_ref = x.text(tx, "Refs/AcctSvcrRef")
        end_to_end = x.text(tx, "Refs/EndToEndId")
        if end_to_end == "NOTPROVIDED":
            end_to_end = None
        debtor_name = x.text(tx, "RltdPties/Dbtr/Nm", "RltdPties/Dbtr/Pty/Nm")
        debtor_iban = x.text(tx, "RltdPties/DbtrAcct/Id/IBAN")
        # The bank's own reference names the transfer for good; without one, what describes it.
        if tx_ref:
            identity = ["tx", tx_ref]
        elif entry_ref:
            identity = ["entry", entry_ref, str(index)]
        else:
            identity = ["hash", booked.isoformat(), str(amount), currency, debtor_iban or "", reference or "",
                        remittance or "", end_to_end or "", str(index)]
        transfers.append(_transfer(
            _dedupe_key(account, identity), booked, amount, currency, debtor_name=debtor_name,
            debtor_iban=debtor_iban, reference=reference, remittance=remittance,
            bank_ref=tx_ref or end_to_end or entry_ref))
    return transfers


# --- MT940 ---------------------------------------------------------------------------------

# A statement's own tags at the start of a line: the reference, the account, the opening balance.
_MT940_TAG = re.compile(r"^:(20|25|60[FM]):", re.MULTILINE)
# A statement line (:61:) up to its amount: value date, [entry date], mark, [funds code], amount.
_MT940_LINE = re.compile(r"^:61:\d{6}(?:\d{4}|\s{4})?(R?[DCdc])[A-Z]?\n?(?P<amount>[^A-Z\n]*)", re.MULTILINE)
_MT940_AMOUNT = re.compile(r"\d{1,12},\d{0,2}")
# The Dutch banks' structured :86: ("/EREF/…//CNTP/iban/bic/name/city//REMI/USTD//text/"),
# and ABN AMRO's ("/TRTP/…/IBAN/…/BIC/…/NAME/…/REMI/text/EREF/…").
_SLASH_TAGS = ("EREF", "PREF", "MARF", "CSID", "CNTP", "REMI", "PURP", "ULTC", "ULTD", "ULTB", "BENM", "ORDP", "RTRN",
               "TRCD", "TRTP", "IBAN", "BIC", "NAME", "ADDR", "ISDT", "CREF", "IREF", "KREF", "SVWZ", "ABWA")
_SLASH_FIELD = re.compile(r"/(%s)/" % "|".join(_SLASH_TAGS))
_NOT_PROVIDED = {"", "NOTPROVIDED", "NONREF"}
_TRAILING_SPACES = re.compile(r"( +)\n(?!:[0-9]{2}[A-Z]?:|-|$)")
_LINE_WIDTH = 65  # an MT940 field line: a longer text is cut there, mid-word or not


def _mt940_text(data: bytes) -> str | None:
    """The file as text when it is an MT940 statement (a reference, an account and an opening
    balance tag on lines of their own), else None. SWIFT's character set is ASCII; German
    banks write umlauts in Windows-1252, others UTF-8."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    if "\x00" in text:
        return None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # A space that ends a line of a field is text ("… Bram " + "Baker"), but the library strips
    # it: it starts the next line instead.
    text = _TRAILING_SPACES.sub(r"\n\1", text)
    found = {match.group(1)[:2] for match in _MT940_TAG.finditer(text)}
    return text if found == {"20", "25", "60"} else None


def _iban_of(account: str | None) -> str | None:
    """The IBAN in an MT940 account (`:25:`), written as `NL91ABNA0417164300`,
    `NL91ABNA0417164300EUR` or `ABNANL2A/NL91ABNA0417164300`; None when there is none."""
    from stdnum import iban

    for part in re.sub(r"\s", "", account or "").upper().split("/"):
        for candidate in (part, part[:-3]):
            if candidate and iban.is_valid(candidate):
                return candidate
    return None


def _joined(text: str) -> str:
    """A :86: field's lines as one text: a line cut at the full width goes on without a space."""
    lines = text.split("\n")
    out = ""
    for index, line in enumerate(lines):
        out += line
        if index < len(lines) - 1 and len(line) < _LINE_WIDTH:
            out += " "
    return " ".join(out.split())


def _slash_fields(text: str) -> dict[str, str] | None:
    """The Dutch structured :86: as {tag: value}; None when the text is not written that way.
    Its lines are cut at the full width, so they are joined without a separator."""
    compact = "".join(text.split("\n"))
    parts = _SLASH_FIELD.split(compact)
    if len(parts) < 3 or parts[0].strip():
        return None
    fields: dict[str, str] = {}
    for tag, value in zip(parts[1::2], parts[2::2]):
        fields.setdefault(tag, value)
    return fields


def _slash_details(fields: dict[str, str]) -> dict:
    counterparty = fields.get("CNTP", "").split("/")
    remittance = fields.get("REMI", "")
    reference = text = None
    if remittance.startswith("STRD/"):  # STRD/CUR/<reference>/ (a creditor reference, e.g. RF…)
        reference = next((part for part in reversed(remittance.split("/")) if part.strip()), None)
    elif remittance.startswith("USTD/"):
        text = remittance[5:].strip("/ ")
    else:
        text = remittance.strip("/ ")
    end_to_end = fields.get("EREF", "").strip("/ ")
    return dict(debtor_name=(counterparty[2] if len(counterparty) > 2 else fields.get("NAME", "")).strip("/ "),
                debtor_iban=(counterparty[0] or fields.get("IBAN", "")).strip("/ ").replace(" ", ""),
                reference=reference, remittance=" ".join((text or "").split()),
                end_to_end="" if end_to_end.upper() in _NOT_PROVIDED else end_to_end)


def _mt940_details(data: dict) -> dict:
    """Who paid, and what they wrote, from a transaction's :86: details in whichever layout."""
    if "purpose" in data:  # the German structured layout, read by the library (?20 … ?32)
        remittance = " ".join(part for part in (data.get("purpose"), data.get("additional_purpose")) if part)
        end_to_end = (data.get("end_to_end_reference") or "").strip()
        return dict(debtor_name=data.get("applicant_name"), debtor_iban=data.get("applicant_iban"), reference=None,
                    remittance=" ".join(remittance.split()),
                    end_to_end="" if end_to_end.upper() in _NOT_PROVIDED else end_to_end)
    raw = (data.get("transaction_details") or "").replace("\r", "")
    fields = _slash_fields(raw)
    if fields is not None:
        return _slash_details(fields)
    return dict(debtor_name=None, debtor_iban=None, reference=None, remittance=_joined(raw), end_to_end="")


def parse_mt940(text: str) -> ParsedStatement:
    """The statements' incoming transfers (credit lines, `C`); debits and reversals are not ours."""
    import io

    import mt940

    if any(not _MT940_AMOUNT.fullmatch(match.group("amount").strip()) for match in _MT940_LINE.finditer(text)):
        raise _not_a_number()
    options = mt940.Options(applicant_iban=True, merge_keeps_values=True, reversal_sign=True,
                            case_insensitive_marks=True, unbounded_details=True, strip_bom=True)
    try:
        statements = mt940.parse_statements(io.StringIO(text), options=options)
    except (RuntimeError, ValueError, KeyError, IndexError, TypeError, ArithmeticError, AttributeError):
        raise _bad_file() from None
    if not statements:
        raise _bad_file()
    transfers: list[Transfer] = []
    debits = 0
    statement_ref = first_account = None
    for statement in statements:
        raw_account = (statement.data.get("account_identification") or "").strip()
        iban = _iban_of(raw_account)
        account = iban or re.sub(r"\s", "", raw_account)
        first_account = first_account or account
        statement_ref = statement_ref or statement.data.get("transaction_reference")
        seen: dict[tuple, int] = {}
        for transaction in statement:
            if (transaction.data.get("status") or "").upper() != "C":
                debits += 1
                continue
            transfers.append(_mt940_transfer(transaction.data, account, seen))
    return ParsedStatement(statement_ref, first_account or None, transfers, debits)


def _mt940_transfer(data: dict, account: str, seen: dict[tuple, int]) -> Transfer:
    amount = getattr(data.get("amount"), "amount", None)
    currency = (getattr(data.get("amount"), "currency", None) or data.get("currency") or "").upper()
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0 \
            or amount != amount.quantize(Decimal("0.01")) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise _not_a_number()
    when = data.get("entry_date") or data.get("date")
    if when is None:
        raise _bad_file(_l("A booking on the statement has no valid date: nothing was imported."))
    booked = date(when.year, when.month, when.day)
    details = _mt940_details(data)
    bank_ref = (data.get("bank_reference") or "").strip()
    customer_ref = (data.get("customer_reference") or "").strip()
    if bank_ref.upper() in _NOT_PROVIDED:
        bank_ref = ""
    if customer_ref.upper() in _NOT_PROVIDED:
        customer_ref = ""
    # The bank's own reference, with the day and amount (some banks repeat one reference for
    # every line); without one, what describes the transfer -- and which of identical
    # transfers on this statement it is, so two alike are two, yet a re-import finds both.
    if bank_ref:
        identity = ["mt940", bank_ref, booked.isoformat(), str(amount), currency]
    else:
        described = ("mt940-hash", booked.isoformat(), str(amount), currency, details["debtor_iban"] or "",
                     details["reference"] or "", details["remittance"] or "", details["end_to_end"], customer_ref)
        seen[described] = seen.get(described, -1) + 1
        identity = [*described, str(seen[described])]
    return _transfer(_dedupe_key(account, identity), booked, amount, currency,
                     debtor_name=details["debtor_name"], debtor_iban=details["debtor_iban"],
                     reference=details["reference"], remittance=details["remittance"],
                     bank_ref=bank_ref or details["end_to_end"] or customer_ref)


# --- matching and booking ------------------------------------------------------------------


@dataclass
class _Open:
    id: int
    number: str
    currency: str
    outstanding: Decimal


class _OpenInvoices:
    """The open invoices, loaded once per import (one query), by number and by RF body."""

    def __init__(self):
        rows = db.session.execute(select(
            Document.id, Document.number, Document.currency, Document.gross_total, Document.amount_paid,
            Document.amount_credited, Document.amount_written_off,
        ).where(Document.kind == DocumentKind.invoice, Document.status.in_(UNPAID_STATUSES),
                Document.number.is_not(None))).all()
        self.by_number: dict[str, _Open] = {}
        self.by_key: dict[str, list[_Open]] = {}
        for row in rows:
            invoice = _Open(row.id, row.number, row.currency,
                            row.gross_total - row.amount_paid - row.amount_credited - row.amount_written_off)
            self.by_number[row.number.upper()] = invoice
            self.by_key.setdefault(epc.number_key(row.number), []).append(invoice)

    def match(self, transfer: Transfer) -> tuple[_Open | None, str | None, str | None]:
        """(invoice, how, note): by RF reference, else by number and exact amount."""
        text = (transfer.remittance or "").upper()
        for reference in [transfer.reference, *_RF_IN_TEXT.findall(text.replace(" ", ""))]:
            body = epc.reference_body(reference)
            if body is None:
                continue
            found = [i for i in self.by_key.get(body, []) if i.currency == transfer.currency and i.outstanding > 0]
            if len(found) == 1:
                return found[0], "rf", None
        candidates = {self.by_number[token.upper()].id: self.by_number[token.upper()]
                      for token in _TOKEN.findall(transfer.remittance or "") if token.upper() in self.by_number}
        exact = [i for i in candidates.values() if i.currency == transfer.currency and i.outstanding == transfer.amount]
        if len(exact) == 1:
            return exact[0], "number", None
        if candidates:
            return None, None, str(_l("Names invoice %(numbers)s, but the amount is not what it still owes.",
                                      numbers=", ".join(sorted(i.number for i in candidates.values()))))
        return None, None, str(_l("No open invoice found by reference or number."))


@dataclass(frozen=True)
class ImportResult:
    statement: BankStatement
    booked: int
    unmatched: int
    duplicates: int
    debits: int


def _book(actor: StaffUser, entry: BankStatementEntry, document: Document, how: str, today: date,
          confirm_credit: bool = False) -> None:
    """Books the transfer on the invoice as a recorded bank transfer (in a savepoint: a refusal
    leaves the entry unmatched with the reason)."""
    with db.session.begin_nested():
        payment = recorded_payments.record_payment(
            actor, document, amount=entry.amount, received_on=min(entry.booking_date, today), method=BANK_TRANSFER,
            today=today, confirm_credit=confirm_credit)
    entry.status = EntryStatus.matched if how != "staff" else EntryStatus.assigned
    entry.matched_by, entry.document_id, entry.payment_id, entry.note = how, document.id, payment.id, None


def import_statement(actor: StaffUser, data: bytes, filename: str | None, today: date) -> ImportResult:
    """Import a CAMT.053 or MT940 file: keep every new incoming transfer, book the matched ones."""
    if not data:
        raise _bad_file(_l("Choose the statement file to import."))
    if len(data) > MAX_BYTES:
        raise _bad_file(_l("The file is larger than 10 MB: import the statement in parts."))
    digest = hashlib.sha256(data).hexdigest()
    earlier = db.session.scalar(select(BankStatement).where(BankStatement.file_sha256 == digest))
    if earlier is not None:
        raise AlreadyImported(_l("This statement was already imported on %(date)s: nothing was booked again.",
                                 date=earlier.imported_at.date().isoformat()), field="statement")
    parsed = parse_statement(data)
    statement = BankStatement(file_sha256=digest, filename=(filename or "")[:200] or None,
                              statement_ref=(parsed.statement_ref or "")[:100] or None,
                              account_iban=(parsed.account_iban or "")[:34] or None, imported_by_id=actor.id)
    db.session.add(statement)
    try:  # no savepoint: the first write opens SQLite's transaction (a savepoint before it would commit)
        db.session.flush()
    except IntegrityError:  # the same file, imported at this moment by someone else (the caller rolls back)
        raise AlreadyImported(_l("This statement was already imported: nothing was booked again."),
                              field="statement") from None
    keys = [transfer.dedupe_key for transfer in parsed.transfers]
    seen = set(db.session.scalars(select(BankStatementEntry.dedupe_key).where(BankStatementEntry.dedupe_key.in_(keys))))
    invoices = _OpenInvoices()
    booked = unmatched = duplicates = 0
    for transfer in parsed.transfers:
        if transfer.dedupe_key in seen:
            duplicates += 1
            continue
        seen.add(transfer.dedupe_key)
        entry = BankStatementEntry(statement_id=statement.id, status=EntryStatus.unmatched, **transfer.__dict__)
        try:
            with db.session.begin_nested():
                db.session.add(entry)
                db.session.flush()
        except IntegrityError:  # the same transfer, imported at this moment from another file
            duplicates += 1
            continue
        invoice, how, note = invoices.match(transfer)
        if invoice is not None:
            try:
                _book(actor, entry, db.session.get(Document, invoice.id), how, today)
                invoice.outstanding -= transfer.amount
                booked += 1
                continue
            except DomainError as error:
                note = str(_l("Invoice %(number)s: %(reason)s", number=invoice.number, reason=error.message))
        entry.note = (note or "")[:300] or None
        unmatched += 1
    if parsed.transfers and duplicates == len(parsed.transfers):
        raise AlreadyImported(_l("Every transfer on this statement was imported before: nothing was booked again."),
                              field="statement")
    statement.duplicate_count = duplicates
    db.session.flush()
    audit.record(actor, "bank_statement.imported", "bank_statement", statement.id,
                 changes={"file": [None, statement.filename or digest[:12]], "booked": [None, booked],
                          "unmatched": [None, unmatched], "duplicates": [None, duplicates]})
    return ImportResult(statement, booked, unmatched, duplicates, parsed.debits)


def assign_entry(actor: StaffUser, entry_id: int, invoice_number: str, today: date,
                 confirm_credit: bool = False) -> BankStatementEntry:
    """Staff book an unmatched transfer on the invoice they name. The entry is claimed with a
    conditional UPDATE first, so two staff members assigning it at once book it once."""
    entry = db.session.get(BankStatementEntry, entry_id)
    if entry is None:
        raise NotFound()
    if entry.status is not EntryStatus.unmatched:
        raise DomainError(_l("This transfer is already booked."))
    document = db.session.scalar(select(Document).where(
        Document.kind == DocumentKind.invoice, Document.number == (invoice_number or "").strip()))
    if document is None:
        raise DomainError(_l("There is no invoice with this number."), field="invoice_number")
    if document.currency != entry.currency:
        raise DomainError(_l("The invoice is in %(currency)s, the transfer is not.", currency=document.currency),
                          field="invoice_number")
    claimed = db.session.execute(
        update(BankStatementEntry).where(BankStatementEntry.id == entry.id,
                                         BankStatementEntry.status == EntryStatus.unmatched)
        .values(status=EntryStatus.assigned).execution_options(synchronize_session=False)).rowcount
    if not claimed:
        raise DomainError(_l("This transfer is already booked."))
    db.session.refresh(entry)
    try:
        payment = recorded_payments.record_payment(
            actor, document, amount=entry.amount, received_on=min(max(entry.booking_date, document.issue_date), today),
            method=BANK_TRANSFER, today=today, confirm_credit=confirm_credit)
    except recorded_payments.NeedsConfirmation as error:
        raise recorded_payments.NeedsConfirmation(error.message, field="invoice_number") from None
    except DomainError as error:
        raise DomainError(error.message, field="invoice_number") from None
    entry.status, entry.matched_by, entry.document_id, entry.payment_id, entry.note = (
        EntryStatus.assigned, "staff", document.id, payment.id, None)
    db.session.flush()
    return entry


def unmatched_entries(limit: int = 200) -> list[BankStatementEntry]:
    """Transfers waiting for staff, oldest first."""
    return list(db.session.scalars(select(BankStatementEntry).where(BankStatementEntry.status == EntryStatus.unmatched)
                                   .order_by(BankStatementEntry.booking_date, BankStatementEntry.id).limit(limit)))


def recent_statements(limit: int = 20) -> list[BankStatement]:
    return list(db.session.scalars(select(BankStatement).order_by(BankStatement.id.desc()).limit(limit)))


def statement_with_entries(statement_id: int) -> BankStatement:
    statement = db.session.get(BankStatement, statement_id)
    if statement is None:
        raise NotFound()
    statement.entries  # noqa: B018 - loaded now, not while rendering
    return statement
