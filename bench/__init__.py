"""`make bench`: load-test the admin pages against a realistic database.

Run with `python -m bench.run`. Everything the bench needs (database, seed data, the
gunicorn server, the wrk runs) lives in this package so the app itself carries no bench code.
"""
