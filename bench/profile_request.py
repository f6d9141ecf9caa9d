"""Profile one bench page in-process: cProfile over a Flask test client on the bench database.

`python -m bench.profile_request [N] [PAGE]` sends N requests (default 300, after 10
warm-up ones) of PAGE: `dossier`, `overview`, `search`, `contact`, `documents` (a
customer's Documents tab) or `dashboard` (default `overview`), each one a different
customer's (the dashboard: the same page each time, with no writer in between), exactly as
`make bench` builds them (bench/pages.py),
logged in as the demo owner for the staff pages. It prints wall and CPU ms per request,
the same for the static file (the bench's baseline), SQL statements per request (with the
distinct statements) and the cProfile top by cumulative and by own time. No gunicorn, no
wrk: the figures are the app's own cost per request, which is what bounds req/s on the
bench's 2 sync workers.

BENCH_PROFILE_STATS=path also writes the raw cProfile stats (CPU time) there.
Uses the database `make bench` prepared (run it once first).
"""

from __future__ import annotations

import collections
import contextlib
import cProfile
import io
import itertools
import os
import pstats
import random
import secrets
import sys
import time

from bench import client, database, pages
from bench.run import OWNER, PASSWORD

PAGES = ("dossier", "overview", "search", "contact", "documents", "dashboard")


def _page(name: str, app, people: list[dict], rng: random.Random) -> pages.Page:
    if name == "dossier":
        return pages.dossier_page(pages.dossier_tokens(app, [c["id"] for c in people]))
    if name == "overview":
        return pages.overview_page(people)
    if name == "search":
        return pages.search_page(pages.search_queries(people, rng))
    if name == "documents":
        return pages.documents_tab_page(people)
    if name == "dashboard":
        return pages.dashboard_page()
    return pages.contact_save_page(people, rng)


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 300
    name = argv[1] if len(argv) > 1 else "overview"
    if name not in PAGES:
        raise SystemExit(f"PAGE is one of {', '.join(PAGES)}")
    os.environ.update({
        "DATABASE_URL": database.URL, "SECRET_KEY": "bench-" + secrets.token_urlsafe(48),
        "RATELIMIT_STORAGE_URI": "memory://", "REDIS_URL": "", "FLASK_DEBUG": "0",
        "DOSSIER_LIMIT_PER_IP": "100000000 per minute",
    })
    from wsgi import create_app

    app = create_app()
    # The JSON log lines (stderr) are still made, a cost of every request, but not shown;
    # an error leaving this block is shown again.
    with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):
        return _profile(app, n, name)


def _profile(app, n: int, name: str) -> int:
    from sqlalchemy import event

    from models import db

    rng = random.Random()
    everyone = database.customers()
    people = rng.sample(everyone, k=min(2 * n + 10, len(everyone)))  # warm-up, timing, profile
    page = _page(name, app, people, rng)

    http = app.test_client()
    token = client.csrf_from(http.get("/admin/login").get_data(as_text=True))
    answer = http.post("/admin/login", data={"email": OWNER, "password": PASSWORD, "csrf_token": token})
    if answer.status_code != 302:
        raise SystemExit(f"login answered {answer.status_code}")
    csrf = client.csrf_from(http.get("/admin/customers").get_data(as_text=True))
    if not page.staff:
        http = app.test_client()  # a debtor opening the link: no staff session, as in the bench
    headers = {"HX-Request": "true", "X-CSRFToken": csrf} if page.htmx else {}
    lines = itertools.cycle(page.lines)  # another customer each request, while there are enough

    def send(line=None, expect=page.expect):
        method, path, body = line or next(lines)
        response = http.open(path, method=method, data=body or None, headers=headers,
                             content_type="application/x-www-form-urlencoded" if body else None)
        if response.status_code != 200 or expect not in response.get_data(as_text=True):
            raise SystemExit(f"{method} {path} answered {response.status_code}: "
                             f"{response.get_data(as_text=True)[:300]}")

    def timed(request, times=n) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(times):
            request()
        return (time.perf_counter() - wall) / times * 1000, (time.process_time() - cpu) / times * 1000

    static = pages.static_page()
    for _ in range(10):
        send()
        send(static.lines[0], static.expect)
    static_wall, static_cpu = timed(lambda: send(static.lines[0], static.expect))

    statements: collections.Counter[str] = collections.Counter()
    with app.app_context():
        engine = db.engine

    def count(conn, cursor, statement, parameters, context, executemany):
        statements[" ".join(statement.split())[:150]] += 1

    event.listen(engine, "before_cursor_execute", count)
    wall, cpu = timed(send)
    event.remove(engine, "before_cursor_execute", count)

    profiler = cProfile.Profile(time.process_time)  # CPU: waits on the database do not count
    profiler.enable()
    for _ in range(n):
        send()
    profiler.disable()
    if os.environ.get("BENCH_PROFILE_STATS"):  # for pstats/snakeviz: callers, callees
        profiler.dump_stats(os.environ["BENCH_PROFILE_STATS"])

    print(f"{page.name}: {n} requests in-process, each another customer's, e.g. {' '.join(page.lines[0][:2])}")
    print(f"{wall:.2f} ms/request wall, {cpu:.2f} ms CPU in this process, without the profiler "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"{pages.STATIC_PATH}: {static_wall:.2f} ms wall, {static_cpu:.2f} ms CPU -> CPU-bound ratio "
          f"~ {static_cpu / cpu:.3f}x (gunicorn and wrk add a fixed cost per request to both, "
          "so the real ratio is higher)")
    print(f"{sum(statements.values()) / n:.1f} SQL statements/request:")
    for statement, times in statements.most_common():
        print(f"  {times / n:4.1f}x  {statement}")
    for order, limit in (("cumulative", 45), ("tottime", 25)):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(limit)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
