"""Settings a production install relies on: nothing unsafe is inferred from BASE_URL, and
behind a proxy every visitor has a rate-limit bucket of their own."""

from __future__ import annotations

from tests.conftest import TEST_CONFIG, csrf_token
from web.config import from_environment
from wsgi import create_app


def test_the_test_payment_provider_is_never_inferred(monkeypatch):
    monkeypatch.delenv("PAYMENTS_TEST_PROVIDER", raising=False)
    monkeypatch.delenv("BASE_URL", raising=False)  # the default is http://localhost:5000
    assert from_environment()["PAYMENTS_TEST_PROVIDER"] is False
    assert from_environment({"BASE_URL": "http://127.0.0.1:5000"})["PAYMENTS_TEST_PROVIDER"] is False
    monkeypatch.setenv("PAYMENTS_TEST_PROVIDER", "1")
    assert from_environment()["PAYMENTS_TEST_PROVIDER"] is True


def test_https_gets_hsts_and_a_host_only_session_cookie(client):
    response = client.get("/admin/login")  # the suite's BASE_URL is https://dossier.example
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-dossier_session=") and "Secure" in cookie and "Path=/" in cookie
    assert "Domain" not in cookie


def test_plain_http_keeps_the_plain_cookie_and_no_hsts():
    config = from_environment({"BASE_URL": "http://localhost:5000"})
    assert config["SESSION_COOKIE_NAME"] == "dossier_session" and not config["SESSION_COOKIE_SECURE"]
    assert config["HSTS"] is False


def _login_attempts(app, forwarded_for: str, times: int) -> list[int]:
    client = app.test_client()
    token = csrf_token(client, "/portal/login")
    return [client.post("/portal/login", data={"email": f"nobody{n}@example.com", "password": "wrong password",
                                               "csrf_token": token},
                        headers={"X-Forwarded-For": forwarded_for}).status_code for n in range(times)]


def test_behind_a_trusted_proxy_each_visitor_has_their_own_rate_limit(app, database_url):
    from web.config import normalise_database_url
    from web.extensions import limiter

    config = {**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
              "LOGIN_LIMIT_PER_IP": "3 per minute", "TRUSTED_PROXIES": 1}
    proxied = create_app(config)
    try:
        assert _login_attempts(proxied, "203.0.113.7", 4)[-1] == 429  # the limit holds per visitor
        assert _login_attempts(proxied, "198.51.100.9", 1) == [422]  # another visitor is not blocked
    finally:
        limiter.init_app(app)
        limiter.reset()


def test_an_anonymous_error_page_sets_no_cookie(client):
    for path in ("/no-such-page", "/d/not-a-real-token", "/admin/customers/2147483648"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Set-Cookie" not in response.headers, (path, response.headers.get("Set-Cookie"))
