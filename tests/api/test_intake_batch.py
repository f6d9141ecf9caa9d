"""intake.upsert_customers, the batch door: the same results as upsert_customer record by
record (each in a savepoint of its own, as the import ran them), in a constant number of
statements per batch."""

from __future__ import annotations

import copy
import json
import random
from collections import Counter as Multiset

import pytest
from sqlalchemy import select

from models.audit import AuditEvent
from models.contacts import ContactPerson
from models.counters import Counter
from models.customers import Customer, CustomFieldDefinition, CustomFieldValue
from models.db import db
from models.events import Event
from models.services.csv_import import runner
from models.services.errors import DomainError
from models.services.intake import upsert_customer, upsert_customers
from tests.conftest import count_queries

LABEL = "import “batch.csv”"
EXTERNAL_IDS = [f"E{i}" for i in range(8)]
NUMBERS = ["N1", "N2", "n2", "N3", "C00002", "C00004", "K-7"]
ADDRESSES = ["ann@x.example", "Bob@x.example", "cas@x.example", "dee@x.example", "eve@x.example", "bad address"]
TAGS = ["vip", "Wholesale", "late payer", "new"]


def random_record(rng: random.Random) -> dict:
    """A record as the package (or a CSV row) sends it: mostly valid, sometimes refused."""
    record: dict = {}
    if rng.random() < 0.8:
        record["external_id"] = rng.choice(EXTERNAL_IDS)
    if rng.random() < 0.5:
        record["number"] = rng.choice(NUMBERS)
    if rng.random() < 0.9:
        record["name"] = rng.choice(["Ann Smith", "Bob Jones", "Cas de Vries"])
    if rng.random() < 0.4:
        record["kind"] = "company"
        if rng.random() < 0.85:
            record["company_name"] = rng.choice(["Smith BV", "Jones Ltd"])
    if rng.random() < 0.6:
        record["email"] = rng.choice(["office@x.example", "ANN@x.example", None, "not an address"])
    if rng.random() < 0.5:
        record["city"] = rng.choice(["Utrecht", "Gouda", ""])
    if rng.random() < 0.3:
        record["portal_access"] = rng.choice([True, False, "yes"])
    if rng.random() < 0.5:
        record["tags"] = rng.sample(TAGS, rng.randint(0, 3))
    if rng.random() < 0.4:
        record["custom_fields"] = {rng.choice(["Region", "Limit", "Since", "Nope"]): rng.choice(
            ["North", "12.5", "2026-01-02", "", None, "x"]) for _ in range(rng.randint(1, 2))}
    if rng.random() < 0.6:
        count = rng.choice([0, 1, 2, 3, 11]) if rng.random() < 0.1 else rng.randint(0, 3)
        record["contact_persons"] = [
            {"name": rng.choice(["Bob", "Cas", "Dee"]), "email": rng.choice(ADDRESSES),
             **({"role": rng.choice(["billing", "technical"])} if rng.random() < 0.3 else {}),
             **({"invoice_emails": False} if rng.random() < 0.2 else {})}
            for _ in range(count)]
    return record


def seed(app) -> None:
    """What the database holds before the batches: custom fields and a few customers."""
    with app.app_context():
        db.session.add_all([CustomFieldDefinition(label="Region", kind="text"),
                            CustomFieldDefinition(label="Limit", kind="number"),
                            CustomFieldDefinition(label="Since", kind="date")])
        db.session.commit()
        for data in ({"external_id": "E1", "number": "N1", "name": "Old One", "tags": ["vip"],
                      "custom_fields": {"Region": "South"},
                      "contact_persons": [{"name": "Ann", "email": "ann@x.example"},
                                          {"name": "Eve", "email": "eve@x.example"}]},
                     {"number": "N3", "name": "No External Id", "city": "Gouda"},
                     {"external_id": "E5", "name": "Numbered By The App"}):
            upsert_customer(data, actor_label="seed")
        db.session.commit()


def state() -> dict:
    """Everything the upserts leave, without ids (which differ between the two ways)."""
    fields = {d.id: d.label for d in db.session.scalars(select(CustomFieldDefinition))}
    numbers = {c.id: c.number for c in db.session.scalars(select(Customer))}
    customers = {}
    for c in db.session.scalars(select(Customer)):
        customers[c.number] = {
            "columns": {k: getattr(c, k) for k in ("external_id", "kind", "name", "company_name", "email", "city",
                                                   "portal_access", "sort_key", "country", "language")},
            "tags": [t.name for t in c.tags],
            "custom": sorted((fields[v.field_id], v.value) for v in db.session.scalars(
                select(CustomFieldValue).where(CustomFieldValue.customer_id == c.id))),
            "contacts": sorted((p.name, p.email, p.phone, p.role.value, p.invoice_emails, p.account_emails)
                               for p in db.session.scalars(select(ContactPerson).where(ContactPerson.customer_id == c.id))),
        }
    audits = Multiset((a.action, a.actor_label, numbers.get(a.customer_id), json.dumps(a.changes, sort_keys=True))
                      for a in db.session.scalars(select(AuditEvent)))
    events = []
    for e in db.session.scalars(select(Event).order_by(Event.id)):
        data = copy.deepcopy(e.data)
        data["customer"].pop("id")
        data["contact_person"].pop("id")
        events.append((e.type, numbers.get(e.customer_id), json.dumps(data, sort_keys=True)))
    counter = db.session.scalar(select(Counter.value).where(Counter.name == "customer"))
    return {"customers": customers, "audit": audits, "events": Multiset(events), "counter": counter}


def outcome_of(result) -> tuple:
    customer, outcome = result
    if isinstance(outcome, DomainError):
        return ("refused", outcome.field, str(outcome.message))
    return (outcome, customer.number)


def sequentially(batches: list[list[dict]]) -> list[tuple]:
    runner._open_transaction()  # SQLite: a savepoint outside a transaction would commit on release
    outcomes = []
    for batch in batches:
        results = []
        for data in batch:
            try:
                with db.session.begin_nested():
                    results.append(upsert_customer(copy.deepcopy(data), actor_label=LABEL))
            except DomainError as error:
                results.append((None, error))
        outcomes += [outcome_of(r) for r in results]  # numbers as the batch left them
    return outcomes


def batched(batches: list[list[dict]]) -> list[tuple]:
    outcomes = []
    for batch in batches:
        outcomes += [outcome_of(r) for r in upsert_customers(copy.deepcopy(batch), actor_label=LABEL)]
    return outcomes


def both_ways(app, batches: list[list[dict]]) -> tuple[tuple, tuple]:
    """The batches through upsert_customer one by one, then (that rolled back) through
    upsert_customers: (outcomes, state) of each."""
    with app.app_context():
        one_by_one = sequentially(batches), state()
        db.session.rollback()
        assert state()["counter"] == 1  # the seed only: the first way left nothing
        at_once = batched(batches), state()
        db.session.rollback()
    return one_by_one, at_once


@pytest.mark.parametrize("seed_value", range(12))
def test_random_batches_give_what_one_by_one_gives(app, seed_value):
    seed(app)
    rng = random.Random(seed_value)
    batches = [[random_record(rng) for _ in range(rng.randint(1, 40))] for _ in range(3)]
    (outcomes, state_one), (outcomes_batch, state_batch) = both_ways(app, batches)
    assert outcomes_batch == outcomes
    for key in ("audit", "events"):
        assert (state_batch[key] - state_one[key], state_one[key] - state_batch[key]) == (Multiset(), Multiset())
    assert state_batch == state_one
    kinds = Multiset(o[0] for o in outcomes)
    assert kinds["created"] and kinds["refused"]  # the generator reaches both



def test_duplicates_within_a_batch(app):
    seed(app)
    new = {"external_id": "D1", "name": "Dup", "tags": ["vip"],
           "contact_persons": [{"name": "Bob", "email": "bob@x.example"}]}
    batch = [new, dict(new), {**new, "city": "Delft"}, {**new, "contact_persons": []}, dict(new, city="Delft")]
    (outcomes, one), (outcomes_batch, at_once) = both_ways(app, [batch])
    assert [o[0] for o in outcomes_batch] == ["created", "unchanged", "updated", "updated", "updated"]
    assert outcomes_batch == outcomes and at_once == one


def test_a_refused_record_mid_batch_leaves_nothing(app):
    seed(app)
    batch = [{"external_id": "R1", "name": "First"},
             {"external_id": "R2", "name": "Refused", "contact_persons": [
                 {"name": "Bob", "email": "bob@x.example"}, {"name": "Bad", "email": "not an address"}]},
             {"external_id": "R3", "name": "Third", "number": "N1"},  # N1 belongs to E1
             {"external_id": "R4", "name": "Fourth"}]
    (outcomes, one), (outcomes_batch, at_once) = both_ways(app, [batch])
    assert outcomes_batch == outcomes and at_once == one
    assert outcomes_batch[1][:2] == ("refused", "contact_persons[1].email")
    assert outcomes_batch[2][:2] == ("refused", "number")
    # the refused record took no number: the fourth gets the one after the first's
    assert [outcomes_batch[0][1], outcomes_batch[3][1]] == ["C00002", "C00003"]
    assert "R2" not in {c["columns"]["external_id"] for c in at_once["customers"].values()}


def new_records(count: int, start: int = 0) -> list[dict]:
    return [{"external_id": f"Q{i}", "name": f"Customer {i}", "kind": "company", "company_name": f"Firm {i}",
             "email": f"office{i}@x.example", "tags": ["vip", f"t{start}-{i % 3}"], "custom_fields": {"Region": "North"},
             "contact_persons": [{"name": f"Contact {i}", "email": f"c{i}@x.example"}]}
            for i in range(start, start + count)]


def statements(app, records: list[dict]) -> list[str]:
    with app.app_context():
        with count_queries(app) as sent:
            results = upsert_customers(records, actor_label=LABEL)
            db.session.flush()
        assert not [r for r in results if isinstance(r[1], DomainError)]
        db.session.commit()
    return sent


def test_statements_per_batch_do_not_grow_with_its_size(app):
    """On PostgreSQL every write is one multi-row statement (a JSON recordset, the new rows'
    ids read from their sequence first, or insertmanyvalues) and every lookup one array
    parameter. SQLite's driver sends an INSERT … RETURNING per row when the ORM needs the
    new ids back in order; everything else is constant there too."""
    seed(app)
    with app.app_context():
        postgresql = db.engine.dialect.name == "postgresql"

    def reads(sent):
        return [s for s in sent if not s.lstrip().upper().startswith(("INSERT", "SELECT NEXTVAL("))]

    statements(app, [{"external_id": "warm", "name": "Warm", "tags": ["vip"]}])  # vip exists for both
    small, large = statements(app, new_records(5)), statements(app, new_records(60, start=5))
    assert len(reads(small)) == len(reads(large)) <= 8
    if postgresql:
        assert len(small) == len(large) <= 16
        assert not [s for s in large if "IN (" in s]  # keys go as one array: the same text for any size
    # Sent again: all unchanged, and cheaper still (nothing is written).
    again_small, again_large = statements(app, new_records(5)), statements(app, new_records(60, start=5))
    assert len(again_small) == len(again_large) <= 8
    assert not [s for s in again_large if not s.lstrip().upper().startswith("SELECT")]
    changed = statements(app, [dict(r, city="Delft") for r in new_records(60, start=5)])
    assert len(reads(changed)) <= 8 + 2  # the customers' UPDATE, executemany
    if postgresql:
        assert len(changed) <= 16


def test_automatic_numbers_skip_one_taken_in_another_case(app):
    """Numbers are unique ignoring case (the database's index too): a customer numbered
    "c00001" by hand makes the counter's C00001 taken, for a batch and for one record."""
    with app.app_context():
        upsert_customer({"number": "c00001", "name": "Typed By Hand"}, actor_label=LABEL)
        db.session.commit()
        results = upsert_customers([{"name": "First"}, {"name": "Second"}], actor_label=LABEL)
        db.session.commit()
        assert [(customer.number, outcome) for customer, outcome in results] == [
            ("C00002", "created"), ("C00003", "created")]
        customer, _ = upsert_customer({"name": "Third"}, actor_label=LABEL)
        db.session.commit()
        assert customer.number == "C00004"
        assert sorted(db.session.scalars(select(Customer.number))) == ["C00002", "C00003", "C00004", "c00001"]
