"""The details page and the staff's view of the changes cost the same number of SQL
statements with 3 or 60 changes and codes behind them."""

from __future__ import annotations

import pytest

from tests.conftest import count_queries
from tests.master_data.conftest import dossier_entry, portal_entry

ADDRESS = {"address-street": "Street {n}", "address-postal_code": "1234 AB", "address-city": "Utrecht",
           "address-country": "NL"}
BANK = {"bank-iban": "NL91ABNA0417164300", "bank-bank_holder": "Holder"}
# The link with its customer, the settings, the bank code and the e-mail link waiting (one
# statement for both).
PINNED_DOSSIER_DETAILS = 3
# The login (portal user, access with its customer), the settings, what is waiting.
PINNED_PORTAL_DETAILS = 4
# The staff member, customer, dossier link, history, portal logins, contacts, field
# definitions and values, tags, assigned staff (as without changes), and the unconfirmed
# changes (one statement, only while there are some).
PINNED_INFO_WITH_CHANGES = 11


def _changes(entry, size: int) -> None:
    for n in range(size):
        assert entry.post("/address", {**ADDRESS, "address-street": f"Street {n}"}).status_code == 302
    for _ in range(min(size, 4)):  # codes (5 an hour at most)
        assert entry.post("/bank", BANK).status_code == 302


def _count(app, client, url: str) -> int:
    with count_queries(app) as statements:
        response = client.get(url)
    assert response.status_code == 200, response.data[:500]
    return len(statements)


@pytest.mark.parametrize("size", [3, 60])
def test_the_details_page_costs_the_same_whatever_came_before(app, customer, size):
    entry = dossier_entry(app, customer)
    _changes(entry, size)
    assert _count(app, entry.client, entry.base) == PINNED_DOSSIER_DETAILS
    portal = portal_entry(app, customer)
    assert _count(app, portal.client, portal.base) == PINNED_PORTAL_DETAILS


@pytest.mark.parametrize("size", [3, 60])
def test_the_info_tab_with_the_customers_changes_costs_one_statement_more(app, customer, owner_client, size):
    _changes(dossier_entry(app, customer), size)
    owner_client.get(f"/admin/customers/{customer.id}/info")  # the dossier link exists after the first view
    assert _count(app, owner_client.client, f"/admin/customers/{customer.id}/info") == PINNED_INFO_WITH_CHANGES
    soup = owner_client.soup(f"/admin/customers/{customer.id}/info")
    rows = soup.find(id="customer-changes-h").find_parent("section").find("tbody").find_all("tr")
    assert len(rows) == min(size, 20)
