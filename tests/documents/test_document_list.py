"""The document list (every customer's documents) and a customer's Documents tab: search by
number, customer name or e-mail part, filters by kind, status, customer and period, the
Attention filters with their counts, sorting, pages, and who sees what."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import insert, update

from models.db import db, now_utc
from models.documents import Document, DocumentKind, DocumentStatus
from tests import factories
from tests.conftest import count_queries, field_error, soup_of
from models import clock

TODAY = clock.today()


# --- reading the page as a person does ---------------------------------------------------------


def header_texts(table) -> list[str]:
    """Column headings without the sort arrow (aria-hidden, not read out)."""
    texts = []
    for th in table.thead.find_all("th"):
        for hidden in th.find_all(attrs={"aria-hidden": "true"}):
            hidden.extract()
        texts.append(th.get_text(" ", strip=True))
    return texts


def rows(soup) -> list[dict[str, str]]:
    table = soup.find("table")
    if table is None:
        return []
    headers = header_texts(table)
    return [dict(zip(headers, (td.get_text(" ", strip=True) for td in tr.find_all("td"))))
            for tr in table.tbody.find_all("tr")]


def numbers(soup) -> list[str]:
    return [row["Number"] for row in rows(soup)]


def count_text(soup) -> str:
    return soup.find("p", class_="count").get_text(strip=True)


def chips(soup, label: str) -> list[str]:
    return [a.get_text(" ", strip=True) for a in soup.find("nav", attrs={"aria-label": label}).find_all("a")]


def current_chip(soup, label: str) -> str:
    return soup.find("nav", attrs={"aria-label": label}).find("a", attrs={"aria-current": "page"}).get_text(" ", strip=True)


def link(soup, text: str) -> str:
    anchor = soup.find("a", string=lambda s: s and s.strip() == text)
    assert anchor is not None, f"no link {text!r}"
    return anchor["href"]


# --- data --------------------------------------------------------------------------------------


@pytest.fixture
def wagner(app):
    return factories.customer(name="Hannelore Wagner", email="h.wagner@bakkerij-zon.example")


@pytest.fixture
def jansen(app):
    return factories.customer(name="Piet Jansen", email="piet@jansen.example")


@pytest.fixture
def ledger(wagner, jansen):
    """Documents of every kind for two customers; their numbers by name."""
    made = {
        "wagner_invoice": factories.invoice(wagner, amount="200.00", issue_date=TODAY - timedelta(days=3)),
        "wagner_quote": factories.document(wagner, "quote", amount="50.00", issue_date=TODAY - timedelta(days=2)),
        "wagner_expired_quote": factories.document(wagner, "quote", amount="70.00", valid_days=5,
                                                   issue_date=TODAY - timedelta(days=20)),
        "wagner_delivery": factories.document(wagner, "delivery_note", amount="0.00", issue_date=TODAY - timedelta(days=1)),
        "jansen_invoice": factories.invoice(jansen, amount="10.00", due_in_days=-10),
        "jansen_order": factories.document(jansen, "order_confirmation", amount="30.00", issue_date=TODAY - timedelta(days=4)),
        "jansen_draft": factories.document(jansen, "invoice", amount="15.00", draft=True, issue_date=TODAY - timedelta(days=5)),
    }
    made["jansen_credit"] = factories.credit_note(made["jansen_invoice"], amount="2.00")
    return {name: document.number or "Draft" for name, document in made.items()}


# --- search ------------------------------------------------------------------------------------


def test_search_by_customer_name_finds_their_documents_of_every_kind(owner_client, ledger):
    for query in ("Wagner", "wagner", "  hannelore   WAGNER "):
        soup = owner_client.soup(f"/admin/documents?q={query}")
        assert sorted(numbers(soup)) == sorted(ledger[n] for n in ledger if n.startswith("wagner")), query
        assert {row["Customer"] for row in rows(soup)} == {"Hannelore Wagner"}
        assert count_text(soup) == "4 documents"
    assert numbers(owner_client.soup("/admin/documents?q=Nobody")) == []
    assert count_text(owner_client.soup("/admin/documents?q=Nobody")) == "0 documents"


def test_search_by_part_of_the_email_address(owner_client, ledger):
    soup = owner_client.soup("/admin/documents?q=bakkerij-zon")
    assert len(numbers(soup)) == 4 and {row["Customer"] for row in rows(soup)} == {"Hannelore Wagner"}
    assert {row["Customer"] for row in rows(owner_client.soup("/admin/documents?q=@JANSEN.ex"))} == {"Piet Jansen"}
    # "example" is in both addresses
    assert len(numbers(owner_client.soup("/admin/documents?q=.example"))) == len(ledger)


def test_search_by_number_of_any_kind(owner_client, ledger):
    quote = ledger["wagner_quote"]
    assert quote.startswith("Q-")
    assert numbers(owner_client.soup(f"/admin/documents?q={quote}")) == [quote]
    assert numbers(owner_client.soup(f"/admin/documents?q={quote.lower()}")) == [quote]  # numbers are found in any case
    credit = ledger["jansen_credit"]
    assert numbers(owner_client.soup(f"/admin/documents?q={credit[-8:]}&kind=credit_note")) == [credit]
    # % and _ are characters, not wildcards
    assert numbers(owner_client.soup("/admin/documents?q=%25")) == []
    assert numbers(owner_client.soup("/admin/documents?q=Q_")) == []


def test_the_search_form_keeps_the_filters_and_swaps_only_the_results(owner_client, ledger):
    soup = owner_client.soup("/admin/documents?kind=quote&status=pending&q=wagner")
    form = soup.find("form", role="search")
    assert form.find("input", id="q")["value"] == "wagner"
    assert {i["name"]: i["value"] for i in form.find_all("input", type="hidden")} == {"kind": "quote", "status": "pending"}
    assert form["hx-target"] == "#results" and form["hx-get"] == "/admin/documents"
    fragment = owner_client.get("/admin/documents?kind=quote&q=wagner", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    fragment = soup_of(fragment)
    assert fragment.find("html") is None and fragment.find("form", role="search") is None
    assert sorted(numbers(fragment)) == sorted([ledger["wagner_quote"], ledger["wagner_expired_quote"]])


# --- filters -------------------------------------------------------------------------------------


def test_every_kind_by_default_and_a_kind_filter(owner_client, ledger):
    soup = owner_client.soup("/admin/documents")
    assert sorted(numbers(soup)) == sorted(ledger.values())
    assert current_chip(soup, "Kind") == "All kinds"
    assert chips(soup, "Kind") == ["All kinds", "Invoices", "Reminders", "Quotes", "Credit notes",
                                   "Order confirmations", "Delivery notes"]
    kinds = {row["Number"]: row["Kind"] for row in rows(soup)}
    assert kinds[ledger["wagner_quote"]] == "Quote"
    assert kinds[ledger["jansen_credit"]] == "Credit note"
    assert kinds[ledger["wagner_delivery"]] == "Delivery note"

    quotes = owner_client.soup(link(soup, "Quotes"))
    assert sorted(numbers(quotes)) == sorted([ledger["wagner_quote"], ledger["wagner_expired_quote"]])
    assert current_chip(quotes, "Kind") == "Quotes"
    assert chips(quotes, "Status") == ["All", "Pending", "Accepted", "Rejected", "Expired"]  # a quote's statuses
    invoices = owner_client.soup("/admin/documents?kind=invoice")
    assert sorted(numbers(invoices)) == sorted(["Draft", ledger["wagner_invoice"], ledger["jansen_invoice"]])
    assert chips(invoices, "Status") == ["All", "Draft", "Open", "Partially paid", "Overdue", "Paid", "Cancelled"]


def test_status_filters_with_the_derived_ones(owner_client, ledger):
    def listed(query):
        return sorted(numbers(owner_client.soup(f"/admin/documents?{query}")))

    assert listed("status=expired") == [ledger["wagner_expired_quote"]]  # pending, valid-until passed
    assert listed("status=pending") == [ledger["wagner_quote"]]
    assert listed("status=overdue") == [ledger["jansen_invoice"]]
    assert listed("status=draft") == ["Draft"]
    assert listed("status=open") == [ledger["wagner_invoice"]]
    assert listed("status=partially_paid") == [ledger["jansen_invoice"]]  # its credit note took 2.00 off
    assert listed("status=issued") == sorted([ledger["wagner_delivery"], ledger["jansen_order"], ledger["jansen_credit"]])
    assert listed("kind=credit_note&status=issued") == [ledger["jansen_credit"]]
    # a status the kind never has is no filter (the kind's statuses are the choices)
    assert listed("kind=quote&status=paid") == sorted([ledger["wagner_quote"], ledger["wagner_expired_quote"]])
    assert current_chip(owner_client.soup("/admin/documents?kind=quote&status=paid"), "Status") == "All"
    soup = owner_client.soup("/admin/documents?status=expired")
    assert rows(soup)[0]["Status"] == "expired"
    assert current_chip(soup, "Status") == "Expired"


def test_rows_show_what_each_kind_has(owner_client, ledger):
    by_number = {row["Number"]: row for row in rows(owner_client.soup("/admin/documents"))}
    assert header_texts(owner_client.soup("/admin/documents").find("table")) == [
        "Number", "Kind", "Customer", "Issue date", "Due / valid until", "Total", "Outstanding", "Status"]
    invoice = by_number[ledger["jansen_invoice"]]
    assert (invoice["Total"], invoice["Outstanding"], invoice["Status"]) == ("€12.10", "€10.10", "partially paid overdue")
    quote = by_number[ledger["wagner_quote"]]
    assert quote["Outstanding"] == "—" and quote["Status"] == "pending"
    assert quote["Due / valid until"] != "—"  # the valid-until date
    draft = by_number["Draft"]
    assert (draft["Kind"], draft["Status"], draft["Outstanding"]) == ("Invoice", "draft", "—")
    assert by_number[ledger["wagner_delivery"]]["Due / valid until"] == "—"


def test_filter_by_customer_shows_a_removable_chip(owner_client, ledger, wagner, jansen):
    soup = owner_client.soup(f"/admin/documents?customer={jansen.id}&kind=invoice")
    assert sorted(numbers(soup)) == sorted(["Draft", ledger["jansen_invoice"]])
    chip = soup.find("a", attrs={"aria-label": "Remove the filter: customer Piet Jansen"})
    assert chip.get_text(" ", strip=True) == "Piet Jansen ×"
    assert "customer=" not in chip["href"] and "kind=invoice" in chip["href"]
    assert len(numbers(owner_client.soup(chip["href"]))) == 3  # every customer's invoices again
    # the other filter links keep the customer
    assert f"customer={jansen.id}" in link(soup, "Quotes")
    assert soup.find("form", role="search").find("input", attrs={"name": "customer"})["value"] == str(jansen.id)
    # a customer's name in the table leads to the customer
    assert f"/admin/customers/{jansen.id}" in soup.find("table").tbody.find("a", string="Piet Jansen")["href"]


def test_the_attention_filters_show_their_counts(app, owner_client, ledger, wagner):
    paper = factories.customer(name="Paper Paul", email=None)
    unpaid = factories.invoice(paper)
    factories.invoice(paper, status=DocumentStatus.paid, amount_paid="121.00")  # nothing to chase
    provided = factories.customer(name="Dora Dossier", email=None, provided_email="dora@example.com")
    provided_invoice = factories.invoice(provided)
    with app.app_context():
        db.session.execute(update(Document).where(Document.number == ledger["wagner_invoice"])
                           .values(awaiting_answer_since=now_utc()))
        db.session.commit()
    soup = owner_client.soup("/admin/documents")
    assert chips(soup, "Attention") == ["No e-mail address known 2", "E-mail address provided 1",
                                        "Unanswered questions 1"]
    expected = {
        "No e-mail address known": [unpaid.number, provided_invoice.number],
        "E-mail address provided": [provided_invoice.number],
        "Unanswered questions": [ledger["wagner_invoice"]],
    }
    nav = soup.find("nav", attrs={"aria-label": "Attention"})
    for anchor in nav.find_all("a"):
        label = anchor.find(string=True, recursive=False).strip()
        listed = owner_client.soup(anchor["href"])
        assert sorted(numbers(listed)) == sorted(expected[label]), label
        assert current_chip(listed, "Attention").startswith(label)
        # the chip of the filter in use takes it off again
        off = listed.find("nav", attrs={"aria-label": "Attention"}).find("a", attrs={"aria-current": "page"})["href"]
        assert "attention" not in off
    # the old address and its links keep working
    assert sorted(numbers(owner_client.soup("/admin/invoices?attention=no_email"))) == sorted(expected["No e-mail address known"])


# --- sorting and pages ---------------------------------------------------------------------------


def test_sorting_by_each_column(owner_client, ledger):
    def order(query):
        return numbers(owner_client.soup(f"/admin/documents?{query}"))

    newest_first = order("")
    assert newest_first[0] == ledger["jansen_credit"]  # today (the credit note's date), then older
    assert order("sort=date&dir=asc") == list(reversed(newest_first))
    by_number = order("sort=number")
    assert by_number[-1] == "Draft"  # a draft has no number yet: last, either way
    assert by_number[:-1] == sorted(by_number[:-1])
    assert order("sort=number&dir=desc")[:-1] == sorted(by_number[:-1], reverse=True)
    assert order("sort=number&dir=desc")[-1] == "Draft"
    amounts = [row["Total"] for row in rows(owner_client.soup("/admin/documents?sort=amount"))]
    assert amounts[0] == "€242.00" and amounts[-1] == "€0.00"  # largest first
    customers = [row["Customer"] for row in rows(owner_client.soup("/admin/documents?sort=customer"))]
    assert customers == ["Hannelore Wagner"] * 4 + ["Piet Jansen"] * 4
    customers = [row["Customer"] for row in rows(owner_client.soup("/admin/documents?sort=customer&dir=desc"))]
    assert customers == ["Piet Jansen"] * 4 + ["Hannelore Wagner"] * 4
    due = order("sort=due")
    # valid until fifteen days ago, due ten days ago
    assert due[:2] == [ledger["wagner_expired_quote"], ledger["jansen_invoice"]]
    assert set(due[-3:]) == {ledger["wagner_delivery"], ledger["jansen_order"], ledger["jansen_credit"]}  # no date


def test_the_sort_headers_say_which_way_and_turn_it_round(owner_client, ledger):
    soup = owner_client.soup("/admin/documents?kind=quote&sort=amount&dir=asc")
    table = soup.find("table")
    sorted_by = table.thead.find("th", attrs={"aria-sort": True})
    assert (sorted_by.a.get_text(strip=True), sorted_by["aria-sort"]) == ("Total", "ascending")
    assert "dir=desc" in sorted_by.a["href"] and "kind=quote" in sorted_by.a["href"]
    again = owner_client.soup(sorted_by.a["href"])
    assert again.find("th", attrs={"aria-sort": True})["aria-sort"] == "descending"
    assert [row["Total"] for row in rows(again)] == ["€84.70", "€60.50"]


def test_pages_keep_the_filters(app, owner_client, wagner):
    for day in range(30):
        factories.document(wagner, "quote", issue_date=TODAY - timedelta(days=day + 1))
    factories.invoice(wagner)
    soup = owner_client.soup("/admin/documents?kind=quote")
    assert count_text(soup) == "30 documents"
    assert len(numbers(soup)) == 25
    nav = soup.find("nav", attrs={"aria-label": "Pages"})
    assert nav.find("span").get_text(strip=True) == "Page 1 of 2"
    following = nav.find("a", rel="next")["href"]
    assert "kind=quote" in following
    fragment = soup_of(owner_client.get(following, headers={"HX-Request": "true"}))
    assert fragment.find("html") is None
    assert len(numbers(fragment)) == 5 and all(n.startswith("Q-") for n in numbers(fragment))


def test_the_main_navigation_names_the_list_documents(owner_client, ledger):
    soup = owner_client.soup("/admin/documents")
    main = soup.find("nav", attrs={"aria-label": "Main"})
    assert main.find("a", attrs={"aria-current": "page"}).get_text(strip=True) == "Documents"
    assert main.find("a", string="Documents")["href"] == "/admin/documents"
    assert soup.find("h1").get_text(strip=True) == "Documents"


# --- who sees what -------------------------------------------------------------------------------


def test_an_employee_sees_only_their_customers_documents(app, employee, employee_client, ledger, jansen, wagner):
    mine = factories.customer(assigned_to=[employee], name="Mina Mine", email=None)
    own = factories.invoice(mine)
    own_quote = factories.document(mine, "quote")
    soup = employee_client.soup("/admin/documents")
    assert sorted(numbers(soup)) == sorted([own.number, own_quote.number])
    assert count_text(soup) == "2 documents"
    assert chips(soup, "Attention")[0] == "No e-mail address known 1"  # only their customer's invoice
    assert numbers(employee_client.soup("/admin/documents?q=Wagner")) == []
    assert numbers(employee_client.soup(f"/admin/documents?q={ledger['wagner_quote']}")) == []
    assert employee_client.get(f"/admin/documents?customer={wagner.id}").status_code == 404
    assert employee_client.get(f"/admin/customers/{wagner.id}/documents").status_code == 404
    assert sorted(numbers(employee_client.soup(f"/admin/customers/{mine.id}/documents"))) == sorted(
        [own.number, own_quote.number])
    fragment = soup_of(employee_client.get("/admin/documents", headers={"HX-Request": "true"}))
    assert sorted(numbers(fragment)) == sorted([own.number, own_quote.number])


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("query", [
    "kind=bogus", "status=bogus", "sort=bogus", "dir=sideways", "attention=bogus", "kind=%00", "status=open%00",
    "customer=abc", "customer=-1", "customer=99999999999999999999", "customer=%00", "q=%00", "q=" + "x" * 5000,
    "q=%FF%FE", "sort=number&dir=%00", "page=-1", "page=abc", "date_from=yesterday",
])
def test_unknown_filters_are_left_out(owner_client, ledger, query):
    response = owner_client.get(f"/admin/documents?{query}")
    assert response.status_code == 200, (query, response.status_code)
    assert soup_of(response).find("p", class_="count") is not None


def test_a_customer_that_does_not_exist_is_not_found(owner_client, ledger):
    assert owner_client.get("/admin/documents?customer=2147483647").status_code == 404


# --- the Documents tab ---------------------------------------------------------------------------


def test_the_documents_tab_lists_every_kind_of_one_customer(owner_client, ledger, wagner):
    soup = owner_client.soup(f"/admin/customers/{wagner.id}/documents")
    tabs = soup.find("nav", attrs={"aria-label": "Customer sections"})
    assert tabs.find("a", attrs={"aria-current": "page"}).get_text(strip=True) == "Documents"
    assert sorted(numbers(soup)) == sorted(ledger[n] for n in ledger if n.startswith("wagner"))
    assert "Customer" not in header_texts(soup.find("table"))
    assert soup.find("h2", string="Account statement") is not None
    overview = owner_client.soup(f"/admin/customers/{wagner.id}")
    assert overview.find("nav", attrs={"aria-label": "Customer sections"}).find("a", string="Documents")["href"] \
        == f"/admin/customers/{wagner.id}/documents"


def test_the_documents_tab_filters_by_kind_status_and_period(owner_client, ledger, wagner):
    base = f"/admin/customers/{wagner.id}/documents"

    def listed(query):
        return sorted(numbers(owner_client.soup(f"{base}?{query}")))

    assert listed("kind=quote") == sorted([ledger["wagner_quote"], ledger["wagner_expired_quote"]])
    assert listed("kind=quote&status=expired") == [ledger["wagner_expired_quote"]]
    assert listed("status=open") == [ledger["wagner_invoice"]]
    since = (TODAY - timedelta(days=2)).isoformat()
    assert listed(f"date_from={since}") == sorted([ledger["wagner_quote"], ledger["wagner_delivery"]])
    assert listed(f"date_to={(TODAY - timedelta(days=3)).isoformat()}") == sorted(
        [ledger["wagner_invoice"], ledger["wagner_expired_quote"]])
    assert listed(f"date_from={since}&date_to={since}") == [ledger["wagner_quote"]]
    soup = owner_client.soup(f"{base}?kind=quote&status=pending&date_from={since}")
    assert soup.find("select", id="kind").find("option", selected=True)["value"] == "quote"
    assert soup.find("select", id="status").find("option", selected=True)["value"] == "pending"
    assert soup.find("input", id="date_from")["value"] == since
    # sorting keeps the filters
    header = soup.find("table").thead.find("a", string="Number")
    assert "kind=quote" in header["href"] and f"date_from={since}" in header["href"]


def test_the_documents_tab_sorts_and_pages(owner_client, wagner):
    for day in range(27):
        factories.document(wagner, "delivery_note", issue_date=TODAY - timedelta(days=day))
    base = f"/admin/customers/{wagner.id}/documents"
    first = owner_client.soup(f"{base}?sort=number&dir=asc")
    assert numbers(first) == sorted(numbers(first)) and len(numbers(first)) == 25
    following = first.find("nav", attrs={"aria-label": "Pages"}).find("a", rel="next")["href"]
    assert "sort=number" in following and "dir=asc" in following
    second = owner_client.soup(following)
    assert len(numbers(second)) == 2 and numbers(second)[0] > numbers(first)[-1]
    fragment = soup_of(owner_client.get(following, headers={"HX-Request": "true"}))
    assert fragment.find("html") is None and numbers(fragment) == numbers(second)


@pytest.mark.parametrize("query, label, message", [
    ("date_from=31-12-2025", "From", "Enter the date as YYYY-MM-DD, e.g. 2025-03-31."),
    ("date_from=2025-02-30", "From", "Enter the date as YYYY-MM-DD, e.g. 2025-03-31."),
    ("date_to=%00", "Until", "Enter the date as YYYY-MM-DD, e.g. 2025-03-31."),
    ("date_from=0001-01-01", "From", "Enter a date between 1900 and 2999."),
    ("date_to=9999-12-31", "Until", "Enter a date between 1900 and 2999."),
    ("date_from=2025-05-01&date_to=2025-04-01", "Until", "The end of the period cannot be before its start."),
])
def test_a_bad_period_is_shown_at_its_field(owner_client, ledger, wagner, query, label, message):
    response = owner_client.get(f"/admin/customers/{wagner.id}/documents?{query}")
    assert response.status_code == 422
    soup = soup_of(response)
    assert field_error(soup, label) == message
    assert len(numbers(soup)) == 4  # the bad date is left out: the documents are still there
    # HTMX swaps the form with the results (422 is swapped): the message shows there too
    fragment = owner_client.get(f"/admin/customers/{wagner.id}/documents?{query}", headers={"HX-Request": "true"})
    assert fragment.status_code == 422
    assert soup_of(fragment).find("html") is None and field_error(soup_of(fragment), label) == message
    # the downloads refuse it with the same words
    for download in ("statement.csv", "statement.pdf"):
        refused = owner_client.get(f"/admin/customers/{wagner.id}/documents/{download}?{query}")
        assert refused.status_code == 400
        assert message in refused.get_data(as_text=True)


@pytest.mark.parametrize("query", ["kind=bogus", "status=bogus", "sort=bogus&dir=bogus", "sort=customer",
                                   "page=99999999", "date_from=", "date_to=&date_from="])
def test_the_documents_tab_leaves_out_what_it_does_not_know(owner_client, ledger, wagner, query):
    response = owner_client.get(f"/admin/customers/{wagner.id}/documents?{query}")
    assert response.status_code == 200, query


# --- SQL statements per page ---------------------------------------------------------------------


def _bulk_documents(app, customer_ids: list[int], count: int) -> None:
    """`count` documents of every kind spread over the customers, inserted in bulk."""
    kinds = list(DocumentKind)
    with app.app_context():
        db.session.execute(insert(Document.__table__), [
            {"customer_id": customer_ids[n % len(customer_ids)], "kind": kinds[n % len(kinds)],
             "number": f"BULK-{n:06d}", "issue_date": TODAY - timedelta(days=n % 400),
             "due_date": TODAY + timedelta(days=14 - n % 60), "currency": "EUR",
             "status": DocumentStatus.open if kinds[n % len(kinds)] in (DocumentKind.invoice, DocumentKind.reminder)
             else DocumentStatus.pending if kinds[n % len(kinds)] == DocumentKind.quote else DocumentStatus.issued,
             "net_total": 10000, "tax_total": 2100, "gross_total": 12100, "amount_paid": 0, "amount_credited": 0,
             "amount_written_off": 0, "released_to_portal": True, "created_at": now_utc()}
            for n in range(count)
        ])
        db.session.commit()


def _statements(app, client, path: str) -> int:
    client.get(path)  # warm up
    with count_queries(app) as statements:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return len(statements)


# staff member; attention counts; count; page of documents joined with their customers
# (+ the customer named by ?customer=)
PINNED_LIST = {"list": 4, "search": 4, "filtered": 5}
# staff member, customer, count, page of documents, the statement's documents and payments
# (+ the two opening balances with a start date)
PINNED_TAB = {"tab": 6, "tab with a period": 8}


@pytest.mark.parametrize("size", [10, 400])
def test_query_counts_do_not_grow_with_the_documents(app, owner_client, size):
    first = factories.customer(name="Bulk Berta", email=None)
    second = factories.customer(name="Bulk Bert")
    _bulk_documents(app, [first.id, second.id], size)
    invoice = factories.invoice(first)
    factories.credit_note(invoice, amount="5.00")
    listed = owner_client.soup("/admin/documents")
    assert len(numbers(listed)) == min(size + 2, 25)
    tab = owner_client.soup(f"/admin/customers/{first.id}/documents")
    statement_rows = tab.find(id="statement-h").find_parent("section").find("tbody").find_all("tr")
    bulk_invoices = [n for n in range(size) if n % 2 == 0 and list(DocumentKind)[n % 6] == DocumentKind.invoice]
    assert len(statement_rows) == len(bulk_invoices) + 2  # the statement really holds the data measured
    measured = {
        "list": _statements(app, owner_client, "/admin/documents?sort=customer"),
        "search": _statements(app, owner_client, "/admin/documents?q=bulk&kind=invoice&status=overdue"),
        "filtered": _statements(app, owner_client, f"/admin/documents?customer={first.id}&attention=no_email"),
    }
    assert measured == PINNED_LIST
    since = (TODAY - timedelta(days=100)).isoformat()
    measured = {
        "tab": _statements(app, owner_client, f"/admin/customers/{first.id}/documents"),
        "tab with a period": _statements(app, owner_client, f"/admin/customers/{first.id}/documents?date_from={since}"),
    }
    assert measured == PINNED_TAB
