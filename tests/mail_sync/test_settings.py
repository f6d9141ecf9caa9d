"""The mailbox settings page: the password stored encrypted and never shown again, the Test
button against a real Dovecot (right and wrong password, nothing listening, TLS trouble),
the last sync error on the page; never a 5xx."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailers import mail_sync
from models.audit import AuditEvent
from models.db import db
from models.mailbox import MailboxSettings
from models.services import mailbox as mailbox_service
from tests.conftest import field_error, soup_of
from tests.mail_sync.conftest import MAILBOX_KEY
from tests.mail_sync.dovecot import PASSWORD, USER
from tests.processes import free_port

URL = "/admin/settings/mailbox"


def _form(server, **values):
    data = {"enabled": "y", "host": "127.0.0.1", "port": str(server.imaps_port), "security": "ssl",
            "username": USER, "password": PASSWORD, "folders": "INBOX"}
    data.update(values)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def trusted(app, dovecot, mailbox_key, monkeypatch):
    monkeypatch.setitem(app.config, "MAILBOX_CA_FILE", str(dovecot.cert))
    return dovecot


def _test_result(response) -> str:
    node = soup_of(response).find(id="test-result")
    assert node is not None, response.data[:2000]
    return node.get_text(" ", strip=True)


def test_saving_stores_the_password_encrypted_and_never_shows_it(app, owner_client, trusted):
    response = owner_client.post(URL, data={**_form(trusted), "save": "Save"})
    assert response.status_code == 302, response.data[:1000]
    with app.app_context():
        row = db.session.scalar(select(MailboxSettings))
        assert row.enabled and row.host == "127.0.0.1" and row.folders == "INBOX"
        assert PASSWORD not in row.password_encrypted
        assert mailbox_service.decrypt(row.password_encrypted) == PASSWORD
        audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "mailbox.updated"))
        assert PASSWORD not in str(audit.changes) and "password" in audit.changes
        token = row.password_encrypted
    page = owner_client.get(URL)
    text = page.get_data(as_text=True)
    assert PASSWORD not in text and token not in text
    soup = soup_of(page)
    password_input = soup.find("input", attrs={"type": "password"})
    assert not password_input.get("value")
    assert "A password is stored. Leave this blank to keep it." in text
    # A blank password keeps the stored one.
    response = owner_client.post(URL, data={**_form(trusted, password="", folders="INBOX\nSent"), "save": "Save"})
    assert response.status_code == 302
    with app.app_context():
        row = db.session.scalar(select(MailboxSettings))
        assert row.password_encrypted == token and row.folder_list == ["INBOX", "Sent"]


def test_without_a_mailbox_key_the_password_is_refused_at_its_field(app, owner_client, dovecot, monkeypatch):
    monkeypatch.setitem(app.config, "MAILBOX_KEY", "")
    response = owner_client.post(URL, data={**_form(dovecot), "save": "Save"})
    assert response.status_code == 422
    assert "MAILBOX_KEY" in field_error(soup_of(response), "Password or app password")


def test_the_test_button_connects_over_imaps_and_starttls(owner_client, trusted):
    response = owner_client.post(URL, data={**_form(trusted), "test": "Test connection"})
    assert response.status_code == 200
    assert "Connected and logged in. INBOX: 0 messages" in _test_result(response)
    response = owner_client.post(URL, data={**_form(trusted, port=str(trusted.port), security="starttls"),
                                            "test": "Test connection"})
    assert "Connected and logged in." in _test_result(response), _test_result(response)


def test_a_wrong_password_is_said_clearly(owner_client, trusted):
    response = owner_client.post(URL, data={**_form(trusted, password="not the password"), "test": "Test connection"})
    assert response.status_code == 422
    assert "The server refused the user name or password." in _test_result(response)


def test_nothing_listening_is_said_clearly(owner_client, trusted):
    port = free_port()
    response = owner_client.post(URL, data={**_form(trusted, port=str(port)), "test": "Test connection"})
    assert response.status_code == 422
    assert f"The server 127.0.0.1:{port} cannot be reached" in _test_result(response)


def test_tls_trouble_is_said_clearly(app, owner_client, trusted, monkeypatch):
    # IMAPS against the plain-text IMAP port: no TLS handshake.
    response = owner_client.post(URL, data={**_form(trusted, port=str(trusted.port)), "test": "Test connection"})
    assert response.status_code == 422
    assert "No TLS connection could be made" in _test_result(response)
    # A certificate nobody vouches for (the test's own CA not trusted).
    monkeypatch.setitem(app.config, "MAILBOX_CA_FILE", "")
    response = owner_client.post(URL, data={**_form(trusted), "test": "Test connection"})
    assert response.status_code == 422
    assert "The server's TLS certificate was not accepted" in _test_result(response)


def test_a_missing_folder_is_said_clearly(owner_client, trusted):
    response = owner_client.post(URL, data={**_form(trusted, folders="INBOX\nNo Such Folder"),
                                            "test": "Test connection"})
    assert response.status_code == 422
    assert "No Such Folder" in _test_result(response)


def test_bad_input_is_shown_at_the_field(owner_client, trusted):
    response = owner_client.post(URL, data={**_form(trusted, host=""), "save": "Save"})
    assert response.status_code == 422
    assert field_error(soup_of(response), "IMAP server") == "Enter the server's host name."
    response = owner_client.post(URL, data={**_form(trusted, port="70000"), "save": "Save"})
    assert response.status_code == 422
    assert field_error(soup_of(response), "Port") == "Enter a port between 1 and 65535."


def test_a_failed_sync_is_shown_with_its_time_and_waits_longer_each_time(app, owner_client, mailbox):
    with app.app_context():
        row = db.session.scalar(select(MailboxSettings))
        row.password_encrypted = mailbox_service.encrypt("wrong password")
        db.session.commit()
    with app.app_context():
        first = mail_sync.run()
        assert first.outcome == "failed"
        assert mail_sync.run().outcome == "waiting"  # backoff: not before next_attempt_at
        second = mail_sync.run(force=True)
        row = db.session.scalar(select(MailboxSettings))
        assert row.failures == 2
        assert (row.next_attempt_at - row.last_error_at).total_seconds() == mailbox_service.BACKOFF[1]
    text = soup_of(owner_client.get(URL)).get_text(" ", strip=True)
    assert "Last sync error The server refused the user name or password." in text
    assert "Next attempt after" in text
    assert first.error == second.error


def test_employees_cannot_see_the_mailbox_settings(employee_client):
    assert employee_client.get(URL).status_code == 403


def test_a_key_is_a_fernet_key_or_a_passphrase(app, monkeypatch):
    from cryptography.fernet import Fernet

    for key in (Fernet.generate_key().decode(), MAILBOX_KEY):
        monkeypatch.setitem(app.config, "MAILBOX_KEY", key)
        with app.app_context():
            assert mailbox_service.decrypt(mailbox_service.encrypt("s3cret")) == "s3cret"


def test_the_worker_enqueues_a_sync_only_when_one_is_due(app, mailbox_key, monkeypatch, tmp_path):
    """Against a real Redis (a server of the test's own): no job while sync is off or waiting
    out its backoff."""
    from datetime import timedelta

    from mailers import queue
    from models.db import now_utc
    from tests.mailers.conftest import OwnRedis

    server = OwnRedis(tmp_path)
    server.start()
    monkeypatch.setitem(app.config, "REDIS_URL", server.url)
    monkeypatch.setitem(app.extensions, "dossier_redis", {})
    try:
        _enqueue_when_due(app, queue, now_utc, timedelta)
    finally:
        server.stop()


def _enqueue_when_due(app, queue, now_utc, timedelta):
    with app.app_context():
        assert not mail_sync.due()  # no settings at all
        db.session.add(MailboxSettings(enabled=True, host="imap.example.com", port=993, security="ssl",
                                       username="u", password_encrypted=mailbox_service.encrypt("p"), folders="INBOX",
                                       failures=1, next_attempt_at=now_utc() + timedelta(minutes=5)))
        db.session.commit()
        assert not mail_sync.due()
        db.session.scalar(select(MailboxSettings)).next_attempt_at = now_utc() - timedelta(seconds=1)
        db.session.commit()
        assert mail_sync.due()
        assert mail_sync.enqueue() and mail_sync.enqueue()
        assert queue.mail_queue().count == 1  # a job still waiting is not enqueued twice
        queue.connection().close()
