"""A logged-in staff session over plain HTTP, using only the standard library.

The login is rate limited (5/min per account, 20/min per IP), so the bench logs in once
per account and hands the cookie to every wrk run. Two things keep that replayed cookie
from costing the server work a browser's would not:
- every request (login, verify, wrk, writer) sends the same User-Agent: Flask-Login's
  "strong" session protection otherwise marks the session non-fresh and re-signs the
  cookie on every response (wrk sends no User-Agent of its own);
- `refresh()` before each wrk run takes the cookie web.auth re-signs once the idle clock
  (`seen_at`) is 30 s old; a stale cookie would be rewritten on every response.
"""

from __future__ import annotations

import http.cookies
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

COOKIE_NAME = "dossier_session"
USER_AGENT = "dossier-bench"  # for every request of the bench, wrk's included
_CSRF_INPUT = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')
_CSRF_HX_HEADERS = re.compile(r"""hx-headers='[^']*"X-CSRFToken":\s*"([^"]+)\"""")  # base.html's <body>


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx comes back as itself, so a login redirect is never taken for a page


_OPENER = urllib.request.build_opener(NoRedirect)


def fetch(url: str, *, method: str = "GET", body: str = "", headers: dict | None = None,
          timeout: float = 30) -> tuple[int, dict, str]:
    """(status, headers, text) of one request, without following redirects."""
    request = urllib.request.Request(url, data=body.encode() if body else None, method=method,
                                     headers={"User-Agent": USER_AGENT, **(headers or {})})
    if body:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, response.headers, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode("utf-8", "replace")


def csrf_from(html: str) -> str:
    """The session's CSRF token: a hidden csrf_token input, else the <body hx-headers> JSON."""
    match = _CSRF_INPUT.search(html) or _CSRF_HX_HEADERS.search(html)
    if not match:
        raise RuntimeError("no csrf_token input or hx-headers X-CSRFToken found on the page")
    return match.group(1)


@dataclass
class Session:
    base_url: str
    cookie: str = ""  # value of dossier_session
    csrf_token: str = ""  # X-CSRFToken header or csrf_token form field of every POST

    @property
    def cookie_header(self) -> str:
        return f"{COOKIE_NAME}={self.cookie}" if self.cookie else ""

    def request(self, path: str, *, method: str = "GET", form: dict | None = None,
                headers: dict | None = None) -> tuple[int, dict, str]:
        """One request with this session's cookie; takes any re-signed cookie it gets back."""
        headers = {**({"Cookie": self.cookie_header} if self.cookie else {}), **(headers or {})}
        body = urllib.parse.urlencode(form) if form is not None else ""
        status, response_headers, html = fetch(self.base_url + path, method=method, body=body, headers=headers)
        for header in response_headers.get_all("Set-Cookie") or ():
            morsel = http.cookies.SimpleCookie(header).get(COOKIE_NAME)
            if morsel is not None:
                self.cookie = morsel.value
        return status, response_headers, html

    def refresh(self) -> None:
        """Bring the idle clock in the cookie up to date (see the module docstring)."""
        status, headers, _ = self.request("/admin/account")  # a cheap page: the staff member only
        if status != 200:
            raise RuntimeError(f"session refresh: /admin/account answered {status} {headers.get('Location', '')}")


def login(base_url: str, email: str, password: str) -> Session:
    """Log in through the login form (CSRF token included), as a browser does."""
    session = Session(base_url)
    _, _, html = session.request("/admin/login")
    status, headers, _ = session.request("/admin/login", method="POST", form={
        "email": email, "password": password, "csrf_token": csrf_from(html)})
    if status != 302 or "/admin/login" in headers.get("Location", ""):
        raise RuntimeError(f"login as {email} failed: {status} {headers.get('Location', '')}")
    # Logging in starts a new session with a new CSRF token: take it from a page.
    status, _, html = session.request("/admin/customers")
    if status != 200 or not session.cookie:
        raise RuntimeError(f"after login /admin/customers answered {status}")
    session.csrf_token = csrf_from(html)
    return session
