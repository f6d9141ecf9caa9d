"""Browser fixtures: the session app served on a real port, Debian's Chromium driven by Playwright.

Playwright never downloads a browser here: Chromium is launched from /usr/bin/chromium. When
it is missing the browser tests are skipped, unless DOSSIER_REQUIRE_BROWSER=1 (CI), where a
missing browser is a failure.

Every page gets listeners that collect console errors, uncaught page errors and CSP
violations (a `securitypolicyviolation` listener installed before any page script runs), so a
test can assert that nothing went wrong while it clicked around: `page_problems`.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from tests import factories

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# Playwright's auto-waiting assertions wait up to this long (ms); nothing here sleeps.
EXPECT_TIMEOUT_MS = 10_000

# Runs in every document before its own scripts. Init scripts are injected by the browser
# (not inline <script>), so the page's CSP does not apply to them.
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__reportCspViolation(
    `${e.effectiveDirective} blocked ${e.blockedURI || "inline"} on ${e.documentURI}` +
    (e.sourceFile ? ` (${e.sourceFile}:${e.lineNumber})` : "")
  );
});
"""


def _require_browser() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing (apt-get install chromium)"
    if os.environ.get("DOSSIER_REQUIRE_BROWSER") == "1":
        pytest.fail(f"DOSSIER_REQUIRE_BROWSER=1 but {message}", pytrace=False)
    pytest.skip(f"browser tests need Debian's Chromium: {message}")


@pytest.fixture(scope="session")
def live_server(app):
    """The session `app` on 127.0.0.1 with a free port, in a daemon thread.

    The test config's BASE_URL is https://dossier.example, so the session cookie is
    Secure. Chromium treats http://127.0.0.1 as a secure context and stores and sends
    Secure cookies there, so the cookie settings stay exactly as in production.
    """
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


@pytest.fixture(scope="session")
def base_url(live_server) -> str:
    return f"http://127.0.0.1:{live_server.server_port}"


@pytest.fixture(scope="session")
def browser():
    _require_browser()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageProblems:
    """What went wrong in the browser during one test."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.console_errors or self.page_errors or self.csp_violations)

    def assert_none(self) -> None:
        assert not self, (
            f"console errors: {self.console_errors}\n"
            f"page errors: {self.page_errors}\n"
            f"CSP violations: {self.csp_violations}"
        )


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(browser, base_url, page_problems):
    """A fresh page in its own browser context (no cookies shared between tests)."""
    context = browser.new_context(base_url=base_url, locale="en-GB")
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    context.expose_function(
        "__reportCspViolation", lambda report: page_problems.csp_violations.append(report)
    )
    context.add_init_script(_CSP_LISTENER)
    page = context.new_page()

    def on_console(message):
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        # The browser asks for /favicon.ico on its own; the app has none (a 404, not a page error).
        if urlsplit(url).path == "/favicon.ico":
            return
        page_problems.console_errors.append(f"{message.text} ({url})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: page_problems.page_errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()


def log_in(page, user, password: str = factories.PASSWORD) -> None:
    """Log `user` in through the real login form, as a person would."""
    from playwright.sync_api import expect

    page.goto("/admin/login")
    page.get_by_label("E-mail address").fill(user.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/admin/customers$"))
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
