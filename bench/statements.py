"""SQL statements per request of each bench page, counted in-process before the measured runs.

The issue asks for query counts that do not grow with the data; the bench reports the
figure next to each page's speed. The requests are the page's own (the last lines of its
list, which wrk reaches last if at all), sent through a Flask test client of the app
configured like gunicorn's, logged in as the demo owner for the staff pages, anonymous
for the dossier page. The first request of each page is not counted (caches of the
process: settings, compiled statements).
"""

from __future__ import annotations

import contextlib
import os

from bench import client, pages


def staff_client(app, email: str, password: str):
    """A test client logged in through the login form; returns (client, CSRF token)."""
    http = app.test_client()
    http.environ_base["HTTP_USER_AGENT"] = client.USER_AGENT  # one browser throughout, as in the bench
    token = client.csrf_from(http.get("/admin/login").get_data(as_text=True))
    answer = http.post("/admin/login", data={"email": email, "password": password, "csrf_token": token})
    if answer.status_code != 302 or "/admin/login" in answer.headers.get("Location", ""):
        raise RuntimeError(f"in-process login as {email} answered {answer.status_code}")
    csrf = client.csrf_from(http.get("/admin/customers").get_data(as_text=True))
    return http, csrf


def count(app, chosen: list[pages.Page], email: str, password: str, n: int = 5) -> dict[str, dict]:
    """{page name: {"mean", "min", "max", "requests"}} of SQL statements per request."""
    from sqlalchemy import event

    from models import db

    with app.app_context():
        engine = db.engine
    executed = [0]

    def listener(conn, cursor, statement, parameters, context, executemany):
        executed[0] += 1

    results: dict[str, dict] = {}
    # The app's JSON log lines (stderr) are not the bench's output.
    with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):
        staff, csrf = staff_client(app, email, password)
        anonymous = app.test_client()
        anonymous.environ_base["HTTP_USER_AGENT"] = client.USER_AGENT
        event.listen(engine, "before_cursor_execute", listener)
        try:
            for page in chosen:
                http = staff if page.staff else anonymous
                headers = {"HX-Request": "true", "X-CSRFToken": csrf} if page.htmx else {}
                lines = page.lines[-(n + 1):] if len(page.lines) > n else [page.lines[-1]] * (n + 1)
                per_request = []
                for i, (method, path, body) in enumerate(lines):
                    executed[0] = 0
                    response = http.open(path, method=method, data=body or None, headers=headers,
                                         content_type="application/x-www-form-urlencoded" if body else None)
                    if response.status_code != 200:
                        raise RuntimeError(f"{page.name}: {method} {path} answered {response.status_code} in-process")
                    if i:
                        per_request.append(executed[0])
                results[page.name] = {"mean": round(sum(per_request) / len(per_request), 1),
                                      "min": min(per_request), "max": max(per_request),
                                      "requests": len(per_request)}
        finally:
            event.remove(engine, "before_cursor_execute", listener)
    return results
