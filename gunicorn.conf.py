"""gunicorn settings, read from the working directory (Procfile, README, `make bench`).

Garbage collection: a worker holds some 150,000 long-lived objects (modules, SQLAlchemy
mappings, compiled templates and statements). A full collection walks all of them, about
100 ms here, and every request queued behind it waits that long; these objects live as
long as the worker, so they are moved out of the collector's sight (gc.freeze) once the
app is loaded and again when the first requests have filled the caches.
"""

import gc

# gunicorn's own lines as JSON, like the app's (web/logs.py).
logger_class = "web.logs.GunicornLogger"

WARM_AFTER_REQUESTS = 200
_served = 0


def post_worker_init(worker):
    gc.collect()
    gc.freeze()


def post_request(worker, req, environ, resp):
    global _served
    _served += 1
    if _served == WARM_AFTER_REQUESTS:
        gc.collect()
        gc.freeze()
