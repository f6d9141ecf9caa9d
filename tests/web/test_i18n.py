"""Translation is Flask-Babel's: the page's language, its `_` in templates, `force_locale` for mail."""

from __future__ import annotations

from decimal import Decimal

from flask import g, render_template_string
from flask_babel import force_locale, get_locale, gettext

from models.formatting import format_currency
from web.i18n import current_locale_id


def render(source: str, **context) -> str:
    return render_template_string(source, **context)


def test_the_browser_language_picks_the_page_language(app):
    for header, expected in (("nl", "Bedrag"), ("de-DE,de;q=0.9", "Betrag"), ("fr", "Amount"), ("", "Amount")):
        with app.test_request_context("/", headers={"Accept-Language": header} if header else {}):
            assert render("{{ _('Amount') }}") == expected
            assert gettext("Amount") == expected


def test_a_customer_page_speaks_the_customers_language(app):
    with app.test_request_context("/", headers={"Accept-Language": "de"}):
        g.customer_language = "nl"
        assert str(get_locale()) == "nl" and current_locale_id() == "nl"
        assert render("{{ _('Amount') }}: {{ format_currency(x, 'EUR') }}", x=Decimal("1234.56")) == "Bedrag: €\xa01.234,56"


def test_template_variables_are_escaped_and_translated(app):
    with app.test_request_context("/", headers={"Accept-Language": "nl"}):
        html = render('{{ _("Dear %(name)s,", name=name) }}', name="<b>Jan & Piet</b>")
        assert html == "Beste &lt;b&gt;Jan &amp; Piet&lt;/b&gt;,"
        text = render_template_string('{% autoescape false %}{{ _("Dear %(name)s,", name=name) }}{% endautoescape %}',
                                      name="<b>Jan</b>")
        assert text == "Beste <b>Jan</b>,"


def test_plural_forms_get_their_number(app):
    source = '{{ ngettext("%(num)s invoice", "%(num)s invoices", n) }}'
    with app.test_request_context("/", headers={"Accept-Language": "de"}):
        assert render(source, n=1) == "1 Rechnung"
        assert render(source, n=3) == "3 Rechnungen"


def test_force_locale_switches_text_and_money_then_restores(app):
    """How mail is written in the customer's language while the page stays in the staff's."""
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert format_currency(Decimal("1234.56"), "EUR") == "€1,234.56"
        with force_locale("nl"):
            assert render("{{ _('Amount') }} {{ x|money('EUR') }}", x=Decimal("1234.56")) == "Bedrag €\xa01.234,56"
        with force_locale("de"):
            assert gettext("Amount") == "Betrag" and format_currency(Decimal("1234.56"), "EUR") == "1.234,56\xa0€"
        assert render("{{ _('Amount') }}") == "Amount" and current_locale_id() == "en"


def test_outside_a_request_the_default_language_until_forced(app):
    """The mail worker and the CLI have an application context but no request."""
    with app.app_context():
        assert gettext("Amount") == "Amount"
        with force_locale("nl"):
            assert gettext("Amount") == "Bedrag"
            assert format_currency(Decimal("-3"), "EUR") == "€\xa0-3,00"
