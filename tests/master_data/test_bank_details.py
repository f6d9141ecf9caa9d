"""Bank details need a one-time code e-mailed to the customer's primary address (To that
address alone: a CC'd contact person holds the dossier link but never gets the code). The
code works once, for 15 minutes, 5 tries; it is kept only as an HMAC. After the change the
primary address gets a notice, and staff see a warning until one of them confirms."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from models.db import db, now_utc
from models.one_time_codes import OneTimeCode
from models.services import master_data, one_time_codes
from tests import factories
from tests.conftest import StaffClient, field_error, login, soup_of
from tests.mailers.conftest import add_contact
from tests.master_data.conftest import (
    OTHER_IBAN,
    VALID_IBAN,
    code_in,
    codes,
    deliver_queued,
    dossier_entry,
    events,
    flashes,
    fresh_messages,
    mint_latest_code,
    outbox,
    portal_entry,
    section,
    stored,
)

NEW_BANK = {"bank-iban": "nl91 abna 0417 1643 00", "bank-bic": "ABNANL2A", "bank-bank_holder": "Carla C. Customer"}


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def ask_for_code(entry, data=NEW_BANK):
    response = entry.post("/bank", data)
    assert response.status_code == 302, response.data[:800]
    return response


def test_the_code_goes_to_the_primary_address_alone_and_saves_the_details(app, entry, customer, staff, sink):
    add_contact(app, customer.id, "bookkeeper@example.com", invoice=True, account=True)  # CC'd on every mail
    ask_for_code(entry)
    page = entry.get()
    assert flashes(page) == ["We sent a code to c•••@example.com. Enter it below to save the new bank details."]
    assert stored(app, customer).iban == "NL02RABO0123456789"  # nothing changes before the code

    [mail] = [m for m in fresh_messages(app, sink) if m.subject == "Your code for My business"]
    assert mail.to == ["carla@example.com"] and mail.cc == [] and mail.rcpt_tos == ["carla@example.com"]
    assert all("bookkeeper@example.com" not in m.rcpt_tos for m in sink.received())
    code = code_in(mail)
    # At rest only an HMAC of the code: neither the code table nor the outbox row holds it.
    [row] = codes(app, customer)
    assert row.secret_hash and code not in row.secret_hash and len(row.secret_hash) == 64
    assert code not in repr(outbox(app, one_time_codes.CODE_TEMPLATE)[0].context)

    response = entry.post("/bank/confirm", {"code-code": code})
    assert response.status_code == 302
    assert flashes(entry.get()) == ["Your new bank details are saved. We will check them before we use them."]
    record = stored(app, customer)
    assert (record.iban, record.bic, record.bank_holder) == (VALID_IBAN, "ABNANL2A", "Carla C. Customer")
    assert record.bank_unconfirmed is True and record.changes_unconfirmed_at is not None
    [event] = events(app, customer, master_data.CHANGED)
    assert event.changes == {"iban": ["NL02RABO0123456789", VALID_IBAN], "bic": [None, "ABNANL2A"],
                             "bank_holder": ["Carla Customer", "Carla C. Customer"]}

    # The notice to the primary address, and the staff mail (the IBAN shown by its end only).
    later = fresh_messages(app, sink)
    [notice] = [m for m in later if m.subject == "Your details at My business were changed"]
    assert notice.to == ["carla@example.com"] and notice.cc == []
    assert "The bank details of your account at My business were changed just now." in notice.text
    [to_staff] = [m for m in later if m.to == [staff.email]]
    assert "IBAN: …6789 → …4300" in to_staff.text and VALID_IBAN not in to_staff.text
    # The code works once.
    assert entry.post("/bank/confirm", {"code-code": code}).status_code == 422


def test_a_wrong_code_changes_nothing_and_five_tries_lock_the_code(app, entry, customer):
    ask_for_code(entry)
    code = mint_latest_code(app)
    for left in (4, 3, 2, 1):
        response = entry.post("/bank/confirm", {"code-code": wrong(code)})
        assert response.status_code == 422
        assert field_error(soup_of(response), "Code from the e-mail") == \
            f"This code is not right. You can try {left} more {'time' if left == 1 else 'times'}."
    response = entry.post("/bank/confirm", {"code-code": wrong(code)})
    assert field_error(soup_of(response), "Code from the e-mail") == \
        "This code was entered wrongly too often and no longer works. Ask for a new code."
    # Locked: the right code no longer works either.
    response = entry.post("/bank/confirm", {"code-code": code})
    assert response.status_code == 422
    assert field_error(soup_of(response), "Code from the e-mail") == \
        "This code was entered wrongly too often and no longer works. Ask for a new code."
    assert codes(app, customer)[0].attempts == 5
    record = stored(app, customer)
    assert record.iban == "NL02RABO0123456789" and record.bank_unconfirmed is False
    assert events(app, customer, master_data.CHANGED) == []
    # A new code (the details entered again) works.
    ask_for_code(entry)
    assert entry.post("/bank/confirm", {"code-code": mint_latest_code(app)}).status_code == 302
    assert stored(app, customer).iban == VALID_IBAN


def test_an_expired_code_is_refused(app, entry, customer):
    ask_for_code(entry)
    code = mint_latest_code(app)
    with app.app_context():
        db.session.execute(update(OneTimeCode).values(expires_at=now_utc() - timedelta(seconds=1)))
        db.session.commit()
    response = entry.post("/bank/confirm", {"code-code": code})
    assert response.status_code == 422
    assert field_error(soup_of(response), "Code from the e-mail") == "This code has expired. Ask for a new code."
    assert stored(app, customer).iban == "NL02RABO0123456789"


def test_the_code_is_valid_for_fifteen_minutes(app, customer):
    entry = dossier_entry(app, customer)
    ask_for_code(entry)
    [row] = codes(app, customer)
    assert row.expires_at - row.created_at == timedelta(minutes=15)


def test_a_new_code_replaces_the_one_before(app, entry, customer):
    ask_for_code(entry)
    first = mint_latest_code(app)
    ask_for_code(entry, {**NEW_BANK, "bank-iban": OTHER_IBAN, "bank-bic": ""})
    second = mint_latest_code(app)
    if first != second:
        assert entry.post("/bank/confirm", {"code-code": first}).status_code == 422
    assert entry.post("/bank/confirm", {"code-code": second}).status_code == 302
    assert stored(app, customer).iban == OTHER_IBAN  # the details that came with the second code


def test_a_code_mail_still_queued_when_its_code_was_replaced_is_not_sent(app, customer, sink):
    entry = dossier_entry(app, customer)
    ask_for_code(entry)
    ask_for_code(entry, {**NEW_BANK, "bank-iban": OTHER_IBAN, "bank-bic": ""})
    results = list(fresh_messages_results(app))
    assert results.count("not-needed") == 1 and results.count("sent") == 1
    assert len([m for m in sink.received() if m.subject == "Your code for My business"]) == 1


def fresh_messages_results(app):
    return deliver_queued(app).values()


def test_at_most_five_codes_an_hour(app, customer):
    entry = dossier_entry(app, customer)
    for _ in range(5):
        ask_for_code(entry)
    response = entry.post("/bank", NEW_BANK)
    assert response.status_code == 422
    assert "We have sent you several codes in the last hour. Please wait a while and try again." in \
        response.get_data(as_text=True)
    assert len(codes(app, customer)) == 5


def test_without_a_primary_address_bank_details_cannot_be_changed(app, staff):
    customer = factories.customer(assigned_to=[staff], name="No Mail", email=None, language="en")
    entry = dossier_entry(app, customer)
    page = entry.get()
    assert section(page, "Bank details").find("form") is None
    assert "We have no e-mail address for you" in section(page, "Bank details").get_text(" ")
    response = entry.post("/bank", NEW_BANK)
    assert response.status_code == 422
    assert codes(app, customer) == [] and stored(app, customer).iban is None


def test_the_replaced_primary_address_hears_of_a_bank_change_too(app, customer, sink):
    """Someone who took over the e-mail address first must not change the bank details unseen."""
    entry = dossier_entry(app, customer)
    entry.post("/contact", {"contact-email": "new.carla@example.com", "contact-phone": "", "contact-language": "en"})
    [link_mail] = [m for m in fresh_messages(app, sink) if m.to == ["new.carla@example.com"]]
    confirm = re.search(r"https://dossier\.example(/portal/confirm-email/\S+)", link_mail.text).group(1)
    token = soup_of(entry.client.get(confirm)).find("input", attrs={"name": "csrf_token"})["value"]
    assert entry.client.post(confirm, data={"csrf_token": token}).status_code == 200
    fresh_messages(app, sink)
    ask_for_code(entry)
    [code_mail] = [m for m in fresh_messages(app, sink) if m.subject == "Your code for My business"]
    assert code_mail.to == ["new.carla@example.com"]
    assert entry.post("/bank/confirm", {"code-code": code_in(code_mail)}).status_code == 302
    notices = [m for m in fresh_messages(app, sink) if m.subject == "Your details at My business were changed"]
    assert sorted(m.to[0] for m in notices) == ["carla@example.com", "new.carla@example.com"]
    assert all(len(m.to) == 1 and m.cc == [] for m in notices)


# --- staff: the warning and the confirmation ---------------------------------------------------------


@pytest.fixture
def changed(app, customer):
    entry = portal_entry(app, customer)
    ask_for_code(entry)
    assert entry.post("/bank/confirm", {"code-code": mint_latest_code(app)}).status_code == 302
    return customer


def confirm_button(soup):
    return soup.find("button", string="Confirm new bank details")


def test_staff_see_the_warning_until_someone_confirms(app, changed, owner_client):
    for tab in ("", "/info", "/notes"):
        soup = owner_client.soup(f"/admin/customers/{changed.id}{tab}")
        assert "The customer changed the bank details themselves: not confirmed yet." in soup.get_text(" ")
    info = owner_client.soup(f"/admin/customers/{changed.id}/info")
    part = section(info, "Changed by the customer")
    assert f"IBAN {VALID_IBAN}" in part.get_text(" ")
    assert "iban : NL02RABO0123456789 → " + VALID_IBAN in part.get_text(" ")
    form = confirm_button(info).find_parent("form")
    response = owner_client.post(form["action"], {i["name"]: i.get("value", "") for i in form.find_all("input")})
    assert response.status_code == 302
    info = owner_client.soup(f"/admin/customers/{changed.id}/info")
    assert "not confirmed yet" not in info.get_text(" ") and info.find(id="customer-changes-h") is None
    record = stored(app, changed)
    assert record.bank_unconfirmed is False and record.changes_unconfirmed_at is None
    [event] = events(app, changed, master_data.CONFIRMED)
    assert event.actor_label == "Olga Owner <owner@example.test>"
    assert event.changes["bank details"] == [VALID_IBAN, "confirmed"]


def test_bank_details_changed_again_after_the_page_was_shown_are_not_confirmed(app, changed, owner_client):
    info = owner_client.soup(f"/admin/customers/{changed.id}/info")
    form = confirm_button(info).find_parent("form")
    values = {i["name"]: i.get("value", "") for i in form.find_all("input")}
    entry = dossier_entry(app, changed)  # meanwhile the customer changes them again
    ask_for_code(entry, {**NEW_BANK, "bank-iban": OTHER_IBAN, "bank-bic": ""})
    entry.post("/bank/confirm", {"code-code": mint_latest_code(app)})
    response = owner_client.post(form["action"], values)
    assert response.status_code == 302
    soup = owner_client.soup(response.headers["Location"])
    assert "The bank details changed again after you opened this page. Check them and confirm again." in \
        soup.find(class_="flashes").get_text(" ")
    assert stored(app, changed).bank_unconfirmed is True
    assert events(app, changed, master_data.CONFIRMED) == []


def test_only_assigned_staff_owners_and_admins_may_confirm(app, changed, staff):
    onlooker = factories.staff(role="employee", email="sees.all@example.test", view_all=True)
    hidden = factories.staff(role="employee", email="not.assigned@example.test")
    admin = factories.staff(role="admin", email="admin@example.test")
    url = f"/admin/customers/{changed.id}/info"
    for user, may in ((staff, True), (admin, True), (onlooker, False)):
        client = StaffClient(login(app.test_client(), user), user)
        soup = client.soup(url)
        assert (confirm_button(soup) is not None) == may, user.email
        if not may:
            assert "The staff assigned to this customer, owners and admins confirm these changes." in soup.get_text(" ")
            response = client.post(f"/admin/customers/{changed.id}/customer-changes/confirm",
                                   {"iban": VALID_IBAN})
            assert response.status_code == 403
    client = StaffClient(login(app.test_client(), hidden), hidden)
    assert client.get(url).status_code == 404
    assert client.post(f"/admin/customers/{changed.id}/customer-changes/confirm", {"iban": VALID_IBAN}).status_code == 404
    assert stored(app, changed).bank_unconfirmed is True


def test_the_attention_filter_lists_customers_with_unconfirmed_changes(app, changed, owner_client):
    quiet = factories.customer(name="Quinn Quiet", email="quinn@example.com")
    soup = owner_client.soup("/admin/customers?attention=changed_by_customer")
    names = [a.get_text(strip=True) for a in soup.find("table").find("tbody").find_all("a")]
    assert names == ["Carla Customer"]
    assert soup.find("label", string="Changed by the customer, not confirmed") is not None
    everyone = owner_client.soup("/admin/customers")
    assert {a.get_text(strip=True) for a in everyone.find("tbody").find_all("a")} == {"Carla Customer", quiet.name}
    assert "changed by the customer" in everyone.find("tbody").get_text(" ")
