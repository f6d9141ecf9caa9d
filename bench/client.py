"""A logged-in staff session using only the standard library (the bench installs nothing).

The login is rate limited (5/min per account, 20/min per IP), so the bench logs in once
and hands the same cookie to every wrk run. Two things keep that replayed cookie from
costing the server work a browser's would not:
- every request (login, verify, wrk) sends the same User-Agent: Flask-Login's "strong"
  session protection otherwise marks the session non-fresh and re-signs the cookie
  (Set-Cookie) on every response, since wrk sends no User-Agent at all;
- `refresh()` before each wrk run takes the re-signed cookie web.auth issues when the idle
  clock (`seen_at`) is 30 s old; a stale cookie would be rewritten on every response.
"""

from __future__ import annotations

import http.cookiejar
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
        return None  # surface 3xx as HTTPError so a login redirect is never mistaken for 200


@dataclass
class Session:
    base_url: str
    cookie: str  # value of dossier_session
    csrf_token: str  # for POST benchmarks (X-CSRFToken header or form field csrf_token)

    @property
    def cookie_header(self) -> str:
        return f"{COOKIE_NAME}={self.cookie}"

    def get(self, path: str) -> tuple[int, str]:
        """(status, body) without following redirects; takes a re-signed session cookie."""
        opener = urllib.request.build_opener(NoRedirect)
        request = urllib.request.Request(self.base_url + path,
                                         headers={"Cookie": self.cookie_header, "User-Agent": USER_AGENT})
        try:
            with opener.open(request, timeout=30) as response:
                self._take_cookie(response.headers)
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Location", "")

    def refresh(self) -> None:
        """Bring the idle clock in the cookie up to date (see the module docstring)."""
        status, _ = self.get("/hello")
        if status != 200:
            raise RuntimeError(f"session refresh: /hello answered {status}")

    def _take_cookie(self, headers) -> None:
        for header in headers.get_all("Set-Cookie") or ():
            morsel = http.cookies.SimpleCookie(header).get(COOKIE_NAME)
            if morsel is not None and morsel.value:
                self.cookie = morsel.value


def _csrf(html: str) -> str:
    """The session's CSRF token: a hidden csrf_token input, else the <body hx-headers> JSON."""
    match = _CSRF_INPUT.search(html) or _CSRF_HX_HEADERS.search(html)
    if not match:
        raise RuntimeError("no csrf_token input or hx-headers X-CSRFToken found on the page")
    return match.group(1)


def login(base_url: str, email: str, password: str) -> Session:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", USER_AGENT)]
    with opener.open(base_url + "/admin/login", timeout=30) as response:
        token = _csrf(response.read().decode())
    form = urllib.parse.urlencode({"email": email, "password": password, "csrf_token": token}).encode()
    try:
        with opener.open(base_url + "/admin/login", data=form, timeout=30) as response:
            landed = urllib.parse.urlsplit(response.url).path
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"login failed with HTTP {error.code}") from error
    if landed.startswith("/admin/login"):
        raise RuntimeError("login failed: still on the login page (wrong password or CSRF?)")
    # The landing page generated a fresh CSRF token (login clears the session), so the
    # cookie jar now holds the final cookie; take a token from the same page load.
    with opener.open(base_url + "/admin/customers", timeout=30) as response:
        token = _csrf(response.read().decode())
    cookie = next((c.value for c in jar if c.name == COOKIE_NAME), None)
    if not cookie:
        raise RuntimeError(f"login set no {COOKIE_NAME} cookie")
    return Session(base_url, cookie, token)
