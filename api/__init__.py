"""The REST API for machines (/api/v1): JSON in and out, a bearer API key, problem+json errors.

Its own blueprint, exempt from CSRF: a request carries its key in the Authorization header,
never a cookie, so another site cannot make a browser send it. Every request is checked
here before its view runs: the key (401 without a valid one, 403 when a read-only key
writes), the rate limit per key, and that a body is JSON (415) that parses (400). The
bodies are validated by the pydantic models in api.schemas through spectree, which also
generates /api/v1/openapi.json from them (api.reference).

Why spectree: it decorates plain Flask views in a plain blueprint (APIFlask wants the whole
app to be an APIFlask), validates with pydantic v2 and writes OpenAPI 3.1; flask-smorest
would mean marshmallow beside the pydantic-free rest of the app for no gain.
"""

from __future__ import annotations

import hashlib

from flask import Blueprint, current_app, g, request
from spectree import SecurityScheme, SecuritySchemeData, SpecTree

from api.problems import ApiProblem, register_app_handlers, register_blueprint_handlers, validation_problem
from api.schemas import Problem

bp = Blueprint("api", __name__, url_prefix="/api/v1")

spec = SpecTree(
    "flask",
    mode="strict",  # only the views decorated here: never an admin or portal route
    title="Dossier API",
    version="1",
    description="Customers, documents, payments and events of a Dossier installation. "
                "Authenticate with `Authorization: Bearer <key>` (keys are made by the owner in the "
                "settings). Errors are RFC 9457 problem+json with the field at fault.",
    security_schemes=[SecurityScheme(name="bearer", data=SecuritySchemeData(type="http", scheme="bearer"))],
    security={"bearer": []},
    validation_error_status=422,
    validation_error_model=Problem,
    before=validation_problem,
    # Plain model names (every model lives in api.schemas, so they cannot clash).
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda parent, child: child,
)

# Endpoints anyone may read: the documentation.
PUBLIC_ENDPOINTS = {"api.openapi", "api.reference"}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Bodies that are not JSON, by endpoint.
RAW_BODY_ENDPOINTS = {"api.document_original_put", "api.einvoice_import"}


def rate_limit() -> str:
    return current_app.config["API_RATE_LIMIT"]


def rate_key() -> str:
    """Per key: the hash of the presented secret (a wrong one gets a bucket of its own)."""
    header = request.headers.get("Authorization", "")
    if header:
        return "api:" + hashlib.sha256(header.encode()).hexdigest()[:32]
    return "api-anon:" + (request.remote_addr or "")


@bp.before_request
def authenticate():
    from models.db import db
    from models.services import api_keys

    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiProblem(401, "Authentication required", "Send an API key: Authorization: Bearer <key>.")
    key, touched = api_keys.authenticate(secret.strip())
    if key is None:
        raise ApiProblem(401, "Invalid API key", "No API key matches the one sent.")
    if key.revoked_at is not None:
        raise ApiProblem(401, "Revoked API key", "This API key was revoked.")
    if request.method in WRITE_METHODS and not key.can_write:
        raise ApiProblem(403, "Read-only API key", "This API key may only read.")
    if touched:
        db.session.commit()  # its last-used time (written at most once a minute)
    g.api_key = key
    if request.method in WRITE_METHODS and request.endpoint not in RAW_BODY_ENDPOINTS:
        _check_json_body()
    return None


def _check_json_body() -> None:
    if request.mimetype != "application/json":
        raise ApiProblem(415, "Unsupported media type", "Send the body as application/json.")
    try:
        parsed = request.get_json(silent=True)  # reads at most MAX_CONTENT_LENGTH: 413 beyond
    except RecursionError:  # the json module's limit, which silent=True does not catch
        raise ApiProblem(400, "Malformed JSON", "The body is nested too deeply.") from None
    if parsed is None:
        raise ApiProblem(400, "Malformed JSON", "The body is not valid JSON.")


def register(app) -> None:
    """The blueprint, and problem+json answers also for /api/v1 URLs that match no route
    (which no blueprint handler sees)."""
    app.register_blueprint(bp)
    register_app_handlers(app)


# Set up once, on import: a blueprint cannot change once an app registered it (tests make
# several apps).
def _setup() -> None:
    from web.extensions import csrf, limiter

    from api import reference, resources  # noqa: F401  (the routes)

    register_blueprint_handlers(bp)
    csrf.exempt(bp)
    limiter.limit(rate_limit, key_func=rate_key)(bp)


_setup()
