"""The staff dashboard (/admin/): money owed per currency and by days overdue, payments of
the last 12 weeks, and the Attention counts, each leading to the list it counts."""

from __future__ import annotations

from datetime import timedelta

from models.documents import DocumentKind, DocumentStatus
from models.instalments import PlanStatus
from models.outbox import MailStatus
from models.payments import CREDIT
from tests import factories
from tests.dashboard.helpers import (
    emails, local_noon_utc, payment, plan, receivable, section, table, table_rows, text, today,
)

OWED = "Outstanding and overdue per currency"
AGEING = "Outstanding by days overdue"
PAYMENTS = "Payments received per week"
ATTENTION = "Needs attention"


def test_totals_and_ageing_per_currency(app, owner_client):
    anna = factories.customer(name="Anna Archer")
    # Not overdue: due later, due today, no due date.
    receivable(app, anna, "100.00", days_overdue=-5)
    receivable(app, anna, "10.00", days_overdue=0)
    receivable(app, anna, "1.00", days_overdue=None)
    # 1–30 days: 1 day; 30 days; 10 days, partly paid (150.00 left) and partly credited (5.00 less).
    receivable(app, anna, "20.00", days_overdue=1)
    receivable(app, anna, "30.00", days_overdue=30)
    receivable(app, anna, "200.00", days_overdue=10, status=DocumentStatus.partially_paid, paid="50.00",
               amount_credited="5.00")
    receivable(app, anna, "40.00", days_overdue=31)  # 31–60
    receivable(app, anna, "50.00", days_overdue=60)
    receivable(app, anna, "60.00", days_overdue=61)  # 61–90
    receivable(app, anna, "70.00", days_overdue=90)
    receivable(app, anna, "80.00", days_overdue=91)  # more than 90
    receivable(app, anna, "9.00", days_overdue=400, kind=DocumentKind.reminder)  # a reminder's fee is owed too
    receivable(app, anna, "3.00", days_overdue=95, amount_written_off="1.00")  # 2.00 left
    # Not owed: paid, cancelled, a draft, a quote.
    receivable(app, anna, "1000.00", days_overdue=40, status=DocumentStatus.paid, paid="1000.00")
    receivable(app, anna, "2000.00", days_overdue=40, status=DocumentStatus.cancelled)
    receivable(app, anna, "3000.00", days_overdue=40, status=DocumentStatus.draft)
    receivable(app, anna, "4000.00", days_overdue=40, kind=DocumentKind.quote)
    # Another currency, overdue 45 days.
    receivable(app, anna, "500.00", days_overdue=45, currency="USD")

    soup = owner_client.soup("/admin/")

    assert soup.h1.get_text(strip=True) == "Dashboard"
    assert table_rows(soup, OWED) == {
        "Outstanding": {"EUR": "€617.00", "USD": "$500.00"},
        "Open documents": {"EUR": "13", "USD": "1"},
        "Overdue": {"EUR": "€506.00", "USD": "$500.00"},
        "Overdue documents": {"EUR": "10", "USD": "1"},
    }
    assert table_rows(soup, AGEING) == {
        "Not yet due": {"EUR": "€111.00", "USD": "$0.00"},
        "1–30 days": {"EUR": "€195.00", "USD": "$0.00"},
        "31–60 days": {"EUR": "€90.00", "USD": "$500.00"},
        "61–90 days": {"EUR": "€130.00", "USD": "$0.00"},
        "More than 90 days": {"EUR": "€91.00", "USD": "$0.00"},
        "Total": {"EUR": "€617.00", "USD": "$500.00"},
    }
    # The chart: the default currency's buckets, an image named by its title, next to the table.
    chart = section(soup, AGEING).find("svg")
    assert chart["role"] == "img"
    assert chart["aria-labelledby"] == chart.title["id"]
    assert "EUR" in chart.title.get_text()
    assert chart["width"] == "100%" and chart["viewbox"].startswith("0 0 320 ")
    bars = [[t.get_text() for t in g.find_all("text")] for g in chart.find_all("g")]
    assert bars == [["Not yet due", "€111.00"], ["1–30 days", "€195.00"], ["31–60 days", "€90.00"],
                    ["61–90 days", "€130.00"], ["More than 90 days", "€91.00"]]
    widths = [float(rect["width"]) for rect in chart.find_all("rect")]
    assert widths[1] == max(widths)  # the largest bucket has the longest bar
    assert widths[2] < widths[0] < widths[3] < widths[1]


def test_the_chart_follows_the_default_currency(app, owner_client):
    anna = factories.customer(name="Anna Archer")
    receivable(app, anna, "500.00", days_overdue=45, currency="USD")
    owner_client.post("/admin/settings", data={"business_name": "Brightside", "default_currency": "USD"})
    receivable(app, anna, "100.00", days_overdue=5)

    soup = owner_client.soup("/admin/")

    assert list(table_rows(soup, OWED)["Outstanding"]) == ["USD", "EUR"]  # the default currency first
    chart = section(soup, AGEING).find("svg")
    assert "USD" in chart.title.get_text()
    assert [t.get_text() for t in chart.find_all("text")][4:6] == ["31–60 days", "$500.00"]


def test_payments_of_the_last_twelve_weeks(app, owner_client):
    anna = factories.customer(name="Anna Archer")
    day = today(app)
    monday = day - timedelta(days=day.weekday())
    this_week, last_week, first_week = monday, monday - timedelta(weeks=1), monday - timedelta(weeks=11)
    payment(app, anna, "100.00", paid_at=local_noon_utc(app, this_week))
    payment(app, anna, "25.50", paid_at=local_noon_utc(app, this_week))
    payment(app, anna, "40.00", paid_at=local_noon_utc(app, last_week + timedelta(days=6)))  # Sunday
    payment(app, anna, "7.00", paid_at=local_noon_utc(app, last_week))  # (booking always sets paid_at)
    payment(app, anna, "60.00", paid_at=local_noon_utc(app, first_week), currency="USD")
    # Not money received in these weeks:
    payment(app, anna, "900.00", paid_at=local_noon_utc(app, first_week - timedelta(days=1)))  # 13 weeks ago
    payment(app, anna, "901.00", paid_at=local_noon_utc(app, this_week), provider=CREDIT)  # credit applied
    payment(app, anna, "902.00", paid_at=local_noon_utc(app, this_week), booked_at=None)  # never booked
    payment(app, anna, "903.00", paid_at=local_noon_utc(app, last_week),
            reversed_at=local_noon_utc(app, this_week))  # undone by staff
    # Another staff member's customer counts for the owner too.
    payment(app, factories.customer(), "1.00", paid_at=local_noon_utc(app, last_week))

    soup = owner_client.soup("/admin/")

    rows = table_rows(soup, PAYMENTS)
    assert len(rows) == 12
    weeks = list(rows.values())
    assert weeks[-1] == {"Payments": "2", "EUR": "€125.50", "USD": "$0.00"}
    assert weeks[-2] == {"Payments": "3", "EUR": "€48.00", "USD": "$0.00"}
    assert weeks[0] == {"Payments": "1", "EUR": "€0.00", "USD": "$60.00"}
    assert all(week == {"Payments": "0", "EUR": "€0.00", "USD": "$0.00"} for week in weeks[1:-2])
    first_label = list(rows)[0]
    assert first_label == first_week.strftime("%b %-d, %Y")  # weeks run Monday to Sunday, oldest first
    chart = section(soup, PAYMENTS).find("svg")
    assert chart["role"] == "img" and "EUR" in chart.title.get_text()
    assert len(chart.find_all("g")) == 12
    assert [t.get_text() for t in chart.find_all("g")[-1].find_all("text")] == [list(rows)[-1], "€125.50"]


def test_the_payments_chart_shows_a_currency_money_came_in(app, owner_client):
    payment(app, factories.customer(), "60.00", paid_at=local_noon_utc(app, today(app)), currency="USD")
    soup = owner_client.soup("/admin/")
    assert list(table_rows(soup, PAYMENTS).values())[-1] == {"Payments": "1", "EUR": "€0.00", "USD": "$60.00"}
    chart = section(soup, PAYMENTS).find("svg")
    assert "USD" in chart.title.get_text()
    assert chart.find_all("g")[-1].find_all("text")[-1].get_text() == "$60.00"


def test_attention_counts_lead_to_the_lists_they_count(app, owner_client):
    # No e-mail address: two unpaid invoices (one partly paid) and a paid one.
    nina = factories.customer(name="Nina Nomail", email=None)
    no_email = [receivable(app, nina, "10.00", days_overdue=3),
                receivable(app, nina, "20.00", days_overdue=-3, status=DocumentStatus.partially_paid, paid="5.00")]
    receivable(app, nina, "30.00", days_overdue=3, status=DocumentStatus.paid, paid="30.00")
    # An address left on the dossier page: one unpaid invoice.
    paula = factories.customer(name="Paula Provided", email=None, provided_email="paula@example.com")
    provided = receivable(app, paula, "40.00", days_overdue=1)
    # Questions waiting for an answer, on an open and on a paid invoice; one answered.
    quinn = factories.customer(name="Quinn Questions")
    asked_at = local_noon_utc(app, today(app) - timedelta(days=2))
    questions = [receivable(app, quinn, "50.00", days_overdue=-10, awaiting_answer_since=asked_at),
                 receivable(app, quinn, "60.00", days_overdue=-10, status=DocumentStatus.paid, paid="60.00",
                            awaiting_answer_since=asked_at)]
    receivable(app, quinn, "70.00", days_overdue=-10)
    # Instalment plans: two waiting, one running.
    plan(app, quinn)
    plan(app, paula, total="120.00")
    plan(app, nina, status=PlanStatus.active)
    # Failed e-mails: three of Quinn's, one of Nina's; sent and queued ones are fine.
    emails(app, quinn, MailStatus.failed, 3)
    emails(app, nina, MailStatus.failed)
    emails(app, quinn, MailStatus.sent, 2)
    emails(app, nina, MailStatus.queued)
    # Synced e-mail nobody opened yet (issue 21): two of Quinn's, one of Paula's already read.
    with app.app_context():
        from models.db import db, now_utc
        from models.mailbox import SyncedEmailLink
        from tests.mail_sync.records import synced_email

        synced_email(quinn.id), synced_email(quinn.id)
        db.session.get(SyncedEmailLink, (synced_email(paula.id)[0], paula.id)).read_at = now_utc()
        db.session.commit()

    soup = owner_client.soup("/admin/")

    assert table_rows(soup, ATTENTION) == {
        "Unanswered questions": {"Count": "2 invoices"},
        "Instalment plans waiting for approval": {"Count": "2 plans"},
        "E-mail address provided": {"Count": "1 invoice"},
        "Failed e-mails": {"Count": "4 e-mails"},
        "No e-mail address known": {"Count": "3 invoices"},
        "Replies to read": {"Count": "1 customer"},
    }
    links = {text(a): a["href"] for a in table(soup, ATTENTION).find_all("a")}
    # The invoice list behind each filter shows exactly the invoices counted.
    all_numbers = {d.number for d in (*no_email, provided, *questions)}
    for label, expected in (("Unanswered questions", questions), ("E-mail address provided", [provided]),
                            ("No e-mail address known", no_email + [provided])):
        page = owner_client.get(links[label]).get_data(as_text=True)
        assert {n for n in all_numbers if n in page} == {d.number for d in expected}, label
    replies = owner_client.soup(links["Replies to read"])
    assert [row.find("td").find("a").get_text(strip=True) for row in replies.select("table tbody tr")] == [
        "Quinn Questions"]
    # Plans and failed e-mails are decided and resent on the customer's pages: listed below, linked there.
    assert links["Instalment plans waiting for approval"] == "#pending-plans-h"
    assert links["Failed e-mails"] == "#failed-mail-h"
    plans = soup.find(id="pending-plans-h").find_next("ul").find_all("li")
    assert [text(li) for li in plans] == [
        f"Quinn Questions: €300.00 in 3 instalments, asked on {today(app).strftime('%b %-d, %Y')}",
        f"Paula Provided: €120.00 in 3 instalments, asked on {today(app).strftime('%b %-d, %Y')}",
    ]
    assert plans[0].a["href"] == f"/admin/customers/{quinn.id}#dossier-activity-h"
    failed = soup.find(id="failed-mail-h").find_next("ul").find_all("li")
    assert [text(li).split(",")[0] for li in failed] == [
        "Nina Nomail: 1 failed e-mail", "Quinn Questions: 3 failed e-mails",
    ]
    assert failed[1].a["href"] == f"/admin/customers/{quinn.id}/emails"
    assert owner_client.get(failed[1].a["href"]).status_code == 200


def test_an_employee_sees_only_their_customers(app, employee, employee_client, owner_client):
    mine = factories.customer(name="Mina Mine", email=None, provided_email="mina@example.com", assigned_to=[employee])
    theirs = factories.customer(name="Theo Theirs", email=None, provided_email="theo@example.com")
    with app.app_context():  # synced e-mail to read: only on a customer the employee does not see
        from tests.mail_sync.records import synced_email

        synced_email(theirs.id)
    receivable(app, mine, "100.00", days_overdue=40, awaiting_answer_since=local_noon_utc(app, today(app)))
    receivable(app, theirs, "900.00", days_overdue=40, awaiting_answer_since=local_noon_utc(app, today(app)))
    receivable(app, theirs, "800.00", days_overdue=5, currency="USD")
    day = today(app)
    payment(app, mine, "10.00", paid_at=local_noon_utc(app, day))
    payment(app, theirs, "90.00", paid_at=local_noon_utc(app, day))
    payment(app, theirs, "80.00", paid_at=local_noon_utc(app, day), currency="GBP")
    plan(app, mine)
    plan(app, theirs)
    emails(app, mine, MailStatus.failed)
    emails(app, theirs, MailStatus.failed, 2)

    soup = employee_client.soup("/admin/")

    assert "Only the customers assigned to you." in text(soup.find(class_="sub"))
    assert table_rows(soup, OWED) == {
        "Outstanding": {"EUR": "€100.00"}, "Open documents": {"EUR": "1"},
        "Overdue": {"EUR": "€100.00"}, "Overdue documents": {"EUR": "1"},
    }
    assert list(table_rows(soup, PAYMENTS).values())[-1] == {"Payments": "1", "EUR": "€10.00"}
    assert {k: v["Count"] for k, v in table_rows(soup, ATTENTION).items()} == {
        "Unanswered questions": "1 invoice", "Instalment plans waiting for approval": "1 plan",
        "E-mail address provided": "1 invoice", "Failed e-mails": "1 e-mail", "No e-mail address known": "1 invoice",
        "Replies to read": "0 customers",
    }
    assert "Theo" not in soup.get_text() and "USD" not in soup.get_text() and "GBP" not in soup.get_text()

    everything = owner_client.soup("/admin/")
    assert table_rows(everything, OWED)["Outstanding"] == {"EUR": "€1,000.00", "USD": "$800.00"}
    assert list(table_rows(everything, PAYMENTS).values())[-1] == {"Payments": "3", "EUR": "€100.00", "GBP": "£80.00"}
    assert table_rows(everything, ATTENTION)["Failed e-mails"] == {"Count": "3 e-mails"}
    assert table_rows(everything, ATTENTION)["Replies to read"] == {"Count": "1 customer"}


def test_an_empty_dashboard_says_so(owner_client):
    soup = owner_client.soup("/admin/")
    assert text(section(soup, "Money owed").find(class_="empty")) == "Nothing is outstanding."
    assert text(section(soup, AGEING).find(class_="empty")) == "Nothing is outstanding."
    assert text(section(soup, PAYMENTS).find(class_="empty")) == "No payments received in the last 12 weeks."
    assert {v["Count"] for v in table_rows(soup, ATTENTION).values()} == {"0 invoices", "0 plans", "0 e-mails", "0 customers"}
    assert soup.find("svg") is None


def test_dashboard_is_the_staff_start_page(client, owner_client):
    assert client.get("/").headers["Location"] == "/admin/"
    soup = owner_client.soup("/admin/")
    nav = soup.find("nav", attrs={"aria-label": "Main"})
    first = nav.find("a")
    assert (text(first), first["href"], first.get("aria-current")) == ("Dashboard", "/admin/", "page")
    assert soup.find("a", class_="brand")["href"] == "/admin/"
    customers = owner_client.soup("/admin/customers").find("nav", attrs={"aria-label": "Main"}).find("a")
    assert customers.get("aria-current") is None  # the Dashboard link is current on the dashboard only
