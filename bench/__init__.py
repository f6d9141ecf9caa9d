"""`make bench`: the pages on cold traffic, against a static file of the same app and server.

Run with `python -m bench.run` (see its docstring). Everything the bench needs (database,
request lists, redis-server, gunicorn, wrk, the background writer) lives in this package,
so the app itself carries no bench code.
"""
