"""API fixtures: keys made through the service, and a client that sends one."""

from __future__ import annotations

import pytest

from models.db import db
from models.services import api_keys
from tests import factories


def make_key(app, owner, scopes=("read", "write"), name="Accounting") -> str:
    with app.app_context():
        _key, secret = api_keys.create_key(db.session.merge(owner), name, list(scopes))
        db.session.commit()
    return secret


class ApiClient:
    def __init__(self, client, secret: str | None):
        self.client = client
        self.headers = {"Authorization": f"Bearer {secret}"} if secret else {}

    def _call(self, method, url, json=None, headers=None, **kwargs):
        return self.client.open(url, method=method, json=json, headers={**self.headers, **(headers or {})}, **kwargs)

    def get(self, url, **kwargs):
        return self._call("GET", url, **kwargs)

    def post(self, url, json=None, **kwargs):
        return self._call("POST", url, json=json, **kwargs)

    def put(self, url, **kwargs):
        return self._call("PUT", url, **kwargs)


@pytest.fixture
def key_owner(app):
    return factories.staff(role="owner", email="keys@example.test", name="Kim Keys")


@pytest.fixture
def api(app, key_owner):
    return ApiClient(app.test_client(), make_key(app, key_owner))


@pytest.fixture
def read_api(app, key_owner):
    return ApiClient(app.test_client(), make_key(app, key_owner, scopes=("read",), name="Reader"))
