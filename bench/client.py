"""A logged-in staff session using only the standard library (the bench installs nothing).

The login is rate limited (5/min per account, 20/min per IP), so the bench logs in once
and hands the same cookie to every wrk run.
"""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

COOKIE_NAME = "dossier_session"
_CSRF_INPUT = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # surface 3xx as HTTPError so a login redirect is never mistaken for 200


@dataclass
class Session:
    base_url: str
    cookie: str  # value of dossier_session
    csrf_token: str  # for future POST benchmarks (X-CSRFToken header or form field)

    @property
    def cookie_header(self) -> str:
        return f"{COOKIE_NAME}={self.cookie}"

    def get(self, path: str) -> tuple[int, str]:
        """(status, body) without following redirects."""
        opener = urllib.request.build_opener(NoRedirect)
        request = urllib.request.Request(self.base_url + path, headers={"Cookie": self.cookie_header})
        try:
            with opener.open(request, timeout=30) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Location", "")


def _csrf(html: str) -> str:
    match = _CSRF_INPUT.search(html)
    if not match:
        raise RuntimeError("no csrf_token input found on the page")
    return match.group(1)


def login(base_url: str, email: str, password: str) -> Session:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
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
