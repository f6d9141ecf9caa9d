"""Typed entities (one module per aggregate) and the services both blueprints call.

Importing this package registers every entity with the metadata, which Alembic and
`db.create_all()` both rely on.
"""

from models.db import db  # noqa: F401
from models import audit, counters, customers, documents, settings, staff  # noqa: F401
