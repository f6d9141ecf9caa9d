"""EN 16931 validation: the official CEN/TC 434 rules (rules/, XSLT 2.0) run by SaxonC-HE.

The same check for what Dossier writes (the tests run it on every generated e-invoice) and
for what staff upload (models.services.einvoice.incoming refuses a file any fatal rule
fires on, naming the rules). Compiling a stylesheet takes a fraction of a second; each
process compiles each syntax's rules once, on first use, and keeps them. SaxonC's processor
is not meant to be shared between threads mid-transform, hence the lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

RULES_DIR = Path(__file__).parent / "rules"
SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}
CII_ROOT = "{urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100}CrossIndustryInvoice"
UBL_ROOTS = {
    "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice",
    "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote",
}

_lock = threading.Lock()
_processor = None
_executables: dict[str, object] = {}


@dataclass(frozen=True)
class RuleFailure:
    """A rule that fired: its id (e.g. BR-CO-16), its text, and where (an XPath)."""

    rule: str
    text: str
    location: str = ""
    fatal: bool = True

    def __str__(self) -> str:
        return f"{self.rule}: {self.text}"


def syntax_of(root: etree._Element) -> str | None:
    """'CII' or 'UBL' by the root element, None for anything else."""
    if root.tag == CII_ROOT:
        return "CII"
    if root.tag in UBL_ROOTS:
        return "UBL"
    return None


def _executable(syntax: str):
    global _processor
    if syntax not in _executables:
        from saxonche import PySaxonProcessor  # loaded on first use: a GraalVM native image

        if _processor is None:
            _processor = PySaxonProcessor(license=False)
        compiler = _processor.new_xslt30_processor()
        _executables[syntax] = compiler.compile_stylesheet(
            stylesheet_file=str(RULES_DIR / f"EN16931-{syntax}-validation.xslt"))
    return _executables[syntax]


class RulesNotRun(ValueError):
    """The rules stopped on the file (an XPath error: e.g. an amount that is no decimal)."""


def run_rules(xml: bytes, syntax: str) -> list[RuleFailure]:
    """Every rule that fired on `xml` (well-formed CII or UBL), fatal ones and warnings;
    RulesNotRun when the rules cannot be evaluated on it."""
    with _lock:
        executable = _executable(syntax)
        from saxonche import PySaxonApiError

        try:
            document = _processor.parse_xml(xml_text=xml.decode("utf-8"))
            report = executable.transform_to_string(xdm_node=document)
        except PySaxonApiError as error:
            raise RulesNotRun(" ".join(str(error).split())) from None
    failures = []
    for failed in etree.fromstring(report.encode("utf-8")).iterfind(".//svrl:failed-assert", SVRL):
        rule = failed.get("id") or "?"
        text = " ".join((failed.findtext("svrl:text", "", SVRL) or "").split())
        text = text.removeprefix(f"[{rule}]-").removeprefix(f"[{rule}]").strip()  # the id is shown on its own
        failures.append(RuleFailure(rule=rule, text=text, location=failed.get("location") or "",
                                    fatal=(failed.get("flag") or "fatal") == "fatal"))
    return failures


def fatal_failures(xml: bytes, syntax: str | None = None) -> list[RuleFailure]:
    """The fatal rules that fired: an EN 16931 e-invoice has none."""
    if syntax is None:
        syntax = syntax_of(etree.fromstring(xml))
        if syntax is None:
            raise ValueError("neither CII nor UBL")
    return [failure for failure in run_rules(xml, syntax) if failure.fatal]
