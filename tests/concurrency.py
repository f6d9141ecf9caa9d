"""Truly concurrent requests for the PostgreSQL race tests: the session's app on a real
threaded HTTP server, staff members with sessions of their own, POSTs released at once."""

from __future__ import annotations

import http.client
import threading
from contextlib import contextmanager
from urllib.parse import urlencode

from werkzeug.serving import make_server

from tests import factories
from tests.conftest import csrf_token, login



@contextmanager
def serve(app):
    """The app on a free port, one thread per request; yields the port."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, name="race-test-server", daemon=True)
    thread.start()
    try:
        yield httpd.server_port
    finally:
        httpd.shutdown()
        thread.join(timeout=10)
        httpd.server_close()


def staff_session(app, n: int, role: str = "employee") -> tuple[str, str]:
    """A staff member of their own, logged in: (Cookie header, CSRF token)."""
    user = factories.staff(role=role, view_all=True, email=f"racer{n}@example.test", name=f"Racer {n}")
    client = app.test_client()
    # each from its own address, as colleagues would be: the per-IP login limit is not under test
    client.environ_base["REMOTE_ADDR"] = f"10.0.{n // 250}.{n % 250 + 1}"
    login(client, user)
    token = csrf_token(client, "/admin/account")  # stores the token in the session: read the cookie after
    name = app.config["SESSION_COOKIE_NAME"]
    return f"{name}={client.get_cookie(name).value}", token


def race(port: int, posts: list[tuple[str, dict, tuple[str, str]]], *,
         htmx: bool = True) -> list[tuple[int, str, bytes]]:
    """Send the POSTs (path, form data, (Cookie header, CSRF token)) at the same moment;
    (status, Location, body) each. With `htmx`, every other one is sent like an HTMX
    request (token in a header), the rest like the plain form."""
    start = threading.Barrier(len(posts))
    results: list[tuple[int, str, bytes]] = [(-1, "not run", b"")] * len(posts)

    def send(n: int) -> None:
        path, data, (cookie, token) = posts[n]
        as_htmx = htmx and n % 2 == 1
        body = urlencode({**data, **({} if as_htmx else {"csrf_token": token})})
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie,
                   **({"HX-Request": "true", "X-CSRFToken": token} if as_htmx else {})}
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.connect()
            start.wait(timeout=30)
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            results[n] = (response.status, response.getheader("Location") or "", response.read())
        except Exception as error:  # noqa: BLE001 - reported by the caller, with the racer's number
            results[n] = (-1, repr(error), b"")
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(posts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    return results
