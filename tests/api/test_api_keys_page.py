"""The owner's API keys page: made and shown once, listed by prefix, revoked; nobody else's."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.api_keys import ApiKey
from models.db import db
from tests import factories
from tests.api.conftest import ApiClient
from tests.conftest import StaffClient, login, soup_of


def test_owner_makes_a_key_sees_it_once_and_revokes_it(app, owner_client):
    response = owner_client.post("/admin/settings/api-keys", data={"name": "Exact Online", "scopes": "write"})
    assert response.status_code == 200
    soup = soup_of(response)
    secret = soup.find("input", id="new-key")["value"]
    assert secret.startswith("dsk_") and len(secret) > 40
    with app.app_context():
        key = db.session.scalar(select(ApiKey))
        assert key.key_hash != secret and secret not in key.key_hash and key.can_write
    assert ApiClient(app.test_client(), secret).post("/api/v1/customers", json={"name": "Via key"}).status_code == 201
    page = owner_client.get("/admin/settings/api-keys")
    assert secret not in page.get_data(as_text=True)  # listed by its prefix only
    assert "Exact Online" in page.get_data(as_text=True)
    assert owner_client.post(f"/admin/settings/api-keys/{key.id}/revoke").status_code == 302
    assert ApiClient(app.test_client(), secret).get("/api/v1/customers").status_code == 401


def test_a_key_needs_a_name(owner_client):
    response = owner_client.post("/admin/settings/api-keys", data={"name": "", "scopes": "read"})
    assert response.status_code == 422
    assert soup_of(response).find("input", id="new-key") is None


@pytest.mark.parametrize("role", ["admin", "employee"])
def test_admins_and_employees_cannot_make_or_revoke_keys(app, owner_client, role):
    owner_client.post("/admin/settings/api-keys", data={"name": "K", "scopes": "read"})
    with app.app_context():
        key_id = db.session.scalar(select(ApiKey.id))
    user = factories.staff(role=role, email=f"{role}@keys.example", name=role.title())
    client = StaffClient(login(app.test_client(), user), user)
    assert client.get("/admin/settings/api-keys").status_code == 403
    assert client.post("/admin/settings/api-keys", data={"name": "Mine", "scopes": "write"}).status_code == 403
    assert client.post(f"/admin/settings/api-keys/{key_id}/revoke").status_code == 403
    if role == "admin":  # the settings page links to it for the owner only
        assert not soup_of(client.get("/admin/settings")).find("a", href="/admin/settings/api-keys")
        assert soup_of(owner_client.get("/admin/settings")).find("a", href="/admin/settings/api-keys")
    with app.app_context():
        assert [(k.name, k.revoked_at) for k in db.session.scalars(select(ApiKey))] == [("K", None)]
