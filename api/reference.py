"""The OpenAPI 3.1 document and the reference page people read, both from the same spec.

The document is spectree's, generated from the pydantic models that validate the requests
and responses; two things are added here: error responses are `application/problem+json`
(RFC 9457) and every operation says it may answer 429. The page renders that document
with a Jinja template: no JavaScript viewer, nothing from a CDN.
"""

from __future__ import annotations

import copy
import json

from flask import current_app, render_template

from api import bp, spec

_cache: dict[str, dict] = {}


def openapi_document() -> dict:
    if "doc" not in _cache:
        document = copy.deepcopy(spec.spec)
        document["servers"] = [{"url": "/"}]
        for path in document["paths"].values():
            for operation in path.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content") or {}
                    if status[:1] in "45" and "application/json" in content:
                        response["content"] = {"application/problem+json": content["application/json"]}
        original = document["paths"].get("/api/v1/documents/{document_id}/original", {}).get("put")
        if original is not None:  # a raw body, which spectree does not describe
            original["requestBody"] = {"required": True, "content": {
                "application/pdf": {"schema": {"type": "string", "contentMediaType": "application/pdf"}}}}
        _cache["doc"] = document
    return _cache["doc"]


@bp.get("/openapi.json")
def openapi():
    return current_app.response_class(json.dumps(openapi_document(), indent=1), mimetype="application/json")


def _resolve(document: dict, schema: dict | None) -> dict:
    if isinstance(schema, dict) and "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return document["components"]["schemas"].get(name, {})
    return schema if isinstance(schema, dict) else {}


@bp.get("/reference")
def reference():
    document = openapi_document()
    return render_template("api/reference.html", doc=document, resolve=lambda s: _resolve(document, s),
                           dumps=lambda v: json.dumps(v, indent=2, ensure_ascii=False))
