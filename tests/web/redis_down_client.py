"""Run by tests/web/test_redis_down.py in a process of its own: the app on the suite's
database with Redis at a dead address; sends the requests given as JSON (with a CSRF
token read from the login page, as a browser would) and prints their statuses."""

import json
import sys

from tests.conftest import TEST_CONFIG, csrf_token
from web.config import normalise_database_url
from wsgi import create_app

database_url, dead_redis, requests = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
                  "RATELIMIT_STORAGE_URI": dead_redis, "REDIS_URL": dead_redis})
client = app.test_client()
token = csrf_token(client, "/admin/login")
statuses = []
for method, path, data in requests:
    if method == "GET":
        statuses.append(client.get(path).status_code)
    else:
        statuses.append(client.post(path, data={**data, "csrf_token": token}).status_code)
print(json.dumps(statuses))
