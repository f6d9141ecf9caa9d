"""Demo data: the same business and logins on every run, realistic customers and documents,
all dated relative to `clock.today()` so a newcomer sees every state whatever the day.

- The volume (customers, invoices with their lines, and the recorded bank transfers that
  paid them) is built with Core bulk inserts (the ORM's bulk path splits rows by their
  NULL pattern into single INSERTs), so the benchmark's 10,000 customers and 100,000
  invoices load in seconds. Totals come from `compute_totals`, the one place documents
  are summed; an invoice's status follows from what was paid on it, as the settlement
  service derives it; numbers continue the per-year counters `allocate_number` uses.
- A showcase of every kind in every state is made through the services, so every rule of
  theirs holds: invoices not yet due and overdue by 5, 40, 75 and 120 days, paid, partly
  paid, written off, cancelled with a credit note, a draft; quotes pending, accepted
  (with an order confirmation and a draft invoice made from it), rejected and expired; a
  delivery note; reminders at levels 1, 2 and 3; a credit note larger than what was left
  on its invoice (customer credit).

Every generated address (customers, contact persons) passes the app's own check
(models.services.addresses), as it must when staff add one as a portal login. Seeding
again adds another batch with new customer and document numbers.
"""

from __future__ import annotations

import random
import re
import unicodedata
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import func, insert, select, update

from models import clock
from models.contacts import ContactPerson, ContactRole
from models.counters import Counter
from models.customers import Customer, CustomerKind, Note, Tag, customer_assignments, customer_tags
from models.db import db, now_utc
from models.documents import UNPAID_STATUSES, Document, DocumentKind, DocumentLine, DocumentStatus
from models.payments import MANUAL, Payment, PaymentItem, PaymentStatus
from models.portal_access import PortalAccess, PortalUser
from models.questions import DocumentMessage
from models.services import credit_notes, quotes, recorded_payments, reminders
from models.services.documents import LineInput, Totals, compute_totals, create_document, line_net
from models.services.passwords import hash_password
from models.services.settings import get_settings
from models.staff import StaffRole, StaffUser

DEMO_PASSWORD = "dossier-demo"
DEMO_STAFF = (
    ("owner@dossier.test", "Olivia Owner", StaffRole.owner),
    ("admin@dossier.test", "Adam Admin", StaffRole.admin),
    ("employee@dossier.test", "Emma Employee", StaffRole.employee),
)

FIRST = {
    "NL": ["Jan", "Sanne", "Pieter", "Femke", "Daan", "Lotte", "Bram", "Anouk", "Ruben", "Eva", "Thijs", "Noor"],
    "DE": ["Lukas", "Anna", "Jonas", "Lea", "Felix", "Marie", "Paul", "Sophie", "Maximilian", "Hannah", "Tobias", "Laura"],
    "BE": ["Wout", "Elise", "Arne", "Louise"],
    "GB": ["Oliver", "Amelia", "George", "Isla"],
    "FR": ["Louis", "Camille", "Hugo", "Chloé"],
}
LAST = {
    "NL": ["de Vries", "Jansen", "van den Berg", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder", "de Groot"],
    "DE": ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann"],
    "BE": ["Peeters", "Janssens", "Maes", "Claes"],
    "GB": ["Smith", "Jones", "Taylor", "Brown"],
    "FR": ["Martin", "Bernard", "Dubois", "Durand"],
}
COMPANY = {
    "NL": ["Bouwbedrijf", "Installatietechniek", "Bloemenhandel", "Adviesgroep", "Transport", "Bakkerij"],
    "DE": ["Maschinenbau", "Elektrotechnik", "Gartenbau", "Steuerberatung", "Logistik", "Druckerei"],
    "BE": ["Brouwerij", "Houthandel"],
    "GB": ["Consulting", "Engineering"],
    "FR": ["Boulangerie", "Menuiserie"],
}
SUFFIX = {"NL": "B.V.", "DE": "GmbH", "BE": "BV", "GB": "Ltd", "FR": "SARL"}
CITIES = {
    "NL": [("Amsterdam", "1012 AB"), ("Utrecht", "3511 CE"), ("Rotterdam", "3011 AD"), ("Groningen", "9711 LM"), ("Eindhoven", "5611 AZ")],
    "DE": [("Berlin", "10115"), ("Köln", "50667"), ("München", "80331"), ("Hamburg", "20095"), ("Düsseldorf", "40213")],
    "BE": [("Antwerpen", "2000"), ("Gent", "9000")],
    "GB": [("London", "EC1A 1BB"), ("Manchester", "M1 1AE")],
    "FR": [("Paris", "75001"), ("Lyon", "69001")],
}
STREETS = {
    "NL": ["Kerkstraat", "Dorpsstraat", "Stationsweg", "Molenweg", "Hoofdstraat"],
    "DE": ["Hauptstraße", "Bahnhofstraße", "Gartenstraße", "Schulstraße", "Lindenweg"],
    "BE": ["Kerkstraat", "Statiestraat"],
    "GB": ["High Street", "Station Road"],
    "FR": ["Rue de la Paix", "Avenue Victor Hugo"],
}
LANGUAGE = {"NL": "nl", "BE": "nl", "DE": "de", "GB": "en", "FR": "en"}
COUNTRY_WEIGHTS = [("NL", 45), ("DE", 35), ("BE", 8), ("GB", 6), ("FR", 6)]
ITEMS = [
    ("Consultancy (hours)", Decimal("95.00")), ("Maintenance contract", Decimal("249.00")),
    ("Installation", Decimal("480.00")), ("Spare parts", Decimal("37.50")),
    ("Software licence", Decimal("19.99")), ("Travel costs", Decimal("0.35")),
    ("Training day", Decimal("650.00")), ("Support (hours)", Decimal("72.50")),
]
VAT = {"NL": [Decimal("21"), Decimal("9")], "BE": [Decimal("21"), Decimal("6")], "DE": [Decimal("19"), Decimal("7")], "GB": [Decimal("20")], "FR": [Decimal("20")]}
TAGS = ["vip", "wholesale", "retail", "direct-debit", "new", "slow-payer"]
IBANS = ["NL91ABNA0417164300", "DE89370400440532013000", "BE68539007547034", "NL20INGB0001234567", "DE02120300000000202051"]

# Top-level domains of the example addresses per country (reserved "example" second-level names).
MAIL_DOMAIN = {"NL": "example.nl", "DE": "example.de", "BE": "example.be", "GB": "example.co.uk", "FR": "example.fr"}
PAYMENT_TERMS = (14, 14, 30)  # days
LINE_POOL = 500
CENT = Decimal("0.01")
INTEREST_RATE = Decimal("8")  # percent a year, on the reminders' interest
DEMO_PORTAL_LOGIN = "customer@dossier.test"


def is_empty() -> bool:
    return not db.session.scalar(select(func.count()).select_from(StaffUser))


def address_slug(text: str, separator: str = "-") -> str:
    """Letters and digits of `text` joined by single separators, for the local part of an
    address: "Bakker Bloemenhandel B.V." → "bakker-bloemenhandel-bv", "Müller" → "mueller".
    Never two separators in a row, none at either end (e-mail syntax refuses "b.v..26")."""
    text = text.casefold().replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace(".", "")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return separator.join(re.findall(r"[a-z0-9]+", text)) or "customer"


def _moment(day: date, hour: int = 10) -> datetime:
    """A time on `day` (UTC), never later than now."""
    return min(datetime.combine(day, time(hour), tzinfo=timezone.utc), now_utc())


def seed(customers: int = 60, invoices: int = 300, seed_value: int = 20261123, showcase: bool = True) -> str:
    """`invoices` bulk invoices; with `showcase` (about 20 documents more) every kind in
    every state on the first three customers."""
    rng = random.Random(seed_value)
    today = clock.today()
    settings = get_settings(for_update=True)
    settings.business_name = "Brightside Services B.V."
    settings.address = "Keizersgracht 123\n1015 CJ Amsterdam\nNetherlands"
    settings.sender_name = "Brightside Services"
    settings.sender_email = "billing@brightside.example"
    settings.default_currency = "EUR"

    password_hash = hash_password(DEMO_PASSWORD)
    staff = {}
    for email, name, role in DEMO_STAFF:
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == email))
        if user is None:
            user = StaffUser(email=email, name=name, role=role, password_hash=password_hash, language="en")
            db.session.add(user)
        staff[email] = user
    existing_tags = {tag.name: tag for tag in db.session.scalars(select(Tag).where(Tag.name.in_(TAGS)))}
    tags = {name: existing_tags.get(name) or Tag(name=name) for name in TAGS}
    db.session.add_all(tag for name, tag in tags.items() if name not in existing_tags)
    db.session.flush()

    customer_rows = _customer_rows(rng, customers)
    db.session.execute(insert(Customer.__table__), customer_rows)
    ids = list(db.session.scalars(select(Customer.id).order_by(Customer.id.desc()).limit(customers)))[::-1]
    _seed_customer_details(rng, ids, customer_rows, tags, staff)

    doc_rows = _seed_invoices(rng, today, ids, customer_rows, invoices, recorded_by=staff["admin@dossier.test"])
    _advance_counter("customer", int(customer_rows[-1]["number"][1:]) if customer_rows else 0)
    db.session.flush()
    _fix_postgres_sequences()

    made = _seed_showcase(rng, today, staff["owner@dossier.test"], ids) if ids and showcase else []
    if ids:
        _seed_portal_logins(ids, password_hash)
        _seed_dossier_activity(ids, customer_rows, doc_rows, made)
    db.session.flush()
    kinds = dict(db.session.execute(  # this batch's customers: ids are the newest ones
        select(Document.kind, func.count()).where(Document.customer_id >= ids[0])
        .group_by(Document.kind)).all()) if ids else {}
    others = ", ".join(f"{count} {kind.value.replace('_', ' ')}{'s' if count != 1 else ''}"
                       for kind, count in sorted(kinds.items()) if kind != DocumentKind.invoice)
    return (
        f"Demo data: {len(staff)} staff logins and portal login {DEMO_PORTAL_LOGIN} "
        f"(password {DEMO_PASSWORD}), "
        f"{customers} customers, {kinds.get(DocumentKind.invoice, 0)} invoices"
        + (f" and {others}" if others else "") + f", dated relative to {today.isoformat()}."
    )


def _customer_rows(rng: random.Random, count: int) -> list[dict]:
    """New customers, numbered after those there are (the counter staff's new customers use)."""
    counter = db.session.get(Counter, "customer")
    first_number = (counter.value if counter else 0) + 1
    created = now_utc()
    rows = []
    for n in range(first_number, first_number + count):
        country = rng.choices([c for c, _ in COUNTRY_WEIGHTS], [w for _, w in COUNTRY_WEIGHTS])[0]
        first, last = rng.choice(FIRST[country]), rng.choice(LAST[country])
        company = rng.random() < 0.45
        city, postcode = rng.choice(CITIES[country])
        name = f"{first} {last}"
        company_name = f"{last} {rng.choice(COMPANY[country])} {SUFFIX[country]}" if company else None
        # "bakker-bloemenhandel-bv-26@example.nl", "jan.de.vries.3@example.nl"
        local = f"{address_slug(company_name)}-{n}" if company else f"{address_slug(name, '.')}.{n}"
        has_email = rng.random() > 0.12
        rows.append(
            {
                "number": f"C{n:05d}",
                "kind": CustomerKind.company if company else CustomerKind.individual,
                "name": name,
                "company_name": company_name,
                "sort_key": (company_name or name).casefold(),
                "email": f"{local}@{MAIL_DOMAIN[country]}" if has_email else None,
                "phone": f"+{rng.choice(['31', '49', '32', '44', '33'])} {rng.randint(10, 99)} {rng.randint(1000000, 9999999)}",
                "street": f"{rng.choice(STREETS[country])} {rng.randint(1, 180)}",
                "postal_code": postcode,
                "city": city,
                "country": country,
                "language": LANGUAGE[country],
                "vat_id": f"{country}{rng.randint(100000000, 999999999)}B01" if company else None,
                "iban": rng.choice(IBANS) if rng.random() < 0.5 else None,
                "portal_access": True,
                "created_at": created - timedelta(days=rng.randint(30, 1500)),
            }
        )
    return rows


def _seed_customer_details(rng: random.Random, ids: list[int], rows: list[dict], tags: dict[str, Tag],
                           staff: dict[str, StaffUser]) -> None:
    """Tags, the employee's three customers, notes, and a billing contact at a few companies."""
    tagged = [{"customer_id": cid, "tag_id": tags[t].id}
              for cid in ids if rng.random() < 0.4 for t in rng.sample(TAGS, rng.randint(1, 2))]
    if tagged:
        db.session.execute(insert(customer_tags), tagged)
    if ids:
        db.session.execute(
            insert(customer_assignments),
            [{"customer_id": cid, "staff_user_id": staff["employee@dossier.test"].id} for cid in ids[:3]],
        )
    db.session.add_all(
        Note(customer_id=cid, author=staff["owner@dossier.test"], body=text)
        for cid in ids[:10]
        for text in ("Prefers invoices by e-mail.", "Called about the last invoice; all clear.")
    )
    created = now_utc()
    companies = [(cid, row) for cid, row in zip(ids, rows) if row["company_name"]][:5]
    contacts = []
    for cid, row in companies:
        first, last = rng.choice(FIRST[row["country"]]), rng.choice(LAST[row["country"]])
        domain = f"{address_slug(row['company_name'])}.{MAIL_DOMAIN[row['country']]}"
        contacts.append({"customer_id": cid, "name": f"{first} {last}",
                         "email": f"{address_slug(f'{first} {last}', '.')}@{domain}",
                         "phone": None, "role": ContactRole.billing, "invoice_emails": True, "account_emails": False,
                         "created_at": created})
    if contacts:
        db.session.execute(insert(ContactPerson.__table__), contacts)


def _random_lines(rng: random.Random, country: str, count: tuple[int, int] = (1, 3)) -> list[LineInput]:
    return [
        LineInput(desc, Decimal(rng.randint(1, 12)), price, rng.choice(VAT[country]))
        for desc, price in rng.sample(ITEMS, rng.randint(*count))
    ]


def _bulk_status(rng: random.Random, days_late: int) -> DocumentStatus:
    """Recent invoices are mostly open, old ones mostly paid: every ageing bucket has some."""
    if rng.random() < 0.03:
        return DocumentStatus.cancelled  # before it was sent: no credit note needed
    unpaid = 0.8 if days_late < 0 else 0.55 if days_late <= 30 else 0.35 if days_late <= 90 else 0.12
    draw = rng.random()
    if draw < unpaid * 0.8:
        return DocumentStatus.open
    return DocumentStatus.partially_paid if draw < unpaid else DocumentStatus.paid


def _seed_invoices(rng: random.Random, today: date, ids: list[int], customer_rows: list[dict], count: int,
                   recorded_by: StaffUser) -> list[dict]:
    """`count` issued invoices over the last 400 days, numbered in date order after the
    numbers there are; a bank transfer (recorded by staff) for each one paid or partly paid."""
    if not ids or count <= 0:
        return []
    specs = []
    # Up to LINE_POOL different invoices' lines per country; beyond that (the benchmark's
    # 100,000) they repeat, which saves most of the time spent summing them.
    pools: dict[str, list[tuple[list[LineInput], Totals, list[Decimal]]]] = {}

    def lines_and_totals(country: str) -> tuple[list[LineInput], Totals, list[Decimal]]:
        pool = pools.setdefault(country, [])
        if len(pool) >= LINE_POOL:
            return rng.choice(pool)
        lines = _random_lines(rng, country)
        pool.append((lines, compute_totals(lines), [line_net(line) for line in lines]))
        return pool[-1]

    for i in range(count):
        index = i % len(ids) if i < len(ids) else rng.randrange(len(ids))
        issue = today - timedelta(days=rng.randint(0, 400))
        due = issue + timedelta(days=rng.choice(PAYMENT_TERMS))
        status = _bulk_status(rng, (today - due).days)
        lines, totals, nets = lines_and_totals(customer_rows[index]["country"])
        paid, paid_on = Decimal("0.00"), None
        if status == DocumentStatus.paid:
            paid = totals.gross
            paid_on = min(today, issue + timedelta(days=rng.randint(1, (due - issue).days + 20)))
        elif status == DocumentStatus.partially_paid:
            paid = max(CENT, (totals.gross * Decimal(rng.randint(20, 80)) / 100).quantize(CENT, rounding=ROUND_DOWN))
            paid_on = min(today, issue + timedelta(days=rng.randint(1, (due - issue).days)))
        specs.append((issue, i, index, due, status, lines, nets, totals, paid, paid_on))
    specs.sort(key=lambda spec: (spec[0], spec[1]))  # numbers follow the issue dates

    next_number = dict(db.session.execute(
        select(Counter.name, Counter.value).where(Counter.name.like("invoice-%"))).all())
    prefix = get_settings().prefix_for(DocumentKind.invoice.value)
    now = now_utc()

    def moment(day: date, hour: int) -> datetime:
        return min(datetime.combine(day, time(hour), tzinfo=timezone.utc), now)

    first_doc_id = (db.session.scalar(select(func.max(Document.id))) or 0) + 1
    first_payment_id = (db.session.scalar(select(func.max(Payment.id))) or 0) + 1
    doc_rows, line_rows, payment_rows, item_rows = [], [], [], []
    for position, (issue, _, index, due, status, lines, nets, totals, paid, paid_on) in enumerate(specs):
        counter = f"invoice-{issue.year}"
        next_number[counter] = next_number.get(counter, 0) + 1
        doc_id = first_doc_id + position
        customer = customer_rows[index]
        doc_rows.append({
            "id": doc_id, "customer_id": ids[index], "kind": DocumentKind.invoice,
            "number": f"{prefix}{issue.year}-{next_number[counter]:05d}",
            "issue_date": issue, "due_date": due, "currency": "EUR", "status": status,
            "net_total": totals.net, "tax_total": totals.tax, "gross_total": totals.gross,
            "amount_paid": paid, "amount_credited": Decimal("0.00"), "amount_written_off": Decimal("0.00"),
            "language": customer["language"], "released_to_portal": True,
            "sent_at": None if status == DocumentStatus.cancelled else moment(issue, 9),
            "created_at": moment(issue, 8),
        })
        line_rows.extend(
            {"document_id": doc_id, "position": pos, "description": line.description, "quantity": line.quantity,
             "unit_price": line.unit_price, "vat_rate": line.vat_rate, "net_amount": net}
            for pos, (line, net) in enumerate(zip(lines, nets), start=1)
        )
        if paid:
            payment_id = first_payment_id + len(payment_rows)
            paid_at = moment(paid_on, 12)
            payment_rows.append({
                "id": payment_id, "customer_id": ids[index], "provider": MANUAL,
                "idempotency_key": f"demo-{payment_id}",
                "amount": paid, "currency": "EUR", "status": PaymentStatus.paid, "created_at": paid_at,
                "paid_at": paid_at, "booked_at": paid_at, "method": "bank_transfer", "recorded_by_id": recorded_by.id,
            })
            item_rows.append({"payment_id": payment_id, "document_id": doc_id, "amount": paid})
    for table, rows in ((Document.__table__, doc_rows), (DocumentLine.__table__, line_rows),
                        (Payment.__table__, payment_rows), (PaymentItem.__table__, item_rows)):
        for chunk in range(0, len(rows), 5000):
            db.session.execute(insert(table), rows[chunk:chunk + 5000])
    for name, value in next_number.items():
        _advance_counter(name, value)
    return doc_rows


def _advance_counter(name: str, value: int) -> None:
    """Counter `name` at least at `value`, so numbers allocated later never collide."""
    counter = db.session.get(Counter, name)
    if counter is None:
        db.session.add(Counter(name=name, value=value))
    elif counter.value < value:
        counter.value = value


def _seed_showcase(rng: random.Random, today: date, owner: StaffUser, ids: list[int]) -> list[Document]:
    """Each kind in each state, through the services, on the first three customers (the
    portal login's two accounts and the employee's): what a newcomer clicks through first."""
    a, b, c = (db.session.get(Customer, ids[n % len(ids)]) for n in range(3))
    made: list[Document] = []

    def day(offset: int) -> date:
        return today + timedelta(days=offset)

    def sent(document: Document) -> Document:
        document.sent_at = _moment(document.issue_date, 9)
        document.created_at = _moment(document.issue_date, 8)
        made.append(document)
        return document

    def invoice(customer: Customer, due_in: int, term: int = 14, lines: list[LineInput] | None = None) -> Document:
        due = day(due_in)
        return sent(create_document(None, customer, DocumentKind.invoice, issue_date=due - timedelta(days=term),
                                    due_date=due, currency="EUR", lines=lines or _random_lines(rng, customer.country)))

    def pay(document: Document, share: int, received: int, method: str = "bank_transfer") -> None:
        amount = (document.outstanding * share / 100).quantize(CENT, rounding=ROUND_DOWN)
        recorded_payments.record_payment(owner, document, amount=amount, received_on=day(received), method=method,
                                         today=today)

    def quote(customer: Customer, issued: int, valid: int) -> Document:
        return sent(create_document(None, customer, DocumentKind.quote, issue_date=day(issued),
                                    valid_until=day(valid), currency="EUR",
                                    lines=_random_lines(rng, customer.country, (2, 3))))

    def interest(documents: list[Document], on: int) -> Decimal:
        return sum(((d.outstanding * INTEREST_RATE / 100 * (day(on) - d.due_date).days / 365).quantize(CENT)
                    for d in documents), Decimal("0.00"))

    # Invoices of the first customer: not yet due, a few days late, partly paid, paid.
    invoice(a, due_in=11)
    late5 = invoice(a, due_in=-5)
    late40 = invoice(a, due_in=-40, term=30)
    pay(late40, 40, received=-35)
    paid = invoice(a, due_in=-16)
    pay(paid, 100, received=-20, method="cash")
    sent(reminders.create_reminder(None, a, [late5, late40], level=1, issue_date=day(-2)))

    # The second customer is far behind: reminded three times, a fee and interest on the later two.
    late75 = invoice(b, due_in=-75)
    late120 = invoice(b, due_in=-120, term=30)
    for level, on, fee in ((1, -70, None), (2, -45, Decimal("7.50")), (3, -14, Decimal("15.00"))):
        reminder = reminders.create_reminder(
            None, b, [late75, late120], level=level, issue_date=day(on), fee=fee,
            interest=interest([late75, late120], on) if fee else None)
        sent(reminder)
    written_off = invoice(b, due_in=-186)
    pay(written_off, 60, received=-180)
    recorded_payments.write_off(owner, written_off, day(-20))
    cancelled = invoice(b, due_in=-11)
    made.append(sent(credit_notes.cancel_invoice(owner, cancelled, day(-8))))

    # Quotes: pending; accepted, confirmed, delivered and (a draft) invoiced; rejected; expired.
    quote(a, issued=-5, valid=25)
    accepted = quote(a, issued=-20, valid=10)
    quotes.decide(accepted, accept=True, name=a.name, comment="", today=day(-15))
    accepted.decided_at = _moment(day(-15), 14)
    sent(quotes.convert(owner, accepted, DocumentKind.order_confirmation, day(-14)))
    sent(create_document(None, a, DocumentKind.delivery_note, issue_date=day(-7), currency="EUR",
                         lines=[LineInput(line.description, line.quantity, line.unit_price, line.vat_rate)
                                for line in accepted.lines]))
    made.append(quotes.convert(owner, accepted, DocumentKind.invoice, today))  # a draft: not sent
    rejected = quote(b, issued=-40, valid=-10)
    quotes.decide(rejected, accept=False, name=b.name, comment="Too expensive for us this year.", today=day(-30))
    rejected.decided_at = _moment(day(-30), 14)
    quote(b, issued=-60, valid=-30)  # never answered: expired

    # Goods returned after half was paid: the credit note is more than was left, the rest is
    # customer credit (last, so no invoice made here uses it up).
    returned = invoice(c, due_in=-31)
    pay(returned, 50, received=-40)
    sent(credit_notes.create_credit_note(
        None, returned, issue_date=day(-6), notes="Goods returned.",
        lines=[LineInput(line.description, line.quantity, line.unit_price, line.vat_rate) for line in returned.lines]))
    db.session.flush()
    return made


def _seed_portal_logins(customer_ids: list[int], password_hash: str) -> None:
    """customer@dossier.test opens two accounts; one more login is invited, not accepted.
    Made once: seeding again leaves them as they are."""
    if db.session.scalar(select(PortalUser.id).where(PortalUser.email == DEMO_PORTAL_LOGIN)):
        return
    now = now_utc()
    user = PortalUser(email=DEMO_PORTAL_LOGIN, password_hash=password_hash, password_changed_at=now)
    invited = PortalUser(email="invited@dossier.test")
    db.session.add_all([user, invited])
    db.session.flush()
    for customer_id in customer_ids[:2]:
        db.session.add(PortalAccess(portal_user_id=user.id, customer_id=customer_id,
                                    invited_at=now, accepted_at=now))
    db.session.add(PortalAccess(portal_user_id=invited.id, customer_id=customer_ids[2 % len(customer_ids)],
                                invited_at=now, invite_expires_at=now + timedelta(days=7)))


def _seed_dossier_activity(customer_ids: list[int], customer_rows: list[dict], doc_rows: list[dict],
                           showcase: list[Document]) -> None:
    """Something for each Attention filter of the online dossier: an address a debtor left
    (a customer without one) and a question waiting for an answer."""
    now = now_utc()
    owing = {row["customer_id"] for row in doc_rows if row["status"] in UNPAID_STATUSES}
    without = [cid for cid, row in zip(customer_ids, customer_rows) if row["email"] is None]
    without = next((cid for cid in without if cid in owing), without[0] if without else None)
    if without is not None:
        db.session.execute(update(Customer).where(Customer.id == without)
                           .values(provided_email="new.address@example.com", provided_email_at=now))
    asked = next(((row["id"], row["customer_id"]) for row in doc_rows if row["status"] == DocumentStatus.open),
                 next(((d.id, d.customer_id) for d in showcase
                       if d.kind == DocumentKind.invoice and d.status == DocumentStatus.open), None))
    if asked is not None:
        document_id, customer_id = asked
        db.session.add(DocumentMessage(document_id=document_id, customer_id=customer_id, author_kind="customer",
                                       body="Could I pay this invoice in two parts?", created_at=now))
        db.session.execute(update(Document).where(Document.id == document_id).values(awaiting_answer_since=now))


def _fix_postgres_sequences() -> None:
    """Explicit ids bypass PostgreSQL's sequences; move them past them."""
    if db.session.get_bind().dialect.name == "postgresql":
        for table, column in (("documents", Document.id), ("payments", Payment.id)):
            last = db.session.scalar(select(func.max(column)))
            if last:
                db.session.execute(select(func.setval(func.pg_get_serial_sequence(table, "id"), last)))
