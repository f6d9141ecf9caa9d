"""Risky one-click actions ask first, in words, and work without JavaScript.

A risky POST (a new dossier link, archiving, portal access or a login off, declining a plan,
a reminder before the due date) acts only with `confirm=1`. Without it the view answers
`ask(...)`: a page (status 200, nothing changed) that says what will happen, with a
"Yes, …" button that posts the same form again with `confirm=1` and the CSRF token, and a
Cancel link back. For an HTMX request only the dialog is sent, swapped in where the
button was (the "Portal logins" section); its buttons then stay in that section.
"""

from __future__ import annotations

from flask import request

from web.rendering import is_fragment_request, render


def confirmed() -> bool:
    """Did the person press the "Yes, …" button of the confirmation?"""
    return request.form.get("confirm") == "1"


def ask(*, title: str, consequences: list[str], yes: str, action: str, cancel: str,
        fields: dict[str, str] | None = None, hx_target: str | None = None,
        heading_id: str = "confirm-h"):
    """The confirmation page, or for HTMX the dialog alone (heading level 2, `heading_id`
    kept so the section it replaces stays labelled)."""
    fragment = bool(hx_target) and is_fragment_request()
    return render(
        "admin/confirm.html", block="dialog",
        title=title, consequences=consequences, yes=yes, action=action, cancel=cancel,
        fields=fields or {}, hx_target=hx_target if fragment else None,
        heading_id=heading_id if fragment else "confirm-h", level=2 if fragment else 1,
    )
