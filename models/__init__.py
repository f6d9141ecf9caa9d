"""Typed entities (one module per aggregate) and the services both blueprints call.

Importing this package registers every entity with the metadata, which Alembic and
`db.create_all()` both rely on.
"""

from models.db import db  # noqa: F401
from models import (  # noqa: F401
    api_keys,
    audit,
    bank_statements,
    contacts,
    counters,
    customers,
    document_originals,
    documents,
    dunning,
    dossier,
    events,
    imports,
    instalments,
    mailbox,
    one_time_codes,
    outbox,
    payments,
    portal_access,
    questions,
    settings,
    staff,
    webhooks,
)
