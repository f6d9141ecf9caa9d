"""DOSSIER_LINK_KEYS: dossier links are signed with the newest key and open under every listed
one, so SECRET_KEY can rotate without breaking a printed link, and a link key retired from
the list takes its links with it (404). Without a list, SECRET_KEY signs them, as before."""

from __future__ import annotations

import hmac
import secrets

import pytest

from models.db import db
from models.services import dossier
from tests import factories
from tests.conftest import TEST_CONFIG
from web.config import ConfigError, from_environment
from wsgi import create_app

KEY_A = "link-key-a-" + secrets.token_urlsafe(24)
KEY_B = "link-key-b-" + secrets.token_urlsafe(24)


@pytest.fixture
def keys(app):
    """Sets DOSSIER_LINK_KEYS (and SECRET_KEY) as an operator would between deploys."""
    saved = app.config.get("DOSSIER_LINK_KEYS"), app.config["SECRET_KEY"]

    def configure(link_keys: list[str], secret_key: str | None = None) -> None:
        app.config["DOSSIER_LINK_KEYS"] = link_keys
        if secret_key is not None:
            app.config["SECRET_KEY"] = secret_key

    yield configure
    app.config["DOSSIER_LINK_KEYS"], app.config["SECRET_KEY"] = saved


@pytest.fixture
def customer(app):
    return factories.customer(email="debtor@example.com", name="Keyed Customer")


def token_now(app, customer) -> str:
    with app.app_context():
        token = dossier.current_token(customer.id)
        db.session.commit()
    return token


def opens(app, token: str) -> bool:
    status = app.test_client().get(f"/d/{token}").status_code
    assert status in (200, 404), status
    return status == 200


def test_a_link_outlives_a_secret_key_change_and_a_new_link_key(app, keys, customer):
    keys([KEY_A])
    old = token_now(app, customer)
    assert opens(app, old)

    keys([KEY_B, KEY_A])
    assert opens(app, old)
    keys([KEY_B, KEY_A], secret_key="a-brand-new-secret-key-" + secrets.token_urlsafe(24))
    assert opens(app, old)

    new = token_now(app, customer)  # the same link, now signed with the newest key
    assert new != old and new.split(".")[0] == old.split(".")[0]
    assert opens(app, new)
    keys([KEY_B])
    assert opens(app, new)


def test_a_retired_link_key_takes_its_links_with_it(app, keys, customer):
    keys([KEY_A])
    old = token_now(app, customer)
    keys([KEY_B, KEY_A])
    new = token_now(app, customer)
    keys([KEY_B])  # A retired on purpose
    assert not opens(app, old)
    assert opens(app, new)
    keys([KEY_A])  # and B retired instead
    assert opens(app, old) and not opens(app, new)


def test_without_a_list_secret_key_signs_links_and_can_become_a_link_key(app, keys, customer):
    """Links printed before DOSSIER_LINK_KEYS existed: list the old SECRET_KEY as a link key
    (after a new one), then SECRET_KEY may change."""
    old_secret = app.config["SECRET_KEY"]
    keys([])
    printed = token_now(app, customer)
    assert opens(app, printed)
    keys([], secret_key="rotated-without-a-list-" + secrets.token_urlsafe(24))
    assert not opens(app, printed)  # why the list exists
    keys([KEY_B, old_secret])
    assert opens(app, printed)
    assert opens(app, token_now(app, customer))


def test_every_key_is_compared_in_constant_time(app, keys, customer, monkeypatch):
    keys([KEY_B, KEY_A])
    token = token_now(app, customer)
    calls = []
    real = hmac.compare_digest

    def recording(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(dossier.hmac, "compare_digest", recording)
    with app.test_request_context():
        assert dossier.resolve(token) is not None  # signed with B: the first key matches
        assert len(calls) == 2  # ... and A is still tried: no early exit
        calls.clear()
        assert dossier.resolve(token[:-2] + ("AA" if not token.endswith("AA") else "BB")) is None
        assert len(calls) == 2


def test_the_list_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("DOSSIER_LINK_KEYS", f" {KEY_B} , {KEY_A},, ")
    assert from_environment()["DOSSIER_LINK_KEYS"] == [KEY_B, KEY_A]
    monkeypatch.delenv("DOSSIER_LINK_KEYS")
    assert from_environment()["DOSSIER_LINK_KEYS"] == []


@pytest.mark.parametrize("weak", ["short", "changeme", "secret"])
def test_a_weak_link_key_refuses_to_start(weak):
    config = {**TEST_CONFIG, "TESTING": False, "DOSSIER_LINK_KEYS": [KEY_B, weak]}
    with pytest.raises(ConfigError, match="DOSSIER_LINK_KEYS"):
        create_app(config)
