"""RFC 9457 problem details for every error the API answers, with the field at fault."""

from __future__ import annotations

import json
import logging

from flask import Response, abort, request
from werkzeug.exceptions import HTTPException

from models.db import db
from models.services.errors import DomainError, NotFound

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TITLES = {
    400: "Bad request", 401: "Authentication required", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 413: "Body too large", 415: "Unsupported media type",
    422: "Invalid input", 429: "Too many requests", 500: "Server error", 503: "Service unavailable",
}


class ApiProblem(Exception):
    def __init__(self, status: int, title: str | None = None, detail: str | None = None, *,
                 field: str | None = None, errors: list | None = None):
        super().__init__(detail or title)
        self.status, self.title, self.detail = status, title or TITLES.get(status, "Error"), detail
        self.field, self.errors = field, errors


def problem_response(problem: ApiProblem) -> Response:
    body = {"type": "about:blank", "title": problem.title, "status": problem.status}
    if problem.detail:
        body["detail"] = problem.detail
    if problem.field:
        body["field"] = problem.field
    if problem.errors:
        body["errors"] = problem.errors
    response = Response(json.dumps(body), problem.status, mimetype=MEDIA_TYPE)
    if problem.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="dossier"'
    return response


def field_path(loc) -> str:
    """pydantic's ('lines', 2, 'unit_price') as lines[2].unit_price."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def validation_problem(req, resp, error, instance, model_adapter) -> None:
    """spectree's hook after validating a request: its errors as one problem+json."""
    if error is None:
        return
    errors = []
    for item in error.errors(include_url=False, include_context=False, include_input=False):
        loc = item.get("loc") or ()
        errors.append({"field": field_path(loc), "message": item.get("msg", "")})
    first = errors[0] if errors else {"field": None, "message": "Invalid input."}
    abort(problem_response(ApiProblem(422, "Invalid input", first["message"], field=first["field"] or None,
                                      errors=errors)))


def from_domain(error: DomainError) -> ApiProblem:
    return ApiProblem(422, "Invalid input", str(error.message), field=error.field)


def _is_api_request() -> bool:
    return request.path == "/api/v1" or request.path.startswith("/api/v1/")


def register_blueprint_handlers(bp) -> None:
    @bp.errorhandler(ApiProblem)
    def api_problem(problem: ApiProblem):
        db.session.rollback()
        return problem_response(problem)

    @bp.errorhandler(DomainError)
    def domain_error(error: DomainError):
        db.session.rollback()
        return problem_response(from_domain(error))

    @bp.errorhandler(NotFound)
    def not_found(_error):
        return problem_response(ApiProblem(404, "Not found", "No such record."))

    @bp.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.response is not None and error.response.mimetype == MEDIA_TYPE:
            return error.response  # a problem made already (spectree's validation)
        status = error.code or 500
        detail = None
        if status == 413:
            detail = "The body is larger than the server accepts."
        elif status == 429:
            detail = f"Rate limit of this API key exceeded ({error.description})."
        return problem_response(ApiProblem(status, TITLES.get(status), detail))

    # The app's own pages are registered per status code, which Flask prefers to a
    # blueprint's handler for the HTTPException class: the blueprint names the codes too.
    for status in (400, 401, 403, 404, 405, 413, 415, 422, 429):
        bp.register_error_handler(status, http_error)

    @bp.errorhandler(Exception)
    def unexpected(error: Exception):
        if isinstance(error, HTTPException):
            return http_error(error)
        log.exception("API request failed")
        db.session.rollback()
        return problem_response(ApiProblem(500, "Server error", "Something went wrong on our side."))



def register_app_handlers(app) -> None:
    # URLs under /api/v1 that match no route, or a route with another method, never reach
    # the blueprint's handlers: the app's pages answer them, as problems for the API.
    for status in (404, 405):
        original = next(iter(app.error_handler_spec[None].get(status, {}).values()), None)

        def handler(error, status=status, original=original):
            if _is_api_request():
                return problem_response(ApiProblem(status, TITLES[status]))
            return original(error) if original else error

        app.register_error_handler(status, handler)
