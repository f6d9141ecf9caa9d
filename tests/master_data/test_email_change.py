"""A new primary e-mail address takes effect only once the link sent to that address (and
to no one else) is followed: signed, single use, 24 hours. The previous address gets a
notice; staff hear of it like of any other change."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from models.customers import Customer
from models.db import db, now_utc
from models.one_time_codes import OneTimeCode
from models.services import master_data
from tests.conftest import soup_of
from tests.mailers.conftest import add_contact
from tests.master_data.conftest import (
    ENGLISH,
    dossier_entry,
    events,
    flashes,
    fresh_messages,
    outbox,
    section,
    stored,
)

LINK = re.compile(r"https://dossier\.example(/portal/confirm-email/[A-Za-z0-9_.-]+)")
NEW = "carla.new@example.org"


def change_address(entry, address: str = NEW):
    response = entry.post("/contact", {"contact-email": address, "contact-phone": "+31 20 555 0101",
                                       "contact-language": "en"})
    assert response.status_code == 302, response.data[:600]


def link_of(mail) -> str:
    in_text = set(LINK.findall(mail.text))
    in_html = set(LINK.findall(mail.html))
    assert len(in_text) == 1 and in_text == in_html, (in_text, in_html)
    return in_text.pop()


def confirm(client, path: str):
    page = client.get(path, headers=ENGLISH)
    assert page.status_code == 200, page.data[:600]
    token = soup_of(page).find("input", attrs={"name": "csrf_token"})["value"]
    return client.post(path, data={"csrf_token": token}, headers=ENGLISH)


def test_the_new_address_is_used_only_after_its_link_is_followed(app, entry, customer, staff, sink):
    add_contact(app, customer.id, "bookkeeper@example.com", invoice=True, account=True)
    change_address(entry)
    page = entry.get()
    assert f"We sent a link to {NEW}. Your new e-mail address is used once you open it." in flashes(page)
    assert f"Waiting for confirmation: {NEW} becomes your e-mail address" in section(page, "Contact details").get_text(" ")
    assert stored(app, customer).email == "carla@example.com"
    [requested] = events(app, customer, master_data.EMAIL_REQUESTED)
    assert requested.changes == {"email": ["carla@example.com", NEW]}

    [mail] = [m for m in fresh_messages(app, sink) if m.subject == "Confirm your new e-mail address for My business"]
    assert mail.to == [NEW] and mail.cc == [] and mail.rcpt_tos == [NEW]
    path = link_of(mail)
    assert path.split("/")[-1] not in repr(outbox(app, "customer_email_confirm")[0].context)

    # Opening the link (a mail scanner does that too) changes nothing; the button does.
    visitor = app.test_client()
    soup = soup_of(visitor.get(path, headers=ENGLISH))
    assert soup.find("h1").get_text(strip=True) == "Confirm your new e-mail address"
    assert stored(app, customer).email == "carla@example.com"
    response = confirm(visitor, path)
    assert response.status_code == 200
    assert f"Thank you. We now send our e-mails to {NEW}." in soup_of(response).get_text(" ")
    record = stored(app, customer)
    assert record.email == NEW and record.changes_unconfirmed_at is not None
    [changed] = events(app, customer, master_data.CHANGED)
    assert changed.changes == {"email": ["carla@example.com", NEW]}
    assert changed.actor_label.endswith(", confirmed from the new address")

    # The previous address is told (alone); the staff member hears of it.
    later = fresh_messages(app, sink)
    [notice] = [m for m in later if m.subject == "Your details at My business were changed"]
    assert notice.to == ["carla@example.com"] and notice.cc == []
    assert f"was changed just now to {NEW}" in notice.text
    assert [m.to for m in later if m.subject.startswith("Customer ")] == [[staff.email]]

    # Single use: the same link again is not valid.
    again = visitor.get(path, headers=ENGLISH)
    assert again.status_code == 404
    assert soup_of(again).find("h1").get_text(strip=True) == "This link is not valid any more"


def test_an_altered_link_is_not_found(app, customer, sink):
    entry = dossier_entry(app, customer)
    change_address(entry)
    [mail] = [m for m in fresh_messages(app, sink) if m.to == [NEW]]
    path = link_of(mail)
    payload, _, signature = path.rpartition(".")
    forged = payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    for bad in (forged, "/portal/confirm-email/nonsense", "/portal/confirm-email/" + "x" * 300):
        assert app.test_client().get(bad).status_code == 404
    assert stored(app, customer).email == "carla@example.com"


def test_an_expired_or_replaced_link_does_not_work(app, customer, sink):
    entry = dossier_entry(app, customer)
    change_address(entry)
    [first] = [m for m in fresh_messages(app, sink) if m.to == [NEW]]
    change_address(entry, "carla.other@example.org")
    [second] = [m for m in fresh_messages(app, sink) if m.to == ["carla.other@example.org"]]
    assert app.test_client().get(link_of(first)).status_code == 404  # replaced by the newer request
    with app.app_context():
        db.session.execute(update(OneTimeCode).values(expires_at=now_utc() - timedelta(seconds=1)))
        db.session.commit()
    assert app.test_client().get(link_of(second)).status_code == 404
    assert stored(app, customer).email == "carla@example.com"


def test_the_link_lives_for_24_hours(app, customer):
    change_address(dossier_entry(app, customer))
    [row] = outbox(app, "customer_email_confirm")
    with app.app_context():
        link = db.session.get(OneTimeCode, row.context["code_id"])
        assert link.expires_at - link.created_at == timedelta(hours=24)


def test_an_address_changed_by_staff_meanwhile_is_not_overwritten(app, customer, sink):
    entry = dossier_entry(app, customer)
    change_address(entry)
    [mail] = [m for m in fresh_messages(app, sink) if m.to == [NEW]]
    with app.app_context():
        db.session.get(Customer, customer.id).email = "office@carla.example.com"
        db.session.commit()
    response = confirm(app.test_client(), link_of(mail))
    assert response.status_code == 422
    assert "Your e-mail address was changed in the meantime." in soup_of(response).get_text(" ")
    assert stored(app, customer).email == "office@carla.example.com"


@pytest.mark.parametrize("address", ["CARLA@example.com", "carla@example.com "])
def test_the_same_address_again_sends_no_link(app, customer, address):
    change_address(dossier_entry(app, customer), address)
    assert outbox(app, "customer_email_confirm") == []
