"""Demo data: the same business and logins on every run, realistic customers and invoices.

Built with Core bulk inserts (the ORM's bulk path splits rows by their NULL pattern into
single INSERTs), so the benchmark's 10,000 customers and 100,000 invoices load in seconds;
totals still come from `compute_totals`, the one place invoices are summed.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select, update

from models import clock
from models.counters import Counter
from models.customers import Customer, CustomerKind, Note, Tag, customer_assignments, customer_tags
from models.db import db, now_utc
from models.documents import Document, DocumentKind, DocumentLine, DocumentStatus
from models.portal_access import PortalAccess, PortalUser
from models.questions import DocumentMessage
from models.services.documents import LineInput, compute_totals, line_net
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

def is_empty() -> bool:
    return not db.session.scalar(select(func.count()).select_from(StaffUser))


def seed(customers: int = 60, invoices: int = 300, seed_value: int = 20261123) -> str:
    rng = random.Random(seed_value)
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
    tags = {name: Tag(name=name) for name in TAGS}
    db.session.add_all(tags.values())
    db.session.flush()

    today = clock.today()
    created = now_utc()
    customer_rows, countries = [], []
    for n in range(1, customers + 1):
        country = rng.choices([c for c, _ in COUNTRY_WEIGHTS], [w for _, w in COUNTRY_WEIGHTS])[0]
        first, last = rng.choice(FIRST[country]), rng.choice(LAST[country])
        company = rng.random() < 0.45
        city, postcode = rng.choice(CITIES[country])
        name = f"{first} {last}"
        company_name = f"{last} {rng.choice(COMPANY[country])} {SUFFIX[country]}" if company else None
        slug = (company_name or name).lower().replace(" ", ".").replace("ü", "ue").replace("ö", "oe").replace("é", "e")
        slug = "".join(ch for ch in slug if ch.isalnum() or ch == ".")
        has_email = rng.random() > 0.12
        customer_rows.append(
            {
                "number": f"C{n:05d}",
                "kind": CustomerKind.company if company else CustomerKind.individual,
                "name": name,
                "company_name": company_name,
                "sort_key": (company_name or name).casefold(),
                "email": f"{slug}.{n}@example.{country.lower()}" if has_email else None,
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
        countries.append(country)
    db.session.execute(insert(Customer.__table__), customer_rows)
    ids = list(db.session.scalars(select(Customer.id).order_by(Customer.id)))[-customers:]

    db.session.execute(
        insert(customer_tags),
        [{"customer_id": cid, "tag_id": tags[t].id} for cid in ids if rng.random() < 0.4 for t in rng.sample(TAGS, rng.randint(1, 2))],
    )
    db.session.execute(
        insert(customer_assignments),
        [{"customer_id": cid, "staff_user_id": staff["employee@dossier.test"].id} for cid in ids[:3]],
    )
    db.session.add_all(
        Note(customer_id=cid, author=staff["owner@dossier.test"], body=text)
        for cid in ids[:10]
        for text in ("Prefers invoices by e-mail.", "Called about the last invoice; all clear.")
    )

    statuses = [
        (DocumentStatus.open, 40), (DocumentStatus.paid, 35), (DocumentStatus.partially_paid, 10),
        (DocumentStatus.cancelled, 5),
    ]
    per_year: dict[int, int] = {}
    doc_rows, line_rows = [], []
    first_doc_id = (db.session.scalar(select(func.max(Document.id))) or 0) + 1
    for i in range(invoices):
        index = i % customers if i < customers else rng.randrange(customers)
        customer_id, country = ids[index], countries[index]
        issue = today - timedelta(days=rng.randint(0, 400))
        status = rng.choices([s for s, _ in statuses], [w for _, w in statuses])[0]
        lines = [
            LineInput(desc, Decimal(rng.randint(1, 12)), price, rng.choice(VAT[country]))
            for desc, price in rng.sample(ITEMS, rng.randint(1, 3))
        ]
        totals = compute_totals(lines)
        paid = {
            DocumentStatus.paid: totals.gross,
            DocumentStatus.partially_paid: (totals.gross / 2).quantize(Decimal("0.01")),
        }.get(status, Decimal("0.00"))
        per_year[issue.year] = per_year.get(issue.year, 0) + 1
        doc_id = first_doc_id + i
        doc_rows.append(
            {
                "id": doc_id, "customer_id": customer_id, "kind": DocumentKind.invoice,
                "number": f"{issue.year}-{per_year[issue.year]:05d}", "issue_date": issue,
                "due_date": issue + timedelta(days=14), "currency": "EUR", "status": status,
                "net_total": totals.net, "tax_total": totals.tax, "gross_total": totals.gross,
                "amount_paid": paid, "released_to_portal": True, "created_at": created,
            }
        )
        line_rows.extend(
            {
                "document_id": doc_id, "position": pos, "description": line.description,
                "quantity": line.quantity, "unit_price": line.unit_price, "vat_rate": line.vat_rate,
                "net_amount": line_net(line),
            }
            for pos, line in enumerate(lines, start=1)
        )
    for chunk in range(0, len(doc_rows), 5000):
        db.session.execute(insert(Document.__table__), doc_rows[chunk:chunk + 5000])
    for chunk in range(0, len(line_rows), 5000):
        db.session.execute(insert(DocumentLine.__table__), line_rows[chunk:chunk + 5000])
    _seed_portal_logins(ids, password_hash)
    _seed_dossier_activity(ids, customer_rows, doc_rows)
    db.session.add(Counter(name="customer", value=customers))
    db.session.add_all(Counter(name=f"invoice-{year}", value=count) for year, count in per_year.items())
    db.session.flush()
    _fix_postgres_sequences()
    return (
        f"Demo data: {len(staff)} staff logins and portal login {DEMO_PORTAL_LOGIN} "
        f"(password {DEMO_PASSWORD}), "
        f"{customers} customers, {invoices} invoices."
    )


DEMO_PORTAL_LOGIN = "customer@dossier.test"


def _seed_portal_logins(customer_ids: list[int], password_hash: str) -> None:
    """customer@dossier.test opens two accounts; one more login is invited, not accepted."""
    now = now_utc()
    user = PortalUser(email=DEMO_PORTAL_LOGIN, password_hash=password_hash, password_changed_at=now)
    invited = PortalUser(email="invited@dossier.test")
    db.session.add_all([user, invited])
    db.session.flush()
    for customer_id in customer_ids[:2]:
        db.session.add(PortalAccess(portal_user_id=user.id, customer_id=customer_id,
                                    invited_at=now, accepted_at=now))
    db.session.add(PortalAccess(portal_user_id=invited.id, customer_id=customer_ids[2], invited_at=now,
                                invite_expires_at=now + timedelta(days=7)))


def _seed_dossier_activity(customer_ids: list[int], customer_rows: list[dict], doc_rows: list[dict]) -> None:
    """Something for each Attention filter of the online dossier: an address a debtor left
    (a customer without one) and a question waiting for an answer."""
    now = now_utc()
    without = next((cid for cid, row in zip(customer_ids, customer_rows) if row["email"] is None), None)
    if without is not None:
        db.session.execute(update(Customer).where(Customer.id == without)
                           .values(provided_email="new.address@example.com", provided_email_at=now))
    asked = next((row for row in doc_rows if row["status"] == DocumentStatus.open), None)
    if asked is not None:
        db.session.add(DocumentMessage(document_id=asked["id"], customer_id=asked["customer_id"], author_kind="customer",
                                       body="Could I pay this invoice in two parts?", created_at=now))
        db.session.execute(update(Document).where(Document.id == asked["id"]).values(awaiting_answer_since=now))


def _fix_postgres_sequences() -> None:
    """Explicit ids bypass PostgreSQL's sequence; move it past them."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            select(func.setval(func.pg_get_serial_sequence("documents", "id"), func.max(Document.id)))
        )
