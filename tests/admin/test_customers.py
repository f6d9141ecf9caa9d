"""Customers as staff see them: the list and its search, the form, the tabs, notes and custom fields."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from urllib.parse import urlencode

from sqlalchemy import select

from models.audit import AuditEvent
from models.customers import Customer, CustomFieldValue, Note
from models.db import db, now_utc
from models.documents import DocumentStatus
from tests import factories
from tests.conftest import field_error, input_value, soup_of


# ---------------------------------------------------------------- reading pages like a person


def customer_names(soup) -> list[str]:
    """The names in the customer table, top to bottom (the link text of each row)."""
    table = soup.find("table")
    if table is None:
        return []
    headers = [th.get_text(strip=True) for th in table.thead.find_all("th")]
    assert headers[:2] == ["Name", "Customer number"]
    return [row.find("td").find("a").get_text(strip=True) for row in table.tbody.find_all("tr")]


def table_rows(table) -> list[dict[str, str]]:
    headers = [th.get_text(strip=True) for th in table.thead.find_all("th")]
    return [
        dict(zip(headers, (cell.get_text(" ", strip=True) for cell in row.find_all(["td", "th"]))))
        for row in table.tbody.find_all("tr")
    ]


def section(soup, heading: str):
    """The <section> (or <aside>) a heading introduces."""
    h = soup.find(["h1", "h2"], string=lambda s: s and s.strip() == heading)
    assert h is not None, f"no heading {heading!r}"
    return h.find_parent(["section", "aside"])


def details(soup) -> dict[str, str]:
    """The Info tab's account details as term → description."""
    dl = section(soup, "Account details").find("dl")
    return {dt.get_text(strip=True): dt.find_next_sibling("dd").get_text(" ", strip=True) for dt in dl.find_all("dt")}


def history(soup) -> list[dict[str, str]]:
    table = section(soup, "History").find("table")
    return table_rows(table) if table else []


def browser_form_data(form) -> dict[str, list[str]]:
    """What a browser would submit for this <form> as it is (no submit button, no files)."""
    data: dict[str, list[str]] = {}
    for control in form.find_all(["input", "select", "textarea"]):
        name = control.get("name")
        if not name or control.has_attr("disabled"):
            continue
        if control.name == "input":
            kind = control.get("type", "text")
            if kind in ("submit", "button", "reset", "file", "image"):
                continue
            if kind in ("checkbox", "radio") and not control.has_attr("checked"):
                continue
            data.setdefault(name, []).append(control.get("value", "on"))
        elif control.name == "select":
            options = control.find_all("option")
            chosen = [o for o in options if o.has_attr("selected")] or options[:1]
            data.setdefault(name, []).extend(o.get("value", o.get_text()) for o in chosen)
        else:
            text = control.get_text()
            data.setdefault(name, []).append(text[2:] if text.startswith("\r\n") else text.removeprefix("\n"))
    return data


def customer_form(**values) -> dict:
    data = {
        "kind": "individual", "name": "", "company_name": "", "number": "", "email": "", "phone": "",
        "street": "", "postal_code": "", "city": "", "country": "NL", "language": "nl", "vat_id": "",
        "tax_number": "", "iban": "", "bic": "", "bank_holder": "", "tags": "",
    }
    data.update(values)
    return data


def created_id(response) -> int:
    assert response.status_code == 302, soup_of(response).get_text(" ", strip=True)[:800]
    location = response.headers["Location"]
    assert location.startswith("/admin/customers/") and location.endswith("/info"), location
    return int(location.split("/")[3])


def load(app, customer_id: int) -> Customer:
    with app.app_context():
        customer = db.session.get(Customer, customer_id)
        customer.tags, customer.assigned_staff  # noqa: B018 - load before detaching
        db.session.expunge(customer)
        return customer


# ---------------------------------------------------------------- the list


def test_list_is_sorted_by_name(owner_client):
    for name in ("Charlie Chaplin", "Alice Archer", "Bob Builder"):
        factories.customer(name=name)
    soup = owner_client.soup("/admin/customers")
    assert soup.find("h1").get_text(strip=True) == "Customers"
    assert customer_names(soup) == ["Alice Archer", "Bob Builder", "Charlie Chaplin"]
    assert soup.find("p", class_="count").get_text(strip=True) == "3 customers"


SEARCHES = [
    ("VRIES", ["Anna de Vries"]),  # part of the name, other case
    ("bouw b.v", ["Jansen Bouw B.V."]),  # part of the company name
    ("k-2024/17", ["Karl Klein"]),  # the customer number
    ("ANNA.DV@", ["Anna de Vries"]),  # part of the e-mail address
    ("@jansenbouw", ["Jansen Bouw B.V."]),
    ("  vries  ", ["Anna de Vries"]),  # surrounding spaces do not matter
    ("nobody-like-this", []),
]


def test_search(owner_client):
    factories.customer(name="Anna de Vries", email="anna.dv@example.test")
    factories.customer(name="Piet Jansen", kind="company", company_name="Jansen Bouw B.V.", email="info@jansenbouw.example")
    factories.customer(name="Karl Klein", number="K-2024/17", email="karl@example.test")
    for query, expected in SEARCHES:
        soup = owner_client.soup("/admin/customers?" + urlencode({"q": query}))
        assert customer_names(soup) == expected, query
        assert soup.find("input", id="q")["value"] == query
        if not expected:
            assert soup.find("p", class_="empty").get_text(strip=True) == "No customers match your search."


def test_search_wildcards_match_literally(owner_client):
    # Without escaping, "50%" would also match "50 Percent Store" and "r_s" "UnderXScore".
    for name in ("50% Discount Shop", "50 Percent Store", "Under_Score Ltd", "UnderXScore Ltd"):
        factories.customer(name=name)
    for query, expected in [("50%", "50% Discount Shop"), ("r_s", "Under_Score Ltd"), ("%", "50% Discount Shop")]:
        response = owner_client.get("/admin/customers", query_string={"q": query})
        assert customer_names(soup_of(response)) == [expected], query


def test_filter_by_tag(owner_client):
    owner_client.post("/admin/customers/new", data=customer_form(name="Vera Vip", tags="vip, wholesale"))
    owner_client.post("/admin/customers/new", data=customer_form(name="Walter Wholesale", tags="wholesale"))
    owner_client.post("/admin/customers/new", data=customer_form(name="Nina None"))
    soup = owner_client.soup("/admin/customers")
    assert [o.get_text(strip=True) for o in soup.find("select", id="tag").find_all("option")] == ["All tags", "vip", "wholesale"]
    assert customer_names(owner_client.soup("/admin/customers?tag=vip")) == ["Vera Vip"]
    assert customer_names(owner_client.soup("/admin/customers?tag=wholesale")) == ["Vera Vip", "Walter Wholesale"]
    assert customer_names(owner_client.soup("/admin/customers?tag=wholesale&q=walter")) == ["Walter Wholesale"]
    assert customer_names(owner_client.soup("/admin/customers?tag=")) == ["Nina None", "Vera Vip", "Walter Wholesale"]


def test_pagination_25_per_page(app, owner_client):
    with app.app_context():
        db.session.add_all(
            Customer(number=f"P{n:03d}", name=f"Customer {n:02d}", country="NL", language="nl") for n in range(1, 31)
        )
        db.session.commit()
    first = owner_client.soup("/admin/customers")
    assert first.find("p", class_="count").get_text(strip=True) == "30 customers"
    names_1 = customer_names(first)
    assert names_1 == [f"Customer {n:02d}" for n in range(1, 26)]
    nav = first.find("nav", attrs={"aria-label": "Pages"})
    assert nav.find("span").get_text(strip=True) == "Page 1 of 2"
    assert nav.find("a", rel="prev") is None
    next_link = nav.find("a", rel="next")
    assert next_link.get_text(strip=True) == "Next"

    second = owner_client.soup(next_link["href"])
    assert customer_names(second) == [f"Customer {n:02d}" for n in range(26, 31)]
    nav = second.find("nav", attrs={"aria-label": "Pages"})
    assert nav.find("span").get_text(strip=True) == "Page 2 of 2"
    assert nav.find("a", rel="next") is None
    assert nav.find("a", rel="prev")["href"] == "/admin/customers?page=1"


def test_pagination_keeps_the_search(app, owner_client):
    with app.app_context():
        db.session.add_all(Customer(number=f"M{n:03d}", name=f"Match {n:02d}", country="NL") for n in range(1, 28))
        db.session.add_all(Customer(number=f"O{n:03d}", name=f"Other {n:02d}", country="NL") for n in range(1, 5))
        db.session.commit()
    soup = owner_client.soup("/admin/customers?q=match")
    assert soup.find("nav", attrs={"aria-label": "Pages"}).find("span").get_text(strip=True) == "Page 1 of 2"
    second = owner_client.soup(soup.find("a", rel="next")["href"])
    assert customer_names(second) == ["Match 26", "Match 27"]


def test_small_list_has_no_pagination(owner_client):
    factories.customer(name="Only One")
    assert owner_client.soup("/admin/customers").find("nav", attrs={"aria-label": "Pages"}) is None


def test_attention_filter_lists_customers_without_an_e_mail_address(owner_client):
    factories.customer(name="Reachable Rita")
    factories.customer(name="Unreachable Uwe", email=None)
    soup = owner_client.soup("/admin/customers?attention=no_email")
    assert customer_names(soup) == ["Unreachable Uwe"]
    label = soup.find("label", string="No e-mail address known")
    assert soup.find(id=label["for"]).has_attr("checked")
    assert customer_names(owner_client.soup("/admin/customers")) == ["Reachable Rita", "Unreachable Uwe"]


def test_archived_customers_are_hidden_unless_included(owner_client):
    factories.customer(name="Active Anna")
    factories.customer(name="Archived Arthur", archived_at=now_utc())
    soup = owner_client.soup("/admin/customers")
    assert customer_names(soup) == ["Active Anna"]
    assert not soup.find("input", attrs={"name": "archived"}).has_attr("checked")
    soup = owner_client.soup("/admin/customers?archived=1")
    assert customer_names(soup) == ["Active Anna", "Archived Arthur"]
    assert soup.find("input", attrs={"name": "archived"}).has_attr("checked")
    row = soup.find("a", string="Archived Arthur").find_parent("tr")
    assert row.find("span", class_="badge").get_text(strip=True) == "archived"
    assert customer_names(owner_client.soup("/admin/customers?q=arthur")) == []


def test_htmx_request_gets_only_the_results(owner_client):
    factories.customer(name="Hilde Htmx")
    fragment = owner_client.get("/admin/customers?q=hilde", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "HX-Request" in fragment.headers["Vary"]
    text = fragment.get_data(as_text=True)
    assert "<html" not in text and "<h1" not in text and 'role="search"' not in text
    assert customer_names(soup_of(fragment)) == ["Hilde Htmx"]

    page = owner_client.get("/admin/customers?q=hilde")
    assert "HX-Request" in page.headers["Vary"]
    soup = soup_of(page)
    assert soup.find("html") is not None
    assert soup.find("h1").get_text(strip=True) == "Customers"
    assert soup.find("form", role="search") is not None
    assert customer_names(soup.find(id="results")) == ["Hilde Htmx"]


def test_boosted_htmx_request_gets_the_full_page(owner_client):
    response = owner_client.get("/admin/customers", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert soup_of(response).find("html") is not None


# ---------------------------------------------------------------- creating


def test_create_individual(app, owner_client):
    soup = owner_client.soup("/admin/customers/new")
    assert soup.find("h1").get_text(strip=True) == "New customer"
    response = owner_client.post("/admin/customers/new", data=customer_form(
        name="  Ilse Individual ", email="Ilse@Example.COM", phone="+31 20 123 4567",
        street="Kerkstraat 1", postal_code="1012 AB", city="Amsterdam", language="nl",
    ))
    customer = load(app, created_id(response))
    assert (customer.name, customer.email, customer.kind.value, customer.company_name) == (
        "Ilse Individual", "ilse@example.com", "individual", None,
    )
    info = owner_client.soup(response.headers["Location"])
    assert info.find("p", class_="alert-success").get_text(strip=True) == "Customer Ilse Individual was created."
    assert info.find("h1").get_text(strip=True) == "Ilse Individual"
    shown = details(info)
    assert shown["Kind"] == "Individual"
    assert shown["Primary e-mail address"] == "ilse@example.com"
    assert shown["Address"] == "Kerkstraat 1 1012 AB Amsterdam Netherlands"
    assert "Company name" not in shown


def test_create_company_requires_company_name(app, owner_client):
    response = owner_client.post("/admin/customers/new", data=customer_form(kind="company", name="Carl Contact"))
    assert response.status_code == 422
    soup = soup_of(response)
    assert field_error(soup, "Company name") == "A company needs a company name."
    assert field_error(soup, "Name") is None
    assert input_value(soup, "Name") == "Carl Contact"  # what was typed stays
    with app.app_context():
        assert db.session.scalar(select(Customer.id)) is None

    response = owner_client.post("/admin/customers/new", data=customer_form(
        kind="company", name="Carl Contact", company_name="Contact Holding B.V.", vat_id="NL123456789B01",
    ))
    customer = load(app, created_id(response))
    assert (customer.kind.value, customer.company_name) == ("company", "Contact Holding B.V.")
    info = owner_client.soup(response.headers["Location"])
    assert info.find("h1").get_text(strip=True) == "Contact Holding B.V."
    shown = details(info)
    assert (shown["Kind"], shown["Company name"], shown["Name"]) == ("Company", "Contact Holding B.V.", "Carl Contact")


def test_name_is_required(owner_client):
    response = owner_client.post("/admin/customers/new", data=customer_form(name="   "))
    assert response.status_code == 422
    assert field_error(soup_of(response), "Name") == "Enter a name."


def test_customer_number_is_assigned_when_empty(app, owner_client):
    first = load(app, created_id(owner_client.post("/admin/customers/new", data=customer_form(name="First"))))
    second = load(app, created_id(owner_client.post("/admin/customers/new", data=customer_form(name="Second"))))
    assert (first.number, second.number) == ("C00001", "C00002")


def test_assigned_number_skips_numbers_taken_by_hand(app, owner_client):
    created_id(owner_client.post("/admin/customers/new", data=customer_form(name="Manual", number="C00001")))
    auto = load(app, created_id(owner_client.post("/admin/customers/new", data=customer_form(name="Auto"))))
    assert auto.number == "C00002"


def test_customer_number_must_be_unique(app, owner_client):
    created_id(owner_client.post("/admin/customers/new", data=customer_form(name="First", number="A-100")))
    response = owner_client.post("/admin/customers/new", data=customer_form(name="Second", number="a-100"))
    assert response.status_code == 422
    assert field_error(soup_of(response), "Customer number") == "This customer number is already in use."
    with app.app_context():
        assert db.session.scalars(select(Customer.name)).all() == ["First"]


def test_iban_is_normalised_and_checked(app, owner_client):
    response = owner_client.post("/admin/customers/new", data=customer_form(
        name="Ivo Iban", iban="nl91 abna 0417 1643 00", bic="abnanl2a",
    ))
    customer = load(app, created_id(response))
    assert customer.iban == "NL91ABNA0417164300"
    assert customer.bic == "ABNANL2A"
    assert details(owner_client.soup(response.headers["Location"]))["IBAN"] == "NL91ABNA0417164300"

    response = owner_client.post("/admin/customers/new", data=customer_form(name="Bad Iban", iban="NL91 ABNA 0417 1643 01"))
    assert response.status_code == 422
    assert field_error(soup_of(response), "IBAN") == "This is not a valid IBAN."


def test_tags_come_from_comma_separated_text(app, owner_client):
    response = owner_client.post("/admin/customers/new", data=customer_form(name="Tina Tags", tags="VIP, wholesale,, vip , new "))
    customer = load(app, created_id(response))
    assert [t.name for t in customer.tags] == ["new", "vip", "wholesale"]
    info = owner_client.soup(response.headers["Location"])
    assert details(info)["Tags"] == "new vip wholesale"
    # an existing tag is reused, not duplicated
    other = load(app, created_id(owner_client.post("/admin/customers/new", data=customer_form(name="Olaf", tags="vip"))))
    assert [t.id for t in other.tags] == [t.id for t in customer.tags if t.name == "vip"]


def test_manager_assigns_staff(app, owner_client, employee, employee_client):
    other = factories.staff(role="employee", name="Otto Other")
    form = owner_client.soup("/admin/customers/new")
    legend = form.find("legend", string="Assigned staff")
    assert legend is not None
    options = [label.get_text(strip=True) for label in legend.find_parent("fieldset").find_all("label")]
    assert "Eli Employee (employee@example.test)" in options and "Otto Other (%s)" % other.email in options

    response = owner_client.post("/admin/customers/new", data={
        **customer_form(name="Assigned Alma"), "assigned_staff_ids": [str(employee.id)],
    })
    customer = load(app, created_id(response))
    assert [s.id for s in customer.assigned_staff] == [employee.id]
    assert details(owner_client.soup(response.headers["Location"]))["Assigned staff"] == "Eli Employee"
    factories.customer(name="Unassigned Ulla")
    # the employee sees the assigned customer only
    assert customer_names(employee_client.soup("/admin/customers")) == ["Assigned Alma"]
    assert employee_client.get(f"/admin/customers/{customer.id}").status_code == 200


def test_employee_form_has_no_staff_assignment(employee_client):
    soup = employee_client.soup("/admin/customers/new")
    assert soup.find("legend", string="Assigned staff") is None


def test_employee_who_creates_a_customer_is_assigned_and_sees_it(app, employee, employee_client):
    factories.customer(name="Somebody Else's")
    response = employee_client.post("/admin/customers/new", data=customer_form(name="Eigen Klant"))
    customer = load(app, created_id(response))
    assert [s.id for s in customer.assigned_staff] == [employee.id]
    assert employee_client.get(response.headers["Location"]).status_code == 200
    assert customer_names(employee_client.soup("/admin/customers")) == ["Eigen Klant"]


def test_employee_cannot_open_a_customer_not_assigned(employee_client):
    other = factories.customer(name="Hidden Hannah")
    for path in (f"/admin/customers/{other.id}", f"/admin/customers/{other.id}/info", f"/admin/customers/{other.id}/edit"):
        assert employee_client.get(path).status_code == 404, path


# ---------------------------------------------------------------- editing and its history


def test_edit_form_shows_the_saved_values(app, owner_client, employee):
    response = owner_client.post("/admin/customers/new", data={
        **customer_form(kind="company", name="Eva Edit", company_name="Edit Works B.V.", email="eva@edit.example",
                        city="Utrecht", country="BE", language="de", iban="NL91ABNA0417164300", tags="vip, wholesale"),
        "assigned_staff_ids": [str(employee.id)],
    })
    customer_id = created_id(response)
    soup = owner_client.soup(f"/admin/customers/{customer_id}/edit")
    assert soup.find("h1").get_text(strip=True) == "Edit Edit Works B.V."
    assert input_value(soup, "Name") == "Eva Edit"
    assert input_value(soup, "Company name") == "Edit Works B.V."
    assert input_value(soup, "Primary e-mail address") == "eva@edit.example"
    assert input_value(soup, "City") == "Utrecht"
    assert input_value(soup, "Country") == "BE"
    assert input_value(soup, "Language") == "de"
    assert input_value(soup, "IBAN") == "NL91ABNA0417164300"
    assert input_value(soup, "Tags") == "vip, wholesale"
    kind = soup.find("legend", string="Kind").find_parent("fieldset")
    assert [i["value"] for i in kind.find_all("input", checked=True)] == ["company"]
    staff = soup.find("legend", string="Assigned staff").find_parent("fieldset")
    assert [i["value"] for i in staff.find_all("input", checked=True)] == [str(employee.id)]


def test_saving_the_form_unchanged_changes_nothing(app, owner_client, employee):
    response = owner_client.post("/admin/customers/new", data={
        **customer_form(kind="company", name="Una Unchanged", company_name="Same Old Ltd", tags="vip, new",
                        iban="DE89370400440532013000", number="U-1"),
        "assigned_staff_ids": [str(employee.id)],
    })
    customer_id = created_id(response)
    before = load(app, customer_id)
    form = owner_client.soup(f"/admin/customers/{customer_id}/edit").find("form", class_="stacked")
    response = owner_client.post(f"/admin/customers/{customer_id}/edit", data=browser_form_data(form))
    assert response.status_code == 302, soup_of(response).get_text(" ", strip=True)[:800]
    after = load(app, customer_id)
    for name in ("kind", "name", "company_name", "number", "iban", "country", "language"):
        assert getattr(after, name) == getattr(before, name), name
    assert [t.name for t in after.tags] == ["new", "vip"]
    assert [s.id for s in after.assigned_staff] == [employee.id]
    whats = [row["What"] for row in history(owner_client.soup(f"/admin/customers/{customer_id}/info"))]
    assert whats == ["Customer created"]


def test_edit_records_who_changed_what(app, owner_client):
    customer_id = created_id(owner_client.post("/admin/customers/new", data=customer_form(
        name="Old Name", city="Utrecht", tags="vip",
    )))
    form = owner_client.soup(f"/admin/customers/{customer_id}/edit").find("form", class_="stacked")
    data = browser_form_data(form)
    data.update(name=["New Name"], city=["Rotterdam"], tags=["vip, retail"])
    response = owner_client.post(f"/admin/customers/{customer_id}/edit", data=data)
    assert response.headers["Location"] == f"/admin/customers/{customer_id}/info"
    info = owner_client.soup(response.headers["Location"])
    assert info.find("p", class_="alert-success").get_text(strip=True) == "The changes were saved."
    assert details(info)["Name"] == "New Name"
    rows = history(info)
    assert [r["What"] for r in rows] == ["Customer updated", "Customer created"]
    latest = rows[0]
    assert latest["Who"] == "Olga Owner <owner@example.test>"
    changes = info.find("h2", string="History").find_next("tbody").find("tr").find_all("td")[3]
    lines = sorted(div.get_text(" ", strip=True) for div in changes.find_all("div"))
    assert lines == ["city : Utrecht → Rotterdam", "name : Old Name → New Name", "tags : vip → retail, vip"]
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "customer.updated"))
        assert event.changes == {"name": ["Old Name", "New Name"], "city": ["Utrecht", "Rotterdam"], "tags": ["vip", "retail, vip"]}


def test_invalid_edit_keeps_what_was_typed(owner_client):
    customer = factories.customer(name="Kept Values")
    form = owner_client.soup(f"/admin/customers/{customer.id}/edit").find("form", class_="stacked")
    data = browser_form_data(form)
    data.update(city=["Leiden"], email=["not an address"])
    response = owner_client.post(f"/admin/customers/{customer.id}/edit", data=data)
    assert response.status_code == 422
    soup = soup_of(response)
    assert field_error(soup, "Primary e-mail address") == "Enter a valid e-mail address."
    assert input_value(soup, "City") == "Leiden"
    assert input_value(soup, "Name") == "Kept Values"


def test_archive_and_restore(app, owner_client):
    customer = factories.customer(name="Archie Archive")
    info = owner_client.soup(f"/admin/customers/{customer.id}/info")
    assert info.find("button", string="Archive customer") is not None
    response = owner_client.post(f"/admin/customers/{customer.id}/archive", data={"confirm": "1"})
    assert response.headers["Location"] == f"/admin/customers/{customer.id}/info"
    info = owner_client.soup(response.headers["Location"])
    assert info.find("p", class_="alert-success").get_text(strip=True) == "The customer was archived."
    assert info.find("h1").find("span", class_="badge").get_text(strip=True) == "archived"
    assert info.find("button", string="Restore customer") is not None
    assert customer_names(owner_client.soup("/admin/customers")) == []
    assert load(app, customer.id).archived_at is not None

    response = owner_client.post(f"/admin/customers/{customer.id}/archive", data={"restore": "1"})
    info = owner_client.soup(response.headers["Location"])
    assert info.find("p", class_="alert-success").get_text(strip=True) == "The customer was restored."
    assert info.find("h1").find("span") is None
    assert customer_names(owner_client.soup("/admin/customers")) == ["Archie Archive"]
    assert [r["What"] for r in history(info)] == ["Customer restored", "Customer archived"]
    assert load(app, customer.id).archived_at is None


def test_archive_needs_the_csrf_token(app, owner_client):
    customer = factories.customer(name="Safe Sam")
    response = owner_client.client.post(f"/admin/customers/{customer.id}/archive")
    assert response.status_code == 400
    assert load(app, customer.id).archived_at is None


# ---------------------------------------------------------------- notes and the overview


def test_add_note_on_the_notes_page(app, owner_client):
    customer = factories.customer(name="Noah Notes")
    soup = owner_client.soup(f"/admin/customers/{customer.id}/notes")
    assert section(soup, "Notes").find("p", class_="empty").get_text(strip=True) == "No notes yet."
    response = owner_client.post(f"/admin/customers/{customer.id}/notes", data={"body": "  Called about the roof.  "})
    assert response.headers["Location"] == f"/admin/customers/{customer.id}/notes"
    soup = owner_client.soup(response.headers["Location"])
    notes = section(soup, "Notes").find_all("article", class_="note")
    assert [n.p.get_text() for n in notes] == ["Called about the roof."]
    assert notes[0].footer.get_text(strip=True).startswith("Olga Owner ·")
    with app.app_context():
        assert db.session.scalars(select(Note.body)).all() == ["Called about the roof."]


def test_empty_note_is_refused(app, owner_client):
    customer = factories.customer()
    response = owner_client.post(f"/admin/customers/{customer.id}/notes", data={"body": "   "})
    assert response.status_code == 422
    assert field_error(soup_of(response), "Note") == "Write something before saving the note."
    with app.app_context():
        assert db.session.scalar(select(Note.id)) is None


def test_add_note_from_the_overview(owner_client):
    customer = factories.customer(name="Olive Overview")
    overview = owner_client.soup(f"/admin/customers/{customer.id}")
    form = section(overview, "Latest notes").find("form")
    data = browser_form_data(form)
    data["body"] = ["Sent from the overview."]
    response = owner_client.post(form["action"], data=data)
    assert response.headers["Location"] == f"/admin/customers/{customer.id}"
    overview = owner_client.soup(response.headers["Location"])
    notes = section(overview, "Latest notes").find_all("article", class_="note")
    assert [n.p.get_text() for n in notes] == ["Sent from the overview."]


def test_overview_shows_the_five_latest_notes(owner_client):
    customer = factories.customer(name="Many Notes")
    for n in range(1, 8):
        assert owner_client.post(f"/admin/customers/{customer.id}/notes", data={"body": f"Note {n}"}).status_code == 302
    overview = owner_client.soup(f"/admin/customers/{customer.id}")
    latest = section(overview, "Latest notes")
    assert [n.p.get_text() for n in latest.find_all("article")] == ["Note 7", "Note 6", "Note 5", "Note 4", "Note 3"]
    all_notes = owner_client.soup(latest.find("a", string="All notes")["href"])
    assert [n.p.get_text() for n in all_notes.find_all("article", class_="note")] == [f"Note {n}" for n in range(7, 0, -1)]


def test_overview_shows_open_invoices_and_outstanding_per_currency(owner_client):
    customer = factories.customer(name="Owen Owing", created_at=datetime(2023, 1, 5, 12, 0, tzinfo=timezone.utc))
    other = factories.customer(name="Someone Else")
    first = factories.invoice(customer, amount="100.00", vat="21", due_in_days=-3)  # 121.00, overdue
    partly = factories.invoice(customer, amount="50.00", vat="21", status=DocumentStatus.partially_paid, amount_paid="20.00")  # 40.50 left
    dollars = factories.invoice(customer, amount="10.00", vat="0", currency="USD")
    factories.invoice(customer, amount="999.00", status=DocumentStatus.paid, amount_paid="1208.79")
    factories.invoice(customer, amount="888.00", status=DocumentStatus.cancelled)
    factories.invoice(other, amount="777.00")

    soup = owner_client.soup(f"/admin/customers/{customer.id}")
    assert soup.find("h1").get_text(strip=True) == "Owen Owing"
    open_invoices = section(soup, "Open invoices")
    assert open_invoices.find("p", class_="total").get_text(" ", strip=True) == "Outstanding: €161.50 + $10.00"
    rows = table_rows(open_invoices.find("table"))
    assert [r["Number"] for r in rows] == [first.number, partly.number, dollars.number]  # oldest due first
    assert [r["Outstanding"] for r in rows] == ["€121.00", "€40.50", "$10.00"]
    assert rows[0]["Due date"].endswith("overdue") and not rows[1]["Due date"].endswith("overdue")
    assert section(soup, "Customer since").find("p").get_text(strip=True) == "Jan 5, 2023"


def test_overview_without_open_invoices(owner_client):
    customer = factories.customer(name="Paid Up")
    factories.invoice(customer, status=DocumentStatus.paid, amount_paid="121.00")
    open_invoices = section(owner_client.soup(f"/admin/customers/{customer.id}"), "Open invoices")
    assert open_invoices.find("p", class_="total").get_text(" ", strip=True) == "Nothing outstanding."
    assert open_invoices.find("p", class_="empty").get_text(strip=True) == "No open invoices."


def test_outstanding_is_an_exact_decimal(app):
    from models.services.customers import open_invoices

    customer = factories.customer()
    for _ in range(10):
        factories.invoice(customer, amount="0.10", vat="0")
    factories.invoice(customer, amount="0.20", vat="0", currency="USD")
    with app.app_context():
        invoices, outstanding = open_invoices(db.session.get(Customer, customer.id))
    assert len(invoices) == 11
    assert outstanding == {"EUR": Decimal("1.00"), "USD": Decimal("0.20")}
    assert all(type(v) is Decimal for v in outstanding.values())


# ---------------------------------------------------------------- custom fields


def _define(owner_client, label: str, kind: str):
    response = owner_client.post("/admin/settings/fields", data={"label": label, "kind": kind})
    assert response.status_code == 302, soup_of(response).get_text(" ", strip=True)[:500]


def _control_name(soup, label_text: str) -> str:
    label = soup.find("label", string=lambda s: s and s.strip() == label_text)
    assert label is not None, f"no label {label_text!r}"
    return soup.find(id=label["for"])["name"]


def test_custom_fields_are_defined_by_a_manager(owner_client, employee_client):
    soup = owner_client.soup("/admin/settings/fields")
    assert soup.find("h1").get_text(strip=True) == "Custom fields"
    assert soup.find("p", class_="empty").get_text(strip=True) == "No custom fields yet."
    _define(owner_client, "Account manager", "text")
    _define(owner_client, "Employees", "number")
    _define(owner_client, "Contract end", "date")
    rows = table_rows(owner_client.soup("/admin/settings/fields").find("table"))
    assert [(r["Label"], r["Type"]) for r in rows] == [
        ("Account manager", "Text"), ("Employees", "Number"), ("Contract end", "Date"),
    ]
    response = owner_client.post("/admin/settings/fields", data={"label": "employees", "kind": "text"})
    assert response.status_code == 422
    assert field_error(soup_of(response), "Label") == "A field with this label exists already."
    assert employee_client.get("/admin/settings/fields").status_code == 403


def test_custom_field_values_are_saved_and_shown(app, owner_client):
    _define(owner_client, "Account manager", "text")
    _define(owner_client, "Employees", "number")
    _define(owner_client, "Contract end", "date")
    form = owner_client.soup("/admin/customers/new")
    names = {label: _control_name(form, label) for label in ("Account manager", "Employees", "Contract end")}
    assert form.find(id=names["Contract end"])["type"] == "date"
    response = owner_client.post("/admin/customers/new", data={
        **customer_form(name="Fiona Fields"),
        names["Account manager"]: "Mr. Smith", names["Employees"]: "1.234", names["Contract end"]: "2026-03-31",
    })
    customer_id = created_id(response)
    shown = details(owner_client.soup(response.headers["Location"]))
    assert (shown["Account manager"], shown["Employees"], shown["Contract end"]) == ("Mr. Smith", "1.234", "2026-03-31")

    edit = owner_client.soup(f"/admin/customers/{customer_id}/edit")
    assert input_value(edit, "Account manager") == "Mr. Smith"
    assert input_value(edit, "Employees") == "1.234"  # not rounded for display
    assert input_value(edit, "Contract end") == "2026-03-31"

    # saving the form again keeps the other values exactly; clearing a value removes it
    data = browser_form_data(edit.find("form", class_="stacked"))
    data[names["Account manager"]] = [""]
    assert owner_client.post(f"/admin/customers/{customer_id}/edit", data=data).status_code == 302
    assert details(owner_client.soup(f"/admin/customers/{customer_id}/info"))["Account manager"] == "—"
    with app.app_context():
        assert sorted(db.session.scalars(select(CustomFieldValue.value)).all()) == ["1.234", "2026-03-31"]


def test_custom_number_field_rejects_letters(app, owner_client):
    _define(owner_client, "Employees", "number")
    form = owner_client.soup("/admin/customers/new")
    response = owner_client.post("/admin/customers/new", data={
        **customer_form(name="Letters Lena"), _control_name(form, "Employees"): "twelve",
    })
    assert response.status_code == 422
    soup = soup_of(response)
    assert field_error(soup, "Employees").startswith("Not a valid decimal value.")
    with app.app_context():
        assert db.session.scalar(select(Customer.id)) is None


def test_custom_date_field_rejects_nonsense(owner_client):
    _define(owner_client, "Contract end", "date")
    form = owner_client.soup("/admin/customers/new")
    response = owner_client.post("/admin/customers/new", data={
        **customer_form(name="Date Dora"), _control_name(form, "Contract end"): "31-31-2026",
    })
    assert response.status_code == 422
    assert field_error(soup_of(response), "Contract end") == "Not a valid date value."


def test_removed_custom_field_disappears(owner_client):
    _define(owner_client, "Shoe size", "number")
    fields_page = owner_client.soup("/admin/settings/fields")
    form = fields_page.find("button", string="Remove field Shoe size").find_parent("form")
    assert owner_client.post(form["action"]).status_code == 302
    assert owner_client.soup("/admin/customers/new").find("label", string="Shoe size") is None
    customer = factories.customer()
    assert "Shoe size" not in details(owner_client.soup(f"/admin/customers/{customer.id}/info"))

