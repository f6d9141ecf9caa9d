"""Profile one bench request in-process: cProfile over a Flask test client on the bench DB.

`python -m bench.profile_request [N] [PATH]` logs in as the demo owner, then sends the
"save contact row (HTMX)" POST (or a GET of PATH, where `{customer}` is the bench
customer's id, e.g. `/admin/customers/{customer}`, and `{dossier}` the dossier bench customer's token, e.g. `/d/{dossier}`) N times (default 300; a few warm-up requests first) and
prints: wall and CPU ms per request, SQL statements per request (with the distinct statements), and the
cProfile top by cumulative and by own time. No gunicorn, no wrk: the figures are the app's
own CPU cost per request, which is what bounds req/s on the bench's 2 sync workers.

BENCH_PROFILE_STATS=path also writes the raw cProfile stats (CPU time) there.
Uses the database `make bench` prepared (run `python -m bench.run` once first).
"""

from __future__ import annotations

import collections
import cProfile
import io
import os
import pstats
import secrets
import sys
import time

from bench import client, database
from bench.run import OWNER, PASSWORD, _contact_form, _pick_customer


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 300
    get_path = argv[1] if len(argv) > 1 else None
    if database.postgres_reachable():
        url = f"postgresql://{database.PG_USER}@{database.PG_HOST}:{database.PG_PORT}/{database.PG_DB}"
    else:
        url = f"sqlite:///{database.SQLITE_PATH}"
    os.environ.update({
        "DATABASE_URL": url, "SECRET_KEY": "bench-" + secrets.token_urlsafe(48),
        "RATELIMIT_STORAGE_URI": "memory://", "REDIS_URL": "", "FLASK_DEBUG": "0",
        "DOSSIER_LIMIT_PER_IP": "100000000 per minute",
    })
    db_view = database.BenchDatabase("postgresql" if url.startswith("postgresql") else "sqlite", url)
    customer_id = _pick_customer(db_view)
    contact_id = database.ensure_contact(url, customer_id)

    from sqlalchemy import event

    from models import db
    from wsgi import create_app

    app = create_app()
    http = app.test_client()
    token = client._csrf(http.get("/admin/login").get_data(as_text=True))
    answer = http.post("/admin/login", data={"email": OWNER, "password": PASSWORD, "csrf_token": token})
    if answer.status_code != 302:
        raise SystemExit(f"login answered {answer.status_code}")
    token = client._csrf(http.get("/admin/customers").get_data(as_text=True))

    path = f"/admin/customers/{customer_id}/contacts/{contact_id}"
    body = _contact_form(contact_id)
    headers = {"HX-Request": "true", "X-CSRFToken": token,
               "Content-Type": "application/x-www-form-urlencoded"}

    if get_path:
        with app.app_context():
            from models.services import dossier

            dossier_token = dossier.current_token(database.ensure_dossier_customer(url))
            db.session.commit()
        path = get_path.format(customer=customer_id, dossier=dossier_token)
        if path.startswith("/d/"):
            http = app.test_client()  # a debtor opening the link: no staff session, as in the bench

    def post():
        """One measured request: the contact-row POST, or the GET of PATH."""
        if get_path:
            response = http.get(path)
            if response.status_code != 200:
                raise SystemExit(f"GET {path} answered {response.status_code}")
            return
        response = http.post(path, data=body, headers=headers)
        if response.status_code != 200 or f'<tr id="contact-{contact_id}"' not in response.get_data(as_text=True):
            raise SystemExit(f"POST {path} answered {response.status_code}: {response.get_data(as_text=True)[:300]}")

    for _ in range(10):
        post()

    def cpu_ms(request, times=n):
        started = time.process_time()
        for _ in range(times):
            request()
        return (time.process_time() - started) / times * 1000

    hello_cpu = cpu_ms(lambda: http.get("/hello"))  # the bench's baseline, same process

    statements: collections.Counter[str] = collections.Counter()
    with app.app_context():
        engine = db.engine

    def count(conn, cursor, statement, parameters, context, executemany):
        statements[" ".join(statement.split())[:150]] += 1

    event.listen(engine, "before_cursor_execute", count)
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(n):
        post()
    plain = (time.perf_counter() - started) / n * 1000
    cpu = (time.process_time() - cpu_started) / n * 1000
    event.remove(engine, "before_cursor_execute", count)

    profiler = cProfile.Profile(time.process_time)  # CPU: waits on the database do not count
    profiler.enable()
    for _ in range(n):
        post()
    profiler.disable()
    if os.environ.get("BENCH_PROFILE_STATS"):  # for pstats/snakeviz: callers, callees
        profiler.dump_stats(os.environ["BENCH_PROFILE_STATS"])

    print(f"{'GET' if get_path else 'POST'} {path}, {n} requests in-process on {db_view.kind}")
    print(f"{plain:.2f} ms/request wall, {cpu:.2f} ms CPU in this process, without the profiler "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"/hello: {hello_cpu:.2f} ms CPU -> CPU-bound ratio to hello ~ {hello_cpu / cpu:.3f}x "
          "(gunicorn and wrk add a fixed cost per request to both, so the real ratio is higher)")
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
