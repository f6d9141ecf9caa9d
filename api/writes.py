"""How every API write happens: one domain call, its answer kept for the Idempotency-Key,
one commit.

With an `Idempotency-Key` header a POST's answer is stored with the change, in the same
transaction, for 24 hours: the same key with the same request gets that answer again
(header `Idempotent-Replayed: true`) and nothing happens twice; the same key with another
request is refused (422). A refused request (4xx) stores nothing, so it can be corrected
and sent again under its key. Two requests racing on one new external id (or one key)
cannot both insert: the loser is retried once, finds the winner's row and answers from it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

from flask import Response, g, request
from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from api.problems import ApiProblem, from_domain
from models.api_keys import IdempotentResponse
from models.db import db, now_utc
from models.services.errors import DomainError

KEEP = timedelta(hours=24)
ATTEMPTS = 3


def _fingerprint() -> str:
    digest = hashlib.sha256(f"{request.method} {request.full_path}\n".encode())
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > 200 or not key.isprintable():
        raise ApiProblem(400, "Invalid Idempotency-Key", "Send 1 to 200 printable characters.",
                         field="Idempotency-Key")
    return key


def json_response(body: str, status: int, headers: dict | None = None) -> Response:
    return Response(body, status, headers=headers, mimetype="application/json")


def write(change: Callable[[], tuple[BaseModel, int]]) -> Response:
    """Run `change` (which flushes) and commit, or answer a kept reply, or a problem."""
    key = _idempotency_key() if request.method == "POST" else None
    fingerprint = _fingerprint() if key else None
    if key:
        kept = db.session.scalar(select(IdempotentResponse).where(
            IdempotentResponse.api_key_id == g.api_key.id, IdempotentResponse.key == key))
        if kept is not None and kept.created_at >= now_utc() - KEEP:
            if kept.fingerprint != fingerprint:
                raise ApiProblem(422, "Idempotency-Key reused",
                                 "This key was used for another request in the last 24 hours.",
                                 field="Idempotency-Key")
            return json_response(kept.body, kept.status, {"Idempotent-Replayed": "true"})
    for attempt in range(ATTEMPTS):
        try:
            model, status = change()
            body = model.model_dump_json()
            if key:
                db.session.execute(delete(IdempotentResponse).where(IdempotentResponse.created_at < now_utc() - KEEP))
                db.session.add(IdempotentResponse(api_key_id=g.api_key.id, key=key, fingerprint=fingerprint,
                                                  status=status, body=body))
            db.session.commit()
            return json_response(body, status)
        except DomainError as error:
            db.session.rollback()
            raise from_domain(error) from None
        except IntegrityError:
            db.session.rollback()
            if attempt == ATTEMPTS - 1:
                raise ApiProblem(409, "Conflict", "Another request changed the same record at the same moment; "
                                 "send it again.") from None
    raise AssertionError("unreachable")
