"""Typed entities (one module per aggregate) and the services both blueprints call.

Importing this package registers every entity with the metadata, which Alembic and
`db.create_all()` both rely on.
"""

from models.db import db  # noqa: F401
from models import audit, contacts, counters, customers, documents, dossier, outbox, settings, staff  # noqa: F401
