"""A document's original PDF from the accounting package (REST API: PUT …/original).

When a document came with one, that file is the document: the staff's and the customer's
PDF downloads hand it out as it was sent, instead of Dossier's own rendering.
"""

from __future__ import annotations

from models.db import db
from models.document_originals import DocumentOriginal
from models.documents import Document


def original_of(document: Document) -> DocumentOriginal | None:
    return db.session.get(DocumentOriginal, document.id)
